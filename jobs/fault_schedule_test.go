package jobs_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kollektiv/kollektiv/internal/lifecycle"
	"github.com/kollektiv/kollektiv/internal/store"
	"github.com/kollektiv/kollektiv/internal/wait"
)

// The fault tests trigger their faults from the ingest's own progress, never
// after a sleep: a sleep long enough for a loaded machine outlasts the whole
// ingest on an idle one, and the fault never lands.

// faultFractions plans n faults over an ingest: fault k fires when its
// progress crosses a seeded point of the k-th of n equal slices of [lo, hi),
// so the faults spread over the ingest, in order, each after some work.
func faultFractions(rng *rand.Rand, n int, lo, hi float64) []float64 {
	at := make([]float64, n)
	width := (hi - lo) / float64(n)
	for k := range at {
		at[k] = lo + width*(float64(k)+rng.Float64())
	}
	return at
}

// progressOf is how far the ingest of sources has gone, from 0 to 1: the
// documents chunked and chunks embedded, by the counters each job's
// transaction adds to, over the documents and the chunks a run without
// faults writes; a source past chunking counts whole. allFinished reports
// that every source has its terminal event.
func progressOf(t *testing.T, b *testBundle, sources []corpusSource) (progress float64, allFinished bool, last string) {
	t.Helper()
	var done, total int
	allFinished = true
	var states []string
	for _, s := range sources {
		source, ok := finished(t, b, s.id)
		allFinished = allFinished && ok
		total += len(s.docs) + len(s.chunks)
		counted, err := store.New(b.pool).SourceProgress(context.Background(), s.id)
		if err != nil {
			t.Fatal(err)
		}
		switch lifecycle.StageOf(source) {
		case lifecycle.StageCreated, lifecycle.StageProcessingScheduled:
			done += int(counted.DocumentsProcessed + counted.ChunksEmbedded)
		default:
			done += len(s.docs) + len(s.chunks)
		}
		states = append(states, fmt.Sprintf("%s %s, documents %d/%d, chunks embedded %d/%d",
			s.id, source.Stage, counted.DocumentsProcessed, len(s.docs), counted.ChunksEmbedded, len(s.chunks)))
	}
	progress = min(float64(done)/float64(max(total, 1)), 1)
	return progress, allFinished, fmt.Sprintf("progress %.3f (%s)", progress, strings.Join(states, "; "))
}

// runFaults fires fault(k) once the ingest's progress crosses at[k], for
// each k in order, and returns the progress each fault saw. The sources
// must not finish before the last fault: hold their completion
// (holdCompletion) until it has landed.
func runFaults(t *testing.T, b *testBundle, sources []corpusSource, at []float64, fault func(k int)) []float64 {
	t.Helper()
	seen := make([]float64, 0, len(at))
	for k, want := range at {
		var progress float64
		var finished bool
		var last string
		wait.For(t, 4*time.Minute, func() (bool, string) {
			progress, finished, last = progressOf(t, b, sources)
			return finished || progress >= want, fmt.Sprintf("fault %d of %d waits for progress %.3f; %s", k+1, len(at), want, last)
		})
		if finished {
			t.Fatalf("the sources finished before fault %d of %d (planned at progress %.3f): %s", k+1, len(at), want, last)
		}
		fault(k)
		seen = append(seen, progress)
	}
	return seen
}

// waitSourcesFinished waits until every source has its terminal event.
func waitSourcesFinished(t *testing.T, b *testBundle, sources []corpusSource, timeout time.Duration) {
	t.Helper()
	wait.For(t, timeout, func() (bool, string) {
		_, finished, last := progressOf(t, b, sources)
		return finished, "sources not finished: " + last
	})
}

// holdCompletion keeps every source from completing until release: it
// locks source_summaries against writes (reads go on) in a transaction of
// the test's own, so generate_summary, the last job of a source, waits at
// its first statement however fast the machine ingests. The fault tests
// take it before the workers start, so every planned fault lands on a
// running ingest. release reports how many summary writes were waiting for
// it, which is 0 unless the ingest caught up with the faults.
func holdCompletion(t *testing.T, pool *pgxpool.Pool) (release func() (waiting int)) {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, "LOCK TABLE source_summaries IN EXCLUSIVE MODE"); err != nil {
		_ = tx.Rollback(ctx)
		t.Fatal(err)
	}
	released := false
	t.Cleanup(func() {
		if !released {
			_ = tx.Rollback(ctx)
		}
	})
	return func() (waiting int) {
		t.Helper()
		if err := pool.QueryRow(ctx, `
			SELECT count(DISTINCT l.pid) FROM pg_locks l JOIN pg_stat_activity a USING (pid)
			WHERE l.relation = 'source_summaries'::regclass AND NOT l.granted AND a.query LIKE '%INSERT INTO source_summaries%'`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		released = true
		if err := tx.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
		return waiting
	}
}
