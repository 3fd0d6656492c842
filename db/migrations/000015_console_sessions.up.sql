-- Sessions of the web console (/): a browser signs in with an API key and
-- gets a random token in a cookie; only the token's SHA-256 is stored. A
-- session acts as its key: revoking or expiring the key ends it, and so
-- does deleting the key's row.
CREATE TABLE console_sessions (
    token_hash bytea PRIMARY KEY CHECK (octet_length(token_hash) = 32),
    api_key_id uuid NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);

CREATE INDEX console_sessions_expires_at_idx ON console_sessions (expires_at);
CREATE INDEX console_sessions_api_key_id_idx ON console_sessions (api_key_id);
