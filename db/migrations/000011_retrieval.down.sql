DROP INDEX chunks_tsv_idx;
ALTER TABLE chunks DROP COLUMN tsv;
DROP FUNCTION kollektiv_chunk_tsvector(text, text[], text[], text);
DROP FUNCTION kollektiv_cjk_split(text, text);
DROP FUNCTION kollektiv_ts_config(text);

CREATE FUNCTION kollektiv_chunk_tsvector(headers text[], body text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN setweight(to_tsvector('english'::regconfig, array_to_string(headers, ' ')), 'A')
        || setweight(to_tsvector('english'::regconfig, body), 'B');

ALTER TABLE chunks ADD COLUMN tsv tsvector
    GENERATED ALWAYS AS (kollektiv_chunk_tsvector(headers, text)) STORED;
CREATE INDEX chunks_tsv_idx ON chunks USING gin (tsv);

ALTER TABLE chunks DROP COLUMN language, DROP COLUMN headings, DROP COLUMN anchor;
ALTER TABLE documents DROP COLUMN language;
