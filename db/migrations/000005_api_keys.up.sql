-- Only a hash of each key is stored; prefix is the key's first characters,
-- shown by `kollektiv keys ls` so a person can tell keys apart.
CREATE TABLE api_keys (
    id           uuid PRIMARY KEY,
    user_id      text NOT NULL,
    name         text NOT NULL DEFAULT '',
    prefix       text NOT NULL,
    key_hash     bytea NOT NULL UNIQUE CHECK (octet_length(key_hash) = 32),
    admin        boolean NOT NULL DEFAULT false,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    expires_at   timestamptz,
    revoked_at   timestamptz
);

CREATE INDEX api_keys_user_id_idx ON api_keys (user_id);
