-- name: DeleteChunksOfDocuments :execrows
DELETE FROM chunks WHERE document_id = ANY(@document_ids::uuid[]);

-- name: GetChunksByIDs :many
-- The chunks an embedding job queued by an older binary embeds: its args
-- name them, the chunking job wrote them without a vector.
SELECT id, document_id, ordinal, headers, text, token_count
FROM chunks WHERE id = ANY(@ids::uuid[])
ORDER BY document_id, ordinal;

-- name: DeleteChunksByIDs :execrows
-- Makes an embedding job's COPY of its chunks a rewrite: whatever an
-- earlier write left under the same ids goes first.
DELETE FROM chunks WHERE id = ANY(@ids::uuid[]);

-- name: LockSourceForChunks :one
-- Run by an embedding job before it writes its chunks: the source's
-- generation must still be processing, and of the given documents those
-- still stored are returned. FOR KEY SHARE keeps the source (and, through
-- the foreign key's cascade, its documents) from being deleted until the
-- job commits; it is the lock the chunks' foreign key takes anyway, and
-- does not wait on the progress and fan-in updates of the source row. No
-- row: the source was deleted or moved on.
SELECT ARRAY(SELECT d.id FROM documents d
             WHERE d.source_id = s.id AND d.id = ANY(@document_ids::uuid[]))::uuid[] AS document_ids
FROM sources s
WHERE s.id = @id AND s.generation = @generation AND s.stage = 'processing_scheduled'
FOR KEY SHARE;

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

-- name: GetSearchHits :many
-- The chunks that hybrid search returns, with their documents, scoped to the
-- owner again so that an id from anywhere else can never leak a chunk.
SELECT c.id, c.document_id, c.source_id, c.headers, c.headings, c.anchor, c.language, c.text, d.title, d.url
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
