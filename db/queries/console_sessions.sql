-- name: CreateConsoleSession :exec
INSERT INTO console_sessions (token_hash, api_key_id, expires_at)
VALUES (@token_hash, @api_key_id, @expires_at);

-- name: GetConsoleSessionKey :one
-- The key of a live session: the session and its key unexpired, the key
-- not revoked.
SELECT k.*
FROM console_sessions s
JOIN api_keys k ON k.id = s.api_key_id
WHERE s.token_hash = @token_hash
  AND s.expires_at > @now
  AND k.revoked_at IS NULL
  AND (k.expires_at IS NULL OR k.expires_at > @now);

-- name: DeleteConsoleSession :exec
DELETE FROM console_sessions WHERE token_hash = @token_hash;

-- name: DeleteExpiredConsoleSessions :execrows
DELETE FROM console_sessions WHERE expires_at <= @now;
