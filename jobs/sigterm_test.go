package jobs_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/kollektiv/kollektiv/internal/content"
	"github.com/kollektiv/kollektiv/internal/dbtest"
	"github.com/kollektiv/kollektiv/internal/embed/embedtest"
	"github.com/kollektiv/kollektiv/internal/ingest"
	"github.com/kollektiv/kollektiv/internal/lifecycle"
	"github.com/kollektiv/kollektiv/internal/store"
	"github.com/kollektiv/kollektiv/internal/testbin"
)

// fakeEmbeddings speaks OpenAI's /v1/embeddings and holds every request
// until released, so a job is surely running when the worker is stopped.
type fakeEmbeddings struct {
	mu       sync.Mutex
	held     chan struct{}
	started  chan struct{}
	once     sync.Once
	requests int
}

func (f *fakeEmbeddings) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, ok := embedtest.ReadRequest(w, r)
	if !ok {
		return
	}
	f.mu.Lock()
	f.requests++
	f.mu.Unlock()
	f.once.Do(func() { close(f.started) })
	select {
	case <-f.held:
	case <-r.Context().Done():
		return
	}
	embedtest.WriteResponse(w, req)
}

// TestSIGTERMHandsBackRunningJobs stops a worker with SIGTERM while its
// embedding jobs are running: it exits within the soft-stop timeout, the
// jobs go back to the queue, and a new worker completes the source.
func TestSIGTERMHandsBackRunningJobs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts worker processes")
	}
	t.Parallel()
	ctx := context.Background()
	binary := testbin.Build(t)
	url := dbtest.DatabaseURL(t)
	pool, err := store.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	fake := &fakeEmbeddings{held: make(chan struct{}), started: make(chan struct{})}
	server := httptest.NewServer(fake)
	defer server.Close()

	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	var docs []content.Document
	for _, name := range []string{"a.md", "b.md", "c.md"} {
		docs = append(docs, content.Document{URL: name, Title: name, Content: guide(name, 2)})
	}
	added, err := (&ingest.Service{Pool: pool, River: rc}).Add(ctx, ingest.AddParams{UserID: "alice", Kind: ingest.KindInline, Documents: docs})
	if err != nil {
		t.Fatal(err)
	}

	env := append(os.Environ(), "DATABASE_URL="+url, "KOLLEKTIV_LOG_LEVEL=warn",
		"KOLLEKTIV_EMBEDDER=openai", "KOLLEKTIV_OPENAI_BASE_URL="+server.URL+"/v1",
		"KOLLEKTIV_EMBEDDING_MODEL=fake-embedder", "KOLLEKTIV_EMBEDDING_DIMENSIONS=8",
		"KOLLEKTIV_SOFT_STOP_TIMEOUT=1s", "KOLLEKTIV_FAN_IN_SAFETY_INTERVAL=1s", "KOLLEKTIV_RETRY_BASE=100ms")
	worker := exec.Command(binary, "worker")
	worker.Env = env
	if err := worker.Start(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-fake.started:
	case <-time.After(60 * time.Second):
		_ = worker.Process.Kill()
		t.Fatal("no embedding request within a minute")
	}

	stopAt := time.Now()
	if err := worker.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := worker.Wait(); err != nil {
		t.Fatalf("worker exited with %v after SIGTERM", err)
	}
	if took := time.Since(stopAt); took > 15*time.Second {
		t.Fatalf("worker took %s to stop with a 1s soft-stop timeout", took)
	}
	var running, waiting int
	if err := pool.QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE state = 'running'),
		       count(*) FILTER (WHERE state IN ('available', 'retryable', 'scheduled'))
		FROM river_job WHERE kind = 'persist_chunks'`).Scan(&running, &waiting); err != nil {
		t.Fatal(err)
	}
	if running != 0 || waiting == 0 {
		t.Fatalf("after SIGTERM: %d persist_chunks jobs running, %d waiting; want 0 running and the interrupted ones back in the queue", running, waiting)
	}

	close(fake.held)
	second := exec.Command(binary, "worker")
	second.Env = env
	if err := second.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = second.Process.Signal(syscall.SIGTERM); _ = second.Wait() })
	source := waitTerminal(t, &testBundle{pool: pool}, added.Source.ID)
	if source.Stage != string(lifecycle.StageCompleted) {
		t.Fatalf("source ended %s: %v", source.Stage, source.Error)
	}
	// The interrupted jobs ran again without having used an attempt.
	var maxAttempt int
	if err := pool.QueryRow(ctx, "SELECT max(attempt) FROM river_job WHERE kind = 'persist_chunks'").Scan(&maxAttempt); err != nil {
		t.Fatal(err)
	}
	fake.mu.Lock()
	requests := fake.requests
	fake.mu.Unlock()
	if maxAttempt != 1 || requests < 2 {
		t.Fatalf("persist_chunks ended at attempt %d after %d embedding requests; want attempt 1 and the interrupted requests made again", maxAttempt, requests)
	}
}
