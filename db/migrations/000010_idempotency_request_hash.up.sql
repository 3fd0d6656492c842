-- The sha256 of the canonical request that created a source with an
-- Idempotency-Key: the same key with a different request is refused (422)
-- instead of answered with the first source. NULL for sources created
-- before this column, or without a key; those are not checked.
ALTER TABLE sources ADD COLUMN idempotency_request_hash bytea;
