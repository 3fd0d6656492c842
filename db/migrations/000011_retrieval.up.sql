-- Retrieval: every heading a chunk holds, its section's URL fragment, and
-- the language of its document, which picks the text search configuration.

-- language is the ISO 639-1 code detected for the document ('' when none
-- could be told, for example a page of code).
ALTER TABLE documents ADD COLUMN language text NOT NULL DEFAULT '';

-- anchor is the URL fragment of the chunk's first section (an explicit
-- "{ #id }" of its heading, else the heading's slug), '' above the first
-- heading. headings are the other headings inside the chunk, in order,
-- which a merge of small sections keeps searchable. language is the
-- document's, copied so the generated tsvector can use it.
ALTER TABLE chunks
    ADD COLUMN anchor   text   NOT NULL DEFAULT '',
    ADD COLUMN headings text[] NOT NULL DEFAULT '{}',
    ADD COLUMN language text   NOT NULL DEFAULT '';

-- The text search configuration for a language code: PostgreSQL's own
-- stemmer and stop words where it has them, 'simple' (lower-cased words,
-- no stemming) elsewhere, Chinese, Japanese and Korean included (their text
-- is split by kollektiv_cjk_split first). Unknown ('') is English, as every
-- chunk was before languages were detected.
CREATE FUNCTION kollektiv_ts_config(language text) RETURNS regconfig
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE language
        WHEN ''   THEN 'english'::regconfig
        WHEN 'en' THEN 'english'::regconfig
        WHEN 'ar' THEN 'arabic'::regconfig
        WHEN 'hy' THEN 'armenian'::regconfig
        WHEN 'eu' THEN 'basque'::regconfig
        WHEN 'ca' THEN 'catalan'::regconfig
        WHEN 'da' THEN 'danish'::regconfig
        WHEN 'nl' THEN 'dutch'::regconfig
        WHEN 'fi' THEN 'finnish'::regconfig
        WHEN 'fr' THEN 'french'::regconfig
        WHEN 'de' THEN 'german'::regconfig
        WHEN 'el' THEN 'greek'::regconfig
        WHEN 'hi' THEN 'hindi'::regconfig
        WHEN 'hu' THEN 'hungarian'::regconfig
        WHEN 'id' THEN 'indonesian'::regconfig
        WHEN 'ga' THEN 'irish'::regconfig
        WHEN 'it' THEN 'italian'::regconfig
        WHEN 'lt' THEN 'lithuanian'::regconfig
        WHEN 'ne' THEN 'nepali'::regconfig
        WHEN 'no' THEN 'norwegian'::regconfig
        WHEN 'nb' THEN 'norwegian'::regconfig
        WHEN 'pt' THEN 'portuguese'::regconfig
        WHEN 'ro' THEN 'romanian'::regconfig
        WHEN 'ru' THEN 'russian'::regconfig
        WHEN 'sr' THEN 'serbian'::regconfig
        WHEN 'es' THEN 'spanish'::regconfig
        WHEN 'sv' THEN 'swedish'::regconfig
        WHEN 'ta' THEN 'tamil'::regconfig
        WHEN 'tr' THEN 'turkish'::regconfig
        WHEN 'yi' THEN 'yiddish'::regconfig
        ELSE 'simple'::regconfig
    END;

-- The tsvector is rebuilt with the document's language, and the headings a
-- chunk holds weigh as much as its breadcrumb.
DROP INDEX chunks_tsv_idx;
ALTER TABLE chunks DROP COLUMN tsv;
DROP FUNCTION kollektiv_chunk_tsvector(text[], text);

-- Chinese and Japanese put no spaces between words, and a Korean word
-- carries its particles ("서버를", the server as an object), so PostgreSQL's
-- parser would make a whole sentence or word one token that no query
-- matches. Each Han, Hiragana, Katakana and Hangul character becomes a token
-- of its own; search turns a run of them in a query into phrases of adjacent
-- characters (overlapping pairs), which find the word inside a sentence.
-- Only for documents in those languages: the regular expression would cost
-- every other chunk its time at ingest for nothing.
CREATE FUNCTION kollektiv_cjk_split(language text, body text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN CASE WHEN language IN ('zh', 'ja', 'ko')
        THEN regexp_replace(body, '([\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af])', ' \1 ', 'g')
        ELSE body
    END;

CREATE FUNCTION kollektiv_chunk_tsvector(language text, headers text[], headings text[], body text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN setweight(to_tsvector(kollektiv_ts_config(language), kollektiv_cjk_split(language, array_to_string(headers || headings, ' '))), 'A')
        || setweight(to_tsvector(kollektiv_ts_config(language), kollektiv_cjk_split(language, body)), 'B');

ALTER TABLE chunks ADD COLUMN tsv tsvector
    GENERATED ALWAYS AS (kollektiv_chunk_tsvector(language, headers, headings, text)) STORED;
CREATE INDEX chunks_tsv_idx ON chunks USING gin (tsv);
