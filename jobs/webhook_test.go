package jobs_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/kollektiv/kollektiv/internal/content"
	"github.com/kollektiv/kollektiv/internal/events"
	"github.com/kollektiv/kollektiv/internal/ingest"
	"github.com/kollektiv/kollektiv/internal/lifecycle"
	"github.com/kollektiv/kollektiv/internal/wait"
	"github.com/kollektiv/kollektiv/jobs"
)

// TestWebhooks delivers every event, signed, to a receiver that fails its
// first request, while a second receiver that is always down must not hold
// up the source.
func TestWebhooks(t *testing.T) {
	t.Parallel()
	const secret = "s3cret"
	var mu sync.Mutex
	received := map[int64]events.Event{}
	failedOnce := false
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write(body)
		if r.Header.Get(jobs.SignatureHeader) != "sha256="+hex.EncodeToString(mac.Sum(nil)) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			t.Error("webhook signature does not match the body")
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if !failedOnce {
			failedOnce = true
			http.Error(w, "try later", http.StatusServiceUnavailable)
			return
		}
		var e events.Event
		if err := json.Unmarshal(body, &e); err != nil {
			t.Error(err)
		}
		received[e.ID] = e
	}))
	defer good.Close()
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down", http.StatusInternalServerError)
	}))
	defer down.Close()

	b := setup(t, testOpts{maxAttempts: 3, settings: jobs.Settings{WebhookURLs: []string{good.URL, down.URL}, WebhookSecret: secret}})
	ctx := context.Background()
	added, err := b.ingest.Add(ctx, ingest.AddParams{UserID: "alice", Kind: ingest.KindInline,
		Documents: []content.Document{doc(t, "a.md", guide("alpha", 2))}})
	if err != nil {
		t.Fatal(err)
	}
	source := waitTerminal(t, b, added.Source.ID)
	if lifecycle.Stage(source.Stage) != lifecycle.StageCompleted {
		t.Fatalf("source ended %s with a webhook down", source.Stage)
	}

	stored, err := events.After(ctx, b.pool, source.ID, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	wait.For(t, 30*time.Second, func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return len(received) == len(stored), fmt.Sprintf("webhook received %d of %d events", len(received), len(stored))
	})
	mu.Lock()
	defer mu.Unlock()
	for _, e := range stored {
		got, ok := received[e.ID]
		if !ok || got.Stage != e.Stage || got.SourceID != source.ID {
			t.Fatalf("event %d (%s) not delivered as stored: %+v", e.ID, e.Stage, got)
		}
	}
}
