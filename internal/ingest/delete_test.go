package ingest_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kollektiv/kollektiv/internal/content"
	"github.com/kollektiv/kollektiv/internal/ingest"
	"github.com/kollektiv/kollektiv/internal/lifecycle"
)

// TestDeleteRetriesADeadlock: a transaction that holds the source's fan-in
// shard, as a committing batch job does, and then waits for the source's
// row, which the delete has locked, makes a deadlock with the delete.
// PostgreSQL aborts the delete (its deadlock check fires first: the other
// side waits 10 s before checking); Delete runs it again and succeeds once
// the other side committed.
func TestDeleteRetriesADeadlock(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := setupStream(t)
	added, err := b.svc.Add(ctx, ingest.AddParams{UserID: "alice", Kind: ingest.KindInline,
		Documents: []content.Document{document(t, "a.md", "# A\n\nText.")}})
	if err != nil {
		t.Fatal(err)
	}
	id := added.Source.ID
	if _, err := b.pool.Exec(ctx, `INSERT INTO source_fan_in_shards (source_id, generation, shard, batch_jobs_unfinished)
		VALUES ($1, 1, 0, 1)`, id); err != nil {
		t.Fatal(err)
	}

	job, err := b.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = job.Rollback(context.Background()) }()
	var jobPID int
	if _, err := job.Exec(ctx, "SET LOCAL deadlock_timeout = '10s'"); err != nil {
		t.Fatal(err)
	}
	if err := job.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&jobPID); err != nil {
		t.Fatal(err)
	}
	if _, err := job.Exec(ctx, "SELECT 1 FROM source_fan_in_shards WHERE source_id = $1 FOR NO KEY UPDATE", id); err != nil {
		t.Fatal(err)
	}

	deleted := make(chan error, 1)
	go func() { deleted <- b.svc.Delete(ctx, "alice", id) }()

	// The delete holds the source's row and waits for the shard.
	for blocked := false; !blocked; {
		select {
		case err := <-deleted:
			t.Fatalf("delete returned before waiting for the shard: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
		if err := b.pool.QueryRow(ctx, "SELECT $1::int = ANY(pg_blocking_pids(pid)) FROM pg_stat_activity WHERE query LIKE '%DELETE FROM sources%' AND pid <> pg_backend_pid()",
			jobPID).Scan(&blocked); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			t.Fatal(err)
		}
	}
	// Now the other side waits for the source's row: a deadlock.
	if _, err := job.Exec(ctx, "UPDATE sources SET updated_at = now() WHERE id = $1", id); err != nil {
		t.Fatalf("the delete should have been the deadlock's victim: %v", err)
	}
	if err := job.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-deleted; err != nil {
		t.Fatalf("delete after a deadlock: %v", err)
	}
	if err := lifecycle.Delete(ctx, b.pool, "alice", id); !errors.Is(err, lifecycle.ErrNotFound) {
		t.Fatalf("source still there after the delete: %v", err)
	}
}
