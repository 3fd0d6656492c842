-- A URL source is crawled by a job (crawl_source), not inside a request: its
-- stage is crawling from the moment it is accepted until its pages are
-- stored, then created as for any other source.
ALTER TABLE sources DROP CONSTRAINT sources_stage_check;
ALTER TABLE sources ADD CONSTRAINT sources_stage_check
    CHECK (stage IN ('created', 'crawling', 'processing_scheduled', 'chunks_generated',
                     'summary_generated', 'completed', 'failed'));
ALTER TABLE source_events DROP CONSTRAINT source_events_stage_check;
ALTER TABLE source_events ADD CONSTRAINT source_events_stage_check
    CHECK (stage IN ('created', 'crawling', 'processing_scheduled', 'chunks_generated',
                     'summary_generated', 'completed', 'failed', 'progress'));

-- The checkpoint of a source's running crawl: its frontier and the URLs it
-- has seen and stored (content.CrawlState as JSON), written in the same
-- transaction as each batch of pages, so a crawl that is killed resumes
-- without fetching those pages again. Removed when the crawl ends.
CREATE TABLE source_crawls (
    source_id     uuid PRIMARY KEY REFERENCES sources (id) ON DELETE CASCADE,
    generation    integer NOT NULL,
    state         jsonb NOT NULL,
    pages_fetched integer NOT NULL DEFAULT 0,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
