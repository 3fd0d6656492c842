package jobs_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/kollektiv/kollektiv/internal/content"
	"github.com/kollektiv/kollektiv/internal/ingest"
	"github.com/kollektiv/kollektiv/internal/lifecycle"
	"github.com/kollektiv/kollektiv/internal/store"
	"github.com/kollektiv/kollektiv/internal/wait"
	"github.com/kollektiv/kollektiv/jobs"
)

func TestFairSharePriority(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ queued, share, want int }{
		{0, 200, 1},
		{199, 200, 1},
		{200, 200, 2},
		{399, 200, 2},
		{400, 200, 3},
		{600, 200, 4},
		{1_000_000, 200, 4},
		{5, 1, 4},
		{5, 0, 4}, // a share below 1 counts as 1 instead of dividing by zero
	} {
		if got := jobs.FairSharePriority(tc.queued, tc.share); got != tc.want {
			t.Errorf("FairSharePriority(%d, %d) = %d, want %d", tc.queued, tc.share, got, tc.want)
		}
	}
}

// TestFairShareWaitsForUserQueue checks that a source whose user's queue is
// being scheduled by another transaction waits without holding a worker:
// its process_documents job snoozes, uses no attempt, and schedules the
// source once the lock is free.
func TestFairShareWaitsForUserQueue(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{maxWorkers: 1})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	tx, err := b.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if locked, err := store.New(tx).TryLockUserQueue(ctx, "alice"); err != nil || !locked {
		t.Fatalf("taking alice's queue lock: %v, %v", locked, err)
	}
	added, err := b.ingest.Add(ctx, ingest.AddParams{UserID: "alice", Kind: ingest.KindInline,
		Documents: []content.Document{doc(t, "a.md", guide("queue", 2))}})
	if err != nil {
		t.Fatal(err)
	}
	// The job snoozes again and again while the lock is held.
	wait.For(t, time.Minute, func() (bool, string) {
		var snoozes int
		if err := b.pool.QueryRow(ctx, `SELECT coalesce((metadata->>'snoozes')::int, 0) FROM river_job WHERE kind = 'process_documents' AND args->>'source_id' = $1`,
			added.Source.ID.String()).Scan(&snoozes); err != nil {
			t.Fatal(err)
		}
		return snoozes >= 2, fmt.Sprintf("process_documents snoozed %d times while alice's queue was locked, want 2", snoozes)
	})
	if source, err := store.New(b.pool).GetSourceByID(ctx, added.Source.ID); err != nil || source.Stage != string(lifecycle.StageCreated) {
		t.Fatalf("source scheduled while its user's queue was locked: stage %s, %v", source.Stage, err)
	}

	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if source := waitTerminal(t, b, added.Source.ID); source.Stage != string(lifecycle.StageCompleted) {
		t.Fatalf("stage %s, want completed", source.Stage)
	}
	var attempt int
	if err := b.pool.QueryRow(ctx, `SELECT attempt FROM river_job WHERE kind = 'process_documents' AND args->>'source_id' = $1`,
		added.Source.ID.String()).Scan(&attempt); err != nil {
		t.Fatal(err)
	}
	if attempt != 1 {
		t.Errorf("process_documents used %d attempts, want 1: snoozes must not use attempts", attempt)
	}
}
