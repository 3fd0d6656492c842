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

-- name: LockSourceEvents :exec
-- Serialises event inserts of one source until commit, so event ids of a
-- source are assigned in commit order and a reader resuming after id N can
-- never miss a smaller id committed later.
SELECT pg_advisory_xact_lock(hashtextextended('kollektiv.source_events:' || @source_id::text, 0));

-- name: NotifyEvent :exec
SELECT pg_notify(@channel::text, @payload::text);

-- name: GetEvent :one
SELECT * FROM source_events WHERE id = @id;

-- name: LastEventID :one
-- The id of the source's newest event, 0 when it has none.
SELECT coalesce(max(id), 0)::bigint AS id FROM source_events WHERE source_id = @source_id;
