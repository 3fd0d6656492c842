package store

// NearestChunksSQL exposes the vector query to the external tests, which
// check its plan.
var NearestChunksSQL = nearestChunksSQL

// SharedIndexPredicate exposes the shared index's predicate to the tests.
var SharedIndexPredicate = sharedIndexPredicate

// The pipeline's job kinds, as internal/lifecycle names them: spelled out
// because store's tests cannot import it (it imports store).
const (
	KindChunkDocumentsBatch   = "chunk_documents_batch"
	KindPersistChunks         = "persist_chunks"
	KindCheckChunkingComplete = "check_chunking_complete"
)
