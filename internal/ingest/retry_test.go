package ingest_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"go.uber.org/goleak"

	"github.com/kollektiv/kollektiv/internal/content"
	"github.com/kollektiv/kollektiv/internal/dbtest"
	"github.com/kollektiv/kollektiv/internal/derr"
	"github.com/kollektiv/kollektiv/internal/ingest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestRetryRace (issue 13, item 4): two retries of one failed source,
// released together, many rounds. Exactly one starts a generation; the
// other is refused with a conflict (HTTP 409), and the source's generation
// moves by one per round.
func TestRetryRace(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.Pool(t)
	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{}) // insert only
	if err != nil {
		t.Fatal(err)
	}
	svc := &ingest.Service{Pool: pool, River: rc}
	var docs []content.Document
	for _, name := range []string{"a.md", "b.md"} {
		d, err := content.PrepareDocument("", name, "# "+name+"\n\nSome text about "+name+".", content.PrepareOptions{})
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, d)
	}
	added, err := svc.Add(ctx, ingest.AddParams{UserID: "alice", Kind: ingest.KindInline, Documents: docs})
	if err != nil {
		t.Fatal(err)
	}
	id := added.Source.ID
	// Where a finished run with one failed document leaves a source (no
	// workers run here).
	fail := func() {
		t.Helper()
		if _, err := pool.Exec(ctx, "UPDATE documents SET status = 'failed', error = 'it broke' WHERE source_id = $1 AND url = 'a.md'", id); err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Exec(ctx, "UPDATE sources SET stage = 'failed', error = 'it broke', completed_at = now() WHERE id = $1", id); err != nil {
			t.Fatal(err)
		}
	}

	const rounds = 30
	generation := added.Source.Generation
	for round := range rounds {
		fail()
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, 2)
		for i := range errs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				_, _, errs[i] = svc.Retry(ctx, "alice", id)
			}()
		}
		close(start)
		wg.Wait()
		var won int
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case derr.HTTPStatus(err) != http.StatusConflict:
				t.Fatalf("round %d: the loser got %v (status %d), want a conflict", round, err, derr.HTTPStatus(err))
			}
		}
		var got int32
		if err := pool.QueryRow(ctx, "SELECT generation FROM sources WHERE id = $1", id).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if won != 1 || got != generation+1 {
			t.Fatalf("round %d: %d retries started a generation (%v), generation %d -> %d; want exactly one", round, won, errs, generation, got)
		}
		generation = got
	}
}

// TestRetryRefusals: a retry of an unknown or another user's source is not
// found, and one of a source still being processed is a conflict; neither
// starts a generation.
func TestRetryRefusals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.Pool(t)
	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	svc := &ingest.Service{Pool: pool, River: rc}
	d, err := content.PrepareDocument("", "a.md", "# A\n\nSome text.", content.PrepareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	added, err := svc.Add(ctx, ingest.AddParams{UserID: "alice", Kind: ingest.KindInline, Documents: []content.Document{d}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		user   string
		id     uuid.UUID
		status int
	}{
		{"alice", uuid.New(), http.StatusNotFound},
		{"bob", added.Source.ID, http.StatusNotFound},
		{"alice", added.Source.ID, http.StatusConflict}, // at created: still being processed
	} {
		if _, _, err := svc.Retry(ctx, tt.user, tt.id); derr.HTTPStatus(err) != tt.status {
			t.Errorf("retry of %s by %s: %v (status %d), want %d", tt.id, tt.user, err, derr.HTTPStatus(err), tt.status)
		}
	}
	if err := svc.Delete(ctx, "bob", added.Source.ID); derr.HTTPStatus(err) != http.StatusNotFound {
		t.Errorf("delete by another user: %v", err)
	}
	var generation int32
	if err := pool.QueryRow(ctx, "SELECT generation FROM sources WHERE id = $1", added.Source.ID).Scan(&generation); err != nil || generation != 1 {
		t.Fatalf("generation %d (%v) after refused retries", generation, err)
	}
	if err := svc.Delete(ctx, "alice", added.Source.ID); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(ctx, "SELECT generation FROM sources WHERE id = $1", added.Source.ID).Scan(&generation); !errors.Is(err, pgx.ErrNoRows) {
		t.Fatalf("source still there after delete: %v", err)
	}
}
