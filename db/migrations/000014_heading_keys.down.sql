DROP INDEX chunks_heading_keys_idx;
DROP FUNCTION kollektiv_heading_keys(text[], text[]);
DROP FUNCTION kollektiv_heading_key(text);
