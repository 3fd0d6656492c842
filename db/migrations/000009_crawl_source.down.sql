DROP TABLE source_crawls;
UPDATE sources SET stage = 'failed', error = 'crawl interrupted by a downgrade', completed_at = now()
WHERE stage = 'crawling';
DELETE FROM source_events WHERE stage = 'crawling';
ALTER TABLE source_events DROP CONSTRAINT source_events_stage_check;
ALTER TABLE source_events ADD CONSTRAINT source_events_stage_check
    CHECK (stage IN ('created', 'processing_scheduled', 'chunks_generated',
                     'summary_generated', 'completed', 'failed', 'progress'));
ALTER TABLE sources DROP CONSTRAINT sources_stage_check;
ALTER TABLE sources ADD CONSTRAINT sources_stage_check
    CHECK (stage IN ('created', 'processing_scheduled', 'chunks_generated',
                     'summary_generated', 'completed', 'failed'));
