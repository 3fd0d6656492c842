package store

import "github.com/google/uuid"

// NearestChunksSQL exposes the unfiltered vector query to the external
// tests, which check its plan. Its parameters are the query vector, the
// model, the limit and the user id.
func NearestChunksSQL(dims int, shared bool, bulk []uuid.UUID) (string, error) {
	where, _ := ChunkFilter{}.where("", []any{nil, nil, nil})
	return nearestChunksSQL(dims, shared, bulk, where)
}

// SharedIndexPredicate exposes the shared index's predicate to the tests.
var SharedIndexPredicate = sharedIndexPredicate

// The pipeline's job kinds, as internal/lifecycle names them: spelled out
// because store's tests cannot import it (it imports store).
const (
	KindChunkDocumentsBatch   = "chunk_documents_batch"
	KindPersistChunks         = "persist_chunks"
	KindCheckChunkingComplete = "check_chunking_complete"
)
