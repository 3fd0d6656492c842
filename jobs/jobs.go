// Package jobs holds Kollektiv's pipeline: one River job kind per file, each
// with its typed args and its worker.
//
// Every job follows one shape: load what it needs, do the slow work (CPU or
// a remote call) outside any transaction, then in one transaction write its
// results, insert the jobs and events that follow, and complete itself. A
// crash at any point leaves either everything or nothing, and deterministic
// ids make the retried attempt write the same rows. The batch jobs
// (chunk_documents_batch, persist_chunks) end through the Committer, which
// commits those that finish at the same moment in one transaction.
//
// A pipeline job starts with jobSource (validate the args, load the source,
// complete at once when it moved on) and changes the source's stage only
// through internal/lifecycle's guarded transitions, inside inJobTx: when
// the transition finds the source gone or moved on, the transaction rolls
// back and the job completes without effect.
package jobs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/kollektiv/kollektiv/internal/config"
	"github.com/kollektiv/kollektiv/internal/content"
	"github.com/kollektiv/kollektiv/internal/embed"
	"github.com/kollektiv/kollektiv/internal/lifecycle"
	"github.com/kollektiv/kollektiv/internal/store"
	"github.com/kollektiv/kollektiv/internal/summarize"
)

// Queues. The chunking queue is CPU bound (one worker per core); the
// embedding queue is bound by the provider (its own concurrency).
const (
	QueueDefault   = river.QueueDefault
	QueueChunking  = "chunking"
	QueueEmbedding = "embedding"
	// QueueCrawling runs crawl_source jobs, which wait on remote sites.
	QueueCrawling = "crawling"
)

// DefaultCrawlWorkers is the concurrency of the crawling queue: each crawl
// already sends a few requests at once.
const DefaultCrawlWorkers = 2

// Settings tune the pipeline. A zero field takes its default from the
// configuration table (config.Defaults), the one place defaults are
// declared; BulkIndexMinBytes is the exception, as in the configuration:
// 0 turns bulk indexes off.
type Settings struct {
	// JobTimeout bounds orchestration and event jobs. Default 1m.
	JobTimeout time.Duration
	// ChunkTimeout bounds chunk_documents_batch. Default 5m.
	ChunkTimeout time.Duration
	// EmbedTimeout bounds persist_chunks. Default 5m.
	EmbedTimeout time.Duration
	// SummaryTimeout bounds generate_summary. Default 5m.
	SummaryTimeout time.Duration
	// MaxAttempts is how many times a job is tried. Default 10.
	MaxAttempts int
	// FanInSafetyInterval is how often check_chunking_complete looks again
	// while batch jobs are unfinished. Default 30s.
	FanInSafetyInterval time.Duration
	// ProgressInterval is the least time between progress events of a
	// source. Default 300ms.
	ProgressInterval time.Duration
	// CommitTransactions is how many transactions the batch jobs' committer
	// keeps open at once (CommitterConfig.Transactions). Default 2.
	CommitTransactions int
	// BatchDocuments and BatchBytes bound a chunking job. Defaults 200 and
	// 8 MiB.
	BatchDocuments, BatchBytes int
	// EmbedBatchChunks and EmbedBatchTokens bound an embedding job.
	// Defaults 256 and 50,000.
	EmbedBatchChunks, EmbedBatchTokens int
	// FairShareDocuments is how many queued documents of one user run at
	// each priority level before the next (see fair_share.go). Default 200.
	FairShareDocuments int
	// BulkIndexMinBytes is the size of a source's first generation from
	// which its vectors get an HNSW index of their own, built in bulk after
	// its last batch, instead of going into the shared index batch by
	// batch. 0 (or negative) turns bulk indexes off; the configuration's
	// default is 2 MiB.
	BulkIndexMinBytes int
	// IndexBuild tunes the session that builds a bulk index.
	IndexBuild store.IndexBuild
	// IndexBuildTimeout bounds the completion check, which builds a bulk
	// index. Default 5m.
	IndexBuildTimeout time.Duration
	// CrawlTimeout bounds one attempt of crawl_source; an attempt that runs
	// out keeps the pages it stored and the next goes on. Default the
	// longest of ChunkTimeout, EmbedTimeout, SummaryTimeout and
	// IndexBuildTimeout, so the rescuer's setting, checked against those,
	// covers it too.
	CrawlTimeout time.Duration
	// CrawlBatchPages is how many pages a crawl stores per transaction.
	// Default twice the crawler's concurrency (8).
	CrawlBatchPages int
	// WebhookURLs receive every event; WebhookSecret signs them.
	WebhookURLs   []string
	WebhookSecret string
	// HTTPClient delivers webhooks. Default: a client with a 10s timeout.
	HTTPClient *http.Client

	// afterCrawlBatch, when set, runs after each committed crawl batch with
	// the pages fetched so far; an error fails the attempt (tests).
	afterCrawlBatch func(pagesFetched int) error
	// whileEarlierPending, when set, runs each time a stage event finds an
	// event scheduled before it still unpublished, before it looks again
	// (tests).
	whileEarlierPending func()
}

func (s Settings) withDefaults() Settings {
	d := config.Defaults()
	s.JobTimeout = cmp.Or(s.JobTimeout, d.JobTimeout)
	s.ChunkTimeout = cmp.Or(s.ChunkTimeout, d.ChunkTimeout)
	s.EmbedTimeout = cmp.Or(s.EmbedTimeout, d.EmbedTimeout)
	s.SummaryTimeout = cmp.Or(s.SummaryTimeout, d.SummaryTimeout)
	s.MaxAttempts = cmp.Or(s.MaxAttempts, d.MaxAttempts)
	s.FanInSafetyInterval = cmp.Or(s.FanInSafetyInterval, d.FanInSafetyInterval)
	s.ProgressInterval = cmp.Or(s.ProgressInterval, d.ProgressInterval)
	s.CommitTransactions = cmp.Or(s.CommitTransactions, d.CommitTransactions)
	s.IndexBuildTimeout = cmp.Or(s.IndexBuildTimeout, d.IndexBuildTimeout)
	s.CrawlTimeout = cmp.Or(s.CrawlTimeout, max(s.ChunkTimeout, s.EmbedTimeout, s.SummaryTimeout, s.IndexBuildTimeout))
	s.BatchDocuments = cmp.Or(s.BatchDocuments, d.BatchDocuments)
	s.BatchBytes = cmp.Or(s.BatchBytes, d.BatchBytes)
	s.EmbedBatchChunks = cmp.Or(s.EmbedBatchChunks, d.EmbedBatchChunks)
	s.EmbedBatchTokens = cmp.Or(s.EmbedBatchTokens, d.EmbedBatchTokens)
	s.FairShareDocuments = cmp.Or(s.FairShareDocuments, d.FairShareDocuments)
	if s.HTTPClient == nil {
		s.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	return s
}

// Deps are the services the workers share, built once at start-up.
type Deps struct {
	Pool       *pgxpool.Pool
	Chunker    *content.Chunker
	Embedder   embed.Embedder
	Summarizer summarize.Summarizer
	Settings   Settings
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// pipeline is what every worker holds: the deps with defaults applied.
type pipeline struct {
	Deps
	queries *store.Queries
	// commits ends the batch jobs, several in one transaction when they
	// finish together.
	commits *Committer
}

// Register adds a worker for every job kind to workers.
func Register(workers *river.Workers, deps Deps) error {
	if deps.Pool == nil || deps.Chunker == nil || deps.Embedder == nil || deps.Summarizer == nil {
		return errors.New("jobs: Pool, Chunker, Embedder and Summarizer are required")
	}
	deps.Settings = deps.Settings.withDefaults()
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	commits, err := NewCommitter(CommitterConfig{
		Pool: deps.Pool, Transactions: deps.Settings.CommitTransactions, ProgressInterval: deps.Settings.ProgressInterval, Logger: deps.Logger,
	})
	if err != nil {
		return err
	}
	p := &pipeline{Deps: deps, queries: store.New(deps.Pool), commits: commits}
	for _, err := range []error{
		river.AddWorkerSafely(workers, &ProcessDocumentsWorker{p: p}),
		river.AddWorkerSafely(workers, &ChunkDocumentsBatchWorker{p: p}),
		river.AddWorkerSafely(workers, &PersistChunksWorker{p: p}),
		river.AddWorkerSafely(workers, &CheckChunkingCompleteWorker{p: p}),
		river.AddWorkerSafely(workers, &GenerateSummaryWorker{p: p}),
		river.AddWorkerSafely(workers, &PublishEventWorker{p: p}),
		river.AddWorkerSafely(workers, &CrawlSourceWorker{p: p}),
	} {
		if err != nil {
			return fmt.Errorf("error registering worker: %w", err)
		}
	}
	return nil
}

// RetryPolicy backs off exponentially with jitter: attempt n waits a random
// time between half and all of Base*2^(n-1), at most Max.
type RetryPolicy struct {
	// Base is the first delay. Default 1s.
	Base time.Duration
	// Max caps the delay. Default 5m.
	Max time.Duration
}

var _ river.ClientRetryPolicy = (*RetryPolicy)(nil)

// NextRetry returns when the job's next attempt may run.
func (p *RetryPolicy) NextRetry(job *rivertype.JobRow) time.Time {
	base, ceiling := cmp.Or(p.Base, time.Second), cmp.Or(p.Max, 5*time.Minute)
	d := base
	for i := 1; i < job.Attempt && d < ceiling; i++ {
		d *= 2
	}
	d = min(d, ceiling)
	d = d/2 + rand.N(d/2+1) //nolint:gosec // jitter needs no cryptographic randomness
	return time.Now().Add(d)
}

// argsValidator is implemented by every job's args.
type argsValidator interface{ Validate() error }

// validateArgs cancels a job whose args do not validate: retrying cannot
// repair a payload, so it must never be retried.
func validateArgs(args argsValidator) error {
	if err := args.Validate(); err != nil {
		return river.JobCancel(fmt.Errorf("invalid args: %w", err))
	}
	return nil
}

// inTx runs fn in a transaction on pool and commits when fn succeeds.
func inTx(ctx context.Context, pool *pgxpool.Pool, fn func(tx pgx.Tx) error) error {
	return pgx.BeginFunc(ctx, pool, fn)
}

// completeTx completes job in tx. River reports no error when the job is no
// longer running (the rescuer took it back after a stall), so the returned
// state is checked: anything but completed rolls the transaction back, and
// the attempt that now owns the job does the work again.
func completeTx[T river.JobArgs](ctx context.Context, tx pgx.Tx, job *river.Job[T]) error {
	done, err := river.JobCompleteTx[*riverpgxv5.Driver](ctx, tx, job)
	if err != nil {
		return fmt.Errorf("error completing job: %w", err)
	}
	if done.State != rivertype.JobStateCompleted {
		return fmt.Errorf("job %d is %s, no longer ours: rolling back", job.ID, done.State)
	}
	return nil
}

// completeNow completes a job that has nothing to do (its source was
// deleted or moved on).
func completeNow[T river.JobArgs](ctx context.Context, pool *pgxpool.Pool, job *river.Job[T]) error {
	return inTx(ctx, pool, func(tx pgx.Tx) error { return completeTx(ctx, tx, job) })
}

// sourceJobArgs are the args of a job that works on one source generation.
type sourceJobArgs interface {
	river.JobArgs
	argsValidator
	sourceGeneration() SourceGeneration
}

// jobSource is the start of every pipeline job's Work: it validates the
// args and loads the job's source, and reports whether the job should act:
// the source exists, the job belongs to its current generation, and the
// source is at the stage the job expects. When it should not (the source
// was deleted or moved on), jobSource completes the job without effect and
// returns false with that completion's error; Work returns err whenever ok
// is false.
//
// The read only spares a stale job its slow work: the transition that the
// job's transaction ends with is guarded in SQL (internal/lifecycle) and
// decides.
func jobSource[T sourceJobArgs](ctx context.Context, p *pipeline, job *river.Job[T], stage lifecycle.Stage) (source store.Source, ok bool, err error) {
	if err := validateArgs(job.Args); err != nil {
		return source, false, err
	}
	gen := job.Args.sourceGeneration()
	source, err = p.queries.GetSourceByID(ctx, gen.SourceID)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		p.Logger.InfoContext(ctx, "source deleted: nothing to do", slog.String("source_id", gen.SourceID.String()))
		return source, false, completeNow(ctx, p.Pool, job)
	case err != nil:
		return source, false, fmt.Errorf("error loading source: %w", err)
	case source.Generation != gen.Generation || lifecycle.StageOf(source) != stage:
		p.Logger.InfoContext(ctx, "source moved on: nothing to do", slog.String("source_id", gen.SourceID.String()),
			slog.Int("job_generation", int(gen.Generation)), slog.Int("source_generation", int(source.Generation)),
			slog.String("source_stage", source.Stage))
		return source, false, completeNow(ctx, p.Pool, job)
	}
	return source, true, nil
}

// errSourceMovedOn is returned inside a job's transaction when its guarded
// transition did not apply: the source was deleted, or moved on to another
// stage or generation since the job loaded it.
var errSourceMovedOn = errors.New("source moved on")

// inJobTx runs fn, the writes of a job that end with a guarded transition
// of its source, in one transaction. When fn returns errSourceMovedOn the
// transaction rolls back and the job completes without effect, as a job
// does that finds its source moved on before it starts.
func inJobTx[T river.JobArgs](ctx context.Context, p *pipeline, job *river.Job[T], fn func(tx pgx.Tx) error) error {
	return completeIfMovedOn(ctx, p, job, inTx(ctx, p.Pool, fn))
}

// completeIfMovedOn completes job without effect when err, the outcome of
// its transaction, is errSourceMovedOn; else it returns err.
func completeIfMovedOn[T river.JobArgs](ctx context.Context, p *pipeline, job *river.Job[T], err error) error {
	if errors.Is(err, errSourceMovedOn) {
		p.Logger.InfoContext(ctx, "source moved on while the job ran: nothing written", slog.Int64("job_id", job.ID))
		return completeNow(ctx, p.Pool, job)
	}
	return err
}

// setDocumentStatuses writes documents' statuses in one batch.
func setDocumentStatuses(ctx context.Context, q *store.Queries, statuses []store.SetDocumentStatusParams) error {
	var batchErr error
	q.SetDocumentStatus(ctx, statuses).Exec(func(_ int, err error) { batchErr = cmp.Or(batchErr, err) })
	if batchErr != nil {
		return fmt.Errorf("error setting document status: %w", batchErr)
	}
	return nil
}

func client(ctx context.Context) *river.Client[pgx.Tx] {
	return river.ClientFromContext[pgx.Tx](ctx)
}
