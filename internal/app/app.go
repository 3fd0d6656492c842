// Package app wires a Kollektiv process together: from one Config it builds
// the database pool, the store, the providers and the River client, and
// starts and stops them in order.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/kollektiv/kollektiv/internal/api"
	"github.com/kollektiv/kollektiv/internal/config"
	"github.com/kollektiv/kollektiv/internal/content"
	"github.com/kollektiv/kollektiv/internal/embed"
	"github.com/kollektiv/kollektiv/internal/events"
	"github.com/kollektiv/kollektiv/internal/store"
	"github.com/kollektiv/kollektiv/internal/summarize"
	"github.com/kollektiv/kollektiv/jobs"
)

// ErrSchemaNotCurrent is returned by New when migrations are pending.
var ErrSchemaNotCurrent = errors.New("database schema is not current")

// heartbeatInterval is how often a worker records that it is alive; `check`
// looks for a heartbeat within a minute by default.
const heartbeatInterval = 15 * time.Second

// staleWorkerAge is how long the row of a silent worker is kept.
const staleWorkerAge = 24 * time.Hour

// Options say which services a process runs.
type Options struct {
	// Worker runs the pipeline's job workers. Without it the River client
	// only inserts jobs (the CLI's ingest, the API alone).
	Worker bool
	// API serves the HTTP API on Config.HTTPAddr.
	API bool
	// Version is recorded with the worker's heartbeat.
	Version string
}

// App is one Kollektiv process's set of services.
type App struct {
	// Pool is the process's database pool, pgvector types registered.
	Pool *pgxpool.Pool
	// Queries runs the generated queries on Pool.
	Queries *store.Queries
	// River inserts jobs, and with Options.Worker works them.
	River *river.Client[pgx.Tx]
	// Embedder, Summarizer and Chunker are the configured providers.
	Embedder   embed.Embedder
	Summarizer summarize.Summarizer
	Chunker    *content.Chunker
	// With Options.API: the HTTP API, its event hub and metrics registry.
	API      *api.Server
	Hub      *events.Hub
	Registry *prometheus.Registry

	jobMetrics     *jobMetrics
	stopJobMetrics func()
	metricsServer  *http.Server
	metricsAddr    string
	httpServer     *http.Server
	httpDone       chan struct{}
	apiAddr        string

	config   *config.Config
	opts     Options
	logger   *slog.Logger
	workerID uuid.UUID

	stopHeartbeat context.CancelFunc
	heartbeatDone chan struct{}
	stopOnce      sync.Once
}

// New creates the database when it does not exist, checks that both
// migration sets are applied, opens the pool and builds the services. It
// does not migrate: schema changes are an explicit step (`kollektiv
// migrate up`).
func New(ctx context.Context, cfg *config.Config, logger *slog.Logger, opts Options) (*App, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.WithDefaults() // the one place defaults are filled
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration: %w", err)
	}
	// Job timeouts and rescue-after concern only processes that run jobs:
	// a client (ingest, api) runs with any of them.
	if opts.Worker {
		if err := cfg.ValidateWorker(); err != nil {
			return nil, fmt.Errorf("invalid configuration: %w", err)
		}
	}
	created, err := store.EnsureDatabase(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	if created {
		logger.InfoContext(ctx, "created database")
	}
	status, err := store.NewMigrator(cfg.DatabaseURL, logger).Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("error reading migration status: %w", err)
	}
	if !status.Current() {
		return nil, fmt.Errorf("%w: %s", ErrSchemaNotCurrent, strings.Join(status.Problems(), "; "))
	}

	a := &App{config: cfg, opts: opts, logger: logger, workerID: uuid.New(), Registry: prometheus.NewRegistry()}
	if err := a.buildProviders(); err != nil {
		return nil, err
	}
	if a.Pool, err = store.Connect(ctx, cfg.DatabaseURL, a.poolSize(ctx)); err != nil {
		return nil, err
	}
	a.Queries = store.New(a.Pool)
	a.Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		api.DatabaseCollector{Pool: a.Pool},
	)
	if a.River, err = a.buildRiver(); err != nil {
		a.Pool.Close()
		return nil, err
	}
	if opts.API {
		if err := a.buildAPI(); err != nil {
			a.Pool.Close()
			return nil, err
		}
	}
	return a, nil
}

func (a *App) buildProviders() error {
	cfg := a.config
	metrics, err := newProviderMetrics(a.Registry)
	if err != nil {
		return err
	}
	if a.jobMetrics, err = newJobMetrics(a.Registry); err != nil {
		return err
	}
	a.Embedder, err = embed.New(cfg.Embedder, embed.Config{
		Hashing: embed.HashingConfig{Dimensions: cfg.EmbeddingDimensions, Version: cfg.HashingVersion},
		OpenAI: embed.OpenAIConfig{
			BaseURL: cfg.OpenAIBaseURL, Model: cfg.EmbeddingModel, APIKey: cfg.OpenAIAPIKey,
			Dimensions: cfg.EmbeddingDimensions, Logger: a.logger,
		},
	})
	if err != nil {
		return fmt.Errorf("error building embedder: %w", err)
	}
	a.Summarizer, err = summarize.New(cfg.Summarizer, summarize.Config{
		Extractive: summarize.ExtractiveConfig{Embedder: a.Embedder},
		Anthropic:  summarize.AnthropicConfig{APIKey: cfg.AnthropicAPIKey, Model: cfg.SummaryModel, Logger: a.logger},
		OpenAI:     summarize.OpenAIConfig{BaseURL: cfg.OpenAIBaseURL, APIKey: cfg.OpenAIAPIKey, Model: cfg.SummaryModel, Logger: a.logger},
	})
	if err != nil {
		return fmt.Errorf("error building summarizer: %w", err)
	}
	a.Embedder = countingEmbedder{Embedder: a.Embedder, metrics: metrics}
	a.Summarizer = countingSummarizer{Summarizer: a.Summarizer, metrics: metrics}
	a.Chunker, err = content.NewChunker(content.ChunkerOptions{TargetTokens: cfg.ChunkTargetTokens, MaxTokens: cfg.ChunkMaxTokens})
	if err != nil {
		return fmt.Errorf("error building chunker: %w", err)
	}
	return nil
}

// RiverConfig returns the River settings every Kollektiv process runs
// with, without workers or queues: `kollektiv bench` starts its own workers
// on the same settings.
func RiverConfig(cfg *config.Config, logger *slog.Logger) *river.Config {
	return &river.Config{
		Logger: logger,
		// The default for kinds without their own; River checks it against
		// RescueStuckJobsAfter.
		JobTimeout:           cfg.JobTimeout,
		MaxAttempts:          cfg.MaxAttempts,
		RescueStuckJobsAfter: cfg.RescueStuckJobsAfter(),
		RetryPolicy:          &jobs.RetryPolicy{Base: cfg.RetryBase},
		SoftStopTimeout:      cfg.SoftStopTimeout,
		PollOnly:             cfg.PollOnly,
		// The queues' own cooldown, set here too because River's client
		// sends at most one notification of inserted jobs per queue per
		// client-wide cooldown (100ms by default). A job inserted within it
		// of the last one waits for its queue's poll: up to 1s, where the
		// queue would fetch it within its own cooldown.
		FetchCooldown: cfg.FetchCooldown,
	}
}

func (a *App) buildRiver() (*river.Client[pgx.Tx], error) {
	cfg := a.config
	riverConfig := RiverConfig(cfg, a.logger)
	if a.opts.Worker {
		workers := river.NewWorkers()
		err := jobs.Register(workers, jobs.Deps{
			Pool: a.Pool, Chunker: a.Chunker, Embedder: a.Embedder, Summarizer: a.Summarizer, Logger: a.logger,
			Settings: jobs.Settings{
				JobTimeout: cfg.JobTimeout, ChunkTimeout: cfg.ChunkTimeout, EmbedTimeout: cfg.EmbedTimeout,
				SummaryTimeout: cfg.SummaryTimeout, MaxAttempts: cfg.MaxAttempts,
				FanInSafetyInterval: cfg.FanInSafetyInterval, ProgressInterval: cfg.ProgressInterval,
				CommitTransactions: cfg.CommitTransactions,
				BatchDocuments:     cfg.BatchDocuments, BatchBytes: cfg.BatchBytes,
				EmbedBatchChunks: cfg.EmbedBatchChunks, EmbedBatchTokens: cfg.EmbedBatchTokens,
				FairShareDocuments: cfg.FairShareDocuments,
				BulkIndexMinBytes:  cfg.BulkIndexMinBytes, // 0 turns it off, as in jobs
				IndexBuild:         store.IndexBuild{Memory: cfg.IndexBuildMemory},
				IndexBuildTimeout:  cfg.IndexBuildTimeout,
				WebhookURLs:        cfg.WebhookURLs, WebhookSecret: cfg.WebhookSecret,
			},
		})
		if err != nil {
			return nil, err
		}
		riverConfig.Workers = workers
		riverConfig.Queues = a.Queues()
		// River's client id is the worker's id: river_job.attempted_by
		// then names a row of the workers table (host, pid, heartbeat).
		riverConfig.ID = a.workerID.String()
	} else {
		// An insert-only client runs no job and rescues none: River's
		// check of rescue-after against the job timeout is not its concern.
		riverConfig.JobTimeout, riverConfig.RescueStuckJobsAfter = 0, 0
	}
	client, err := river.NewClient(riverpgxv5.New(a.Pool), riverConfig)
	if err != nil {
		return nil, fmt.Errorf("error creating River client: %w", err)
	}
	return client, nil
}

// poolSize sizes the pool for what the process runs (PoolInputs.Size),
// capped by the connections the server has free, and says how in the log:
// at info for a worker or the API, at debug for the CLI's short runs. A
// pool_max_conns in the database URL wins (store.Connect).
func (a *App) poolSize(ctx context.Context) int32 {
	in := PoolInputs{API: a.opts.API, CPUs: runtime.NumCPU(), Override: a.config.DBMaxConns}
	if a.opts.Worker {
		in.Workers = map[string]int{}
		for name, q := range a.Queues() {
			in.Workers[name] = q.MaxWorkers
		}
	}
	if in.Override <= 0 {
		server, err := store.ReadServerConnections(ctx, a.config.DatabaseURL)
		if err != nil {
			a.logger.WarnContext(ctx, "could not read the server's connection limits; the pool is sized without them", slog.String("error", err.Error()))
		} else {
			in.Server = &server
		}
	}
	size := in.Size()
	level := slog.LevelDebug
	if a.opts.Worker || a.opts.API {
		level = slog.LevelInfo
	}
	a.logger.Log(ctx, level, "database pool sized", size.LogAttrs(in)...)
	return int32(size.MaxConns)
}

// defaultQueuePollInterval is how often the default queue looks for jobs
// that became available without a notification.
const defaultQueuePollInterval = 100 * time.Millisecond

// Queues returns the queue settings the worker runs with.
func (a *App) Queues() map[string]river.QueueConfig { return Queues(a.config) }

// Queues returns the queues a worker of cfg runs, with their concurrency
// (cfg with its defaults filled: chunking-workers 0 is the CPU count).
func Queues(cfg *config.Config) map[string]river.QueueConfig {
	cfg = cfg.WithDefaults()
	return map[string]river.QueueConfig{
		// The default queue carries the orchestration: a completion check
		// woken by the last batch job (JobRetryTx sends no notification)
		// and the events after it. Polling it every 100ms instead of River's
		// 1s keeps a source's completion close to its last commit.
		jobs.QueueDefault: {
			MaxWorkers: cfg.DefaultWorkers, FetchCooldown: cfg.FetchCooldown, FetchPollInterval: defaultQueuePollInterval,
		},
		jobs.QueueChunking:  {MaxWorkers: cfg.ChunkingWorkers, FetchCooldown: cfg.FetchCooldown},
		jobs.QueueEmbedding: {MaxWorkers: cfg.EmbeddingWorkers, FetchCooldown: cfg.FetchCooldown},
		jobs.QueueCrawling:  {MaxWorkers: jobs.DefaultCrawlWorkers, FetchCooldown: cfg.FetchCooldown},
	}
}

// Start starts the process's background services: with Options.API, the
// event hub and the HTTP server; with Options.Worker, the vector index of
// the embedder's dimension, River's workers and the worker heartbeat.
func (a *App) Start(ctx context.Context) error {
	if a.config.MetricsAddr != "" {
		if err := a.startMetrics(ctx); err != nil {
			return err
		}
	}
	if a.opts.API {
		if err := a.startAPI(ctx); err != nil {
			return err
		}
	}
	if !a.opts.Worker {
		return nil
	}
	if created, err := store.EnsureVectorIndex(ctx, a.Pool, a.Embedder.Dimensions()); err != nil {
		return err
	} else if created {
		a.logger.InfoContext(ctx, "created vector index", slog.String("index", store.VectorIndexName(a.Embedder.Dimensions())))
	}
	// A process may have died between deleting a source and dropping its
	// bulk-built index.
	if dropped, err := store.DropSourceVectorIndexes(ctx, a.Pool, 0); err != nil {
		a.logger.WarnContext(ctx, "could not drop the vector indexes of deleted sources", slog.String("error", err.Error()))
	} else if dropped > 0 {
		a.logger.InfoContext(ctx, "dropped the vector indexes of deleted sources", slog.Int("indexes", dropped))
	}
	if err := a.heartbeat(ctx); err != nil {
		return err
	}
	jobEvents, cancelJobEvents := a.River.Subscribe(river.EventKindJobCompleted, river.EventKindJobFailed, river.EventKindJobCancelled, river.EventKindJobSnoozed)
	a.stopJobMetrics = cancelJobEvents
	go a.jobMetrics.follow(jobEvents)
	if err := a.River.Start(ctx); err != nil {
		return fmt.Errorf("error starting River: %w", err)
	}
	hbCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.stopHeartbeat, a.heartbeatDone = cancel, make(chan struct{})
	go a.heartbeatLoop(hbCtx)
	queues := a.Queues()
	a.logger.InfoContext(ctx, "worker started", slog.String("worker_id", a.workerID.String()),
		slog.Int("default_workers", queues[jobs.QueueDefault].MaxWorkers),
		slog.Int("chunking_workers", queues[jobs.QueueChunking].MaxWorkers),
		slog.Int("embedding_workers", queues[jobs.QueueEmbedding].MaxWorkers),
		slog.String("embedder", a.Embedder.Model()), slog.String("summarizer", a.Summarizer.Model()))
	return nil
}

func (a *App) heartbeat(ctx context.Context) error {
	host, _ := os.Hostname()
	queues := make([]string, 0, 3)
	for q := range a.Queues() {
		queues = append(queues, q)
	}
	err := a.Queries.RecordWorkerHeartbeat(ctx, store.RecordWorkerHeartbeatParams{
		ID: a.workerID, Hostname: host, Pid: int32(os.Getpid()), Queues: queues, Version: a.opts.Version,
	})
	if err != nil {
		return fmt.Errorf("error recording heartbeat: %w", err)
	}
	return nil
}

func (a *App) heartbeatLoop(ctx context.Context) {
	defer close(a.heartbeatDone)
	ticker := time.NewTicker(heartbeatInterval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			if err := a.heartbeat(ctx); err != nil && ctx.Err() == nil {
				a.logger.WarnContext(ctx, "heartbeat failed", slog.String("error", err.Error()))
			}
			// Rows of workers gone for a day only clutter the table.
			_, _ = a.Queries.DeleteStaleWorkers(ctx, staleWorkerAge.Seconds())
		}
	}
}

// Stop stops every service in reverse order of start: River first (running
// jobs get SoftStopTimeout to finish, then are cancelled and go back to the
// queue), then the heartbeat, and the pool last. Safe to call more than
// once.
func (a *App) Stop(ctx context.Context) error {
	var err error
	a.stopOnce.Do(func() {
		if a.metricsServer != nil {
			_ = a.metricsServer.Shutdown(ctx)
		}
		if a.opts.API {
			err = a.stopAPI(ctx)
		}
		if a.opts.Worker {
			if stopErr := a.River.Stop(ctx); stopErr != nil && !errors.Is(stopErr, context.Canceled) {
				err = errors.Join(err, fmt.Errorf("error stopping River: %w", stopErr))
			}
			if a.stopJobMetrics != nil {
				a.stopJobMetrics()
			}
			if a.stopHeartbeat != nil {
				a.stopHeartbeat()
				<-a.heartbeatDone
				stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
				_ = a.Queries.MarkWorkerStopped(stopCtx, a.workerID)
				cancel()
			}
		}
		a.Pool.Close()
		if a.opts.Worker || a.opts.API {
			a.logger.InfoContext(ctx, "stopped")
		}
	})
	return err
}
