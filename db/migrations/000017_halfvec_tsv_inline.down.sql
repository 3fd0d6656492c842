-- A source's halfvec index stays registered: the previous version casts
-- its query to vector, which that index cannot serve, so such a source's
-- vectors are compared by a scan (right, and slower) until it is ingested
-- again.
ALTER TABLE source_vector_indexes DROP COLUMN halfvec;

-- The halfvec indexes go; the vector(384) index of migration 000008 comes
-- back (other dimensions are created again by the previous version at
-- start-up, as vector up to 2,000 dimensions).
DO $$
DECLARE
    idx text;
BEGIN
    FOR idx IN SELECT indexname FROM pg_indexes
               WHERE schemaname = current_schema() AND tablename = 'chunks'
                 AND indexname ~ '^chunks_halfvec_[0-9]+_idx$'
    LOOP
        EXECUTE format('DROP INDEX %I', idx);
    END LOOP;
END
$$;
CREATE INDEX IF NOT EXISTS chunks_embedding_384_idx ON chunks
    USING hnsw ((embedding::vector(384)) vector_cosine_ops)
    WHERE vector_dims(embedding) = 384 AND NOT bulk_index;

ALTER TABLE chunks ALTER COLUMN tsv SET STORAGE EXTENDED;
