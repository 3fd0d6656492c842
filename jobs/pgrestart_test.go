package jobs_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/kollektiv/kollektiv/internal/ingest"
	"github.com/kollektiv/kollektiv/internal/localpg"
	"github.com/kollektiv/kollektiv/internal/store"
	"github.com/kollektiv/kollektiv/internal/testbin"
)

// TestPostgresRestartMidIngest restarts the PostgreSQL server (a cluster the
// test owns) while two workers ingest: when the ingest's progress crosses a
// point seeded by KOLLEKTIV_CRASH_SEED (between 5% and 60% of its documents
// and chunks), never after a sleep. The source still completes with exactly
// the expected chunks and each stage event once, and no job is left.
func TestPostgresRestartMidIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("starts its own PostgreSQL server")
	}
	t.Parallel()
	ctx := context.Background()
	seed := crashEnv(t, crashSeedEnv, rand.Uint64()) //nolint:gosec // a seed, logged for replay
	t.Logf("%s=%d", crashSeedEnv, seed)
	rng := rand.New(rand.NewPCG(seed, 9)) //nolint:gosec // a seeded, repeatable schedule
	dir, err := os.MkdirTemp("", "kollektiv-restart-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil { //nolint:gosec // the server's user must traverse it
		t.Fatal(err)
	}
	server, err := localpg.Ensure(ctx, filepath.Join(dir, "postgres"))
	if errors.Is(err, localpg.ErrNoBinaries) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = server.Stop(context.Background()); _ = os.RemoveAll(dir) })
	url := server.URL("kollektiv")
	binary := testbin.Build(t)
	env := append(os.Environ(), "DATABASE_URL="+url, "KOLLEKTIV_LOG_LEVEL=warn",
		"KOLLEKTIV_FAN_IN_SAFETY_INTERVAL=2s", "KOLLEKTIV_RETRY_BASE=200ms", "KOLLEKTIV_MAX_ATTEMPTS=25",
		"KOLLEKTIV_BATCH_DOCUMENTS=4", "KOLLEKTIV_EMBED_BATCH_CHUNKS=16")
	if out, err := runBinary(binary, env, "migrate", "up"); err != nil {
		t.Fatalf("migrate: %v\n%s", err, out)
	}

	pool, err := store.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	b := &testBundle{pool: pool}
	sources := []corpusSource{addCorpus(t, &ingest.Service{Pool: pool, River: rc}, "alice", "fastapi")}
	workers := startProcesses(t, binary, env, 2, "worker")

	// The restart takes the test's connections too, so nothing holds the
	// source back: one fault, before 60% of the work, lands on a running
	// ingest on any machine.
	seen := runFaults(t, b, sources, faultFractions(rng, 1, 0.05, 0.6), func(int) {
		if err := server.Restart(ctx); err != nil {
			t.Fatal(err)
		}
		pool.Reset() // the test's connections died with the server
	})
	restarted := time.Now()
	waitSourcesFinished(t, b, sources, 3*time.Minute)
	t.Logf("restart at progress %s; finished %s after it", fractions(seen), time.Since(restarted).Round(time.Millisecond))
	assertCompletedExactly(t, b, sources[0])
	assertNoJobUnfinished(t, b)
	workers.assertRunning()
}

func runBinary(binary string, env []string, args ...string) ([]byte, error) {
	cmd := exec.Command(binary, args...)
	cmd.Env = env
	return cmd.CombinedOutput()
}
