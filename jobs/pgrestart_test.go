package jobs_test

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/kollektiv/kollektiv/internal/ingest"
	"github.com/kollektiv/kollektiv/internal/localpg"
	"github.com/kollektiv/kollektiv/internal/store"
	"github.com/kollektiv/kollektiv/internal/testbin"
	"github.com/kollektiv/kollektiv/internal/wait"
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

	// A client follows the source as `ingest --wait` does: it must ride
	// out the restart and end with the source.
	watch := exec.Command(binary, "sources", "watch", sources[0].id.String())
	watch.Env = append(slices.Clone(env), "KOLLEKTIV_USER=alice")
	var watchOut, watchErr lockedBuffer
	watch.Stdout, watch.Stderr = &watchOut, &watchErr
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	watchDone := make(chan error, 1)
	go func() { watchDone <- watch.Wait() }()
	t.Cleanup(func() { _ = watch.Process.Kill() })

	// The restart takes the test's connections too, so nothing holds the
	// source back: one fault, before 60% of the work, lands on a running
	// ingest on any machine.
	seen := runFaults(t, b, sources, faultFractions(rng, 1, 0.05, 0.6), func(int) {
		wait.For(t, time.Minute, func() (bool, string) {
			return strings.Contains(watchOut.String(), "processing_scheduled"), "sources watch printed: " + watchOut.String()
		})
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
	select {
	case err := <-watchDone:
		if err != nil || strings.Count(watchOut.String(), "completed") != 1 {
			t.Fatalf("sources watch across the restart: %v\nstdout:\n%s\nstderr:\n%s", err, watchOut.String(), watchErr.String())
		}
		t.Logf("sources watch exited 0 after the restart; stderr: %q", watchErr.String())
	case <-time.After(time.Minute):
		t.Fatalf("sources watch still running a minute after the source completed; stdout:\n%s\nstderr:\n%s", watchOut.String(), watchErr.String())
	}
}

// lockedBuffer is a bytes.Buffer a test reads while a process writes it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func runBinary(binary string, env []string, args ...string) ([]byte, error) {
	cmd := exec.Command(binary, args...)
	cmd.Env = env
	return cmd.CombinedOutput()
}
