package app_test

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/kollektiv/kollektiv/internal/app"
	"github.com/kollektiv/kollektiv/internal/config"
	"github.com/kollektiv/kollektiv/internal/dbtest"
	"github.com/kollektiv/kollektiv/internal/ingest"
	"github.com/kollektiv/kollektiv/internal/lifecycle"
)

// TestFairShare submits a source 20 times larger than five others, of five
// other users, just before them, and checks that the small ones complete
// first: the large source's tail goes behind other users' new work instead
// of ahead of it (jobs/fair_share.go). It runs the app's own workers, one
// per queue, so the order jobs are picked in decides the outcome. With
// first-in first-out queues the large source completes first and the test
// fails.
func TestFairShare(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cfg := config.MustLoadDefaults()
	cfg.DatabaseURL = dbtest.DatabaseURL(t)
	cfg.DefaultWorkers, cfg.ChunkingWorkers, cfg.EmbeddingWorkers = 1, 1, 1
	// One document per chunking job and three per priority level: the
	// large source's 60 jobs spread over the four priorities.
	cfg.BatchDocuments, cfg.FairShareDocuments = 1, 3
	a, err := app.New(ctx, cfg, nil, app.Options{Worker: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := a.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	sources := planWorkload(t, a.Chunker, workloadSpec{users: 6, perUser: 1, smallDocs: 3, largeFactor: 20})
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}

	in := &ingest.Service{Pool: a.Pool, River: a.River}
	for _, s := range sources {
		added, err := in.Add(ctx, ingest.AddParams{UserID: s.user, Kind: ingest.KindInline, URI: "fairness", Documents: s.docs})
		if err != nil {
			t.Fatal(err)
		}
		s.id = added.Source.ID
	}
	waitFinished(ctx, t, a.Pool, sources)
	t.Logf("time to completion (one worker per queue, batches of 1 document, 3 per priority level):\n%s", completionTable(sources))

	checkCompleted(ctx, t, a.Pool, sources)
	checkFairOrder(t, sources)

	// The large source's batch jobs: 3 documents at each of priorities 1
	// to 3, the rest at 4; its embedding jobs follow their batch's. The
	// small sources, with nothing of their users queued, are all at 1.
	for _, s := range sources {
		batches := jobPriorities(ctx, t, a, s, string(lifecycle.KindChunkDocumentsBatch))
		persists := jobPriorities(ctx, t, a, s, string(lifecycle.KindPersistChunks))
		want := map[int]int{1: 3}
		if s.large {
			want = map[int]int{1: 3, 2: 3, 3: 3, 4: 51}
		}
		if !maps.Equal(batches, want) {
			t.Errorf("%s's source: chunking jobs by priority %v, want %v", s.user, batches, want)
		}
		for p := range persists {
			if batches[p] == 0 {
				t.Errorf("%s's source: embedding jobs at priority %d, which none of its chunking jobs has (%v)", s.user, p, batches)
			}
		}
		if s.large && persists[4] == 0 {
			t.Errorf("large source: no embedding job at priority 4 (%v)", persists)
		}
	}
}

// jobPriorities counts a source's jobs of one kind by priority.
func jobPriorities(ctx context.Context, t *testing.T, a *app.App, s *plannedSource, kind string) map[int]int {
	t.Helper()
	rows, err := a.Pool.Query(ctx, `SELECT priority, count(*) FROM river_job WHERE kind = $1 AND args->>'source_id' = $2 GROUP BY priority`, kind, s.id.String())
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	counts := map[int]int{}
	for rows.Next() {
		var p, n int
		if err := rows.Scan(&p, &n); err != nil {
			t.Fatal(err)
		}
		counts[p] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return counts
}
