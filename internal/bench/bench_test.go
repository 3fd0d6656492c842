package bench_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/kollektiv/kollektiv/internal/bench"
	"github.com/kollektiv/kollektiv/internal/config"
	"github.com/kollektiv/kollektiv/internal/dbtest"
)

func TestMain(m *testing.M) {
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
	report, err := bench.Queue(testContext(t), bench.QueueOptions{Config: benchConfig(t), Batches: 100})
	if err != nil {
		t.Fatal(err)
	}
	if report.RawJobs != 203 || report.PipelineJobs != 203 || report.Runs != 1 || report.Batches != 100 {
		t.Errorf("counts: %+v", report)
	}
	if report.RawJobsPerSecond <= 0 || report.PipelinePerSecond <= 0 || report.Ratio <= 0 {
		t.Errorf("throughput: %+v", report)
	}
	if report.Queues["chunking"] < 1 || report.Queues["default"] != 10 {
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
