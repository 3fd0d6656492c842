-- The fan-in and progress counters of a generation, spread over shards, so
-- that a source's batch jobs committing at once update different rows
-- instead of taking turns on the source's. process_documents gives each
-- chunking job a shard; the embedding jobs it inserts inherit it. A shard's
-- batch_jobs_unfinished counts its jobs that have not committed yet; its
-- progress counters add up what they did. The source's own
-- batch_jobs_unfinished now counts its shards that still have unfinished
-- jobs (renamed to say so): the job that empties a shard decrements it,
-- and the one that brings it to zero wakes the completion check.
CREATE TABLE source_fan_in_shards (
    source_id             uuid NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    generation            integer NOT NULL,
    shard                 integer NOT NULL CHECK (shard >= 0),
    batch_jobs_unfinished integer NOT NULL,
    documents_processed   integer NOT NULL DEFAULT 0,
    chunks_written        integer NOT NULL DEFAULT 0,
    chunks_embedded       integer NOT NULL DEFAULT 0,
    PRIMARY KEY (source_id, generation, shard)
);

-- Every source's current counters become its shard 0, the shard of the
-- jobs already queued, which carry no shard in their args.
INSERT INTO source_fan_in_shards (source_id, generation, shard, batch_jobs_unfinished,
                                  documents_processed, chunks_written, chunks_embedded)
SELECT id, generation, 0, batch_jobs_unfinished, documents_processed, chunks_written, chunks_embedded
FROM sources;

UPDATE sources SET batch_jobs_unfinished = CASE WHEN batch_jobs_unfinished > 0 THEN 1 ELSE 0 END;

ALTER TABLE sources RENAME COLUMN batch_jobs_unfinished TO fan_in_shards_unfinished;

-- Readers add up the shards of the current generation.
ALTER TABLE sources
    DROP COLUMN documents_processed,
    DROP COLUMN chunks_written,
    DROP COLUMN chunks_embedded;
