-- name: RecordWorkerHeartbeat :exec
INSERT INTO workers (id, hostname, pid, queues, version)
VALUES (@id, @hostname, @pid, @queues, @version)
ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), stopped_at = NULL;

-- name: MarkWorkerStopped :exec
UPDATE workers SET stopped_at = now() WHERE id = @id;

-- name: CountLiveWorkers :one
SELECT count(*) FROM workers
WHERE stopped_at IS NULL AND heartbeat_at > now() - make_interval(secs => @within_seconds::float8);

-- name: DeleteStaleWorkers :execrows
DELETE FROM workers WHERE heartbeat_at < now() - make_interval(secs => @older_than_seconds::float8);
