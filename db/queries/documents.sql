-- name: UpsertDocument :one
-- Returns whether the stored content changed, so unchanged documents are
-- skipped when a source is ingested again.
INSERT INTO documents AS d (id, source_id, url, title, content, content_hash, metadata)
VALUES (@id, @source_id, @url, @title, @content, @content_hash, @metadata)
ON CONFLICT (id) DO UPDATE
SET title = EXCLUDED.title,
    content = EXCLUDED.content,
    content_hash = EXCLUDED.content_hash,
    metadata = EXCLUDED.metadata,
    status = CASE WHEN d.content_hash = EXCLUDED.content_hash THEN d.status ELSE 'pending' END,
    error = CASE WHEN d.content_hash = EXCLUDED.content_hash THEN d.error ELSE NULL END,
    updated_at = now()
RETURNING id, status, (xmax = 0) AS inserted;

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

-- name: SetDocumentStatus :exec
UPDATE documents
SET status = @status, error = sqlc.narg('error'), chunk_count = @chunk_count, updated_at = now()
WHERE id = @id;

-- name: DeleteDocumentsNotIn :execrows
-- Removes the documents that vanished from a source (their chunks go with
-- them through the foreign key).
DELETE FROM documents WHERE source_id = @source_id AND NOT (id = ANY(@keep::uuid[]));
