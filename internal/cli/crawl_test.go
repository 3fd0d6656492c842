package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kollektiv/kollektiv/internal/dbtest"
)

// TestIngestURLThroughJob: `kollektiv ingest URL` creates the source and
// its crawl_source job and fetches nothing itself; a worker crawls it;
// `--wait` follows a refresh to the end; `sources refresh` reads options
// stored by an earlier version, and names corrupt ones.
func TestIngestURLThroughJob(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	hits := map[string]int{}
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits[r.URL.Path]++
		mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		switch r.URL.Path {
		case "/", "/a", "/b":
			fmt.Fprintf(w, `<html><head><title>Page %s</title></head><body><main><h1>Page %s</h1><p>Kollektiv crawls page %s of this site.</p><a href="/a">a</a> <a href="/b">b</a></main></body></html>`,
				r.URL.Path, r.URL.Path, r.URL.Path)
		default:
			http.NotFound(w, r)
		}
	}))
	defer site.Close()
	pageHits := func(p string) int {
		mu.Lock()
		defer mu.Unlock()
		return hits[p]
	}

	url := dbtest.DatabaseURL(t)
	env := map[string]string{"DATABASE_URL": url, "KOLLEKTIV_LOG_LEVEL": "warn"}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	// No worker yet: the CLI answers with the source at stage crawling and
	// has not fetched a page.
	r := run(t, env, "ingest", site.URL+"/", "--max-pages", "5", "--allow-private")
	if r.code != 0 || !strings.Contains(r.stdout, "crawling "+site.URL+"/, up to 5 pages") {
		t.Fatalf("ingest URL: %d %s %s", r.code, r.stdout, r.stderr)
	}
	id := strings.Fields(r.stdout)[1]
	if n := pageHits("/"); n != 0 {
		t.Fatalf("the CLI fetched the start page %d times itself", n)
	}
	var stage, args string
	if err := pool.QueryRow(ctx, `SELECT s.stage, j.args::text FROM sources s JOIN river_job j ON j.args->>'source_id' = s.id::text
		WHERE s.id = $1 AND j.kind = 'crawl_source'`, id).Scan(&stage, &args); err != nil {
		t.Fatalf("crawl job of %s: %v", id, err)
	}
	if stage != "crawling" || !strings.Contains(args, `"max_pages": 5`) || !strings.Contains(args, `"allow_private": true`) {
		t.Fatalf("source at %s with job args %s", stage, args)
	}

	startWorker(t, url)
	waitStage := func() string {
		t.Helper()
		waitUntil(t, "the source finished", func() (bool, string) {
			if err := pool.QueryRow(ctx, "SELECT stage FROM sources WHERE id = $1", id).Scan(&stage); err != nil {
				t.Fatal(err)
			}
			return stage == "completed" || stage == "failed", "stage " + stage
		})
		return stage
	}
	if s := waitStage(); s != "completed" {
		t.Fatalf("crawled source %s", s)
	}

	// Again with --wait: a refresh, crawled by the worker, followed to the end.
	r = run(t, env, "ingest", site.URL+"/", "--max-pages", "5", "--allow-private", "--wait", "--json")
	var out struct {
		SourceID  string `json:"source_id"`
		Stage     string `json:"stage"`
		Documents int    `json:"documents"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &out) != nil || out.SourceID != id || out.Stage != "completed" || out.Documents != 3 {
		t.Fatalf("ingest URL --wait: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if n := pageHits("/a"); n != 2 {
		t.Fatalf("/a fetched %d times in two generations", n)
	}

	// Options as the CLI stored them before they were versioned.
	legacy := `{"MaxPages":5,"MaxDepth":0,"Include":null,"Exclude":null,"Concurrency":0,"Timeout":0,"MaxBytes":0,"MaxRedirects":0,"UserAgent":"","IgnoreRobots":false,"AllowPrivate":true}`
	if _, err := pool.Exec(ctx, "UPDATE sources SET options = $2 WHERE id = $1", id, legacy); err != nil {
		t.Fatal(err)
	}
	if r := run(t, env, "sources", "refresh", id); r.code != 0 || !strings.Contains(r.stdout, "stage crawling (generation 3)") {
		t.Fatalf("refresh with legacy options: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if s := waitStage(); s != "completed" || pageHits("/a") != 3 {
		t.Fatalf("refreshed source %s, /a fetched %d times", s, pageHits("/a"))
	}
	var stored string
	if err := pool.QueryRow(ctx, "SELECT options::text FROM sources WHERE id = $1", id).Scan(&stored); err != nil || !strings.Contains(stored, `"version": 1`) {
		t.Fatalf("options after refresh %s (%v), want the versioned shape", stored, err)
	}

	if _, err := pool.Exec(ctx, `UPDATE sources SET options = '{"bogus": 1}' WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if r := run(t, env, "sources", "refresh", id); r.code != 4 || !strings.Contains(r.stderr, `invalid source options: unknown fields "bogus"`) {
		t.Fatalf("refresh with corrupt options: %d %s %s", r.code, r.stdout, r.stderr)
	}
}
