-- name: InsertFanInShards :exec
-- Creates the generation's shards, shard i with unfinished[i+1] batch jobs,
-- sets the source's count of shards with unfinished jobs to all of them,
-- and drops the shards of the source's earlier generations.
WITH dropped AS (
    DELETE FROM source_fan_in_shards
    WHERE source_id = @source_id AND generation <> @generation
), counted AS (
    UPDATE sources
    SET fan_in_shards_unfinished = cardinality(@unfinished::integer[])
    WHERE id = @source_id AND generation = @generation
)
INSERT INTO source_fan_in_shards (source_id, generation, shard, batch_jobs_unfinished)
SELECT @source_id, @generation, (t.n - 1)::integer, t.unfinished
FROM unnest(@unfinished::integer[]) WITH ORDINALITY AS t(unfinished, n);

-- name: AddFanInShards :many
-- Adds the work of the batch jobs committing in one transaction to their
-- shards, one element of the arrays a shard (each shard once): minus the
-- jobs plus the batch jobs they inserted, and their progress. The shards
-- are locked first, in the order of their keys, so that transactions that
-- add to the same shards take them in the same order instead of
-- deadlocking. A shard's row lock makes its jobs' transactions take turns,
-- so exactly one of them brings it to zero. progress_due is read from the
-- source row without locking it: true when its last progress event is
-- older than throttle_seconds. A shard whose source was deleted or moved
-- on to another generation has no row.
WITH input AS (
    SELECT unnest(@source_ids::uuid[]) AS source_id,
           unnest(@generations::integer[]) AS generation,
           unnest(@shards::integer[]) AS shard,
           unnest(@deltas::integer[]) AS delta,
           unnest(@documents::integer[]) AS documents,
           unnest(@chunks_written::integer[]) AS chunks_written,
           unnest(@chunks_embedded::integer[]) AS chunks_embedded
), locked AS MATERIALIZED (
    SELECT f.source_id, f.generation, f.shard
    FROM source_fan_in_shards f
    JOIN input i ON i.source_id = f.source_id AND i.generation = f.generation AND i.shard = f.shard
    ORDER BY f.source_id, f.generation, f.shard
    FOR NO KEY UPDATE OF f
)
UPDATE source_fan_in_shards f
SET batch_jobs_unfinished = f.batch_jobs_unfinished + i.delta,
    documents_processed = f.documents_processed + i.documents,
    chunks_written = f.chunks_written + i.chunks_written,
    chunks_embedded = f.chunks_embedded + i.chunks_embedded
FROM locked l
JOIN input i ON i.source_id = l.source_id AND i.generation = l.generation AND i.shard = l.shard
JOIN sources s ON s.id = l.source_id AND s.generation = l.generation
WHERE f.source_id = l.source_id AND f.generation = l.generation AND f.shard = l.shard
RETURNING f.source_id, f.generation, f.shard, f.batch_jobs_unfinished,
          (s.progress_at IS NULL OR s.progress_at < now() - make_interval(secs => @throttle_seconds::float8))::boolean AS progress_due;

-- name: FinishFanInShards :one
-- Counts off shards that have no unfinished batch job left, under the
-- source row's lock: the transaction that brings the count to zero ends
-- the generation's last batch job. No row when the source was deleted or
-- moved on.
UPDATE sources
SET fan_in_shards_unfinished = fan_in_shards_unfinished - @shards::integer
WHERE id = @id AND generation = @generation
RETURNING fan_in_shards_unfinished;

-- name: ClaimProgressEvent :one
-- Marks a progress event of the generation as sent now when the last one
-- is older than throttle_seconds, and returns the counters it reports. A
-- source row locked by another transaction (a concurrent claim, a shard
-- counted off) is skipped rather than waited for, and a claim committed
-- meanwhile is seen by the lock's recheck: no row, no event. The job that
-- comes next tries again.
WITH claimed AS (
    UPDATE sources
    SET progress_at = now(), updated_at = now()
    WHERE id = (SELECT l.id FROM sources l
                WHERE l.id = @id AND l.generation = @generation
                  AND (l.progress_at IS NULL OR l.progress_at < now() - make_interval(secs => @throttle_seconds::float8))
                FOR NO KEY UPDATE SKIP LOCKED)
    RETURNING id, generation, documents_scheduled
)
SELECT c.documents_scheduled,
       coalesce(sum(f.documents_processed), 0)::integer AS documents_processed,
       coalesce(sum(f.chunks_written), 0)::integer AS chunks_written,
       coalesce(sum(f.chunks_embedded), 0)::integer AS chunks_embedded
FROM claimed c
LEFT JOIN source_fan_in_shards f ON f.source_id = c.id AND f.generation = c.generation
GROUP BY c.documents_scheduled;

-- name: ListSourceProgress :many
-- The progress counters of the current generation of each of the sources
-- ids, added up over its shards. A source with no shards (not scheduled
-- yet, or nothing to process) has no row: nothing done.
SELECT s.id AS source_id,
       sum(f.documents_processed)::integer AS documents_processed,
       sum(f.chunks_written)::integer AS chunks_written,
       sum(f.chunks_embedded)::integer AS chunks_embedded
FROM sources s
JOIN source_fan_in_shards f ON f.source_id = s.id AND f.generation = s.generation
WHERE s.id = ANY(@ids::uuid[])
GROUP BY s.id;
