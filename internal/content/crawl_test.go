package content

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// testSite is an httptest server with a small documentation site that
// counts requests per path.
type testSite struct {
	*httptest.Server
	mu   sync.Mutex
	hits map[string]int
}

func (s *testSite) count(p string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[p]
}

func (s *testSite) total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for p, h := range s.hits {
		if p != "/robots.txt" {
			n += h
		}
	}
	return n
}

func page(title, body string, links ...string) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "<html><head><title>%s</title></head><body><nav>", title)
	for _, l := range links {
		fmt.Fprintf(&sb, `<a href="%s">NAVLINK</a> `, l)
	}
	fmt.Fprintf(&sb, "</nav><main><h1>%s</h1><p>%s</p></main></body></html>", title, body)
	return sb.String()
}

func newTestSite(t *testing.T, offsite string) *testSite {
	t.Helper()
	s := &testSite{hits: map[string]int{}}
	mux := http.NewServeMux()
	html := func(p, body string) {
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, body)
		})
	}
	html("/{$}", page("Home", "Start here.", "/docs/a", "/docs/b#section", "docs/readme.md", "/old",
		"/away", "/private/secret", "/file.bin", "/binary.html", "/slow", "/data.json", "/missing",
		"/r1", "/copy", offsite+"/external", "/logo.png", "mailto:me@example.com"))
	html("/docs/a", strings.Replace(page("Doc A", "Alpha text.", "/", "/docs/b", "/docs/a?y=2&x=1", "/docs/deeper"),
		"<head>", `<head><link rel="canonical" href="/docs/a">`, 1))
	html("/docs/b", page("Doc B", "Beta text.", "/docs/a", "/docs/a?x=1&y=2#top"))
	html("/docs/deeper", page("Deeper", "Two links from home.", "/docs/deepest"))
	html("/docs/deepest", page("Deepest", "Three links from home."))
	html("/docs/c", page("Doc C", "Reached by redirect."))
	html("/private/secret", page("Secret", "robots.txt says no."))
	html("/copy", `<html><head><title>Copy</title><link rel="canonical" href="/docs/a"></head><body><p>Alpha text.</p></body></html>`)
	html("/binary.html", "<html>\x00\x01\x02 binary</html>")
	mux.HandleFunc("/docs/readme.md", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/markdown")
		fmt.Fprint(w, "---\ntitle: Readme\n---\n# Read me\n\nMarkdown served as is.")
	})
	mux.HandleFunc("/robots.txt", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "User-agent: *\nDisallow: /private/\n")
	})
	mux.HandleFunc("/old", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/docs/c", http.StatusMovedPermanently)
	})
	mux.HandleFunc("/away", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, offsite+"/landing", http.StatusFound)
	})
	mux.HandleFunc("/r1", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/r2", http.StatusFound) })
	mux.HandleFunc("/r2", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/r1", http.StatusFound) })
	mux.HandleFunc("/file.bin", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Write([]byte{0, 1, 2, 3})
	})
	mux.HandleFunc("/data.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"a":1}`)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
		fmt.Fprint(w, page("Slow", "Too late."))
	})
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hits[r.URL.Path]++
		s.mu.Unlock()
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func newOffsite(t *testing.T) *testSite {
	t.Helper()
	s := &testSite{hits: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hits[r.URL.Path]++
		s.mu.Unlock()
		fmt.Fprint(w, page("Elsewhere", "Not this site."))
	}))
	t.Cleanup(s.Close)
	return s
}

func TestCrawl(t *testing.T) {
	t.Parallel()

	offsite := newOffsite(t)
	site := newTestSite(t, offsite.URL)
	start := time.Now()
	docs, problems, err := Crawl(context.Background(), site.URL+"/", CrawlOptions{AllowPrivate: true, Timeout: 300 * time.Millisecond, MaxDepth: 2})
	if err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Errorf("crawl took %v; the slow page should have timed out", elapsed)
	}
	var urls []string
	titles := map[string]string{}
	for _, d := range docs {
		p := strings.TrimPrefix(d.URL, site.URL)
		urls = append(urls, p)
		titles[p] = d.Title
	}
	// Breadth first, in link order; /old is stored under its redirect
	// target; /copy and /docs/a?x=1&y=2 (linked in two spellings, fetched
	// once) are /docs/a by their canonical link; /docs/deepest is beyond
	// depth 2.
	want := []string{"/", "/docs/a", "/docs/b", "/docs/readme.md", "/docs/c", "/docs/deeper"}
	if !slices.Equal(urls, want) {
		t.Errorf("documents %q, want %q", urls, want)
	}
	if titles["/docs/readme.md"] != "Readme" || titles["/docs/a"] != "Doc A" {
		t.Errorf("titles %v", titles)
	}
	for _, d := range docs {
		if strings.Contains(d.Content, "NAVLINK") {
			t.Errorf("%s keeps navigation: %q", d.URL, d.Content)
		}
	}
	wantProblems := map[string]error{
		"/away":           ErrDisallowed,      // redirect off the site
		"/private/secret": ErrDisallowed,      // robots.txt
		"/file.bin":       ErrUnsupportedType, // content type
		"/binary.html":    ErrBinary,
		"/slow":           context.DeadlineExceeded,
		"/data.json":      ErrUnsupportedType,
		"/missing":        ErrHTTPStatus,
		"/r1":             ErrDisallowed, // redirect loop, bounded
	}
	got := map[string]error{}
	for _, p := range problems {
		got[strings.TrimPrefix(p.URL, site.URL)] = p
		if !strings.Contains(p.Error(), p.URL) {
			t.Errorf("problem %q does not name its URL", p.Error())
		}
	}
	for p, sentinel := range wantProblems {
		if !errors.Is(got[p], sentinel) {
			t.Errorf("%s: problem %v, want %v", p, got[p], sentinel)
		}
	}
	if len(problems) != len(wantProblems) {
		t.Errorf("problems %v, want %d", problems, len(wantProblems))
	}
	if n := offsite.total(); n != 0 {
		t.Errorf("offsite server got %d requests", n)
	}
	for p, want := range map[string]int{"/": 1, "/docs/a": 2, "/docs/b": 1} {
		if n := site.count(p); n != want {
			t.Errorf("%s fetched %d times, want %d", p, n, want)
		}
	}
	if n := site.count("/private/secret") + site.count("/logo.png") + site.count("/docs/deepest"); n != 0 {
		t.Errorf("fetched a disallowed, skipped or too deep page %d times", n)
	}
	if n := site.count("/r1") + site.count("/r2"); n > 7 {
		t.Errorf("redirect loop followed %d times", n)
	}
}

func TestCrawlLimits(t *testing.T) {
	t.Parallel()

	site := newTestSite(t, "http://offsite.invalid")
	docs, _, err := Crawl(context.Background(), site.URL, CrawlOptions{AllowPrivate: true, MaxPages: 3, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if n := site.total(); n != 3 || len(docs) != 3 {
		t.Errorf("MaxPages 3: %d requests, %d documents", n, len(docs))
	}

	site = newTestSite(t, "http://offsite.invalid")
	docs, _, err = Crawl(context.Background(), site.URL+"/docs/a", CrawlOptions{
		AllowPrivate: true, Include: []string{"/docs/**"}, Exclude: []string{"/docs/deep*"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var urls []string
	for _, d := range docs {
		urls = append(urls, strings.TrimPrefix(d.URL, site.URL))
	}
	if !slices.Equal(urls, []string{"/docs/a", "/docs/b"}) {
		t.Errorf("include /docs/**, exclude /docs/deep*: %q", urls)
	}

	docs, _, err = Crawl(context.Background(), site.URL+"/docs/a", CrawlOptions{AllowPrivate: true, MaxDepth: -1})
	if err != nil || len(docs) != 1 {
		t.Errorf("MaxDepth -1: %d documents, %v", len(docs), err)
	}
}

func TestCrawlRefusesPrivateAddresses(t *testing.T) {
	t.Parallel()

	site := newTestSite(t, "http://offsite.invalid")
	docs, problems, err := Crawl(context.Background(), site.URL, CrawlOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 0 || len(problems) != 1 || !errors.Is(problems[0], ErrDisallowed) {
		t.Errorf("docs %v problems %v, want the loopback start page refused", docs, problems)
	}
	// localhost resolves to loopback: the check is on the dialled address.
	u, _ := url.Parse(site.URL)
	_, err = Fetch(context.Background(), "http://localhost:"+u.Port()+"/", CrawlOptions{})
	if !errors.Is(err, ErrDisallowed) {
		t.Errorf("Fetch via localhost: %v, want ErrDisallowed", err)
	}
	if n := site.total() + site.count("/robots.txt"); n != 0 {
		t.Errorf("server got %d requests", n)
	}
}

func TestFetch(t *testing.T) {
	t.Parallel()

	site := newTestSite(t, "http://offsite.invalid")
	doc, err := Fetch(context.Background(), site.URL+"/docs/a", CrawlOptions{AllowPrivate: true})
	if err != nil {
		t.Fatal(err)
	}
	if doc.Title != "Doc A" || doc.Content != "# Doc A\n\nAlpha text." {
		t.Errorf("got %+v", doc)
	}
	if n := site.total(); n != 1 {
		t.Errorf("Fetch made %d page requests", n)
	}
	if _, err := Fetch(context.Background(), site.URL+"/missing", CrawlOptions{AllowPrivate: true}); !errors.Is(err, ErrHTTPStatus) {
		t.Errorf("Fetch of a 404: %v", err)
	}
	for _, bad := range []string{"ftp://example.com/", "not a url", "/relative"} {
		if _, err := Fetch(context.Background(), bad, CrawlOptions{}); err == nil {
			t.Errorf("Fetch(%q) gave no error", bad)
		}
	}
}

func TestRobots(t *testing.T) {
	t.Parallel()

	rules := parseRobots(`# comment
User-agent: OtherBot
Disallow: /

User-agent: *
Disallow: /private/
Allow: /private/open
Disallow: /*.pdf$
Disallow:

User-agent: KollektivBot
User-agent: ignored
Disallow: /no-bots
`, "KollektivBot/1.0")
	for p, want := range map[string]bool{"/": true, "/no-bots/x": false, "/private/x": true} {
		if got := rules.allows(p); got != want {
			t.Errorf("KollektivBot group: allows(%q) = %v, want %v", p, got, want)
		}
	}
	star := parseRobots("User-agent: *\nDisallow: /private/\nAllow: /private/open\nDisallow: /*.pdf$\n", "KollektivBot/1.0")
	for p, want := range map[string]bool{
		"/": true, "/private/x": false, "/private/open/doc": true, "/a/b.pdf": false, "/a/b.pdf?x": true,
	} {
		if got := star.allows(p); got != want {
			t.Errorf("* group: allows(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestNormalizeURL(t *testing.T) {
	t.Parallel()

	for in, want := range map[string]string{
		"HTTP://Example.COM:80":             "http://example.com/",
		"https://example.com:443/a#frag":    "https://example.com/a",
		"https://example.com/a?b=2&a=1":     "https://example.com/a?a=1&b=2",
		"https://user:pw@example.com:8443/": "https://example.com:8443/",
	} {
		u, err := url.Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := normalizeURL(u).String(); got != want {
			t.Errorf("normalizeURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPublicAddr(t *testing.T) {
	t.Parallel()

	for addr, want := range map[string]bool{
		"8.8.8.8": true, "2606:4700::1111": true,
		"127.0.0.1": false, "10.1.2.3": false, "192.168.0.1": false, "172.16.0.1": false,
		"169.254.169.254": false, "100.64.0.1": false, "0.0.0.0": false, "::1": false,
		"fe80::1": false, "fc00::1": false, "::ffff:127.0.0.1": false, "64:ff9b::a00:1": false,
	} {
		if got := publicAddr(netip.MustParseAddr(addr)); got != want {
			t.Errorf("publicAddr(%s) = %v, want %v", addr, got, want)
		}
	}
}

func TestCrawlCancelled(t *testing.T) {
	t.Parallel()

	site := newTestSite(t, "http://offsite.invalid")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, _, err := Crawl(ctx, site.URL, CrawlOptions{AllowPrivate: true})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Crawl with a cancelled context: %v, want context.Canceled", err)
	}
}

func TestCrawlConcurrency(t *testing.T) {
	t.Parallel()

	var (
		mu                        sync.Mutex
		inFlight, maxSeen, linked int
		twoLinked                 = make(chan struct{})
	)
	var links []string
	for i := range 8 {
		links = append(links, fmt.Sprintf("/p%d", i))
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/robots.txt" {
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		inFlight++
		maxSeen = max(maxSeen, inFlight)
		if r.URL.Path != "/" {
			linked++
			if linked == 2 {
				close(twoLinked)
			}
		}
		mu.Unlock()
		// The first linked pages wait for each other, so they are surely in
		// flight together however slowly the crawler's goroutines start.
		if r.URL.Path != "/" {
			select {
			case <-twoLinked:
			case <-time.After(10 * time.Second): // a crawler that fetches one at a time fails below
			case <-r.Context().Done():
			}
		}
		mu.Lock()
		inFlight--
		mu.Unlock()
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, page("Page "+r.URL.Path, "Text.", links...))
	}))
	t.Cleanup(srv.Close)
	docs, problems, err := Crawl(context.Background(), srv.URL, CrawlOptions{AllowPrivate: true, Concurrency: 3})
	if err != nil || len(problems) != 0 || len(docs) != 9 {
		t.Fatalf("got %d documents, problems %v, err %v", len(docs), problems, err)
	}
	// Never above the limit; at least two at once shows the pages are
	// fetched concurrently (three would make a loaded machine flaky).
	if maxSeen > 3 || maxSeen < 2 {
		t.Errorf("at most %d requests in flight, want 2 or 3 with Concurrency 3", maxSeen)
	}
}

// TestCrawlFromResumes stops a crawl after two batches and resumes it from
// its state, as JSON: it finds the same documents and problems as a crawl
// that never stopped, and fetches no page more often.
func TestCrawlFromResumes(t *testing.T) {
	t.Parallel()
	opts := CrawlOptions{AllowPrivate: true, Timeout: 300 * time.Millisecond, MaxDepth: 2, BatchPages: 2}
	reference := newTestSite(t, "http://offsite.invalid")
	wantDocs, wantProblems, err := Crawl(context.Background(), reference.URL+"/", opts)
	if err != nil {
		t.Fatal(err)
	}

	site := newTestSite(t, "http://offsite.invalid")
	errStop := errors.New("stop")
	var docs []string
	var problems []string
	collect := func(b CrawlBatch) {
		for _, d := range b.Documents {
			docs = append(docs, strings.TrimPrefix(d.URL, site.URL))
		}
		for _, p := range b.Problems {
			problems = append(problems, strings.TrimPrefix(p.URL, site.URL))
		}
	}
	var checkpoint []byte
	batches := 0
	_, err = CrawlFrom(context.Background(), site.URL+"/", opts, nil, func(b CrawlBatch) error {
		collect(b)
		if checkpoint, err = json.Marshal(b.State); err != nil {
			t.Fatal(err)
		}
		if batches++; batches == 2 {
			return errStop
		}
		return nil
	})
	if !errors.Is(err, errStop) {
		t.Fatalf("stopped crawl: %v", err)
	}
	var state CrawlState
	if err := json.Unmarshal(checkpoint, &state); err != nil {
		t.Fatal(err)
	}
	if state.Fetched != 3 || state.Done() { // the start page alone, then two
		t.Fatalf("state after two batches: %+v", state)
	}
	final, err := CrawlFrom(context.Background(), site.URL+"/", opts, &state, func(b CrawlBatch) error {
		collect(b)
		return nil
	})
	if err != nil || !final.Done() {
		t.Fatalf("resumed crawl: %v, state %+v", err, final)
	}

	var want, wantProbs []string
	for _, d := range wantDocs {
		want = append(want, strings.TrimPrefix(d.URL, reference.URL))
	}
	for _, p := range wantProblems {
		wantProbs = append(wantProbs, strings.TrimPrefix(p.URL, reference.URL))
	}
	if !slices.Equal(docs, want) || !slices.Equal(problems, wantProbs) {
		t.Errorf("resumed crawl found %q and problems %q, want %q and %q", docs, problems, want, wantProbs)
	}
	reference.mu.Lock()
	defer reference.mu.Unlock()
	for p, n := range reference.hits {
		if p == "/robots.txt" {
			continue // fetched again by the resumed crawler, not a page
		}
		if got := site.count(p); got != n {
			t.Errorf("%s fetched %d times by the resumed crawl, %d by one that never stopped", p, got, n)
		}
	}
}
