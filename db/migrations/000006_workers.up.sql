-- Every worker process records itself here and refreshes heartbeat_at while it
-- runs; `kollektiv check` counts workers seen in the last minute.
CREATE TABLE workers (
    id           uuid PRIMARY KEY,
    hostname     text NOT NULL,
    pid          integer NOT NULL,
    queues       text[] NOT NULL DEFAULT '{}',
    version      text NOT NULL DEFAULT '',
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    stopped_at   timestamptz
);

CREATE INDEX workers_heartbeat_at_idx ON workers (heartbeat_at);
