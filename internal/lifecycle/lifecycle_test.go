package lifecycle_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.uber.org/goleak"

	"github.com/kollektiv/kollektiv/internal/dbtest"
	"github.com/kollektiv/kollektiv/internal/derr"
	"github.com/kollektiv/kollektiv/internal/lifecycle"
	"github.com/kollektiv/kollektiv/internal/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const user = "alice"

// newSource inserts a source with one document of content, and puts it at
// stage in generation 2 (so that a wrong generation can be 1 or 3). The
// document is failed, so that a retry has something to retry; the test of
// StartRetry's own condition changes that.
func newSource(t *testing.T, pool *pgxpool.Pool, stage lifecycle.Stage) store.Source {
	t.Helper()
	ctx := context.Background()
	source, err := lifecycle.Create(ctx, pool, store.CreateSourceParams{ID: uuid.New(), UserID: user, Kind: "inline", Options: []byte("{}")})
	if err != nil {
		t.Fatal(err)
	}
	// Straight to the stage under test: the table test checks each
	// transition from every stage, not the paths between them.
	if _, err := pool.Exec(ctx, "UPDATE sources SET stage = $2, generation = 2 WHERE id = $1", source.ID, string(stage)); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO documents (id, source_id, url, title, content, content_hash, status, error)
		VALUES ($1, $2, 'a.md', 'A', 'some text', sha256('some text'), 'failed', 'it broke')`, uuid.New(), source.ID); err != nil {
		t.Fatal(err)
	}
	return get(t, pool, source.ID)
}

func get(t *testing.T, pool *pgxpool.Pool, id uuid.UUID) store.Source {
	t.Helper()
	source, err := store.New(pool).GetSourceByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return source
}

// apply runs one transition on source (for generation gen, where the
// transition takes one) and reports whether it applied. An error that only
// says "refused" (busy, not found, nothing to retry) counts as not applied.
func apply(ctx context.Context, db store.DBTX, tr lifecycle.Transition, source store.Source, gen int32) (bool, error) {
	var ok bool
	var err error
	switch tr {
	case lifecycle.TransitionStartGeneration:
		_, err = lifecycle.StartGeneration(ctx, db, source.UserID, source.ID)
		ok = err == nil
	case lifecycle.TransitionStartRetry:
		_, _, err = lifecycle.StartRetry(ctx, db, source.UserID, source.ID)
		ok = err == nil
	case lifecycle.TransitionStartCrawl:
		_, ok, err = lifecycle.StartCrawl(ctx, db, source.ID, gen, []byte(`{"version":1}`))
	case lifecycle.TransitionFinishCrawl:
		_, ok, err = lifecycle.FinishCrawl(ctx, db, source.ID, gen)
	case lifecycle.TransitionScheduleProcessing:
		_, ok, err = lifecycle.ScheduleProcessing(ctx, db, store.ScheduleSourceProcessingParams{ID: source.ID, Generation: gen})
	case lifecycle.TransitionMarkChunksGenerated:
		_, ok, err = lifecycle.MarkChunksGenerated(ctx, db, source.ID, gen)
	case lifecycle.TransitionComplete:
		_, ok, err = lifecycle.Complete(ctx, db, source.ID, gen)
	case lifecycle.TransitionFail:
		_, ok, err = lifecycle.Fail(ctx, db, source.ID, gen, "it broke")
	case lifecycle.TransitionDelete:
		err = lifecycle.Delete(ctx, db, source.UserID, source.ID)
		ok = err == nil
	default:
		return false, fmt.Errorf("no test for transition %s", tr)
	}
	if errors.Is(err, derr.Conflict) || errors.Is(err, derr.NotFound) {
		return false, nil
	}
	return ok, err
}

// TestTransitionTable applies every transition from every stage a source
// can be at: those the table allows apply and reach their stage, every
// other one is refused and leaves the row as it was. The pipeline's
// transitions are refused for another generation too.
func TestTransitionTable(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	ctx := context.Background()
	for _, rule := range lifecycle.Transitions() {
		if rule.Transition == lifecycle.TransitionCreate {
			continue // TestCreate
		}
		for _, from := range lifecycle.SourceStages() {
			t.Run(fmt.Sprintf("%s from %s", rule.Transition, from), func(t *testing.T) {
				before := newSource(t, pool, from)
				ok, err := apply(ctx, pool, rule.Transition, before, before.Generation)
				if err != nil {
					t.Fatal(err)
				}
				allowed := slices.Contains(rule.From, from)
				if ok != allowed {
					t.Fatalf("applied %v, the table says %v", ok, allowed)
				}
				after, err := store.New(pool).GetSourceByID(ctx, before.ID)
				switch {
				case ok && rule.Transition == lifecycle.TransitionDelete:
					if !errors.Is(err, pgx.ErrNoRows) {
						t.Fatalf("source still there after delete (%v)", err)
					}
					return
				case err != nil:
					t.Fatal(err)
				case !ok:
					if after.Stage != before.Stage || after.Generation != before.Generation || !after.UpdatedAt.Equal(before.UpdatedAt) {
						t.Fatalf("a refused transition changed the source: %s gen %d -> %s gen %d", before.Stage, before.Generation, after.Stage, after.Generation)
					}
					return
				}
				wantGen := before.Generation
				if rule.From[0].Terminal() { // a new generation starts
					wantGen++
				}
				if lifecycle.StageOf(after) != rule.To || after.Generation != wantGen {
					t.Fatalf("after: %s gen %d, want %s gen %d", after.Stage, after.Generation, rule.To, wantGen)
				}
				if (after.CompletedAt != nil) != rule.To.Terminal() {
					t.Fatalf("completed_at %v at stage %s", after.CompletedAt, after.Stage)
				}
			})
			if rule.SameGeneration && slices.Contains(rule.From, from) {
				t.Run(fmt.Sprintf("%s from %s of another generation", rule.Transition, from), func(t *testing.T) {
					before := newSource(t, pool, from)
					for _, gen := range []int32{before.Generation - 1, before.Generation + 1} {
						if ok, err := apply(ctx, pool, rule.Transition, before, gen); ok || err != nil {
							t.Fatalf("generation %d of a source at %d: applied %v (%v)", gen, before.Generation, ok, err)
						}
					}
					if after := get(t, pool, before.ID); after.Stage != before.Stage {
						t.Fatalf("stage %s -> %s", before.Stage, after.Stage)
					}
				})
			}
		}
	}
}

// TestTransitionsOfAnotherUser: a user's transitions never find another
// user's source.
func TestTransitionsOfAnotherUser(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	ctx := context.Background()
	source := newSource(t, pool, lifecycle.StageFailed)
	if _, err := lifecycle.StartGeneration(ctx, pool, "bob", source.ID); !errors.Is(err, lifecycle.ErrNotFound) {
		t.Errorf("refresh: %v", err)
	}
	if _, _, err := lifecycle.StartRetry(ctx, pool, "bob", source.ID); !errors.Is(err, lifecycle.ErrNotFound) {
		t.Errorf("retry: %v", err)
	}
	if err := lifecycle.Delete(ctx, pool, "bob", source.ID); !errors.Is(err, lifecycle.ErrNotFound) {
		t.Errorf("delete: %v", err)
	}
	if after := get(t, pool, source.ID); after.Generation != source.Generation || after.Stage != source.Stage {
		t.Fatalf("changed by another user: %+v", after)
	}
}

// TestStartRetryNeedsSomethingToRetry: a completed source retries only
// documents that failed after they were loaded; a failed one always
// retries. A refused retry says why and changes nothing.
func TestStartRetryNeedsSomethingToRetry(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	ctx := context.Background()
	for _, tt := range []struct {
		name    string
		stage   lifecycle.Stage
		docs    string // UPDATE of the source's one failed document
		want    error
		retried int64
	}{
		{"completed, a failed document", lifecycle.StageCompleted, "", nil, 1},
		{"completed, nothing failed", lifecycle.StageCompleted, "SET status = 'embedded', error = NULL", lifecycle.ErrNothingToRetry, 0},
		{"completed, a document that could not be loaded", lifecycle.StageCompleted, "SET content = ''", lifecycle.ErrNothingToRetry, 0},
		{"failed, nothing failed", lifecycle.StageFailed, "SET status = 'embedded', error = NULL", nil, 0},
		{"still running", lifecycle.StageChunksGenerated, "", lifecycle.ErrBusy, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := newSource(t, pool, tt.stage)
			if tt.docs != "" {
				if _, err := pool.Exec(ctx, "UPDATE documents "+tt.docs+" WHERE source_id = $1", before.ID); err != nil {
					t.Fatal(err)
				}
			}
			source, n, err := lifecycle.StartRetry(ctx, pool, user, before.ID)
			if !errors.Is(err, tt.want) || n != tt.retried {
				t.Fatalf("StartRetry: %d retried, %v; want %d, %v", n, err, tt.retried, tt.want)
			}
			if err != nil {
				if derr.HTTPStatus(err) != 409 || derr.ExitCode(err) != 4 {
					t.Fatalf("%v: status %d, exit %d; want a conflict", err, derr.HTTPStatus(err), derr.ExitCode(err))
				}
				if after := get(t, pool, before.ID); after.Generation != before.Generation || after.Stage != before.Stage {
					t.Fatalf("a refused retry changed the source: %+v", after)
				}
				return
			}
			if source.Generation != before.Generation+1 || lifecycle.StageOf(source) != lifecycle.StageCreated || source.FailedDocumentCount != 0 && n > 0 {
				t.Fatalf("after retry: %+v", source)
			}
		})
	}
}

func TestCreate(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	source, err := lifecycle.Create(context.Background(), pool, store.CreateSourceParams{ID: uuid.New(), UserID: user, Kind: "inline", Options: []byte("{}")})
	if err != nil {
		t.Fatal(err)
	}
	if lifecycle.StageOf(source) != lifecycle.StageCreated || source.Generation != 1 {
		t.Fatalf("created at %s gen %d", source.Stage, source.Generation)
	}
}

// TestTransitionRaces runs each transition twice at once on one source, in
// two transactions released together, many rounds: exactly one applies.
func TestTransitionRaces(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	ctx := context.Background()
	const rounds = 20
	for _, rule := range lifecycle.Transitions() {
		if rule.Transition == lifecycle.TransitionCreate {
			continue // two creates make two sources
		}
		t.Run(string(rule.Transition), func(t *testing.T) {
			for round := range rounds {
				source := newSource(t, pool, rule.From[round%len(rule.From)])
				var wg sync.WaitGroup
				start := make(chan struct{})
				results := make([]bool, 2)
				errs := make([]error, 2)
				for i := range 2 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						errs[i] = pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
							var err error
							results[i], err = apply(ctx, tx, rule.Transition, source, source.Generation)
							return err
						})
					}()
				}
				close(start)
				wg.Wait()
				if err := errors.Join(errs...); err != nil {
					t.Fatal(err)
				}
				if results[0] == results[1] {
					t.Fatalf("round %d from %s: applied %v and %v, want exactly one", round, source.Stage, results[0], results[1])
				}
			}
		})
	}
}

// TestStagesMatchTheSchema: the stages and statuses the code names are
// those the schema's CHECK constraints allow.
func TestStagesMatchTheSchema(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	ctx := context.Background()
	source := newSource(t, pool, lifecycle.StageCreated)
	for _, stage := range lifecycle.SourceStages() {
		if _, err := pool.Exec(ctx, "UPDATE sources SET stage = $2 WHERE id = $1", source.ID, string(stage)); err != nil {
			t.Errorf("sources.stage %s: %v", stage, err)
		}
	}
	for _, stage := range lifecycle.Stages() {
		if _, err := pool.Exec(ctx, `INSERT INTO source_events (source_id, generation, stage, key, payload) VALUES ($1, 1, $2, $3, '{}')`,
			source.ID, string(stage), string(stage)); err != nil {
			t.Errorf("source_events.stage %s: %v", stage, err)
		}
	}
	for _, status := range []lifecycle.DocumentStatus{lifecycle.DocumentPending, lifecycle.DocumentChunked, lifecycle.DocumentEmbedded, lifecycle.DocumentFailed} {
		if _, err := pool.Exec(ctx, "UPDATE documents SET status = $2 WHERE source_id = $1", source.ID, string(status)); err != nil {
			t.Errorf("documents.status %s: %v", status, err)
		}
	}
}
