package bench_test

import (
	"context"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kollektiv/kollektiv/internal/bench"
	"github.com/kollektiv/kollektiv/internal/cli"
	"github.com/kollektiv/kollektiv/internal/config"
	"github.com/kollektiv/kollektiv/internal/dbtest"
	"github.com/kollektiv/kollektiv/internal/testcorpus"
)

// workerEnv makes the test binary run the command line instead of the
// tests: the ingest benchmark starts it as its `kollektiv worker`, which
// spares the tests a build of the binary.
const workerEnv = "KOLLEKTIV_BENCH_TEST_RUN_CLI"

func TestMain(m *testing.M) {
	if os.Getenv(workerEnv) == "1" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := cli.Main(ctx, os.Args[1:], cli.Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv})
		stop()
		os.Exit(code)
	}
	// Every child of the tests is a worker.
	_ = os.Setenv(workerEnv, "1")
	goleak.VerifyTestMain(m)
}

// benchConfig is the default configuration pointed at the test server, on
// which each mode creates and drops its own databases.
func benchConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg := config.MustLoadDefaults()
	cfg.SetDatabaseURL(dbtest.ServerURL(t), "test")
	return cfg
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// TestQueue runs the queue benchmark with 100 batches (203 jobs of each
// workload) and checks the counts and that both workloads made progress.
func TestQueue(t *testing.T) {
	t.Parallel()
	// The worker's fetch cooldown (10ms; River's default of 100ms holds
	// the 2-worker chunking queue to 20 jobs a second), and a short poll.
	report, err := bench.Queue(testContext(t), bench.QueueOptions{
		Config: benchConfig(t), Batches: 100, FetchPollInterval: 100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if report.RawJobs != 203 || report.PipelineJobs != 203 || report.Runs != 1 || report.Batches != 100 {
		t.Errorf("counts: %+v", report)
	}
	if report.RawJobsPerSecond <= 0 || report.PipelinePerSecond <= 0 || report.Ratio <= 0 {
		t.Errorf("throughput: %+v", report)
	}
	if report.Queues["chunking"] < 1 || report.Queues["default"] != 10 || report.FetchCooldown != 0.01 {
		t.Errorf("queues: %v", report.Queues)
	}
	logTable(t, report)
}

// logTable checks that the report prints, and logs it for -v.
func logTable(t *testing.T, r interface{ WriteTable(io.Writer) error }) {
	t.Helper()
	var out strings.Builder
	if err := r.WriteTable(&out); err != nil {
		t.Fatal(err)
	}
	t.Logf("\n%s", out.String())
}

// TestIngest ingests 20 documents of the Rust book with a worker process
// and measures the floor of the same documents, then checks that both saw
// the same chunks, that every chunk had its vector at completed, and that
// the report has every stage and a worker's memory.
func TestIngest(t *testing.T) {
	t.Parallel()
	report, err := bench.Ingest(testContext(t), bench.IngestOptions{
		Config: benchConfig(t), Corpus: filepath.Join(testcorpus.Dir(t), "rust-book"), Documents: 20,
		WorkerBinary: os.Args[0],
	})
	if err != nil {
		t.Fatal(err)
	}
	if report.Documents != 20 || report.Chunks == 0 || report.Floor.Chunks != report.Chunks || report.Bytes == 0 {
		t.Errorf("counts: documents %d, chunks %d, floor chunks %d, bytes %d", report.Documents, report.Chunks, report.Floor.Chunks, report.Bytes)
	}
	if report.UnembeddedAtCompleted != 0 {
		t.Errorf("%d chunks were not searchable at completed", report.UnembeddedAtCompleted)
	}
	var stages []string
	for _, s := range report.Stages {
		stages = append(stages, s.To)
		if s.Seconds < 0 {
			t.Errorf("stage %s → %s took %v s", s.From, s.To, s.Seconds)
		}
	}
	if got := strings.Join(stages, ","); got != "created,processing_scheduled,chunks_generated,summary_generated,completed" {
		t.Errorf("stages: %s", got)
	}
	if report.WorkerPeakRSSMB <= 0 || report.Ratio <= 0 || report.ChunksPerSecond <= 0 || report.Floor.IndexSeconds <= 0 {
		t.Errorf("report: %+v", report)
	}
	logTable(t, report)
}

// TestLatency sends three one-document sources through the API and checks
// that every run was measured to completed.
func TestLatency(t *testing.T) {
	t.Parallel()
	report, err := bench.Latency(testContext(t), bench.LatencyOptions{Config: benchConfig(t), Runs: 3})
	if err != nil {
		t.Fatal(err)
	}
	// A run whose chunks_generated was stored before its stream opened
	// has no commit sample; the pipeline takes several jobs, the stream
	// one request, so that is rare.
	if report.Runs != 3 || report.CommitSamples > 3 {
		t.Errorf("samples: %+v", report)
	}
	if report.PostToCompletedP50 <= 0 || report.PostToCompletedP95 < report.PostToCompletedP50 {
		t.Errorf("POST to completed: %+v", report)
	}
	if report.CommitSamples > 0 && (report.CommitToEventP50 <= 0 || report.CommitToEventP95 < report.CommitToEventP50) {
		t.Errorf("commit to event: %+v", report)
	}
	logTable(t, report)
}

// TestSearch seeds 500 chunks and times 50 searches, checking the counts
// and that searches find something.
func TestSearch(t *testing.T) {
	t.Parallel()
	report, err := bench.Search(testContext(t), bench.SearchOptions{
		Config: benchConfig(t), Corpus: filepath.Join(testcorpus.Dir(t), "rust-book"), Chunks: 500, Queries: 50,
	})
	if err != nil {
		t.Fatal(err)
	}
	if report.Chunks != 500 || report.Queries != 50 || report.Documents == 0 {
		t.Errorf("counts: %+v", report)
	}
	if report.HitsPerQuery <= 0 || report.HitsPerQuery > 10 || report.P50 <= 0 || report.P95 < report.P50 || report.P99 < report.P95 {
		t.Errorf("searches: %+v", report)
	}
	logTable(t, report)
}
