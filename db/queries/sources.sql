-- name: CreateSource :one
INSERT INTO sources (id, user_id, kind, uri, options, idempotency_key, idempotency_request_hash)
VALUES (@id, @user_id, @kind, @uri, @options, sqlc.narg('idempotency_key'), sqlc.narg('idempotency_request_hash'))
RETURNING *;

-- name: GetSource :one
-- Scoped to the owner: another user's source is not found.
SELECT * FROM sources WHERE id = @id AND user_id = @user_id;

-- name: ListOwnedSourceIDs :many
-- The ids among ids of sources that user_id owns.
SELECT id FROM sources WHERE user_id = @user_id AND id = ANY(@ids::uuid[]);

-- name: GetSourceByID :one
-- Unscoped, for jobs that already hold a source id from a trusted payload.
SELECT * FROM sources WHERE id = @id;

-- name: GetSourceByIdempotencyKey :one
SELECT * FROM sources WHERE user_id = @user_id AND idempotency_key = @idempotency_key;

-- name: FindSourceByURI :one
-- The most recent source a user created for the same path or URL, so that
-- ingesting it again refreshes it instead of duplicating it.
SELECT * FROM sources
WHERE user_id = @user_id AND kind = @kind AND uri = @uri
ORDER BY created_at DESC, id DESC
LIMIT 1;

-- name: ListSources :many
-- Keyset pagination, newest first: pass the last row's created_at and id to
-- get the next page.
SELECT * FROM sources
WHERE user_id = @user_id
  AND (sqlc.narg('before_created_at')::timestamptz IS NULL
       OR (created_at, id) < (sqlc.narg('before_created_at')::timestamptz, sqlc.narg('before_id')::uuid))
ORDER BY created_at DESC, id DESC
LIMIT @max_rows;

-- The transitions of a source's lifecycle (internal/lifecycle calls them;
-- nothing else writes stage or generation). Each is one statement that
-- carries its own guard: no row means the source is not in a stage the
-- transition leaves from, or is of another generation, or is gone: someone
-- else won.

-- name: StartSourceGeneration :one
-- Starts another run of the pipeline over a finished source (refresh).
UPDATE sources
SET generation = generation + 1, stage = 'created', error = NULL,
    completed_at = NULL, updated_at = now()
WHERE id = @id AND user_id = @user_id AND stage IN ('completed', 'failed')
RETURNING *;

-- name: StartSourceRetry :one
-- Starts another run of a finished source to process its failed documents
-- again: only when there is something to retry, a failed source or a
-- document that failed after it was loaded (one that could not be loaded
-- has nothing to process).
UPDATE sources s
SET generation = generation + 1, stage = 'created', error = NULL,
    completed_at = NULL, updated_at = now()
WHERE s.id = @id AND s.user_id = @user_id AND s.stage IN ('completed', 'failed')
  AND (s.stage = 'failed'
       OR EXISTS (SELECT 1 FROM documents d
                  WHERE d.source_id = s.id AND d.status = 'failed' AND d.content <> ''))
RETURNING *;

-- name: MarkSourceChunksGenerated :one
UPDATE sources
SET stage = 'chunks_generated', error = NULL, updated_at = now()
WHERE id = @id AND generation = @generation AND stage = 'processing_scheduled'
RETURNING *;

-- name: CompleteSource :one
UPDATE sources
SET stage = 'completed', error = NULL, updated_at = now(), completed_at = now()
WHERE id = @id AND generation = @generation AND stage = 'chunks_generated'
RETURNING *;

-- name: FailSource :one
-- Ends a generation that is still running, with the reason.
UPDATE sources
SET stage = 'failed', error = @error, updated_at = now(), completed_at = now()
WHERE id = @id AND generation = @generation AND stage IN ('created', 'crawling', 'processing_scheduled', 'chunks_generated')
RETURNING *;

-- name: StartSourceCrawl :one
-- Moves a URL source's new generation from created to crawling and keeps
-- its options. No row: the source is not at the start of that generation
-- (deleted, or another run won).
UPDATE sources
SET stage = 'crawling', options = @options, updated_at = now()
WHERE id = @id AND generation = @generation AND stage = 'created'
RETURNING *;

-- name: FinishSourceCrawl :one
-- Ends a crawl whose pages are stored: crawling becomes created, the
-- stage from which process_documents takes over. No row: the crawl is no
-- longer current.
UPDATE sources
SET stage = 'created', updated_at = now()
WHERE id = @id AND generation = @generation AND stage = 'crawling'
RETURNING *;

-- name: RefreshSourceCounts :one
-- Recounts documents and chunks from their rows, so the counts cannot drift.
UPDATE sources s
SET document_count = c.documents,
    failed_document_count = c.failed,
    chunk_count = (SELECT count(*) FROM chunks ch WHERE ch.source_id = s.id),
    updated_at = now()
FROM (
    SELECT count(*)::integer AS documents,
           (count(*) FILTER (WHERE d.status = 'failed'))::integer AS failed
    FROM documents d WHERE d.source_id = @id
) c
WHERE s.id = @id
RETURNING s.*;

-- name: SetSourceCounts :one
-- Sets the document counts of a source whose documents the caller has just
-- written in its transaction (Add), which therefore knows them exactly;
-- only its chunks are counted. Cheaper than RefreshSourceCounts by a count
-- over every document of the source.
UPDATE sources s
SET document_count = @document_count,
    failed_document_count = @failed_document_count,
    chunk_count = (SELECT count(*) FROM chunks ch WHERE ch.source_id = s.id),
    updated_at = now()
WHERE s.id = @id
RETURNING s.*;

-- name: DeleteSource :one
-- From any stage. Jobs of the source that run later find it gone.
DELETE FROM sources WHERE id = @id AND user_id = @user_id
RETURNING id;

-- name: ScheduleSourceProcessing :one
-- Marks the generation's processing as scheduled; its fan-in counter is
-- set with its shards, in the same transaction (InsertFanInShards).
-- Whether the source's vectors get their own bulk-built index is decided
-- by its first generation and kept after.
UPDATE sources
SET stage = 'processing_scheduled',
    documents_scheduled = @documents_scheduled,
    fan_in_shards_unfinished = 0,
    bulk_index = CASE WHEN generation = 1 THEN @bulk_index::boolean ELSE bulk_index END,
    progress_at = NULL, updated_at = now()
WHERE id = @id AND generation = @generation AND stage = 'created'
RETURNING *;

-- name: TryLockUserQueue :one
-- Serialises the scheduling of one user's sources until the transaction
-- ends, so that each sees the documents the previous one queued. It does
-- not wait: false means another transaction holds the lock.
SELECT pg_try_advisory_xact_lock(hashtextextended('kollektiv.user_queue:' || @user_id::text, 0)) AS locked;

-- name: UserQueuedDocuments :one
-- Documents of the user's sources in processing that are not chunked yet:
-- the user's work already queued ahead of a new batch of theirs.
SELECT coalesce(sum(greatest(s.documents_scheduled - coalesce(p.processed, 0), 0)), 0)::integer AS queued
FROM sources s
LEFT JOIN LATERAL (
    SELECT sum(f.documents_processed) AS processed
    FROM source_fan_in_shards f
    WHERE f.source_id = s.id AND f.generation = s.generation
) p ON true
WHERE s.user_id = @user_id AND s.stage = 'processing_scheduled';

-- name: FindUserSourceIDs :many
-- The owner's sources whose ids lie in [low, high]: the ids a short id (a
-- prefix of the hex form) stands for. Two rows are enough to tell a unique
-- prefix from an ambiguous one.
SELECT id
FROM sources
WHERE id BETWEEN @low::uuid AND @high::uuid
  AND user_id = @user_id
ORDER BY id
LIMIT 2;
