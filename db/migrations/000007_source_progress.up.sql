-- Progress of the current generation, kept as counters that each job's
-- transaction updates, so a progress event never has to count chunk rows.
ALTER TABLE sources
    ADD COLUMN documents_scheduled integer NOT NULL DEFAULT 0,
    ADD COLUMN documents_processed integer NOT NULL DEFAULT 0,
    ADD COLUMN chunks_written      integer NOT NULL DEFAULT 0,
    ADD COLUMN chunks_embedded     integer NOT NULL DEFAULT 0,
    ADD COLUMN progress_at         timestamptz;
