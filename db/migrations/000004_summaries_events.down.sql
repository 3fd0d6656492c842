DROP TABLE IF EXISTS source_events;
DROP TABLE IF EXISTS source_summaries;
