-- The text searched by full text: the header path weighs more than the body.
-- array_to_string is only STABLE in general (it calls element output
-- functions), but for text[] it cannot change, so this wrapper is IMMUTABLE
-- and may be used in a generated column.
CREATE FUNCTION kollektiv_chunk_tsvector(headers text[], body text) RETURNS tsvector
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN setweight(to_tsvector('english'::regconfig, array_to_string(headers, ' ')), 'A')
        || setweight(to_tsvector('english'::regconfig, body), 'B');

-- A chunk's id is uuidv5(document_id, ordinal and text hash): a retried job
-- writes the same keys. The embedding column has no fixed dimension, so one
-- deployment can switch embedders (or run several) without a schema edit:
-- each dimension gets its own partial HNSW index over a cast of the column
-- (created by Kollektiv at start-up for the configured embedder), and every
-- vector query filters on embedding_model so vectors of different models are
-- never compared.
CREATE TABLE chunks (
    id              uuid PRIMARY KEY,
    document_id     uuid NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    source_id       uuid NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    user_id         text NOT NULL,
    ordinal         integer NOT NULL CHECK (ordinal >= 0),
    headers         text[] NOT NULL DEFAULT '{}',
    text            text NOT NULL,
    token_count     integer NOT NULL CHECK (token_count >= 0),
    embedding       vector,
    embedding_model text,
    tsv             tsvector GENERATED ALWAYS AS (kollektiv_chunk_tsvector(headers, text)) STORED,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((embedding IS NULL) = (embedding_model IS NULL))
);

CREATE INDEX chunks_document_id_ordinal_idx ON chunks (document_id, ordinal);
CREATE INDEX chunks_source_id_idx ON chunks (source_id);
CREATE INDEX chunks_user_id_idx ON chunks (user_id);
CREATE INDEX chunks_tsv_idx ON chunks USING gin (tsv);

-- The index for the default embedder (hashing, 384 dimensions). Other
-- dimensions get an index of the same shape, chunks_embedding_<dims>_idx.
CREATE INDEX chunks_embedding_384_idx ON chunks
    USING hnsw ((embedding::vector(384)) vector_cosine_ops)
    WHERE vector_dims(embedding) = 384;
