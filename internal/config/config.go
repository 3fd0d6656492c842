// Package config holds every Kollektiv setting in one table: its environment
// variable, its flag, its default, and whether it is a secret. A setting is
// taken from its flag when given, else from its environment variable, else
// from its default.
package config

import (
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// DefaultDatabaseURL is the local server as a fresh machine has it.
const DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/kollektiv?sslmode=disable"

// Config is the effective configuration of one Kollektiv process. Its zero
// value is not meant to be used: start from Load.
type Config struct {
	// DatabaseURL is the PostgreSQL connection string. Default
	// DefaultDatabaseURL; the database is created when it does not exist.
	DatabaseURL string
	// LogLevel is the minimum level logged: debug, info, warn or error.
	// Default info.
	LogLevel slog.Level
	// LogFormat is text (for people) or json (for log pipelines). Default text.
	LogFormat string
	// CheckWorkerWithin is how recently a worker must have sent a heartbeat
	// for `kollektiv check` to count it as alive. Default 1m.
	CheckWorkerWithin time.Duration
	// NoWorkerNotice is how long `ingest --wait` and `sources watch` see
	// no progress before they look for a live worker (one that sent a
	// heartbeat within CheckWorkerWithin) and, finding none, say so.
	// Default 5s.
	NoWorkerNotice time.Duration

	// User owns what the CLI ingests. Default "local".
	User string
	// LocalPostgres is when a private PostgreSQL server (in DataDir) is
	// used: auto (DATABASE_URL unset and nothing answers on the default
	// address), always (DATABASE_URL unset) or never. Default auto.
	LocalPostgres string
	// DataDir holds Kollektiv's own files (the private server). Default
	// /var/lib/kollektiv for root, else ~/.local/share/kollektiv.
	DataDir string

	// Embedder is the embedding provider: hashing or openai. Default hashing.
	Embedder string
	// EmbeddingDimensions is the vector size; 0 means the provider's default
	// (384 for hashing, the model's native size for OpenAI's models).
	EmbeddingDimensions int
	// HashingVersion is the method of the hashing embedder: 2 (words,
	// word pairs and character n-grams) or 1 (words and word pairs, for a
	// deployment that has not re-embedded its hashing-v1 chunks yet).
	// Default 2.
	HashingVersion int
	// EmbeddingModel is the remote embedding model. Default
	// text-embedding-3-small.
	EmbeddingModel string
	// OpenAIBaseURL is the OpenAI-compatible API root (OpenAI, Ollama, vLLM,
	// TEI, LM Studio). Default https://api.openai.com/v1.
	OpenAIBaseURL string
	// OpenAIAPIKey authenticates to OpenAIBaseURL. Secret.
	OpenAIAPIKey string
	// Summarizer is the summary provider: extractive, anthropic or openai.
	// Default extractive.
	Summarizer string
	// SummaryModel is the remote summary model; empty means the provider's
	// default.
	SummaryModel string
	// AnthropicAPIKey authenticates to the Messages API. Secret.
	AnthropicAPIKey string

	// DBMaxConns caps the process's database pool; 0 sizes it from the
	// queues' concurrency and the API. Default 0.
	DBMaxConns int
	// PollOnly runs River without LISTEN (River's PollOnly): queues are
	// polled every FetchPollInterval, leadership every 5s. For PgBouncer in
	// transaction mode, which cannot carry LISTEN. Default false.
	PollOnly bool
	// DefaultWorkers is the concurrency of the default (orchestration)
	// queue. Default 10.
	DefaultWorkers int
	// ChunkingWorkers is the concurrency of the CPU-bound chunking queue.
	// 0 (the default) means the number of CPUs; WithDefaults resolves it.
	ChunkingWorkers int
	// EmbeddingWorkers is the concurrency of the embedding queue. Default 4.
	EmbeddingWorkers int
	// FetchCooldown is the least time between two fetches of jobs by one
	// queue of one process. River's default, 100ms, caps a queue at its
	// worker count per 100ms however short its jobs. Default 10ms.
	FetchCooldown time.Duration
	// CommitTransactions is how many transactions one worker process keeps
	// open at once to end batch jobs; jobs that finish while all are open
	// share the next one (jobs.Committer). Default 2.
	CommitTransactions int

	// JobTimeout bounds one attempt of the orchestration jobs. Default 1m.
	JobTimeout time.Duration
	// ChunkTimeout bounds one attempt of chunk_documents_batch. Default 5m.
	ChunkTimeout time.Duration
	// EmbedTimeout bounds one attempt of persist_chunks. Default 5m.
	EmbedTimeout time.Duration
	// SummaryTimeout bounds one attempt of generate_summary. Default 5m.
	SummaryTimeout time.Duration
	// RescueAfter is how long after its attempt started a job still running
	// is handed back by River's rescuer (its worker presumably died).
	// Default: the longest job timeout plus one minute. The rescuer looks
	// every 30s (River 0.51 has no setting for it), so a killed worker's
	// job runs again up to 30s after RescueAfter. Worker processes refuse a
	// RescueAfter at or below a job timeout (ValidateWorker).
	RescueAfter time.Duration
	// SoftStopTimeout is how long a stopping worker lets running jobs finish
	// before cancelling them. Default 30s.
	SoftStopTimeout time.Duration
	// MaxAttempts is how many times a job is tried. Default 10.
	MaxAttempts int
	// RetryBase is the first retry delay, doubled at each attempt (with
	// jitter) up to 5m. Default 1s.
	RetryBase time.Duration
	// FanInSafetyInterval is how often the completion check looks again
	// while batch jobs are unfinished, catching jobs that ended without
	// running their fan-in (discarded or rescued). Default 30s.
	FanInSafetyInterval time.Duration
	// ProgressInterval is the least time between two progress events of a
	// source. Default 300ms.
	ProgressInterval time.Duration

	// BatchDocuments is the most documents one chunking job takes.
	// Default 200.
	BatchDocuments int
	// BatchBytes bounds the content one chunking job loads. Default 8 MiB.
	BatchBytes int
	// EmbedBatchChunks is the most chunks one embedding job takes.
	// Default 256, what the openai embedder sends in one request.
	EmbedBatchChunks int
	// EmbedBatchTokens bounds the tokens one embedding job takes.
	// Default 50,000.
	EmbedBatchTokens int
	// FairShareDocuments is how many queued documents of one user go in at
	// each of River's four priorities: a user's first ones at 1, the tail
	// of a long backlog at 4, so other users' new sources overtake it.
	// Default 200.
	FairShareDocuments int
	// ChunkTargetTokens and ChunkMaxTokens size chunks. Defaults 400, 512.
	ChunkTargetTokens, ChunkMaxTokens int
	// BulkIndexMinBytes is the size of a new source from which its vectors
	// get an HNSW index of their own, built in bulk after its last batch.
	// Default 2 MiB. 0 turns bulk indexes off, here, in the environment
	// and flag, and in jobs.Settings alike.
	BulkIndexMinBytes int
	// IndexBuildMemory is PostgreSQL's maintenance_work_mem for building a
	// bulk index, such as 1GB. Default 1GB.
	IndexBuildMemory string
	// IndexBuildTimeout bounds the completion check that builds a bulk
	// index. Default 5m.
	IndexBuildTimeout time.Duration

	// HTTPAddr is where the API listens. Default :8080.
	HTTPAddr string
	// MetricsAddr, when set, serves /metrics on its own listener: for
	// `kollektiv worker`, which has no API. Default off.
	MetricsAddr string
	// APIMaxBodyBytes bounds a request body. Default 32 MiB.
	APIMaxBodyBytes int
	// APIMaxDocuments bounds the documents of one request. Default 1,000.
	APIMaxDocuments int
	// APIMaxCrawlPages is the ceiling of a crawl's page limit. Default 500.
	APIMaxCrawlPages int
	// APIRateLimit is each key's sustained requests per second, with
	// APIRateBurst on top. Defaults 20 and 40.
	APIRateLimit, APIRateBurst int
	// CrawlAllowPrivate lets crawls reach private and loopback addresses.
	// Default false.
	CrawlAllowPrivate bool
	// ConsoleSessionTTL is how long a sign-in to the web console lasts.
	// Default 12h.
	ConsoleSessionTTL time.Duration
	// ConsoleAllowHTTP drops Secure from the console's session cookie for a
	// browser on this machine reaching a loopback address over plain HTTP.
	// Default false.
	ConsoleAllowHTTP bool

	// WebhookURLs receive every event as a signed POST. Default none.
	WebhookURLs []string
	// WebhookSecret signs webhook bodies (HMAC-SHA256). Secret.
	WebhookSecret string

	// origin records where each setting's value came from: default, env or
	// flag, keyed by setting name.
	origin map[string]string
}

// Setting is one row of the configuration table.
type Setting struct {
	// Name is the flag name, without dashes.
	Name string
	// Env is the environment variable.
	Env string
	// Default is the value used when neither flag nor variable is set.
	Default string
	// Secret settings are redacted when printed.
	Secret bool
	// Usage says what the setting does, for --help and README.
	Usage string

	set func(c *Config, value string) error
	get func(c *Config) string
}

// Settings returns the configuration table, in the order it is printed.
func Settings() []Setting {
	return []Setting{
		{
			Name: "database-url", Env: "DATABASE_URL", Default: DefaultDatabaseURL, Secret: true,
			Usage: "PostgreSQL connection string; the database is created when missing",
			set: func(c *Config, v string) error {
				if strings.TrimSpace(v) == "" {
					return errors.New("must not be empty")
				}
				c.DatabaseURL = v
				return nil
			},
			get: func(c *Config) string { return c.DatabaseURL },
		},
		{
			Name: "log-level", Env: "KOLLEKTIV_LOG_LEVEL", Default: "info",
			Usage: "minimum level logged: debug, info, warn or error",
			set: func(c *Config, v string) error {
				return c.LogLevel.UnmarshalText([]byte(v))
			},
			get: func(c *Config) string { return strings.ToLower(c.LogLevel.String()) },
		},
		{
			Name: "log-format", Env: "KOLLEKTIV_LOG_FORMAT", Default: "text",
			Usage: "log format: text or json",
			set: func(c *Config, v string) error {
				if v != "text" && v != "json" {
					return fmt.Errorf("%q is not text or json", v)
				}
				c.LogFormat = v
				return nil
			},
			get: func(c *Config) string { return c.LogFormat },
		},
		{
			Name: "check-worker-within", Env: "KOLLEKTIV_CHECK_WORKER_WITHIN", Default: "1m",
			Usage: "how recent a worker heartbeat must be for the check command to count the worker alive",
			set:   durationSetter(func(c *Config) *time.Duration { return &c.CheckWorkerWithin }),
			get:   func(c *Config) string { return c.CheckWorkerWithin.String() },
		},
		{
			Name: "no-worker-notice", Env: "KOLLEKTIV_NO_WORKER_NOTICE", Default: "5s",
			Usage: "how long ingest --wait and sources watch go without progress before saying that no worker is alive",
			set:   durationSetter(func(c *Config) *time.Duration { return &c.NoWorkerNotice }),
			get:   func(c *Config) string { return c.NoWorkerNotice.String() },
		},
		{
			Name: "user", Env: "KOLLEKTIV_USER", Default: "local",
			Usage: "user that owns what the CLI ingests",
			set:   nonEmpty(func(c *Config) *string { return &c.User }),
			get:   func(c *Config) string { return c.User },
		},
		{
			Name: "local-postgres", Env: "KOLLEKTIV_LOCAL_POSTGRES", Default: "auto",
			Usage: "start a private PostgreSQL in the data directory: auto (when DATABASE_URL is unset and nothing answers on 127.0.0.1:5432), always (when DATABASE_URL is unset) or never",
			set:   oneOf(func(c *Config) *string { return &c.LocalPostgres }, "auto", "always", "never"),
			get:   func(c *Config) string { return c.LocalPostgres },
		},
		{
			Name: "data-dir", Env: "KOLLEKTIV_DATA_DIR", Default: "",
			Usage: "directory of Kollektiv's own files (the private PostgreSQL); empty means /var/lib/kollektiv for root, else ~/.local/share/kollektiv",
			set:   func(c *Config, v string) error { c.DataDir = v; return nil },
			get:   func(c *Config) string { return c.DataDir },
		},
		{
			Name: "embedder", Env: "KOLLEKTIV_EMBEDDER", Default: "hashing",
			Usage: "embedding provider: hashing (offline, lexical) or openai (any OpenAI-compatible API)",
			set:   oneOf(func(c *Config) *string { return &c.Embedder }, "hashing", "openai"),
			get:   func(c *Config) string { return c.Embedder },
		},
		{
			Name: "embedding-dimensions", Env: "KOLLEKTIV_EMBEDDING_DIMENSIONS", Default: "0",
			Usage: "vector size; 0 means the provider's default (384 for hashing)",
			set:   intSetter(func(c *Config) *int { return &c.EmbeddingDimensions }, 0),
			get:   func(c *Config) string { return strconv.Itoa(c.EmbeddingDimensions) },
		},
		{
			Name: "hashing-version", Env: "KOLLEKTIV_HASHING_VERSION", Default: "2",
			Usage: "method of the hashing embedder: 2 (words, pairs, character n-grams) or 1 (words and pairs, hashing-v1 vectors)",
			set: func(c *Config, v string) error {
				if v != "1" && v != "2" {
					return fmt.Errorf("%q is not 1 or 2", v)
				}
				c.HashingVersion, _ = strconv.Atoi(v)
				return nil
			},
			get: func(c *Config) string { return strconv.Itoa(c.HashingVersion) },
		},
		{
			Name: "embedding-model", Env: "KOLLEKTIV_EMBEDDING_MODEL", Default: "text-embedding-3-small",
			Usage: "model of the openai embedder",
			set:   nonEmpty(func(c *Config) *string { return &c.EmbeddingModel }),
			get:   func(c *Config) string { return c.EmbeddingModel },
		},
		{
			Name: "openai-base-url", Env: "KOLLEKTIV_OPENAI_BASE_URL", Default: "https://api.openai.com/v1",
			Usage: "root of the OpenAI-compatible API (embeddings and chat)",
			set:   nonEmpty(func(c *Config) *string { return &c.OpenAIBaseURL }),
			get:   func(c *Config) string { return c.OpenAIBaseURL },
		},
		{
			Name: "openai-api-key", Env: "OPENAI_API_KEY", Default: "", Secret: true,
			Usage: "key for the OpenAI-compatible API",
			set:   func(c *Config, v string) error { c.OpenAIAPIKey = v; return nil },
			get:   func(c *Config) string { return c.OpenAIAPIKey },
		},
		{
			Name: "summarizer", Env: "KOLLEKTIV_SUMMARIZER", Default: "extractive",
			Usage: "summary provider: extractive (offline), anthropic or openai",
			set:   oneOf(func(c *Config) *string { return &c.Summarizer }, "extractive", "anthropic", "openai"),
			get:   func(c *Config) string { return c.Summarizer },
		},
		{
			Name: "summary-model", Env: "KOLLEKTIV_SUMMARY_MODEL", Default: "",
			Usage: "model of the anthropic or openai summarizer; empty means its default",
			set:   func(c *Config, v string) error { c.SummaryModel = v; return nil },
			get:   func(c *Config) string { return c.SummaryModel },
		},
		{
			Name: "anthropic-api-key", Env: "ANTHROPIC_API_KEY", Default: "", Secret: true,
			Usage: "key for the Anthropic Messages API",
			set:   func(c *Config, v string) error { c.AnthropicAPIKey = v; return nil },
			get:   func(c *Config) string { return c.AnthropicAPIKey },
		},
		{
			Name: "db-max-conns", Env: "KOLLEKTIV_DB_MAX_CONNS", Default: "0",
			Usage: "most database connections of one process; 0 sizes the pool for the jobs' transactions (4 a CPU, at least 16, at most the workers), River, the API, and at most half the connections the server has free",
			set:   intSetter(func(c *Config) *int { return &c.DBMaxConns }, 0),
			get:   func(c *Config) string { return strconv.Itoa(c.DBMaxConns) },
		},
		{
			Name: "poll-only", Env: "KOLLEKTIV_POLL_ONLY", Default: "false",
			Usage: "River polls for jobs and leadership instead of LISTEN: for workers behind PgBouncer in transaction mode",
			set:   boolSetter(func(c *Config) *bool { return &c.PollOnly }),
			get:   func(c *Config) string { return strconv.FormatBool(c.PollOnly) },
		},
		{
			Name: "default-workers", Env: "KOLLEKTIV_DEFAULT_WORKERS", Default: "10",
			Usage: "concurrency of the default (orchestration and events) queue",
			set:   intSetter(func(c *Config) *int { return &c.DefaultWorkers }, 1),
			get:   func(c *Config) string { return strconv.Itoa(c.DefaultWorkers) },
		},
		{
			Name: "chunking-workers", Env: "KOLLEKTIV_CHUNKING_WORKERS", Default: "0",
			Usage: "concurrency of the CPU-bound chunking queue; 0 means the number of CPUs",
			set:   intSetter(func(c *Config) *int { return &c.ChunkingWorkers }, 0),
			get:   func(c *Config) string { return strconv.Itoa(c.ChunkingWorkers) },
		},
		{
			Name: "embedding-workers", Env: "KOLLEKTIV_EMBEDDING_WORKERS", Default: "4",
			Usage: "concurrency of the embedding queue",
			set:   intSetter(func(c *Config) *int { return &c.EmbeddingWorkers }, 1),
			get:   func(c *Config) string { return strconv.Itoa(c.EmbeddingWorkers) },
		},
		{
			Name: "fetch-cooldown", Env: "KOLLEKTIV_FETCH_COOLDOWN", Default: "10ms",
			Usage: "least time between two job fetches of one queue of one process; raise it when many worker processes share the database",
			set:   durationSetter(func(c *Config) *time.Duration { return &c.FetchCooldown }),
			get:   func(c *Config) string { return c.FetchCooldown.String() },
		},
		{
			Name: "commit-transactions", Env: "KOLLEKTIV_COMMIT_TRANSACTIONS", Default: "2",
			Usage: "most transactions one worker process keeps open at once to end chunking and embedding jobs; jobs that finish while all are open share the next one",
			set:   intSetter(func(c *Config) *int { return &c.CommitTransactions }, 1),
			get:   func(c *Config) string { return strconv.Itoa(c.CommitTransactions) },
		},
		{
			Name: "job-timeout", Env: "KOLLEKTIV_JOB_TIMEOUT", Default: "1m",
			Usage: "time limit of one attempt of the orchestration and event jobs",
			set:   durationSetter(func(c *Config) *time.Duration { return &c.JobTimeout }),
			get:   func(c *Config) string { return c.JobTimeout.String() },
		},
		{
			Name: "chunk-timeout", Env: "KOLLEKTIV_CHUNK_TIMEOUT", Default: "5m",
			Usage: "time limit of one attempt of chunk_documents_batch",
			set:   durationSetter(func(c *Config) *time.Duration { return &c.ChunkTimeout }),
			get:   func(c *Config) string { return c.ChunkTimeout.String() },
		},
		{
			Name: "embed-timeout", Env: "KOLLEKTIV_EMBED_TIMEOUT", Default: "5m",
			Usage: "time limit of one attempt of persist_chunks",
			set:   durationSetter(func(c *Config) *time.Duration { return &c.EmbedTimeout }),
			get:   func(c *Config) string { return c.EmbedTimeout.String() },
		},
		{
			Name: "summary-timeout", Env: "KOLLEKTIV_SUMMARY_TIMEOUT", Default: "5m",
			Usage: "time limit of one attempt of generate_summary",
			set:   durationSetter(func(c *Config) *time.Duration { return &c.SummaryTimeout }),
			get:   func(c *Config) string { return c.SummaryTimeout.String() },
		},
		{
			Name: "rescue-after", Env: "KOLLEKTIV_RESCUE_AFTER", Default: "0s",
			Usage: "how long after its attempt started a job still running is handed back (its worker died); 0 means the longest timeout plus 1m; must exceed every job timeout in worker processes. River's rescuer looks every 30s, so a killed worker's job runs again within rescue-after plus 30s",
			set:   nonNegativeDuration(func(c *Config) *time.Duration { return &c.RescueAfter }),
			get:   func(c *Config) string { return c.RescueAfter.String() },
		},
		{
			Name: "soft-stop-timeout", Env: "KOLLEKTIV_SOFT_STOP_TIMEOUT", Default: "30s",
			Usage: "how long a stopping worker lets running jobs finish before cancelling them",
			set:   durationSetter(func(c *Config) *time.Duration { return &c.SoftStopTimeout }),
			get:   func(c *Config) string { return c.SoftStopTimeout.String() },
		},
		{
			Name: "max-attempts", Env: "KOLLEKTIV_MAX_ATTEMPTS", Default: "10",
			Usage: "how many times a job is tried before it is discarded",
			set:   intSetter(func(c *Config) *int { return &c.MaxAttempts }, 1),
			get:   func(c *Config) string { return strconv.Itoa(c.MaxAttempts) },
		},
		{
			Name: "retry-base", Env: "KOLLEKTIV_RETRY_BASE", Default: "1s",
			Usage: "first retry delay, doubled at each attempt with jitter, up to 5m",
			set:   durationSetter(func(c *Config) *time.Duration { return &c.RetryBase }),
			get:   func(c *Config) string { return c.RetryBase.String() },
		},
		{
			Name: "fan-in-safety-interval", Env: "KOLLEKTIV_FAN_IN_SAFETY_INTERVAL", Default: "30s",
			Usage: "how often the completion check looks again while batch jobs are unfinished",
			set:   durationSetter(func(c *Config) *time.Duration { return &c.FanInSafetyInterval }),
			get:   func(c *Config) string { return c.FanInSafetyInterval.String() },
		},
		{
			Name: "progress-interval", Env: "KOLLEKTIV_PROGRESS_INTERVAL", Default: "300ms",
			Usage: "least time between two progress events of a source",
			set:   durationSetter(func(c *Config) *time.Duration { return &c.ProgressInterval }),
			get:   func(c *Config) string { return c.ProgressInterval.String() },
		},
		{
			Name: "batch-documents", Env: "KOLLEKTIV_BATCH_DOCUMENTS", Default: "200",
			Usage: "most documents one chunking job takes",
			set:   intSetter(func(c *Config) *int { return &c.BatchDocuments }, 1),
			get:   func(c *Config) string { return strconv.Itoa(c.BatchDocuments) },
		},
		{
			Name: "batch-bytes", Env: "KOLLEKTIV_BATCH_BYTES", Default: "8388608",
			Usage: "most content bytes one chunking job loads",
			set:   intSetter(func(c *Config) *int { return &c.BatchBytes }, 1024),
			get:   func(c *Config) string { return strconv.Itoa(c.BatchBytes) },
		},
		{
			Name: "bulk-index-min-bytes", Env: "KOLLEKTIV_BULK_INDEX_MIN_BYTES", Default: "2097152",
			Usage: "size of a new source from which its vectors get their own HNSW index, built in bulk after its last batch; 0 turns it off",
			set:   intSetter(func(c *Config) *int { return &c.BulkIndexMinBytes }, 0),
			get:   func(c *Config) string { return strconv.Itoa(c.BulkIndexMinBytes) },
		},
		{
			Name: "index-build-memory", Env: "KOLLEKTIV_INDEX_BUILD_MEMORY", Default: "1GB",
			Usage: "PostgreSQL maintenance_work_mem for building a bulk index (kB, MB or GB)",
			set: func(c *Config, v string) error {
				if !memoryPattern.MatchString(v) {
					return fmt.Errorf("%q is not a PostgreSQL memory size (examples: 256MB, 1GB)", v)
				}
				c.IndexBuildMemory = v
				return nil
			},
			get: func(c *Config) string { return c.IndexBuildMemory },
		},
		{
			Name: "index-build-timeout", Env: "KOLLEKTIV_INDEX_BUILD_TIMEOUT", Default: "5m",
			Usage: "how long building a source's bulk index may take",
			set:   durationSetter(func(c *Config) *time.Duration { return &c.IndexBuildTimeout }),
			get:   func(c *Config) string { return c.IndexBuildTimeout.String() },
		},
		{
			Name: "embed-batch-chunks", Env: "KOLLEKTIV_EMBED_BATCH_CHUNKS", Default: "256",
			Usage: "most chunks one embedding job takes",
			set:   intSetter(func(c *Config) *int { return &c.EmbedBatchChunks }, 1),
			get:   func(c *Config) string { return strconv.Itoa(c.EmbedBatchChunks) },
		},
		{
			Name: "embed-batch-tokens", Env: "KOLLEKTIV_EMBED_BATCH_TOKENS", Default: "50000",
			Usage: "most tokens one embedding job takes",
			set:   intSetter(func(c *Config) *int { return &c.EmbedBatchTokens }, 1),
			get:   func(c *Config) string { return strconv.Itoa(c.EmbedBatchTokens) },
		},
		{
			Name: "fair-share-documents", Env: "KOLLEKTIV_FAIR_SHARE_DOCUMENTS", Default: "200",
			Usage: "queued documents of one user per priority level: a user's long backlog goes behind other users' new sources",
			set:   intSetter(func(c *Config) *int { return &c.FairShareDocuments }, 1),
			get:   func(c *Config) string { return strconv.Itoa(c.FairShareDocuments) },
		},
		{
			Name: "chunk-target-tokens", Env: "KOLLEKTIV_CHUNK_TARGET_TOKENS", Default: "400",
			Usage: "size a chunk aims for, in cl100k tokens",
			set:   intSetter(func(c *Config) *int { return &c.ChunkTargetTokens }, 16),
			get:   func(c *Config) string { return strconv.Itoa(c.ChunkTargetTokens) },
		},
		{
			Name: "chunk-max-tokens", Env: "KOLLEKTIV_CHUNK_MAX_TOKENS", Default: "512",
			Usage: "size no chunk exceeds, header path included, in cl100k tokens",
			set:   intSetter(func(c *Config) *int { return &c.ChunkMaxTokens }, 32),
			get:   func(c *Config) string { return strconv.Itoa(c.ChunkMaxTokens) },
		},
		{
			Name: "http-addr", Env: "KOLLEKTIV_HTTP_ADDR", Default: ":8080",
			Usage: "address the HTTP API listens on",
			set:   nonEmpty(func(c *Config) *string { return &c.HTTPAddr }),
			get:   func(c *Config) string { return c.HTTPAddr },
		},
		{
			Name: "metrics-addr", Env: "KOLLEKTIV_METRICS_ADDR", Default: "",
			Usage: "address of a /metrics listener of its own (for workers, which have no API); empty: none",
			set:   func(c *Config, v string) error { c.MetricsAddr = v; return nil },
			get:   func(c *Config) string { return c.MetricsAddr },
		},
		{
			Name: "api-max-body-bytes", Env: "KOLLEKTIV_API_MAX_BODY_BYTES", Default: "33554432",
			Usage: "largest request body the API accepts (413 above)",
			set:   intSetter(func(c *Config) *int { return &c.APIMaxBodyBytes }, 1024),
			get:   func(c *Config) string { return strconv.Itoa(c.APIMaxBodyBytes) },
		},
		{
			Name: "api-max-documents", Env: "KOLLEKTIV_API_MAX_DOCUMENTS", Default: "1000",
			Usage: "most documents one API request may send (413 above)",
			set:   intSetter(func(c *Config) *int { return &c.APIMaxDocuments }, 1),
			get:   func(c *Config) string { return strconv.Itoa(c.APIMaxDocuments) },
		},
		{
			Name: "api-max-crawl-pages", Env: "KOLLEKTIV_API_MAX_CRAWL_PAGES", Default: "500",
			Usage: "ceiling of the page limit of a crawl requested through the API",
			set:   intSetter(func(c *Config) *int { return &c.APIMaxCrawlPages }, 1),
			get:   func(c *Config) string { return strconv.Itoa(c.APIMaxCrawlPages) },
		},
		{
			Name: "api-rate-limit", Env: "KOLLEKTIV_API_RATE_LIMIT", Default: "20",
			Usage: "requests per second each API key may make, sustained (429 above)",
			set:   intSetter(func(c *Config) *int { return &c.APIRateLimit }, 1),
			get:   func(c *Config) string { return strconv.Itoa(c.APIRateLimit) },
		},
		{
			Name: "api-rate-burst", Env: "KOLLEKTIV_API_RATE_BURST", Default: "40",
			Usage: "requests an API key may make at once above its rate",
			set:   intSetter(func(c *Config) *int { return &c.APIRateBurst }, 1),
			get:   func(c *Config) string { return strconv.Itoa(c.APIRateBurst) },
		},
		{
			Name: "crawl-allow-private", Env: "KOLLEKTIV_CRAWL_ALLOW_PRIVATE", Default: "false",
			Usage: "let crawls reach private and loopback addresses",
			set:   boolSetter(func(c *Config) *bool { return &c.CrawlAllowPrivate }),
			get:   func(c *Config) string { return strconv.FormatBool(c.CrawlAllowPrivate) },
		},
		{
			Name: "console-session-ttl", Env: "KOLLEKTIV_CONSOLE_SESSION_TTL", Default: "12h",
			Usage: "how long a sign-in to the web console lasts (never beyond its API key's expiry)",
			set:   durationSetter(func(c *Config) *time.Duration { return &c.ConsoleSessionTTL }),
			get:   func(c *Config) string { return c.ConsoleSessionTTL.String() },
		},
		{
			Name: "console-allow-http", Env: "KOLLEKTIV_CONSOLE_ALLOW_HTTP", Default: "false",
			Usage: "set the console's session cookie without Secure for a browser on this machine reaching a loopback address over plain HTTP (for browsers that keep no Secure cookie from http://localhost); elsewhere it stays Secure",
			set:   boolSetter(func(c *Config) *bool { return &c.ConsoleAllowHTTP }),
			get:   func(c *Config) string { return strconv.FormatBool(c.ConsoleAllowHTTP) },
		},
		{
			Name: "webhook-urls", Env: "KOLLEKTIV_WEBHOOK_URLS", Default: "",
			Usage: "comma-separated URLs that receive every event as a signed POST",
			set: func(c *Config, v string) error {
				c.WebhookURLs = nil
				for _, u := range strings.Split(v, ",") {
					if u = strings.TrimSpace(u); u == "" {
						continue
					}
					if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
						return fmt.Errorf("%q is not an http(s) URL", u)
					}
					c.WebhookURLs = append(c.WebhookURLs, u)
				}
				return nil
			},
			get: func(c *Config) string { return strings.Join(c.WebhookURLs, ",") },
		},
		{
			Name: "webhook-secret", Env: "KOLLEKTIV_WEBHOOK_SECRET", Default: "", Secret: true,
			Usage: "key of the X-Kollektiv-Signature HMAC-SHA256 of webhook bodies",
			set:   func(c *Config, v string) error { c.WebhookSecret = v; return nil },
			get:   func(c *Config) string { return c.WebhookSecret },
		},
	}
}

// memoryPattern matches the memory sizes index-build-memory accepts.
var memoryPattern = regexp.MustCompile(`^[1-9][0-9]*(kB|MB|GB)$`)

// boolSetter parses true or false into a field.
func boolSetter(field func(*Config) *bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
		*field(c) = b
		return nil
	}
}

func durationSetter(field func(*Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%q is not a duration (examples: 30s, 5m, 1h)", v)
		}
		if d <= 0 {
			return fmt.Errorf("%q must be positive", v)
		}
		*field(c) = d
		return nil
	}
}

func nonNegativeDuration(field func(*Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			return fmt.Errorf("%q is not a duration of zero or more (examples: 0s, 30s, 5m)", v)
		}
		*field(c) = d
		return nil
	}
}

func intSetter(field func(*Config) *int, minimum int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("%q is not a whole number", v)
		}
		if n < minimum {
			return fmt.Errorf("%d is below the minimum %d", n, minimum)
		}
		*field(c) = n
		return nil
	}
}

func nonEmpty(field func(*Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error {
		if strings.TrimSpace(v) == "" {
			return errors.New("must not be empty")
		}
		*field(c) = v
		return nil
	}
}

func oneOf(field func(*Config) *string, valid ...string) func(*Config, string) error {
	return func(c *Config, v string) error {
		if !slices.Contains(valid, v) {
			return fmt.Errorf("%q is not one of %s", v, strings.Join(valid, ", "))
		}
		*field(c) = v
		return nil
	}
}

// RescueStuckJobsAfter is RescueAfter, or when zero the longest job timeout
// plus a minute: a job is never rescued while its attempt may still run.
func (c *Config) RescueStuckJobsAfter() time.Duration {
	if c.RescueAfter > 0 {
		return c.RescueAfter
	}
	longest := c.jobTimeouts()[0]
	return longest.value + time.Minute
}

// namedTimeout is one job timeout setting and its value.
type namedTimeout struct {
	name  string
	value time.Duration
}

// jobTimeouts returns every setting that bounds a job's attempt, longest
// first (ties in table order).
func (c *Config) jobTimeouts() []namedTimeout {
	timeouts := []namedTimeout{
		{"chunk-timeout", c.ChunkTimeout},
		{"embed-timeout", c.EmbedTimeout},
		{"summary-timeout", c.SummaryTimeout},
		{"index-build-timeout", c.IndexBuildTimeout},
		{"job-timeout", c.JobTimeout},
	}
	slices.SortStableFunc(timeouts, func(a, b namedTimeout) int { return cmp.Compare(b.value, a.value) })
	return timeouts
}

// Validate checks the settings every process uses against each other.
// Settings only workers use are checked by ValidateWorker.
func (c *Config) Validate() error {
	if c.ChunkTargetTokens > c.ChunkMaxTokens {
		return fmt.Errorf("chunk-target-tokens %d exceeds chunk-max-tokens %d", c.ChunkTargetTokens, c.ChunkMaxTokens)
	}
	return nil
}

// ValidateWorker checks the settings of a process that runs job workers
// (serve, worker, bench): a rescue-after at or below a job timeout would
// hand back jobs still running. A client (ingest, search, api) does not run
// jobs and does not call it. The error names every timeout involved.
func (c *Config) ValidateWorker() error {
	timeouts := c.jobTimeouts()
	if c.RescueAfter == 0 || c.RescueAfter > timeouts[0].value {
		return nil
	}
	parts := make([]string, len(timeouts))
	for i, t := range timeouts {
		parts[i] = t.name + " " + FormatDuration(t.value)
	}
	return fmt.Errorf("rescue-after %s must exceed the longest job timeout: %s (a job still running would be handed back; raise rescue-after above %s, lower those timeouts, or set rescue-after to 0 for the longest timeout plus 1m)",
		FormatDuration(c.RescueAfter), strings.Join(parts, ", "), FormatDuration(timeouts[0].value))
}

// FormatDuration writes d as people write it: 5m, 1h30m, 25s, 300ms,
// without time.Duration's trailing zero units (5m0s).
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// Load builds a Config from the defaults and the environment (getenv is
// os.Getenv outside tests). Flags bound with BindFlags override it later.
func Load(getenv func(string) string) (*Config, error) {
	c := &Config{origin: map[string]string{}}
	var errs []error
	for _, s := range Settings() {
		value, origin := s.Default, "default"
		if v := getenv(s.Env); v != "" {
			value, origin = v, "env"
		}
		if err := s.set(c, value); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.Env, err))
			continue
		}
		c.origin[s.Name] = origin
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("invalid configuration: %w", errors.Join(errs...))
	}
	return c, nil
}

// WithDefaults returns a copy of c with every unset setting at its default,
// the one place defaults are filled: a setting is unset when it holds its
// zero value and that value is not one the setting accepts (a zero
// duration, count or name). A zero that the setting accepts keeps its
// documented meaning: bulk-index-min-bytes 0 turns bulk indexes off,
// rescue-after 0 means the longest timeout plus 1m, embedding-dimensions 0
// the provider's size. chunking-workers 0 becomes the number of CPUs.
// A Config from Load is complete already; WithDefaults completes one built
// as a literal (tests, embedding programs), and the packages that take
// settings from it (app, jobs, api) declare no defaults of their own.
func (c *Config) WithDefaults() *Config {
	out := *c
	out.origin = maps.Clone(c.origin)
	if out.origin == nil {
		out.origin = map[string]string{}
	}
	zero := &Config{}
	for _, s := range Settings() {
		value := s.get(&out)
		if value != s.get(zero) || s.set(&Config{}, value) == nil {
			continue // set, or a zero the setting accepts
		}
		if err := s.set(&out, s.Default); err != nil {
			panic(fmt.Sprintf("config: default %q of %s rejected: %v", s.Default, s.Name, err)) // TestEverySettingIsComplete
		}
		if out.origin[s.Name] == "" {
			out.origin[s.Name] = "default"
		}
	}
	if out.ChunkingWorkers == 0 {
		out.ChunkingWorkers = runtime.NumCPU()
	}
	return &out
}

// Defaults returns every setting at its table default, nothing read from
// the environment, chunking-workers resolved: what packages that take
// settings (jobs, api) fill their unset fields from.
func Defaults() *Config { return MustLoadDefaults().WithDefaults() }

// MustLoadDefaults returns the configuration with every setting at its
// default, ignoring the environment. For tests.
func MustLoadDefaults() *Config {
	c, err := Load(func(string) string { return "" })
	if err != nil {
		panic(err)
	}
	return c
}

// BindFlags registers the named settings as flags on fs (all settings when
// names is empty); a flag given on the command line overrides the
// environment.
func (c *Config) BindFlags(fs *flag.FlagSet, names ...string) {
	for _, s := range Settings() {
		if len(names) > 0 && !slices.Contains(names, s.Name) {
			continue
		}
		usage := fmt.Sprintf("%s (env %s, default %q)", s.Usage, s.Env, s.Default)
		if s.Secret {
			usage = fmt.Sprintf("%s (env %s)", s.Usage, s.Env)
		}
		fs.Func(s.Name, usage, func(v string) error {
			if err := s.set(c, v); err != nil {
				return err
			}
			c.origin[s.Name] = "flag"
			return nil
		})
	}
}

// FromDefault reports whether the named setting still has its default
// value (neither environment nor flag set it).
func (c *Config) FromDefault(name string) bool { return c.origin[name] == "default" }

// SetDatabaseURL points the configuration at another database, noting where
// the URL came from (shown by Dump).
func (c *Config) SetDatabaseURL(url, origin string) {
	c.DatabaseURL = url
	c.origin["database-url"] = origin
}

// Environ returns every setting as an environment variable, NAME=value,
// so a child process (the worker that `kollektiv bench` starts) runs with
// this configuration.
func (c *Config) Environ() []string {
	settings := Settings()
	env := make([]string, 0, len(settings))
	for _, s := range settings {
		env = append(env, s.Env+"="+s.get(c))
	}
	return env
}

// Dump writes the effective settings as a table, secrets redacted.
func (c *Config) Dump(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SETTING\tENV\tVALUE\tFROM")
	for _, s := range Settings() {
		value := s.get(c)
		if s.Secret {
			value = redact(s.Name, value)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Name, s.Env, value, c.origin[s.Name])
	}
	return tw.Flush()
}

// Logger builds the process's logger from LogLevel and LogFormat.
func (c *Config) Logger(w io.Writer) *slog.Logger {
	if w == nil {
		w = os.Stderr
	}
	opts := &slog.HandlerOptions{Level: c.LogLevel, ReplaceAttr: durationsAsText}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// durationsAsText writes a duration as Go writes it ("30s", "1.5ms"), in
// JSON too, where slog would write a count of nanoseconds that nobody reads
// as a duration.
func durationsAsText(_ []string, a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindDuration {
		return slog.String(a.Key, a.Value.Duration().String())
	}
	return a
}

// MarkdownTable writes the settings table as README.md shows it.
func MarkdownTable(w io.Writer) error {
	if _, err := fmt.Fprintln(w, "| flag | variable | default | secret | what it sets |\n|---|---|---|---|---|"); err != nil {
		return err
	}
	for _, s := range Settings() {
		secret := ""
		if s.Secret {
			secret = "yes"
		}
		if _, err := fmt.Fprintf(w, "| `--%s` | `%s` | `%s` | %s | %s |\n", s.Name, s.Env, s.Default, secret, strings.ReplaceAll(s.Usage, "|", "\\|")); err != nil {
			return err
		}
	}
	return nil
}
