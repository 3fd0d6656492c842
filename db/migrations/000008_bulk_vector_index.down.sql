-- Drops the bulk-built indexes, then the columns; the shared index goes back
-- to covering every row.
DO $$
DECLARE
    idx text;
BEGIN
    FOR idx IN SELECT indexname FROM pg_indexes
               WHERE schemaname = current_schema() AND tablename = 'chunks'
                 AND (indexname ~ '^chunks_src_[0-9a-f]{32}_[0-9]+_idx$'
                      OR indexname ~ '^chunks_embedding_[0-9]+_idx$')
    LOOP
        EXECUTE format('DROP INDEX %I', idx);
    END LOOP;
END
$$;

DROP TABLE IF EXISTS source_vector_indexes;

ALTER TABLE chunks DROP COLUMN IF EXISTS bulk_index;

ALTER TABLE sources
    DROP COLUMN IF EXISTS bulk_index,
    DROP COLUMN IF EXISTS batch_jobs_unfinished;

CREATE INDEX chunks_embedding_384_idx ON chunks
    USING hnsw ((embedding::vector(384)) vector_cosine_ops)
    WHERE vector_dims(embedding) = 384;
