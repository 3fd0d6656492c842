package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertest"

	"github.com/kollektiv/kollektiv/jobs"
)

// commitRun ends jobs through a committer of one transaction: the first
// job's write holds the transaction open until the others all wait, so
// that they share the next one. write is each job's write after it marks
// its job and transaction in commit_marks. It returns each job's error.
func commitRun(t *testing.T, b *fanInBundle, committer *jobs.Committer, gen jobs.SourceGeneration, running []*river.Job[jobs.PersistChunksArgs], write func(i int, tx pgx.Tx) error) []error {
	t.Helper()
	errs := make([]error, len(running))
	entered, release := make(chan struct{}), make(chan struct{})
	var wg sync.WaitGroup
	for i, job := range running {
		if i == 1 {
			<-entered
		}
		wg.Go(func() {
			_, errs[i] = committer.Commit(b.workCtx, jobs.BatchCommit{
				Job: job.JobRow, Gen: gen, Work: jobs.BatchJobWork{Shard: job.Args.FanInShard, ChunksEmbedded: 1},
				Write: func(ctx context.Context, tx pgx.Tx) error {
					if _, err := tx.Exec(ctx, "INSERT INTO commit_marks (job_id, tx) VALUES ($1, txid_current())", job.ID); err != nil {
						return err
					}
					if i == 0 {
						close(entered)
						<-release
					}
					return write(i, tx)
				},
			})
		})
	}
	// The first transaction is open; the others must all wait for the next.
	for deadline := time.Now().Add(time.Minute); jobs.CommitsWaiting(committer) < len(running)-1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Errorf("%d jobs wait for a transaction, want %d", jobs.CommitsWaiting(committer), len(running)-1)
			break
		}
	}
	close(release)
	wg.Wait()
	return errs
}

// marks returns the transaction of each job that committed its write.
func marks(t *testing.T, b *fanInBundle) map[int64]int64 {
	t.Helper()
	rows, err := b.pool.Query(context.Background(), "SELECT job_id, tx FROM commit_marks")
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64]int64{}
	var job, tx int64
	if _, err := pgx.ForEachRow(rows, []any{&job, &tx}, func() error { out[job] = tx; return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func jobStates(t *testing.T, b *fanInBundle, running []*river.Job[jobs.PersistChunksArgs]) []string {
	t.Helper()
	states := make([]string, len(running))
	for i, job := range running {
		if err := b.pool.QueryRow(context.Background(), "SELECT state FROM river_job WHERE id = $1", job.ID).Scan(&states[i]); err != nil {
			t.Fatal(err)
		}
	}
	return states
}

// TestCommitterSharesATransaction ends five jobs that finish while the
// committer's one transaction is open: the four that waited commit in one
// transaction, each completed with its write, and their fan-in counts all
// five off.
func TestCommitterSharesATransaction(t *testing.T) {
	t.Parallel()
	b := setupFanIn(t, 4)
	if _, err := b.pool.Exec(context.Background(), "CREATE TABLE commit_marks (job_id bigint PRIMARY KEY, tx bigint NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	gen, running, _ := b.generation(t, 5)
	errs := commitRun(t, b, b.committer(t, 1), gen, running, func(int, pgx.Tx) error { return nil })
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	got := marks(t, b)
	if len(got) != 5 {
		t.Fatalf("%d writes committed, want 5", len(got))
	}
	for _, job := range running[2:] {
		if got[job.ID] != got[running[1].ID] {
			t.Errorf("the waiting jobs committed in transactions %v, want one", got)
		}
	}
	if got[running[0].ID] == got[running[1].ID] {
		t.Errorf("the first job shared its transaction with the jobs that came after it opened")
	}
	if states := jobStates(t, b, running); slices.ContainsFunc(states, func(s string) bool { return s != "completed" }) {
		t.Errorf("job states %v, want all completed", states)
	}
	var shardsLeft int
	if err := b.pool.QueryRow(context.Background(), "SELECT fan_in_shards_unfinished FROM sources WHERE id = $1", gen.SourceID).Scan(&shardsLeft); err != nil {
		t.Fatal(err)
	}
	if shardsLeft != 0 {
		t.Errorf("%d fan-in shards left unfinished, want 0", shardsLeft)
	}
}

// TestCommitterFailsOneJobAlone ends seven jobs that share a transaction
// but for the first: one's write fails, one's write panics, and another is
// no longer running (the rescuer took it back). Each of those three fails
// alone, with its own error and nothing written; the other four commit.
func TestCommitterFailsOneJobAlone(t *testing.T) {
	t.Parallel()
	b := setupFanIn(t, 4)
	ctx := context.Background()
	if _, err := b.pool.Exec(ctx, "CREATE TABLE commit_marks (job_id bigint PRIMARY KEY, tx bigint NOT NULL)"); err != nil {
		t.Fatal(err)
	}
	gen, running, _ := b.generation(t, 7)
	const broken, rescued, panics = 2, 4, 5
	if _, err := b.pool.Exec(ctx, "UPDATE river_job SET state = 'available' WHERE id = $1", running[rescued].ID); err != nil {
		t.Fatal(err)
	}
	errs := commitRun(t, b, b.committer(t, 1), gen, running, func(i int, _ pgx.Tx) error {
		switch i {
		case broken:
			return fmt.Errorf("job %d cannot be written", i)
		case panics:
			panic("a bug in a job's write")
		}
		return nil
	})
	for i, err := range errs {
		switch i {
		case broken:
			if err == nil || !strings.Contains(err.Error(), "cannot be written") {
				t.Errorf("job %d: error %v, want its write's", i, err)
			}
		case rescued:
			if err == nil || !strings.Contains(err.Error(), "no longer ours") {
				t.Errorf("job %d: error %v, want no longer ours", i, err)
			}
		case panics:
			if err == nil || !strings.Contains(err.Error(), "a bug in a job's write") {
				t.Errorf("job %d: error %v, want its panic", i, err)
			}
		default:
			if err != nil {
				t.Errorf("job %d: %v", i, err)
			}
		}
	}
	got := marks(t, b)
	for i, job := range running {
		_, written := got[job.ID]
		if written != (i != broken && i != rescued && i != panics) {
			t.Errorf("job %d: write committed %v", i, written)
		}
	}
	want := []string{"completed", "completed", "running", "completed", "available", "running", "completed"}
	if states := jobStates(t, b, running); !slices.Equal(states, want) {
		t.Errorf("job states %v, want %v", states, want)
	}
	var unfinished int
	if err := b.pool.QueryRow(ctx, "SELECT sum(batch_jobs_unfinished) FROM source_fan_in_shards WHERE source_id = $1", gen.SourceID).Scan(&unfinished); err != nil {
		t.Fatal(err)
	}
	if unfinished != 3 {
		t.Errorf("shards count %d unfinished batch jobs, want the 3 that failed", unfinished)
	}
}

type probeArgs struct{}

func (probeArgs) Kind() string { return "commit_probe" }

// TestCommitterWakesTheQueuesItInsertsInto ends two jobs one after the
// other, each inserting a job into the embedding queue: the first as its
// args' InsertOpts place it, the second by its InsertManyParams. River
// notifies a queue of inserted jobs at most once per fetch cooldown of its
// client, an hour here, and has just notified the embedding queue, so only
// the committer's own notifications can wake the queue for them.
func TestCommitterWakesTheQueuesItInsertsInto(t *testing.T) {
	t.Parallel()
	b := setupFanIn(t, 4)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rc, err := river.NewClient(riverpgxv5.New(b.pool), &river.Config{FetchCooldown: time.Hour, FetchPollInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	gen, running, _ := b.generation(t, 2)
	if _, err := rc.Insert(ctx, probeArgs{}, &river.InsertOpts{Queue: jobs.QueueEmbedding}); err != nil {
		t.Fatal(err)
	}
	// Listening from here, after River's notifications of the inserts
	// above.
	listener, err := pgx.Connect(ctx, b.pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = listener.Close(context.Background()) }()
	if _, err := listener.Exec(ctx, `LISTEN "public.river_insert"`); err != nil {
		t.Fatal(err)
	}
	inserts := [][]river.InsertManyParams{
		{{Args: jobs.PersistChunksArgs{SourceGeneration: gen, ChunkIDs: []uuid.UUID{uuid.New()}, FanInShard: running[0].Args.FanInShard}}},
		{{Args: probeArgs{}, InsertOpts: &river.InsertOpts{Queue: jobs.QueueEmbedding}}},
	}
	committer := b.committer(t, 1)
	for i, job := range running {
		_, err := committer.Commit(rivertest.WorkContext(ctx, rc), jobs.BatchCommit{
			Job: job.JobRow, Gen: gen, Insert: inserts[i],
			Work: jobs.BatchJobWork{Shard: job.Args.FanInShard, Documents: 1},
		})
		if err != nil {
			t.Fatal(err)
		}
		// Sent at the commit, so already here: the wait bounds only a
		// failure. The progress event's job goes to the default queue.
		waitCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		var got []string
		for !slices.Contains(got, `{"queue": "embedding"}`) {
			n, err := listener.WaitForNotification(waitCtx)
			if err != nil {
				t.Fatalf("job %d: notified %v, none of the embedding queue: %v", i, got, err)
			}
			got = append(got, n.Payload)
		}
		cancel()
	}
}
