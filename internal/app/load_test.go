package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"

	"github.com/kollektiv/kollektiv/internal/apikeys"
	"github.com/kollektiv/kollektiv/internal/app"
	"github.com/kollektiv/kollektiv/internal/config"
	"github.com/kollektiv/kollektiv/internal/dbtest"
)

// TestLoad is issue 8's load test: 50 sources of 5 users submitted through
// the HTTP API at once, one of them 20 times larger than the rest, worked by
// the app's own workers with the queue settings of the environment
// (defaults: 10 default, one chunking per CPU, 4 embedding), while clients
// read GET /v1/sources/{id} and GET /v1/search. It prints each source's time
// from submission to its completed event, by user, and the API's latency
// per route. It asserts no time, only that every source completed with
// exactly its chunks, that no request failed, and that every source of the
// other users completed before the large one.
//
// It runs only with KOLLEKTIV_LOAD=1 (`make load`). KOLLEKTIV_LOAD_SMALL_DOCS
// (default 40) sizes a small source, KOLLEKTIV_LOAD_CLIENTS (default 8) the
// readers; every KOLLEKTIV_* setting applies, except the API's rate limit,
// which is lifted so that it measures the API, not the limiter.
func TestLoad(t *testing.T) {
	if os.Getenv("KOLLEKTIV_LOAD") != "1" {
		t.Skip("the load test runs with KOLLEKTIV_LOAD=1 (make load)")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DatabaseURL = dbtest.DatabaseURL(t)
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.APIRateLimit, cfg.APIRateBurst = 1_000_000, 1_000_000
	spec := workloadSpec{users: 5, perUser: 10, smallDocs: envInt(t, "KOLLEKTIV_LOAD_SMALL_DOCS", 40), largeFactor: 20}
	cfg.APIMaxDocuments = max(cfg.APIMaxDocuments, spec.smallDocs*spec.largeFactor)
	a, err := app.New(ctx, cfg, nil, app.Options{Worker: true, API: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := a.Stop(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	sources := planWorkload(t, a.Chunker, spec)
	keys := map[string]string{}
	for u := range spec.users {
		secret, _, err := apikeys.Create(ctx, a.Pool, apikeys.CreateParams{UserID: userName(u), Name: "load"})
		if err != nil {
			t.Fatal(err)
		}
		keys[userName(u)] = secret
	}
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	c := &loadClient{base: "http://" + a.APIAddr(), http: &http.Client{Timeout: time.Minute}}

	// The large source goes first, the worst case for a first-in first-out
	// queue; the 49 others follow at once.
	started := time.Now()
	if err := c.submit(ctx, keys, sources[0]); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(sources))
	for _, s := range sources[1:] {
		wg.Go(func() {
			if err := c.submit(ctx, keys, s); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	submitted := time.Since(started)

	// Readers, each as one user, until every source finished.
	readCtx, stopReading := context.WithCancel(ctx)
	var readers sync.WaitGroup
	for i := range envInt(t, "KOLLEKTIV_LOAD_CLIENTS", 8) {
		user := userName(i % spec.users)
		var own []uuid.UUID
		for _, s := range sources {
			if s.user == user {
				own = append(own, s.id)
			}
		}
		readers.Go(func() { c.read(readCtx, keys[user], own, int64(i)) })
	}
	waitFinished(ctx, t, a.Pool, sources)
	elapsed := time.Since(started)
	stopReading()
	readers.Wait()

	docs, chunks := 0, 0
	for _, s := range sources {
		docs, chunks = docs+len(s.docs), chunks+s.chunks
	}
	t.Logf("%d sources of %d users (%d documents, %d chunks), large source %d documents; submitted in %s, all finished after %s; queues default %d, chunking %d, embedding %d\n\n%s\n%s",
		len(sources), spec.users, docs, chunks, len(sources[0].docs), submitted.Round(time.Millisecond), elapsed.Round(time.Millisecond),
		a.Queues()["default"].MaxWorkers, a.Queues()["chunking"].MaxWorkers, a.Queues()["embedding"].MaxWorkers,
		completionTable(sources), c.latencyTable())

	checkCompleted(ctx, t, a.Pool, sources)
	checkFairOrder(t, sources)
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, f := range c.failures {
		t.Error(f)
	}
}

// loadClient calls the API and records each request's latency by route.
type loadClient struct {
	base string
	http *http.Client

	mu        sync.Mutex
	latencies map[string][]time.Duration
	failures  []string
}

// submit creates s through POST /v1/sources with its documents inline.
func (c *loadClient) submit(ctx context.Context, keys map[string]string, s *plannedSource) error {
	type document struct {
		Title   string `json:"title"`
		URL     string `json:"url"`
		Content string `json:"content"`
	}
	body := struct {
		Documents []document `json:"documents"`
	}{}
	for _, d := range s.docs {
		body.Documents = append(body.Documents, document{Title: d.Title, URL: d.URL, Content: d.Content})
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	var created struct {
		ID uuid.UUID `json:"id"`
	}
	if err := c.do(ctx, keys[s.user], http.MethodPost, "POST /v1/sources", "/v1/sources", raw, http.StatusAccepted, &created); err != nil {
		return err
	}
	s.id = created.ID
	return nil
}

// searchWords are what the readers search for: words of tldr pages.
var searchWords = []string{"file", "list directory", "network interface", "compress archive", "git commit", "docker container", "print", "process id", "user password", "install package"}

// read alternates GET /v1/sources/{id} over the user's sources and
// GET /v1/search until ctx ends.
func (c *loadClient) read(ctx context.Context, key string, own []uuid.UUID, seed int64) {
	rng := rand.New(rand.NewPCG(uint64(seed), 8)) //nolint:gosec // a load pattern needs no cryptographic randomness
	for ctx.Err() == nil {
		id := own[rng.IntN(len(own))]
		_ = c.do(ctx, key, http.MethodGet, "GET /v1/sources/{id}", "/v1/sources/"+id.String(), nil, http.StatusOK, nil)
		q := searchWords[rng.IntN(len(searchWords))]
		_ = c.do(ctx, key, http.MethodGet, "GET /v1/search", "/v1/search?k=10&q="+strings.ReplaceAll(q, " ", "+"), nil, http.StatusOK, nil)
	}
}

// do sends one request and records its latency under route; a status
// other than want is recorded as a failure, unless ctx ended.
func (c *loadClient) do(ctx context.Context, key, method, route, path string, body []byte, want int, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := c.http.Do(req)
	var raw []byte
	if err == nil {
		raw, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	took := time.Since(start)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.latencies == nil {
		c.latencies = map[string][]time.Duration{}
	}
	c.latencies[route] = append(c.latencies[route], took)
	switch {
	case err != nil:
		err = fmt.Errorf("%s: %w", route, err)
	case resp.StatusCode != want:
		err = fmt.Errorf("%s %s: status %d, want %d: %.300s", method, path, resp.StatusCode, want, raw)
	case out != nil:
		err = json.Unmarshal(raw, out)
	}
	if err != nil {
		c.failures = append(c.failures, err.Error())
	}
	return err
}

// latencyTable gives each route's request count and latency percentiles.
func (c *loadClient) latencyTable() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "route\trequests\tp50\tp95\tp99\tmax\t")
	for _, r := range slices.Sorted(maps.Keys(c.latencies)) {
		d := slices.Clone(c.latencies[r])
		slices.Sort(d)
		at := func(p float64) time.Duration {
			return d[min(len(d)-1, int(p*float64(len(d))))].Round(100 * time.Microsecond)
		}
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t%s\t\n", r, len(d), at(0.50), at(0.95), at(0.99), d[len(d)-1].Round(100*time.Microsecond))
	}
	w.Flush()
	return b.String()
}

// envInt reads a positive whole number from the environment, or def.
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a whole number of at least 1", name, v)
	}
	return n
}
