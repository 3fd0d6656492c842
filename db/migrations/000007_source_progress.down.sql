ALTER TABLE sources
    DROP COLUMN IF EXISTS documents_scheduled,
    DROP COLUMN IF EXISTS documents_processed,
    DROP COLUMN IF EXISTS chunks_written,
    DROP COLUMN IF EXISTS chunks_embedded,
    DROP COLUMN IF EXISTS progress_at;
