DROP AGGREGATE kollektiv_tsquery_and(tsquery);
DROP AGGREGATE kollektiv_tsquery_or(tsquery);
DROP TRIGGER chunks_note_languages ON chunks;
DROP FUNCTION kollektiv_note_chunk_languages();
DROP TABLE chunk_languages;
