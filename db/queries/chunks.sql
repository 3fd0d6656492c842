-- name: DeleteChunksOfDocuments :execrows
DELETE FROM chunks WHERE document_id = ANY(@document_ids::uuid[]);

-- name: GetChunksByIDs :many
SELECT id, document_id, ordinal, headers, text, token_count
FROM chunks WHERE id = ANY(@ids::uuid[])
ORDER BY document_id, ordinal;

-- name: CountChunks :one
SELECT count(*) AS chunks,
       count(*) FILTER (WHERE embedding IS NOT NULL) AS embedded
FROM chunks WHERE source_id = @source_id;

-- name: SearchChunksText :many
-- Full-text half of hybrid search, scoped to the owner.
SELECT c.id, c.document_id, c.source_id, c.headers, c.text,
       ts_rank_cd(c.tsv, q)::real AS rank
FROM chunks c, websearch_to_tsquery('english', @query) q
WHERE c.user_id = @user_id
  AND c.tsv @@ q
  AND (sqlc.narg('source_id')::uuid IS NULL OR c.source_id = sqlc.narg('source_id')::uuid)
ORDER BY rank DESC, c.id
LIMIT @max_rows;

-- name: SampleChunks :many
-- A deterministic sample of a source's chunks for its summary: ids are
-- hashes, so ordering by id spreads the sample over the whole source.
SELECT headers, text, embedding FROM chunks
WHERE source_id = @source_id
ORDER BY id
LIMIT @max_rows;

-- name: DeleteChunksOfFailedDocuments :execrows
-- A failed document keeps no chunks: nothing half-embedded stays searchable.
DELETE FROM chunks c USING documents d
WHERE d.id = c.document_id AND d.source_id = @source_id AND d.status = 'failed';

-- name: RankChunksText :many
-- Full-text half of hybrid search: ids and ranks only, scoped to the owner;
-- the fused winners' texts are read afterwards with GetSearchHits. A query
-- with no lexemes (only stop words or punctuation) matches nothing. Equal
-- ranks are common; they are ordered by document URL and ordinal, the same
-- in every database holding the same documents (ids are not: they derive
-- from the random source id). WITH TIES keeps every chunk tied with the
-- last one so that the order, not the scan, decides which of them stay.
WITH matched AS (
    SELECT c.id, c.document_id, c.ordinal, ts_rank_cd(c.tsv, q)::float8 AS rank
    FROM chunks c, websearch_to_tsquery('english', @query) q
    WHERE c.user_id = @user_id
      AND c.tsv @@ q
      AND (sqlc.narg('source_id')::uuid IS NULL OR c.source_id = sqlc.narg('source_id')::uuid)
    ORDER BY rank DESC
    FETCH FIRST (@max_rows::int) ROWS WITH TIES
)
SELECT m.id, m.rank
FROM matched m
JOIN documents d ON d.id = m.document_id
ORDER BY m.rank DESC, d.url, m.ordinal, m.id
LIMIT @max_rows::int;

-- name: GetSearchHits :many
-- The chunks that hybrid search returns, with their documents, scoped to the
-- owner again so that an id from anywhere else can never leak a chunk.
SELECT c.id, c.document_id, c.source_id, c.headers, c.text, d.title, d.url
FROM chunks c
JOIN documents d ON d.id = c.document_id
WHERE c.id = ANY(@ids::uuid[])
  AND c.user_id = @user_id;
