ALTER TABLE sources RENAME COLUMN fan_in_shards_unfinished TO batch_jobs_unfinished;

ALTER TABLE sources
    ADD COLUMN documents_processed integer NOT NULL DEFAULT 0,
    ADD COLUMN chunks_written      integer NOT NULL DEFAULT 0,
    ADD COLUMN chunks_embedded     integer NOT NULL DEFAULT 0;

-- The current generation's shards add up to the source's counters again.
UPDATE sources s
SET batch_jobs_unfinished = f.unfinished,
    documents_processed = f.documents_processed,
    chunks_written = f.chunks_written,
    chunks_embedded = f.chunks_embedded
FROM (
    SELECT source_id, generation,
           sum(batch_jobs_unfinished)::integer AS unfinished,
           sum(documents_processed)::integer AS documents_processed,
           sum(chunks_written)::integer AS chunks_written,
           sum(chunks_embedded)::integer AS chunks_embedded
    FROM source_fan_in_shards
    GROUP BY source_id, generation
) f
WHERE f.source_id = s.id AND f.generation = s.generation;

DROP TABLE source_fan_in_shards;
