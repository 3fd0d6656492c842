DROP TABLE source_crawls;
UPDATE sources SET stage = 'failed', error = 'crawl interrupted by a downgrade', completed_at = now()
WHERE stage = 'crawling';
ALTER TABLE sources DROP CONSTRAINT sources_stage_check;
ALTER TABLE sources ADD CONSTRAINT sources_stage_check
    CHECK (stage IN ('created', 'processing_scheduled', 'chunks_generated',
                     'summary_generated', 'completed', 'failed'));
