-- name: GetCrawlCheckpoint :one
-- The checkpoint of a generation's crawl; no row before its first batch.
SELECT state, pages_fetched FROM source_crawls
WHERE source_id = @source_id AND generation = @generation;

-- name: SaveCrawlCheckpoint :one
-- Keeps a crawl's progress. It writes only while the source is crawling
-- that generation, and locks the source row until commit, so the batch's
-- documents written in the same transaction cannot land in a source that
-- was deleted or moved on. No row: the crawl is no longer current.
WITH current_crawl AS (
    SELECT id FROM sources
    WHERE id = @source_id AND generation = @generation AND stage = 'crawling'
    FOR UPDATE
)
INSERT INTO source_crawls (source_id, generation, state, pages_fetched)
SELECT id, @generation, @state, @pages_fetched FROM current_crawl
ON CONFLICT (source_id) DO UPDATE
SET generation = EXCLUDED.generation, state = EXCLUDED.state,
    pages_fetched = EXCLUDED.pages_fetched, updated_at = now()
RETURNING pages_fetched;

-- name: DeleteCrawlCheckpoint :exec
DELETE FROM source_crawls WHERE source_id = @source_id;
