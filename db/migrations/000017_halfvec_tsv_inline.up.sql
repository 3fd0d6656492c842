-- Search latency at 100,000 chunks (issue 14).
--
-- 1. The full-text list reads the tsvector of every chunk it ranks. A row
-- over 2 kB has its largest values moved out of line, and a long chunk's
-- tsvector went to the TOAST table: each read then cost a TOAST index
-- lookup and page besides the row's own page. MAIN keeps the tsvector in
-- the row (compressed if it must be) and moves the text out instead, which
-- search reads only for the ten hits it returns. It applies to rows written
-- from now on; VACUUM FULL chunks rewrites the others.
ALTER TABLE chunks ALTER COLUMN tsv SET STORAGE MAIN;

-- 2. HNSW indexes cast the embeddings to halfvec, half the size of vector:
-- the index of 100,000 384-dimension chunks is 109 MB instead of 190 MB,
-- and fits PostgreSQL's default 128 MB of shared buffers. The new indexes
-- have new names (chunks_halfvec_<dims>_idx, chunks_src_<source>_h<dims>_idx).
-- An empty table gets the new 384 index here. Where chunks exist, a worker
-- builds the index of its embedder's dimension at start-up (CREATE INDEX
-- CONCURRENTLY, so writes go on; searches scan the chunks until it is ready)
-- and drops the old one of that dimension after; a source's own index is
-- built again when the source is next ingested, and searched with its old
-- cast until then.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM chunks) THEN
        DROP INDEX IF EXISTS chunks_embedding_384_idx;
        CREATE INDEX chunks_halfvec_384_idx ON chunks
            USING hnsw ((embedding::halfvec(384)) halfvec_cosine_ops)
            WHERE vector_dims(embedding) = 384 AND NOT bulk_index;
    END IF;
END
$$;

-- Whether a source's own index casts to halfvec; search casts its query
-- the same way. Indexes above 2,000 dimensions always did.
ALTER TABLE source_vector_indexes ADD COLUMN halfvec boolean NOT NULL DEFAULT false;
UPDATE source_vector_indexes SET halfvec = true WHERE dims > 2000;
