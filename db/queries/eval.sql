-- name: ListSourceDocumentContents :many
-- The markdown of a user's source, for `kollektiv eval --headings`: every
-- document but those that failed, whatever their chunks hold. Another
-- user's source has none.
SELECT d.url, d.content
FROM documents d
JOIN sources s ON s.id = d.source_id
WHERE d.source_id = @source_id AND s.user_id = @user_id AND d.status <> 'failed'
ORDER BY d.url;
