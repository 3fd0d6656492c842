package jobs_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kollektiv/kollektiv/internal/content"
	"github.com/kollektiv/kollektiv/internal/embed"
	"github.com/kollektiv/kollektiv/internal/ingest"
	"github.com/kollektiv/kollektiv/internal/lifecycle"
	"github.com/kollektiv/kollektiv/internal/provider"
)

// stormEmbeddings answers like OpenAI's /v1/embeddings after a storm of
// failures: 429 with Retry-After, then 500s, then success.
type stormEmbeddings struct {
	fake       *fakeEmbeddings
	rateLimits int32
	serverErrs int32
	calls      atomic.Int32
	status     int // when set, every request fails with it (401: a bad key)
}

func (s *stormEmbeddings) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := s.calls.Add(1)
	w.Header().Set("Content-Type", "application/json")
	switch {
	case s.status != 0:
		w.WriteHeader(s.status)
		_, _ = w.Write([]byte(`{"error":{"message":"Incorrect API key provided: sk-wrong.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`))
	case n <= s.rateLimits:
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(`{"error":{"message":"Rate limit reached","type":"requests","param":null,"code":"rate_limit_exceeded"}}`))
	case n <= s.rateLimits+s.serverErrs:
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"error":{"message":"The server had an error","type":"server_error","param":null,"code":null}}`))
	default:
		s.fake.ServeHTTP(w, r)
	}
}

func openAIEmbedder(t *testing.T, url string) embed.Embedder {
	t.Helper()
	e, err := embed.NewOpenAI(embed.OpenAIConfig{
		BaseURL: url + "/v1", Model: "fake-embedder", APIKey: "sk-test", Dimensions: 8,
		Retry: provider.Retry{MaxRetries: 2, MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestProviderStormThenRecovery: rate limits and server errors beyond the
// client's own retries make jobs retry; once the provider recovers the
// source completes with every chunk embedded.
func TestProviderStormThenRecovery(t *testing.T) {
	t.Parallel()
	held := make(chan struct{})
	close(held)
	storm := &stormEmbeddings{fake: &fakeEmbeddings{held: held, started: make(chan struct{})}, rateLimits: 4, serverErrs: 4}
	server := httptest.NewServer(storm)
	defer server.Close()
	b := setup(t, testOpts{embedder: openAIEmbedder(t, server.URL), maxAttempts: 10})
	ctx := context.Background()
	docs := []content.Document{doc(t, "a.md", guide("alpha", 2)), doc(t, "b.md", guide("beta", 2))}
	added, err := b.ingest.Add(ctx, ingest.AddParams{UserID: "alice", Kind: ingest.KindInline, Documents: docs})
	if err != nil {
		t.Fatal(err)
	}
	source := waitTerminal(t, b, added.Source.ID)
	if lifecycle.Stage(source.Stage) != lifecycle.StageCompleted {
		t.Fatalf("source ended %s: %v", source.Stage, source.Error)
	}
	for _, c := range chunksOf(t, b, source.ID) {
		if !c.Embedded {
			t.Fatal("a chunk without a vector after recovery")
		}
	}
	if calls := storm.calls.Load(); calls <= 8 {
		t.Fatalf("%d calls: the storm was not reached", calls)
	}
}

// TestProviderRejectedKeyFailsFast: a 401 fails the source at once, with
// a message that says the key is wrong, and is not retried.
func TestProviderRejectedKeyFailsFast(t *testing.T) {
	t.Parallel()
	storm := &stormEmbeddings{status: http.StatusUnauthorized}
	server := httptest.NewServer(storm)
	defer server.Close()
	b := setup(t, testOpts{embedder: openAIEmbedder(t, server.URL), maxAttempts: 10})
	ctx := context.Background()
	added, err := b.ingest.Add(ctx, ingest.AddParams{UserID: "alice", Kind: ingest.KindInline,
		Documents: []content.Document{doc(t, "a.md", guide("alpha", 2))}})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	source := waitTerminal(t, b, added.Source.ID)
	if lifecycle.Stage(source.Stage) != lifecycle.StageFailed || source.Error == nil || !strings.Contains(*source.Error, "API key was rejected") {
		t.Fatalf("source ended %s: %v; want failed saying the key was rejected", source.Stage, source.Error)
	}
	if calls := storm.calls.Load(); calls != 1 {
		t.Fatalf("%d calls for a rejected key, want 1 (no retry)", calls)
	}
	t.Logf("failed %s after the ingest", time.Since(start).Round(time.Millisecond))
}
