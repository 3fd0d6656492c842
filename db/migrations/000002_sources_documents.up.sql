-- A source is one thing a user asked to ingest: a directory of files, a URL to
-- crawl, or documents sent inline. Its stage follows the pipeline's events.
CREATE TABLE sources (
    id                    uuid PRIMARY KEY,
    user_id               text NOT NULL,
    kind                  text NOT NULL CHECK (kind IN ('files', 'url', 'inline')),
    uri                   text NOT NULL DEFAULT '',
    options               jsonb NOT NULL DEFAULT '{}',
    stage                 text NOT NULL DEFAULT 'created'
                          CHECK (stage IN ('created', 'processing_scheduled', 'chunks_generated',
                                           'summary_generated', 'completed', 'failed')),
    -- generation counts the runs of the pipeline over this source (first
    -- ingest, then each retry or refresh); events are unique per generation.
    generation            integer NOT NULL DEFAULT 1 CHECK (generation > 0),
    document_count        integer NOT NULL DEFAULT 0,
    chunk_count           integer NOT NULL DEFAULT 0,
    failed_document_count integer NOT NULL DEFAULT 0,
    error                 text,
    idempotency_key       text,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    completed_at          timestamptz
);

CREATE INDEX sources_user_id_created_at_idx ON sources (user_id, created_at DESC, id DESC);
CREATE INDEX sources_user_id_uri_idx ON sources (user_id, kind, uri);
CREATE UNIQUE INDEX sources_user_id_idempotency_key_idx ON sources (user_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- A document's id is uuidv5(source_id, normalised url or path), so loading
-- the same source again addresses the same rows.
CREATE TABLE documents (
    id           uuid PRIMARY KEY,
    source_id    uuid NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    url          text NOT NULL,
    title        text NOT NULL DEFAULT '',
    content      text NOT NULL,
    content_hash bytea NOT NULL CHECK (octet_length(content_hash) = 32),
    metadata     jsonb NOT NULL DEFAULT '{}',
    status       text NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'chunked', 'embedded', 'failed')),
    error        text,
    chunk_count  integer NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source_id, url)
);

CREATE INDEX documents_source_id_status_idx ON documents (source_id, status);
