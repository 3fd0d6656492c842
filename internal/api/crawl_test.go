package api_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/kollektiv/kollektiv/internal/config"
)

// TestURLSourceAndRefresh crawls a small site through the API, changes one
// page and refreshes: only the changed page is processed again.
func TestURLSourceAndRefresh(t *testing.T) {
	t.Parallel()
	var version atomic.Int32
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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

	// Loopback is refused unless the deployment allows it.
	refused := setup(t, nil)
	if r := refused.do(t, refused.alice, "POST", "/v1/sources", jsonBody(t, map[string]any{"url": site.URL + "/"})); r.status != 400 {
		t.Fatalf("crawl of a loopback address: %d %s, want refused", r.status, r.body)
	}

	b := setup(t, func(c *config.Config) { c.CrawlAllowPrivate = true })
	r := b.do(t, b.alice, "POST", "/v1/sources", jsonBody(t, map[string]any{"url": site.URL + "/", "crawl": map[string]any{"page_limit": 10}}))
	if r.status != 202 {
		t.Fatalf("create from url: %d %s", r.status, r.body)
	}
	id := r.json(t)["id"].(string)
	if v := b.waitFinished(t, b.alice, id); v["stage"] != "completed" || v["documents"] != float64(2) {
		t.Fatalf("crawled source %v", v)
	}

	version.Store(1)
	rf := b.do(t, b.alice, "POST", "/v1/sources/"+id+"/refresh", nil)
	if rf.status != 202 || rf.json(t)["generation"] != float64(2) {
		t.Fatalf("refresh: %d %s", rf.status, rf.body)
	}
	if v := b.waitFinished(t, b.alice, id); v["stage"] != "completed" || v["progress"].(map[string]any)["documents_total"] != float64(1) {
		t.Fatalf("after refresh %v, want one document processed again", v)
	}
	s := b.do(t, b.alice, "GET", "/v1/search?q=guide1+engine&k=1", nil)
	if hits := s.json(t)["hits"].([]any); len(hits) != 1 || hits[0].(map[string]any)["document_title"] != "Guide v1" {
		t.Fatalf("search after refresh: %s", s.body)
	}
}
