package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/kollektiv/kollektiv/internal/bench"
	"github.com/kollektiv/kollektiv/internal/config"
)

func benchCommand() command {
	return command{
		name:         "bench",
		usesDatabase: true,
		args:         "queue|ingest|latency|search",
		summary:      "measure throughput and latency against what Postgres and River can do alone",
		help: `
Runs one benchmark in databases of its own, created and migrated on the
server of --database-url and dropped after (--keep leaves them), and prints
a table (--json: one JSON object). Figures measured in the same run are
reported next to each other, with their ratio, because absolute numbers
drift on a shared machine; docs/BENCHMARKS.md explains each figure.

  queue    River's raw throughput for no-op jobs with the worker's queue
           settings, next to pipeline-shaped no-op work (fan-out, a
           transactional follow-up per batch, the pipeline's fan-in, a
           final job): --batches N, --runs K (medians).
  ingest   ingests --corpus DIR end to end (hashing embedder) with a
           ` + "`kollektiv worker`" + ` child process: wall time, documents/s,
           chunks/s, MB/s, time per stage, worker peak RSS; then the floor of
           the same documents (chunk and embed on all cores, one COPY, a bulk
           vector index build) and the ratio ingest/floor. --repeat N ingests
           the corpus N times over; --documents N keeps the first N.
  latency  the API and workers in this process: --runs one-document sources
           POSTed to /v1/sources and followed over SSE; p50/p95 of the last
           persist_chunks commit to chunks_generated, and of POST to completed.
  search   seeds --chunks N chunks made of --corpus DIR and times --queries
           hybrid searches: p50, p95, p99.

The worker settings (queues, batch sizes, timeouts) are read as by
` + "`kollektiv worker`" + `; the embedder is always hashing and the summarizer
extractive, so nothing leaves the machine.`,
		example: `
kollektiv bench queue --batches 500 --runs 3
kollektiv bench ingest --corpus ../shared/corpus --repeat 2 --runs 3 --json
kollektiv bench latency --runs 50
kollektiv bench search --corpus ../shared/corpus --chunks 100000`,
		settings: []string{
			"database-url", "local-postgres", "data-dir", "log-level", "log-format", "db-max-conns",
			"default-workers", "chunking-workers", "embedding-workers", "fetch-cooldown", "commit-transactions", "job-timeout", "chunk-timeout", "embed-timeout",
			"summary-timeout", "rescue-after", "soft-stop-timeout", "max-attempts", "retry-base", "fan-in-safety-interval",
			"progress-interval", "batch-documents", "batch-bytes", "embed-batch-chunks", "embed-batch-tokens",
			"chunk-target-tokens", "chunk-max-tokens",
		},
		flags: func(fs *flag.FlagSet, cfg *config.Config) func(context.Context, Env, []string) error {
			asJSON := fs.Bool("json", false, "print the report as one JSON object")
			keep := fs.Bool("keep", false, "keep the bench databases instead of dropping them")
			runs := fs.Int("runs", 0, "queue, ingest: runs to take the median of (default 1); latency: sources sent (default 50)")
			batches := fs.Int("batches", 500, "queue: batch jobs of the fan-out (the pipeline shape runs 2N+3 jobs)")
			fetchPoll := fs.Duration("fetch-poll-interval", 0, "queue: River's FetchPollInterval for every queue instead of the worker's (100ms for default, 1s for the others)")
			corpus := fs.String("corpus", "", "ingest, search: directory of documents")
			repeat := fs.Int("repeat", 1, "ingest: how many times the corpus is ingested over, as distinct documents")
			documents := fs.Int("documents", 0, "ingest: keep only the first N documents of the corpus; 0 keeps all")
			chunks := fs.Int("chunks", 100_000, "search: chunks in the collection")
			queries := fs.Int("queries", 1000, "search: timed queries")
			return func(ctx context.Context, env Env, args []string) error {
				if err := checkSubcommand(args, "queue", "ingest", "latency", "search"); err != nil {
					return err
				}
				if len(args) != 1 {
					return fmt.Errorf("%w: bench %s takes no arguments", errUsage, args[0])
				}
				logger := cfg.Logger(env.Stderr)
				var (
					report interface{ WriteTable(io.Writer) error }
					err    error
				)
				switch args[0] {
				case "queue":
					report, err = bench.Queue(ctx, bench.QueueOptions{
						Config: cfg, Batches: *batches, Runs: *runs, FetchPollInterval: *fetchPoll, Keep: *keep, Logger: logger,
					})
				case "ingest":
					if *corpus == "" {
						return fmt.Errorf("%w: ingest needs --corpus DIR", errUsage)
					}
					binary, exeErr := os.Executable()
					if exeErr != nil {
						return fmt.Errorf("error finding the kollektiv binary to run the worker: %w", exeErr)
					}
					report, err = bench.Ingest(ctx, bench.IngestOptions{
						Config: cfg, Corpus: *corpus, Documents: *documents, Repeat: *repeat, Runs: *runs,
						WorkerBinary: binary, Keep: *keep, Logger: logger,
					})
				case "latency":
					report, err = bench.Latency(ctx, bench.LatencyOptions{Config: cfg, Runs: *runs, Keep: *keep, Logger: logger})
				case "search":
					if *corpus == "" {
						return fmt.Errorf("%w: search needs --corpus DIR", errUsage)
					}
					report, err = bench.Search(ctx, bench.SearchOptions{Config: cfg, Corpus: *corpus, Chunks: *chunks, Queries: *queries, Keep: *keep, Logger: logger})
				}
				if err != nil {
					return err
				}
				if *asJSON {
					enc := json.NewEncoder(env.Stdout)
					enc.SetIndent("", "  ")
					return enc.Encode(report)
				}
				return report.WriteTable(env.Stdout)
			}
		},
	}
}
