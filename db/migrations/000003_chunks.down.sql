DROP TABLE IF EXISTS chunks;
DROP FUNCTION IF EXISTS kollektiv_chunk_tsvector(text[], text);
