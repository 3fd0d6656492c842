package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/kollektiv/kollektiv/internal/app"
	"github.com/kollektiv/kollektiv/internal/config"
	"github.com/kollektiv/kollektiv/internal/lifecycle"
	"github.com/kollektiv/kollektiv/internal/store"
	"github.com/kollektiv/kollektiv/jobs"
)

// QueueOptions configure the queue benchmark.
type QueueOptions struct {
	// Config gives the database server and the queue settings (queues,
	// MaxWorkers, timeouts), as `kollektiv worker` would run with them.
	// Required.
	Config *config.Config
	// Batches is the number of batch jobs the fan-out inserts; the pipeline
	// shape runs 2*Batches+3 jobs and the raw run as many. Default 2000.
	Batches int
	// Runs is how many times both are measured; the report gives medians.
	// Default 1.
	Runs int
	// FetchPollInterval, when set, replaces every queue's poll interval
	// (the app's: 100ms for the default queue, River's 1s for the others).
	// The fetch cooldown is Config.FetchCooldown, as the worker runs.
	FetchPollInterval time.Duration
	// Keep leaves the bench database in place.
	Keep bool
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// QueueReport is the outcome of Queue. Times are medians over Runs.
type QueueReport struct {
	Runs    int `json:"runs"`
	Batches int `json:"batches"`
	// Queues are the queues' MaxWorkers.
	Queues map[string]int `json:"queues"`
	// FetchCooldown and FetchPollInterval are River's, in seconds.
	FetchCooldown     float64 `json:"fetch_cooldown_seconds"`
	FetchPollInterval float64 `json:"fetch_poll_interval_seconds"`
	// RawJobs no-op jobs, spread over the queues like the pipeline's, all
	// inserted at once; RawSeconds from the insert to the last completion.
	RawJobs           int     `json:"raw_jobs"`
	RawSeconds        float64 `json:"raw_seconds"`
	RawJobsPerSecond  float64 `json:"raw_jobs_per_second"`
	PipelineJobs      int     `json:"pipeline_jobs"`
	PipelineSeconds   float64 `json:"pipeline_seconds"`
	PipelinePerSecond float64 `json:"pipeline_jobs_per_second"`
	// Ratio is pipeline jobs/s over raw jobs/s (target ≥ 0.5).
	Ratio float64 `json:"ratio"`
}

// WriteTable writes the report as a table.
func (r *QueueReport) WriteTable(w io.Writer) error {
	t := &table{title: fmt.Sprintf("queue: %d batches, median of %d runs (default %d, chunking %d, embedding %d workers; fetch cooldown %v, poll %v)",
		r.Batches, r.Runs, r.Queues[jobs.QueueDefault], r.Queues[jobs.QueueChunking], r.Queues[jobs.QueueEmbedding],
		time.Duration(r.FetchCooldown*float64(time.Second)), time.Duration(r.FetchPollInterval*float64(time.Second)))}
	t.add("workload", "jobs", "seconds", "jobs/s")
	t.add("raw no-op", fmt.Sprint(r.RawJobs), fmt.Sprintf("%.3f", r.RawSeconds), fmt.Sprintf("%.0f", r.RawJobsPerSecond))
	t.add("pipeline-shaped", fmt.Sprint(r.PipelineJobs), fmt.Sprintf("%.3f", r.PipelineSeconds), fmt.Sprintf("%.0f", r.PipelinePerSecond))
	t.add("ratio pipeline/raw", "", "", fmt.Sprintf("%.2f (target ≥ 0.50)", r.Ratio))
	return t.write(w)
}

// Queue measures River's throughput for no-op jobs with the configured
// queues next to pipeline-shaped no-op work in the same database and the
// same client: a fan-out job inserts Batches batch jobs and a waiting check
// in its transaction; each batch job inserts a follow-up in its
// transaction; each follow-up completes with the pipeline's fan-in (the
// source's lock, complete, count unfinished batch jobs, wake the check);
// the check inserts a final job. The batch, follow-up and check jobs carry
// the pipeline's kinds and args shape, so the fan-in runs the store's own
// queries over them.
func Queue(ctx context.Context, opts QueueOptions) (*QueueReport, error) {
	if opts.Config == nil {
		return nil, errors.New("bench queue: a Config is required")
	}
	if opts.Batches < 0 {
		return nil, fmt.Errorf("bench queue: batches must be positive, got %d", opts.Batches)
	}
	opts.Batches = cmp.Or(opts.Batches, 2000)
	opts.Runs = runs(opts.Runs)
	logger := cmp.Or(opts.Logger, slog.New(slog.DiscardHandler))

	db, err := createDatabase(ctx, opts.Config.DatabaseURL, "queue", logger)
	if err != nil {
		return nil, err
	}
	report, err := queueIn(ctx, db, opts, logger)
	return report, errors.Join(err, db.release(ctx, opts.Keep, logger))
}

func queueIn(ctx context.Context, db *database, opts QueueOptions, logger *slog.Logger) (*QueueReport, error) {
	queues := app.Queues(opts.Config)
	for name, q := range queues {
		// The flag replaces the worker's setting, per queue as it has them.
		q.FetchPollInterval = cmp.Or(opts.FetchPollInterval, q.FetchPollInterval)
		queues[name] = q
	}
	report := &QueueReport{Runs: opts.Runs, Batches: opts.Batches, Queues: map[string]int{}}
	for name, q := range queues {
		report.Queues[name] = q.MaxWorkers
	}
	// The pool is sized as a worker's with these queues is, so that the
	// pipeline's transactions meet the same limit as in production, and
	// many workers a queue fit within the server's connections.
	in := app.PoolInputs{Workers: report.Queues, CPUs: runtime.NumCPU(), Override: opts.Config.DBMaxConns}
	if server, err := store.ReadServerConnections(ctx, db.URL); err == nil {
		in.Server = &server
	}
	size := in.Size()
	logger.InfoContext(ctx, "database pool sized", size.LogAttrs(in)...)
	pool, err := store.Connect(ctx, db.URL, int32(size.MaxConns))
	if err != nil {
		return nil, err
	}
	defer pool.Close()

	// The batch jobs end as the pipeline's do, through its committer.
	commits, err := jobs.NewCommitter(jobs.CommitterConfig{
		Pool: pool, Transactions: opts.Config.CommitTransactions, ProgressInterval: opts.Config.ProgressInterval, Logger: logger,
	})
	if err != nil {
		return nil, err
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, river.WorkFunc(func(context.Context, *river.Job[noopArgs]) error { return nil }))
	river.AddWorker(workers, &fanOutWorker{pool: pool})
	river.AddWorker(workers, &batchWorker{commits: commits})
	river.AddWorker(workers, &followUpWorker{commits: commits})
	// The progress events the fan-in sends are published by no one.
	river.AddWorker(workers, river.WorkFunc(func(context.Context, *river.Job[jobs.PublishEventArgs]) error { return nil }))
	river.AddWorker(workers, &checkWorker{pool: pool})
	finals := &finalWorker{pool: pool}
	river.AddWorker(workers, finals)
	riverConfig := app.RiverConfig(opts.Config, logger)
	riverConfig.Workers, riverConfig.Queues = workers, queues
	// Reported as the chunking queue has them (the default queue polls
	// more often).
	chunking := queues[jobs.QueueChunking]
	report.FetchCooldown = seconds(cmp.Or(chunking.FetchCooldown, river.FetchCooldownDefault))
	report.FetchPollInterval = seconds(cmp.Or(chunking.FetchPollInterval, river.FetchPollIntervalDefault))
	// Completed jobs stay: the raw run's count needs no cleaner racing it.
	rc, err := river.NewClient(riverpgxv5.New(pool), riverConfig)
	if err != nil {
		return nil, fmt.Errorf("error creating River client: %w", err)
	}
	total := 2*opts.Batches + 3
	completed, cancel := rc.SubscribeConfig(&river.SubscribeConfig{
		ChanSize: 2*total + 1000, Kinds: []river.EventKind{river.EventKindJobCompleted, river.EventKindJobFailed, river.EventKindJobCancelled},
	})
	defer cancel()
	if err := rc.Start(ctx); err != nil {
		return nil, fmt.Errorf("error starting River: %w", err)
	}
	defer func() { _ = rc.Stop(context.WithoutCancel(ctx)) }()

	var raw, pipeline []float64
	for range opts.Runs {
		d, n, err := rawRun(ctx, rc, completed, opts.Batches)
		if err != nil {
			return nil, err
		}
		raw, report.RawJobs = append(raw, seconds(d)), n
		d, n, err = pipelineRun(ctx, pool, rc, completed, finals, opts.Batches)
		if err != nil {
			return nil, err
		}
		pipeline, report.PipelineJobs = append(pipeline, seconds(d)), n
	}
	report.RawSeconds, report.PipelineSeconds = median(raw), median(pipeline)
	report.RawJobsPerSecond = ratio(float64(report.RawJobs), report.RawSeconds)
	report.PipelinePerSecond = ratio(float64(report.PipelineJobs), report.PipelineSeconds)
	report.Ratio = ratio(report.PipelinePerSecond, report.RawJobsPerSecond)
	return report, nil
}

// queueTimeout bounds one run, so a stuck pipeline fails the bench instead
// of hanging it.
const queueTimeout = 10 * time.Minute

// rawRun inserts the pipeline's number of no-op jobs per queue at once and
// waits for all of them to complete.
func rawRun(ctx context.Context, rc *river.Client[pgx.Tx], completed <-chan *river.Event, batches int) (time.Duration, int, error) {
	params := make([]river.InsertManyParams, 0, 2*batches+3)
	add := func(n int, queue string) {
		for range n {
			params = append(params, river.InsertManyParams{Args: noopArgs{}, InsertOpts: &river.InsertOpts{Queue: queue}})
		}
	}
	add(batches, jobs.QueueChunking)
	add(batches, jobs.QueueEmbedding)
	add(3, jobs.QueueDefault)
	start := time.Now()
	if _, err := rc.InsertMany(ctx, params); err != nil {
		return 0, 0, fmt.Errorf("error inserting no-op jobs: %w", err)
	}
	err := await(ctx, completed, nil, func(e *river.Event) (bool, error) {
		if e.Job.Kind != (noopArgs{}).Kind() {
			return false, nil
		}
		if e.Kind != river.EventKindJobCompleted {
			return false, fmt.Errorf("no-op job %d ended %s", e.Job.ID, e.Job.State)
		}
		params = params[1:]
		return len(params) == 0, nil
	})
	return time.Since(start), 2*batches + 3, err
}

// pipelineRun inserts one fan-out job and waits for the final job's
// commit, which completes it. It ends there, as each job of the pipeline
// does, in its own transaction; River's completion event of such a job
// comes with its batch completer's next flush, up to 250ms later, which
// for one job would time River's completer instead of the pipeline. The
// raw run's jobs complete in those flushes, and are timed by them.
func pipelineRun(ctx context.Context, pool *pgxpool.Pool, rc *river.Client[pgx.Tx], completed <-chan *river.Event, finals *finalWorker, batches int) (time.Duration, int, error) {
	gen := jobs.SourceGeneration{SourceID: uuid.New(), Generation: 1}
	committed := make(chan struct{})
	finals.commits.Store(gen.SourceID, committed)
	defer finals.commits.Delete(gen.SourceID)
	start := time.Now()
	// The fan-in's counter lives on the source row, as in the pipeline.
	if _, err := lifecycle.Create(ctx, pool, store.CreateSourceParams{ID: gen.SourceID, UserID: "bench", Kind: "inline", Options: []byte("{}")}); err != nil {
		return 0, 0, fmt.Errorf("error creating source: %w", err)
	}
	if _, err := rc.Insert(ctx, fanOutArgs{SourceGeneration: gen, Batches: batches}, nil); err != nil {
		return 0, 0, fmt.Errorf("error inserting fan-out job: %w", err)
	}
	var finalEvent bool
	isFinal := func(e *river.Event) (bool, error) {
		if e.Kind != river.EventKindJobCompleted {
			return false, fmt.Errorf("%s job %d ended %s: %v", e.Job.Kind, e.Job.ID, e.Job.State, e.Job.Errors)
		}
		finalEvent = e.Job.Kind == (finalArgs{}).Kind()
		return finalEvent, nil
	}
	err := await(ctx, completed, committed, isFinal)
	d := time.Since(start)
	if err == nil && !finalEvent {
		// The rest of this run's events, so that the next run starts with
		// none of them queued.
		err = await(ctx, completed, nil, isFinal)
	}
	return d, 2*batches + 3, err
}

// await reads job events until fn is done or fails, done is closed, or
// the run times out.
func await(ctx context.Context, events <-chan *river.Event, done <-chan struct{}, fn func(*river.Event) (bool, error)) error {
	timeout := time.NewTimer(queueTimeout)
	defer timeout.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timeout.C:
			return fmt.Errorf("queue run did not finish within %v", queueTimeout)
		case <-done:
			return nil
		case e, ok := <-events:
			if !ok {
				return errors.New("the River client closed the event subscription")
			}
			done, err := fn(e)
			if err != nil || done {
				return err
			}
		}
	}
}

type noopArgs struct{}

func (noopArgs) Kind() string { return "bench_noop" }

// fanOutArgs is process_documents' shape: it schedules the batches.
type fanOutArgs struct {
	jobs.SourceGeneration
	Batches int `json:"batches"`
}

func (fanOutArgs) Kind() string { return "bench_fan_out" }

// batchArgs, followUpArgs and checkArgs carry the pipeline's kinds and the
// source generation in their args, as the fan-in's queries expect; the
// batch and follow-up jobs carry their fan-in shard.
type batchArgs struct {
	jobs.SourceGeneration
	FanInShard int32 `json:"fan_in_shard,omitempty"`
}

func (batchArgs) Kind() string { return string(lifecycle.KindChunkDocumentsBatch) }

func (batchArgs) InsertOpts() river.InsertOpts { return river.InsertOpts{Queue: jobs.QueueChunking} }

type followUpArgs struct {
	jobs.SourceGeneration
	FanInShard int32 `json:"fan_in_shard,omitempty"`
}

func (followUpArgs) Kind() string { return string(lifecycle.KindPersistChunks) }

func (followUpArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: jobs.QueueEmbedding}
}

type checkArgs struct{ jobs.SourceGeneration }

func (checkArgs) Kind() string { return string(lifecycle.KindCheckChunkingComplete) }

type finalArgs struct{ jobs.SourceGeneration }

func (finalArgs) Kind() string { return "bench_final" }

type fanOutWorker struct {
	river.WorkerDefaults[fanOutArgs]
	pool *pgxpool.Pool
}

// Work inserts the batches and the waiting check, and completes, in one
// transaction.
func (w *fanOutWorker) Work(ctx context.Context, job *river.Job[fanOutArgs]) error {
	rc := river.ClientFromContext[pgx.Tx](ctx)
	return pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error {
		n := job.Args.Batches
		batches := make([]river.InsertManyParams, n)
		for i := range batches {
			batches[i] = river.InsertManyParams{Args: batchArgs{job.Args.SourceGeneration, jobs.FanInShard(i, n)}}
		}
		if _, err := rc.InsertManyFastTx(ctx, tx, batches); err != nil {
			return fmt.Errorf("error inserting batch jobs: %w", err)
		}
		if _, ok, err := lifecycle.ScheduleProcessing(ctx, tx, store.ScheduleSourceProcessingParams{
			ID: job.Args.SourceID, Generation: job.Args.Generation, DocumentsScheduled: int32(n),
		}); err != nil || !ok {
			return cmp.Or(err, fmt.Errorf("source %s is not at created", job.Args.SourceID))
		}
		if err := jobs.StartFanIn(ctx, tx, job.Args.SourceGeneration, n); err != nil {
			return err
		}
		// Like the pipeline's check: it waits, scheduled, for the last batch
		// job to wake it.
		if _, err := rc.InsertTx(ctx, tx, checkArgs{job.Args.SourceGeneration}, &river.InsertOpts{ScheduledAt: time.Now().Add(time.Hour)}); err != nil {
			return fmt.Errorf("error inserting check job: %w", err)
		}
		return completeTx(ctx, tx, job)
	})
}

type batchWorker struct {
	river.WorkerDefaults[batchArgs]
	commits *jobs.Committer
}

// Work inserts the follow-up and completes with the fan-in, in one
// transaction, as chunk_documents_batch does.
func (w *batchWorker) Work(ctx context.Context, job *river.Job[batchArgs]) error {
	_, err := w.commits.Commit(ctx, jobs.BatchCommit{
		Job: job.JobRow, Gen: job.Args.SourceGeneration,
		Insert: []river.InsertManyParams{{Args: followUpArgs{job.Args.SourceGeneration, job.Args.FanInShard}}},
		Work:   jobs.BatchJobWork{Shard: job.Args.FanInShard, Documents: 1},
	})
	return err
}

type followUpWorker struct {
	river.WorkerDefaults[followUpArgs]
	commits *jobs.Committer
}

// Work completes with the fan-in, as persist_chunks does.
func (w *followUpWorker) Work(ctx context.Context, job *river.Job[followUpArgs]) error {
	_, err := w.commits.Commit(ctx, jobs.BatchCommit{
		Job: job.JobRow, Gen: job.Args.SourceGeneration,
		Work: jobs.BatchJobWork{Shard: job.Args.FanInShard, ChunksEmbedded: 1},
	})
	return err
}

type checkWorker struct {
	river.WorkerDefaults[checkArgs]
	pool *pgxpool.Pool
}

// Work counts the batch jobs once more and inserts the final job.
func (w *checkWorker) Work(ctx context.Context, job *river.Job[checkArgs]) error {
	rc := river.ClientFromContext[pgx.Tx](ctx)
	return pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error {
		counts, err := store.CountBatchJobs(ctx, tx, lifecycle.BatchJobKinds(), job.Args.SourceID, job.Args.Generation)
		if err != nil {
			return err
		}
		if counts.Unfinished > 0 || counts.Failed > 0 {
			return fmt.Errorf("check woken with %d unfinished and %d failed batch jobs", counts.Unfinished, counts.Failed)
		}
		if _, err := rc.InsertTx(ctx, tx, finalArgs{job.Args.SourceGeneration}, nil); err != nil {
			return fmt.Errorf("error inserting final job: %w", err)
		}
		return completeTx(ctx, tx, job)
	})
}

type finalWorker struct {
	river.WorkerDefaults[finalArgs]
	pool    *pgxpool.Pool
	commits sync.Map // source id -> chan struct{}, closed at the commit
}

// Work completes the job in its transaction, as the pipeline's jobs end,
// and reports its commit.
func (w *finalWorker) Work(ctx context.Context, job *river.Job[finalArgs]) error {
	if err := pgx.BeginFunc(ctx, w.pool, func(tx pgx.Tx) error { return completeTx(ctx, tx, job) }); err != nil {
		return err
	}
	if committed, ok := w.commits.LoadAndDelete(job.Args.SourceID); ok {
		close(committed.(chan struct{}))
	}
	return nil
}

func completeTx[T river.JobArgs](ctx context.Context, tx pgx.Tx, job *river.Job[T]) error {
	done, err := river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx, job)
	if err != nil {
		return fmt.Errorf("error completing job: %w", err)
	}
	if done.State != rivertype.JobStateCompleted {
		return fmt.Errorf("job %d is %s, no longer ours", job.ID, done.State)
	}
	return nil
}
