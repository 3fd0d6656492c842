-- name: InsertEvent :one
-- Idempotent: an event whose key was already published returns no row.
INSERT INTO source_events (source_id, generation, stage, key, payload)
VALUES (@source_id, @generation, @stage, @key, @payload)
ON CONFLICT (source_id, key) DO NOTHING
RETURNING *;

-- name: ListEventsAfter :many
SELECT * FROM source_events
WHERE source_id = @source_id AND id > @after_id
ORDER BY id
LIMIT @max_rows;
