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
-- chunked with chunks that were never written (an embedding job writes a
-- chunk with its vector) or, written by an older binary, never got a
-- vector.
UPDATE documents d
SET status = 'failed', error = @error, updated_at = now()
WHERE d.source_id = @source_id
  AND (d.status = 'pending'
       OR (d.status = 'chunked'
           AND ((SELECT count(*) FROM chunks c WHERE c.document_id = d.id) < d.chunk_count
                OR EXISTS (SELECT 1 FROM chunks c WHERE c.document_id = d.id AND c.embedding IS NULL))))
RETURNING d.id, d.url;

-- name: ListDocumentTitles :many
SELECT title, url FROM documents
WHERE source_id = @source_id AND status <> 'failed'
ORDER BY url
LIMIT @max_rows;

-- name: ListSourceDocumentContents :many
-- The markdown of a user's source, for `kollektiv eval --headings`: every
-- document but those that failed, whatever their chunks hold. Another
-- user's source has none.
SELECT d.url, d.content
FROM documents d
JOIN sources s ON s.id = d.source_id
WHERE d.source_id = @source_id AND s.user_id = @user_id AND d.status <> 'failed'
ORDER BY d.url;

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

-- name: ListSourceDocuments :many
-- A page of a source's documents for its owner, in url order, without their
-- content: keyset pagination on (source_id, url), the unique index. Pass the
-- last url of a page as after_url for the next one. size is the bytes of
-- the content, read from its header without detoasting it.
SELECT d.id, d.source_id, d.url, d.title, d.status, d.error, d.chunk_count,
       d.language, d.metadata, octet_length(d.content)::bigint AS size,
       d.created_at, d.updated_at
FROM documents d
JOIN sources s ON s.id = d.source_id
WHERE d.source_id = @source_id
  AND s.user_id = @user_id
  AND (sqlc.narg('status')::text IS NULL OR d.status = sqlc.narg('status')::text)
  AND (sqlc.narg('after_url')::text IS NULL OR d.url > sqlc.narg('after_url')::text)
ORDER BY d.url
LIMIT @max_rows;

-- name: GetUserDocument :one
-- One document, scoped to the owner of its source: another user's document
-- is not found. Its content only when asked for (it may be megabytes).
SELECT d.id, d.source_id, d.url, d.title, d.status, d.error, d.chunk_count,
       d.language, d.metadata, octet_length(d.content)::bigint AS size,
       d.created_at, d.updated_at,
       CASE WHEN @with_content::boolean THEN d.content ELSE '' END::text AS content
FROM documents d
JOIN sources s ON s.id = d.source_id
WHERE d.id = @id
  AND s.user_id = @user_id;

-- name: FindUserDocumentIDs :many
-- The owner's documents whose ids lie in [low, high]: the ids a short id
-- (a prefix of the hex form) stands for. Two rows are enough to tell a
-- unique prefix from an ambiguous one.
SELECT d.id
FROM documents d
JOIN sources s ON s.id = d.source_id
WHERE d.id BETWEEN @low::uuid AND @high::uuid
  AND s.user_id = @user_id
ORDER BY d.id
LIMIT 2;
