-- The languages each user's chunks are in, so that search turns a query
-- into lexemes with just those text search configurations, found by the
-- primary key instead of a scan of the user's chunks. Kept by a statement
-- trigger on insert, so every writer of chunks (the pipeline's COPY, a
-- bench's seed) keeps it. A chunk's language is written once: the
-- embedding job's UPDATE of its vector pays no trigger. The table only
-- grows: a language whose chunks are gone costs a search one configuration
-- too many, never a wrong answer.
CREATE TABLE chunk_languages (
    user_id  text NOT NULL,
    language text NOT NULL,
    PRIMARY KEY (user_id, language)
);

CREATE FUNCTION kollektiv_note_chunk_languages() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    -- In key order: two transactions adding the same new languages take
    -- their locks in the same order and cannot deadlock.
    INSERT INTO chunk_languages (user_id, language)
    SELECT DISTINCT user_id, language FROM new_chunks
    ORDER BY user_id, language
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;

-- On INSERT (and COPY) only: a chunk's language never changes in place (a
-- changed document gets new chunks), and a trigger on UPDATE would copy
-- every row that persist_chunks gives a vector into its transition table.
CREATE TRIGGER chunks_note_languages
    AFTER INSERT ON chunks REFERENCING NEW TABLE AS new_chunks
    FOR EACH STATEMENT EXECUTE FUNCTION kollektiv_note_chunk_languages();

INSERT INTO chunk_languages (user_id, language)
SELECT DISTINCT user_id, language FROM chunks;

-- OR and AND over a set of text search queries: search builds its query
-- from the user's words with these, each word turned into lexemes by
-- PostgreSQL, never by pasting text into a query string. An empty query
-- (a stop word) leaves the other side as it is; no rows give NULL.
CREATE AGGREGATE kollektiv_tsquery_or(tsquery) (SFUNC = tsquery_or, STYPE = tsquery);
CREATE AGGREGATE kollektiv_tsquery_and(tsquery) (SFUNC = tsquery_and, STYPE = tsquery);
