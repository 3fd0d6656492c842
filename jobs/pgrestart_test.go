package jobs_test

import (
	"bytes"
	"context"
	"errors"
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

	"github.com/kollektiv/kollektiv/internal/content"
	"github.com/kollektiv/kollektiv/internal/ingest"
	"github.com/kollektiv/kollektiv/internal/lifecycle"
	"github.com/kollektiv/kollektiv/internal/localpg"
	"github.com/kollektiv/kollektiv/internal/store"
	"github.com/kollektiv/kollektiv/internal/testbin"
	"github.com/kollektiv/kollektiv/internal/testcorpus"
)

// TestPostgresRestartMidIngest restarts the PostgreSQL server (a cluster the
// test owns) while two workers ingest: the source still completes with
// exactly the expected chunks and each stage event once.
func TestPostgresRestartMidIngest(t *testing.T) {
	if testing.Short() {
		t.Skip("starts its own PostgreSQL server")
	}
	t.Parallel()
	ctx := context.Background()
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
	docs, problems, err := content.LoadPath(ctx, filepath.Join(testcorpus.Dir(t), "fastapi"), content.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	added, err := (&ingest.Service{Pool: pool, River: rc}).Add(ctx, ingest.AddParams{UserID: "alice", Kind: ingest.KindFiles, URI: "fastapi", Documents: docs, Problems: problems})
	if err != nil {
		t.Fatal(err)
	}

	var workers []*exec.Cmd
	for range 2 {
		w := exec.Command(binary, "worker")
		w.Env = env
		if err := w.Start(); err != nil {
			t.Fatal(err)
		}
		workers = append(workers, w)
	}
	t.Cleanup(func() {
		for _, w := range workers {
			_ = w.Process.Kill()
			_ = w.Wait()
		}
	})

	// A client follows the source as `ingest --wait` does: it must ride
	// out the restart and end with the source.
	watch := exec.Command(binary, "sources", "watch", added.Source.ID.String())
	watch.Env = append(slices.Clone(env), "KOLLEKTIV_USER=alice")
	var watchOut, watchErr lockedBuffer
	watch.Stdout, watch.Stderr = &watchOut, &watchErr
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	watchDone := make(chan error, 1)
	go func() { watchDone <- watch.Wait() }()
	t.Cleanup(func() { _ = watch.Process.Kill() })

	// Restart once chunks are being written and the client has shown an
	// event.
	for waited := 0; ; waited++ {
		var chunks int
		if err := pool.QueryRow(ctx, "SELECT count(*) FROM chunks").Scan(&chunks); err != nil {
			t.Fatal(err)
		}
		if chunks > 0 && strings.Contains(watchOut.String(), "processing_scheduled") {
			break
		}
		if waited > 1200 {
			t.Fatal("no chunk written within a minute")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := server.Restart(ctx); err != nil {
		t.Fatal(err)
	}

	b := &testBundle{pool: pool}
	deadline := time.Now().Add(3 * time.Minute)
	var source store.Source
	for {
		source, err = store.New(pool).GetSourceByID(ctx, added.Source.ID)
		if err == nil && lifecycle.StageOf(source).Terminal() {
			if s := stageEvents(t, b, source.ID, 1); len(s) > 0 && lifecycle.Stage(s[len(s)-1]).Terminal() {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("source is %s 3 minutes after the restart (%v)", source.Stage, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if source.Stage != string(lifecycle.StageCompleted) {
		t.Fatalf("source ended %s: %v", source.Stage, source.Error)
	}
	select {
	case err := <-watchDone:
		if err != nil || strings.Count(watchOut.String(), "completed") != 1 {
			t.Fatalf("sources watch across the restart: %v\nstdout:\n%s\nstderr:\n%s", err, watchOut.String(), watchErr.String())
		}
		t.Logf("sources watch exited 0 after the restart; stderr: %q", watchErr.String())
	case <-time.After(time.Minute):
		t.Fatalf("sources watch still running a minute after the source completed; stdout:\n%s\nstderr:\n%s", watchOut.String(), watchErr.String())
	}
	if got := stageEvents(t, b, source.ID, 1); !equal(got, wantStages) {
		t.Fatalf("stage events %v", got)
	}
	chunker, _ := content.NewChunker(content.ChunkerOptions{})
	want := 0
	for _, d := range docs {
		chunks, err := chunker.Chunk(content.DocumentID(source.ID, d.URL), d.Content)
		if err == nil {
			want += len(chunks)
		}
	}
	got := chunksOf(t, b, source.ID)
	if len(got) != want {
		t.Fatalf("%d chunks, want %d", len(got), want)
	}
	for _, c := range got {
		if !c.Embedded {
			t.Fatal("a chunk without a vector")
		}
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
