package store

// NearestChunksSQL exposes the unfiltered vector query to the external
// tests, which check its plan. Its parameters are the query vector, the
// model, the limit and the user id.
func NearestChunksSQL(dims int, shared bool, bulk []ListSourceVectorIndexesRow) (string, error) {
	where, _ := ChunkFilter{}.where("", []any{nil, nil, nil})
	return nearestChunksSQL(dims, shared, bulk, where)
}

// LegacyVectorIndexName and LegacySourceVectorIndexName expose the names
// of the indexes built before indexes cast to halfvec, which the tests
// build to upgrade them.
var (
	LegacyVectorIndexName       = legacyVectorIndexName
	LegacySourceVectorIndexName = legacySourceVectorIndexName
)

// SharedIndexPredicate exposes the shared index's predicate to the tests.
var SharedIndexPredicate = sharedIndexPredicate

// The pipeline's job kinds, as internal/lifecycle names them: spelled out
// because store's tests cannot import it (it imports store).
const (
	KindChunkDocumentsBatch   = "chunk_documents_batch"
	KindPersistChunks         = "persist_chunks"
	KindCheckChunkingComplete = "check_chunking_complete"
)

// CompleteRunningJobsSQL exposes EndBatchJobs' completion to the tests,
// which check its plan. Its parameter is the job ids.
const CompleteRunningJobsSQL = completeRunningJobs
