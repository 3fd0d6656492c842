-- Large sources get their own HNSW index, built in bulk when their last
-- batch is written, instead of paying for incremental HNSW inserts into the
-- shared index one batch at a time (about four times the cost of a bulk
-- build). A source is large when its first generation's documents hold at
-- least bulk-index-min-bytes; the choice is kept for its later generations.
-- Every chunk row carries its source's choice, so that the shared index can
-- leave those rows out.
ALTER TABLE sources
    ADD COLUMN bulk_index boolean NOT NULL DEFAULT false,
    -- The fan-in counter: chunking and embedding jobs of the current
    -- generation that have not committed yet. Each job's transaction
    -- adjusts it under the source row's lock; the one that brings it to
    -- zero wakes the completion check.
    ADD COLUMN batch_jobs_unfinished integer NOT NULL DEFAULT 0;

ALTER TABLE chunks ADD COLUMN bulk_index boolean NOT NULL DEFAULT false;

-- The shared indexes leave out the rows of bulk-indexed sources. Indexes
-- of other dimensions are created again by Kollektiv at start-up.
DO $$
DECLARE
    idx text;
BEGIN
    FOR idx IN SELECT indexname FROM pg_indexes
               WHERE schemaname = current_schema() AND tablename = 'chunks'
                 AND indexname ~ '^chunks_embedding_[0-9]+_idx$'
    LOOP
        EXECUTE format('DROP INDEX %I', idx);
    END LOOP;
END
$$;

CREATE INDEX chunks_embedding_384_idx ON chunks
    USING hnsw ((embedding::vector(384)) vector_cosine_ops)
    WHERE vector_dims(embedding) = 384 AND NOT bulk_index;

-- The bulk-built indexes that are ready, one per source and dimension:
-- search reads this table to know which of them to scan.
CREATE TABLE source_vector_indexes (
    source_id  uuid NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    dims       integer NOT NULL CHECK (dims > 0),
    user_id    text NOT NULL,
    index_name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source_id, dims)
);

CREATE INDEX source_vector_indexes_user_id_dims_idx ON source_vector_indexes (user_id, dims);
