-- name: UpsertSummary :one
INSERT INTO source_summaries (source_id, summary, keywords, model)
VALUES (@source_id, @summary, @keywords, @model)
ON CONFLICT (source_id) DO UPDATE
SET summary = EXCLUDED.summary, keywords = EXCLUDED.keywords,
    model = EXCLUDED.model, updated_at = now()
RETURNING *;

-- name: GetSummary :one
SELECT * FROM source_summaries WHERE source_id = @source_id;
