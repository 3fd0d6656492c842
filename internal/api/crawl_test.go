package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kollektiv/kollektiv/internal/config"
)

// TestURLSourceAndRefresh crawls a small site through the API, changes one
// page and refreshes: only the changed page is processed again.
func TestURLSourceAndRefresh(t *testing.T) {
	t.Parallel()
	var version atomic.Int32
	var hits atomic.Int32
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		switch r.URL.Path {
		case "/":
			fmt.Fprintf(w, `<html><head><title>Home</title></head><body><main><h1>Home</h1><p>%s</p><a href="/guide">guide</a></main></body></html>`, guide("home"))
		case "/guide":
			fmt.Fprintf(w, `<html><head><title>Guide</title></head><body><main><h1>Guide v%d</h1><p>%s</p></main></body></html>`, version.Load(), guide(fmt.Sprint("guide", version.Load())))
		default:
			http.NotFound(w, r)
		}
	}))
	defer site.Close()

	// Loopback is refused unless the deployment allows it: the source is
	// accepted, and its crawl fails without a request reaching the site.
	refused := setup(t, nil)
	r := refused.do(t, refused.alice, "POST", "/v1/sources", jsonBody(t, map[string]any{"url": site.URL + "/"}))
	if r.status != 202 {
		t.Fatalf("create from a loopback url: %d %s", r.status, r.body)
	}
	v := refused.waitFinished(t, refused.alice, r.json(t)["id"].(string))
	if msg, _ := v["error"].(string); v["stage"] != "failed" || !strings.Contains(msg, "is not public") || hits.Load() != 0 {
		t.Fatalf("crawl of a loopback address: %v after %d requests, want failed as not public before any request", v, hits.Load())
	}

	b := setup(t, func(c *config.Config) { c.CrawlAllowPrivate = true })
	r = b.do(t, b.alice, "POST", "/v1/sources", jsonBody(t, map[string]any{"url": site.URL + "/", "crawl": map[string]any{"page_limit": 10}}))
	if r.status != 202 {
		t.Fatalf("create from url: %d %s", r.status, r.body)
	}
	id := r.json(t)["id"].(string)
	if v := b.waitFinished(t, b.alice, id); v["stage"] != "completed" || v["documents"] != float64(2) {
		t.Fatalf("crawled source %v", v)
	}

	version.Store(1)
	rf := b.do(t, b.alice, "POST", "/v1/sources/"+id+"/refresh", nil)
	if rf.status != 202 || rf.json(t)["generation"] != float64(2) || rf.json(t)["stage"] != "crawling" {
		t.Fatalf("refresh: %d %s", rf.status, rf.body)
	}
	if v := b.waitFinished(t, b.alice, id); v["stage"] != "completed" || v["progress"].(map[string]any)["documents_total"] != float64(1) {
		t.Fatalf("after refresh %v, want one document processed again", v)
	}
	s := b.do(t, b.alice, "GET", "/v1/search?q=guide1+engine&k=1", nil)
	if hits := s.json(t)["hits"].([]any); len(hits) != 1 || hits[0].(map[string]any)["document_title"] != "Guide v1" {
		t.Fatalf("search after refresh: %s", s.body)
	}

	// Options that cannot be read are named, not ignored.
	if _, err := b.app.Pool.Exec(context.Background(), `UPDATE sources SET options = '{"page_limit": "ten"}' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if rf := b.do(t, b.alice, "POST", "/v1/sources/"+id+"/refresh", nil); rf.status != 409 || !strings.Contains(string(rf.body), "invalid source options") {
		t.Fatalf("refresh with corrupt options: %d %s", rf.status, rf.body)
	}
}

// TestURLSourceAnsweredBeforeCrawl posts a URL whose start page does not
// answer until the POST has: the POST answers 202 at once with the source
// at stage crawling; the stage shows in GET and in the events, with
// progress in pages; then the pages become documents and the source
// completes, each page fetched once.
func TestURLSourceAnsweredBeforeCrawl(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var mu sync.Mutex
	fetched := map[string]int{}
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		fetched[r.URL.Path]++
		mu.Unlock()
		if r.URL.Path == "/" {
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		switch r.URL.Path {
		case "/", "/a", "/b":
			fmt.Fprintf(w, `<html><head><title>Page %s</title></head><body><main><h1>Page %s</h1><p>%s</p><a href="/a">a</a> <a href="/b">b</a></main></body></html>`,
				r.URL.Path, r.URL.Path, guide("page"+strings.TrimPrefix(r.URL.Path, "/")))
		default:
			http.NotFound(w, r)
		}
	}))
	defer site.Close()
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	b := setup(t, func(c *config.Config) { c.CrawlAllowPrivate = true })

	// A crawl inside the request would never answer: the deadline only
	// turns that hang into a failure.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	body, _ := json.Marshal(map[string]any{"url": site.URL + "/", "crawl": map[string]any{"page_limit": 10}})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, b.baseURL+"/v1/sources", strings.NewReader(string(body)))
	req.Header.Set("Authorization", "Bearer "+b.alice)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST did not answer while the start page was held back: %v", err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var created map[string]any
	if resp.StatusCode != http.StatusAccepted || json.Unmarshal(raw, &created) != nil || created["stage"] != "crawling" {
		t.Fatalf("POST: %d %s, want 202 at stage crawling", resp.StatusCode, raw)
	}
	id := created["id"].(string)
	g := b.do(t, b.alice, "GET", "/v1/sources/"+id, nil).json(t)
	if g["stage"] != "crawling" || g["progress"].(map[string]any)["pages_fetched"] != float64(0) {
		t.Fatalf("GET while the start page is held back: %v, want crawling with 0 pages fetched", g)
	}
	close(release)

	events, ended := b.readSSE(t, b.alice, id, 0, 1000)
	if !ended {
		t.Fatal("event stream did not end")
	}
	var stages []string
	sawPages := false
	for _, e := range events {
		stages = append(stages, e.event)
		var payload map[string]any
		if err := json.Unmarshal([]byte(e.data), &payload); err != nil {
			t.Fatalf("event %s: %v", e.data, err)
		}
		if p, ok := payload["payload"].(map[string]any); ok && e.event == "progress" && p["pages_fetched"] != nil {
			sawPages = true
		}
	}
	joined := strings.Join(stages, " ")
	if !strings.HasPrefix(joined, "crawling ") || !strings.Contains(joined, " created ") || !strings.HasSuffix(joined, " completed") || !sawPages {
		t.Fatalf("events %q, want crawling, progress with pages fetched, created, ..., completed", joined)
	}
	if strings.Index(joined, "created") < strings.Index(joined, "progress") {
		t.Fatalf("events %q: created (pages stored) before the crawl's progress", joined)
	}
	if v := b.waitFinished(t, b.alice, id); v["stage"] != "completed" || v["documents"] != float64(3) {
		t.Fatalf("crawled source %v, want completed with 3 documents", v)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, p := range []string{"/", "/a", "/b"} {
		if fetched[p] != 1 {
			t.Errorf("%s fetched %d times, want once", p, fetched[p])
		}
	}
}
