ALTER TABLE sources DROP COLUMN idempotency_request_hash;
