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

-- name: TextQueryLexemes :many
-- The lexemes of each word of a search query (its 1-based ordinal in words)
-- in every text search configuration the user's chunks use, English always
-- (chunks of undetermined language are indexed with it). A word without
-- lexemes (a stop word everywhere) has no row.
SELECT w.ordinal::integer AS ordinal, array_agg(DISTINCT l.lexeme ORDER BY l.lexeme)::text[] AS lexemes
FROM unnest(@words::text[]) WITH ORDINALITY AS w(word, ordinal)
CROSS JOIN (SELECT kollektiv_ts_config(cl.language) AS config FROM chunk_languages cl WHERE cl.user_id = @user_id
            UNION SELECT kollektiv_ts_config('')) AS c
CROSS JOIN LATERAL unnest(tsvector_to_array(to_tsvector(c.config, w.word))) AS l(lexeme)
GROUP BY w.ordinal
ORDER BY w.ordinal;

-- name: RankChunksText :many
-- Full-text half of hybrid search: ids and ranks only, scoped to the owner;
-- the fused winners' texts are read afterwards with GetSearchHits. Every
-- word, phrase and excluded word becomes a query in each configuration the
-- user's chunks use, OR'ed, so a German chunk meets the German stem and an
-- English one the English. A chunk matches when it holds any of
-- match_words (the query's rarer words, chosen by internal/search), every
-- phrase and none of excluded; it ranks by ts_rank over rank_words and the
-- phrases, headings (weight A, 1.0) above body (B, 0.4), divided by
-- 1 + log(length). Only the first max_scored matches are ranked, which
-- bounds the time of a query of common words. Filters of the search go
-- with the user filter, inside.
WITH configs AS (
    SELECT kollektiv_ts_config(cl.language) AS config FROM chunk_languages cl WHERE cl.user_id = @user_id
    UNION SELECT kollektiv_ts_config('')
), parts AS (
    SELECT
        (SELECT kollektiv_tsquery_or(phraseto_tsquery(c.config, w)) FROM configs c, unnest(@match_words::text[]) w) AS any_word,
        (SELECT kollektiv_tsquery_or(phraseto_tsquery(c.config, w)) FROM configs c, unnest(@rank_words::text[]) w) AS ranked_words,
        (SELECT kollektiv_tsquery_and(p.q) FROM (
            SELECT kollektiv_tsquery_or(phraseto_tsquery(c.config, p.phrase)) AS q
            FROM configs c, unnest(@phrases::text[]) WITH ORDINALITY AS p(phrase, ordinal)
            GROUP BY p.ordinal) p) AS every_phrase,
        (SELECT kollektiv_tsquery_or(phraseto_tsquery(c.config, x)) FROM configs c, unnest(@excluded::text[]) x) AS excluded
), positive AS (
    SELECT CASE WHEN any_word IS NULL THEN every_phrase WHEN every_phrase IS NULL THEN any_word
                ELSE any_word && every_phrase END AS required,
           CASE WHEN ranked_words IS NULL THEN every_phrase WHEN every_phrase IS NULL THEN ranked_words
                ELSE ranked_words || every_phrase END AS ranked,
           excluded
    FROM parts
), q AS (
    SELECT CASE WHEN excluded IS NULL THEN required ELSE required && !! excluded END AS matched, ranked
    FROM positive
)
SELECT m.id, m.rank FROM (
    SELECT c.id, ts_rank('{0.1, 0.2, 0.4, 1.0}', c.tsv, (SELECT ranked FROM q), 1)::float8 AS rank
    FROM chunks c
    WHERE c.user_id = @user_id
      AND c.tsv @@ (SELECT matched FROM q)
      AND (sqlc.narg('source_id')::uuid IS NULL OR c.source_id = sqlc.narg('source_id')::uuid)
    LIMIT @max_scored
) m
ORDER BY m.rank DESC, m.id
LIMIT @max_rows;

-- name: GetSearchHits :many
-- The chunks that hybrid search returns, with their documents, scoped to the
-- owner again so that an id from anywhere else can never leak a chunk.
SELECT c.id, c.document_id, c.source_id, c.headers, c.text, d.title, d.url
FROM chunks c
JOIN documents d ON d.id = c.document_id
WHERE c.id = ANY(@ids::uuid[])
  AND c.user_id = @user_id;

-- name: ListDocumentChunks :many
-- A page of a document's chunks for its owner, in order: keyset pagination
-- on (ordinal, id) over chunks_document_id_ordinal_idx. Pass the last
-- chunk's ordinal and id for the next page.
SELECT c.id, c.ordinal, c.headers, c.headings, c.anchor, c.text, c.token_count,
       (c.embedding IS NOT NULL)::boolean AS embedded, c.embedding_model
FROM chunks c
WHERE c.document_id = @document_id
  AND c.user_id = @user_id
  AND (sqlc.narg('after_ordinal')::integer IS NULL
       OR (c.ordinal, c.id) > (sqlc.narg('after_ordinal')::integer, sqlc.narg('after_id')::uuid))
ORDER BY c.ordinal, c.id
LIMIT @max_rows;
