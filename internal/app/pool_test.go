package app

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kollektiv/kollektiv/internal/config"
	"github.com/kollektiv/kollektiv/internal/content"
	"github.com/kollektiv/kollektiv/internal/dbtest"
	"github.com/kollektiv/kollektiv/internal/embed/embedtest"
	"github.com/kollektiv/kollektiv/internal/ingest"
	"github.com/kollektiv/kollektiv/internal/lifecycle"
	"github.com/kollektiv/kollektiv/internal/store"
	"github.com/kollektiv/kollektiv/internal/wait"
)

// TestPoolSize: the pool is sized for the transactions, not the workers,
// and capped by the connections the server has free (issue 16, item 4).
func TestPoolSize(t *testing.T) {
	t.Parallel()
	defaults := map[string]int{"default": 10, "chunking": 2, "embedding": 4, "crawling": 2}
	wide := map[string]int{"default": 200, "chunking": 200, "embedding": 200, "crawling": 2}
	quiet := &store.ServerConnections{Max: 100, Reserved: 3, InUse: 7}   // 90 free
	busy := &store.ServerConnections{Max: 100, Reserved: 3, InUse: 57}   // 40 free
	full := &store.ServerConnections{Max: 100, Reserved: 3, InUse: 95}   // 2 free
	large := &store.ServerConnections{Max: 1000, Reserved: 3, InUse: 10} // 987 free
	for _, tt := range []struct {
		name   string
		in     PoolInputs
		want   int
		reason string
	}{
		// 4 own + River 3 + 4 fetches + min(18 workers, 16 transactions).
		{"worker defaults", PoolInputs{Workers: defaults, CPUs: 2, Server: quiet}, 27, "within half"},
		// The same transactions for 602 workers: not 600 connections.
		{"200 workers a queue", PoolInputs{Workers: wide, CPUs: 2, Server: quiet}, 27, "602 workers"},
		{"200 workers a queue, more CPUs", PoolInputs{Workers: wide, CPUs: 16, Server: large}, 75, "64 transactions"},
		{"capped by the server", PoolInputs{Workers: wide, CPUs: 16, Server: busy}, 20, "capped at half the server's free connections (max_connections 100, 3 reserved, 57 in use: 40 free)"},
		{"a server almost full", PoolInputs{Workers: wide, CPUs: 2, Server: full}, poolFloor, "almost no connection free"},
		{"few workers", PoolInputs{Workers: map[string]int{"default": 1, "chunking": 1, "embedding": 1}, CPUs: 8, Server: quiet}, 13, "3 transactions of 3 workers"},
		{"serve", PoolInputs{Workers: defaults, API: true, CPUs: 2, Server: quiet}, 43, "the API"},
		{"api alone", PoolInputs{API: true, CPUs: 2, Server: quiet}, 20, "wanted 20"},
		{"the CLI", PoolInputs{CPUs: 2, Server: busy}, 4, "wanted 4"},
		{"server unknown", PoolInputs{Workers: wide, CPUs: 2}, 27, "could not be read"},
		{"override", PoolInputs{Workers: wide, CPUs: 2, Override: 50, Server: busy}, 50, "KOLLEKTIV_DB_MAX_CONNS"},
	} {
		got := tt.in.Size()
		if got.MaxConns != tt.want || !strings.Contains(got.Reason, tt.reason) {
			t.Errorf("%s: %d (%s), want %d saying %q", tt.name, got.MaxConns, got.Reason, tt.want, tt.reason)
		}
		if got.Workers > 0 && got.MaxConns >= got.Workers && got.Workers >= 100 {
			t.Errorf("%s: %d connections for %d workers", tt.name, got.MaxConns, got.Workers)
		}
	}
}

// gatedEmbeddings is an OpenAI-compatible /v1/embeddings that holds every
// request until want of them are in flight at once, then answers them all
// (and every later one at once).
type gatedEmbeddings struct {
	want    int
	mu      sync.Mutex
	flying  int
	most    int
	reached chan struct{}
}

func (g *gatedEmbeddings) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, ok := embedtest.ReadRequest(w, r)
	if !ok {
		return
	}
	g.mu.Lock()
	g.flying++
	g.most = max(g.most, g.flying)
	if g.flying == g.want {
		g.open()
	}
	g.mu.Unlock()
	select {
	case <-g.reached:
	case <-r.Context().Done():
	}
	g.mu.Lock()
	g.flying--
	g.mu.Unlock()
	embedtest.WriteResponse(w, req)
}

// open lets every request through; once is enough. Call it with mu held
// or after the server is done.
func (g *gatedEmbeddings) open() {
	select {
	case <-g.reached:
	default:
		close(g.reached)
	}
}

func (g *gatedEmbeddings) mostInFlight() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.most
}

// TestWorkerOf200PerQueue (issue 16, item 4): a worker of 200 workers a
// queue runs on a pool far smaller than its workers and completes an
// ingest. Its embedding jobs wait on a provider that answers only once
// more of them are waiting at once than the pool has connections, which
// can only happen if a job holds no connection while it embeds.
func TestWorkerOf200PerQueue(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cfg := config.MustLoadDefaults()
	cfg.DatabaseURL = dbtest.DatabaseURL(t)
	cfg.DefaultWorkers, cfg.ChunkingWorkers, cfg.EmbeddingWorkers = 200, 200, 200
	cfg.EmbedBatchChunks = 1 // an embedding job per chunk: many at once
	cfg.BatchDocuments = 5
	fake := &gatedEmbeddings{reached: make(chan struct{})}
	server := httptest.NewServer(fake)
	defer server.Close()
	defer func() { // a test that failed waiting must not leave requests held
		fake.mu.Lock()
		fake.open()
		fake.mu.Unlock()
	}()
	cfg.Embedder, cfg.OpenAIBaseURL, cfg.EmbeddingModel, cfg.EmbeddingDimensions = "openai", server.URL+"/v1", "fake-embedder", 8

	a, err := New(ctx, cfg, nil, Options{Worker: true})
	if err != nil {
		t.Fatal(err)
	}
	maxConns := a.Pool.Config().MaxConns
	if maxConns >= 200 {
		t.Fatalf("pool of %d connections for 200 workers a queue", maxConns)
	}
	fake.want = int(maxConns) + 8
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = a.Stop(context.WithoutCancel(ctx)) }()

	// Each document is one chunk, so one embedding job.
	docs := make([]content.Document, 2*fake.want)
	for i := range docs {
		if docs[i], err = content.PrepareDocument("", fmt.Sprintf("doc-%03d.md", i), fmt.Sprintf("# Page %d\n\nA short page, number %d.", i, i), content.PrepareOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	added, err := (&ingest.Service{Pool: a.Pool, River: a.River}).Add(ctx, ingest.AddParams{UserID: "alice", Kind: ingest.KindInline, Documents: docs})
	if err != nil {
		t.Fatal(err)
	}
	wait.For(t, 2*time.Minute, func() (bool, string) {
		source, err := a.Queries.GetSourceByID(ctx, added.Source.ID)
		if err != nil {
			t.Fatal(err)
		}
		if lifecycle.StageOf(source) == lifecycle.StageFailed {
			t.Fatalf("source failed: %v", *source.Error)
		}
		return lifecycle.StageOf(source) == lifecycle.StageCompleted, fmt.Sprintf("source at %s with %d chunks; %d embedding requests in flight at most, waiting for %d (pool of %d)",
			source.Stage, source.ChunkCount, fake.mostInFlight(), fake.want, maxConns)
	})
	var unembedded int
	if err := a.Pool.QueryRow(ctx, "SELECT count(*) FROM chunks WHERE source_id = $1 AND embedding IS NULL", added.Source.ID).Scan(&unembedded); err != nil || unembedded != 0 {
		t.Errorf("%d chunks without a vector at completed (%v)", unembedded, err)
	}
	t.Logf("pool of %d connections for 602 workers; %d embedding requests in flight at once", maxConns, fake.mostInFlight())
}
