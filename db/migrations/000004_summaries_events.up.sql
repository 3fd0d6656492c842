CREATE TABLE source_summaries (
    source_id  uuid PRIMARY KEY REFERENCES sources (id) ON DELETE CASCADE,
    summary    text NOT NULL,
    keywords   text[] NOT NULL DEFAULT '{}',
    model      text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- Events are rows so that they can be replayed: the id is the SSE event id.
-- key makes publishing idempotent: a stage event's key is its stage and the
-- source's generation, so a retried publish_event job cannot add it twice.
CREATE TABLE source_events (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source_id  uuid NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    generation integer NOT NULL DEFAULT 1,
    stage      text NOT NULL
               CHECK (stage IN ('created', 'processing_scheduled', 'chunks_generated',
                                'summary_generated', 'completed', 'failed', 'progress')),
    key        text NOT NULL,
    payload    jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (source_id, key)
);

CREATE INDEX source_events_source_id_id_idx ON source_events (source_id, id);
