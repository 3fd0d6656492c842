-- name: UpsertDocument :batchexec
-- A changed document (its content hash differs) goes back to pending; an
-- unchanged one keeps its status, so ingesting a source again skips it.
INSERT INTO documents AS d (id, source_id, url, title, content, content_hash, metadata)
VALUES (@id, @source_id, @url, @title, @content, @content_hash, @metadata)
ON CONFLICT (id) DO UPDATE
SET title = EXCLUDED.title,
    content = EXCLUDED.content,
    content_hash = EXCLUDED.content_hash,
    metadata = EXCLUDED.metadata,
    status = CASE WHEN d.content_hash = EXCLUDED.content_hash AND d.status <> 'failed' THEN d.status ELSE 'pending' END,
    error = CASE WHEN d.content_hash = EXCLUDED.content_hash AND d.status <> 'failed' THEN d.error ELSE NULL END,
    updated_at = now();

-- name: SetDocumentStatus :batchexec
UPDATE documents
SET status = @status, error = sqlc.narg('error'), chunk_count = @chunk_count,
    language = coalesce(sqlc.narg('language'), language), updated_at = now()
WHERE id = @id;

-- name: GetDocumentsByIDs :many
SELECT * FROM documents WHERE id = ANY(@ids::uuid[]) ORDER BY url;

-- name: ListDocumentSizes :many
-- The pipeline batches documents by count and bytes without loading content.
SELECT id, octet_length(content)::integer AS size
FROM documents
WHERE source_id = @source_id AND status = 'pending'
ORDER BY url;

-- name: ListDocuments :many
SELECT id, source_id, url, title, status, error, chunk_count, created_at, updated_at
FROM documents
WHERE source_id = @source_id
ORDER BY url;

-- name: ListFailedDocuments :many
SELECT id, url, title, error FROM documents
WHERE source_id = @source_id AND status = 'failed'
ORDER BY url;

-- name: DeleteDocumentsNotIn :execrows
-- Removes the documents that vanished from a source (their chunks go with
-- them through the foreign key).
DELETE FROM documents WHERE source_id = @source_id AND NOT (id = ANY(@keep::uuid[]));

-- name: CountDocuments :one
SELECT count(*) FROM documents WHERE source_id = @source_id;

-- name: MarkDocumentsEmbedded :execrows
UPDATE documents SET status = 'embedded', updated_at = now()
WHERE source_id = @source_id AND status = 'chunked';

-- name: FailUnprocessedDocuments :many
-- Marks failed the documents a discarded job left behind: never chunked, or
-- chunked with chunks that never got a vector.
UPDATE documents d
SET status = 'failed', error = @error, updated_at = now()
WHERE d.source_id = @source_id
  AND (d.status = 'pending'
       OR (d.status = 'chunked'
           AND EXISTS (SELECT 1 FROM chunks c WHERE c.document_id = d.id AND c.embedding IS NULL)))
RETURNING d.id, d.url;

-- name: ListDocumentTitles :many
SELECT title, url FROM documents
WHERE source_id = @source_id AND status <> 'failed'
ORDER BY url
LIMIT @max_rows;

-- name: InsertFailedDocument :exec
-- Records a document that could not even be loaded, so the source shows it
-- with its reason.
INSERT INTO documents AS d (id, source_id, url, title, content, content_hash, status, error)
VALUES (@id, @source_id, @url, @title, '', sha256(''::bytea), 'failed', @error)
ON CONFLICT (id) DO UPDATE
SET status = 'failed', error = EXCLUDED.error, content = '', content_hash = EXCLUDED.content_hash, updated_at = now();

-- name: ResetFailedDocuments :execrows
-- Sends a source's failed documents back to pending for a retry; those that
-- could not even be loaded (no content) stay failed.
UPDATE documents SET status = 'pending', error = NULL, updated_at = now()
WHERE source_id = @source_id AND status = 'failed' AND content <> '';

-- name: ResetDocumentsOfOtherModel :execrows
-- Sends back to pending the documents whose chunks were embedded by another
-- model than the current one, so switching embedders and ingesting again
-- re-embeds unchanged documents too.
UPDATE documents d SET status = 'pending', updated_at = now()
WHERE d.source_id = @source_id AND d.status = 'embedded'
  AND EXISTS (SELECT 1 FROM chunks c
              WHERE c.document_id = d.id AND c.embedding_model IS DISTINCT FROM @embedding_model::text);
