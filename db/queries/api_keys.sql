-- name: CreateAPIKey :one
INSERT INTO api_keys (id, user_id, name, prefix, key_hash, admin, expires_at)
VALUES (@id, @user_id, @name, @prefix, @key_hash, @admin, sqlc.narg('expires_at'))
RETURNING *;

-- name: GetAPIKeyByHash :one
SELECT * FROM api_keys WHERE key_hash = @key_hash;

-- name: ListAPIKeys :many
SELECT * FROM api_keys
WHERE (sqlc.narg('user_id')::text IS NULL OR user_id = sqlc.narg('user_id')::text)
ORDER BY created_at, id;

-- name: RevokeAPIKey :execrows
UPDATE api_keys SET revoked_at = now() WHERE id = @id AND revoked_at IS NULL;

-- name: TouchAPIKey :exec
UPDATE api_keys SET last_used_at = now() WHERE id = @id;
