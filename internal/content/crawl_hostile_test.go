package content

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestCrawlHostileSite crawls a site built to hurt a crawler: an infinite
// calendar, a page larger than the limit sent without a length, wrong
// content types, and servers that trickle headers or body. The crawl ends,
// within its page limit, with one named problem per bad page and the good
// pages loaded.
func TestCrawlHostileSite(t *testing.T) {
	t.Parallel()
	var requests atomic.Int64
	trickle := func(w http.ResponseWriter, r *http.Request, headersFirst bool) {
		if headersFirst {
			w.Header().Set("Content-Type", "text/html")
			w.WriteHeader(http.StatusOK)
		} else {
			conn, buf, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			defer conn.Close()
			for _, b := range []byte("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n") {
				if _, err := buf.Write([]byte{b}); err != nil || buf.Flush() != nil {
					return
				}
				select {
				case <-r.Context().Done():
					return
				case <-time.After(100 * time.Millisecond):
				}
			}
			return
		}
		for range 100 {
			if _, err := w.Write([]byte("x")); err != nil {
				return
			}
			_ = http.NewResponseController(w).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		switch r.URL.Path {
		case "/robots.txt":
			http.NotFound(w, r)
		case "/":
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, page("Home", "Start.", "/cal?month=0", "/huge", "/image", "/octet", "/html-binary",
				"/slow-headers", "/slow-body", "/good"))
		case "/cal":
			n, _ := strconv.Atoi(r.URL.Query().Get("month"))
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, page(fmt.Sprintf("Month %d", n), "Nothing planned.", fmt.Sprintf("/cal?month=%d", n+1)))
		case "/huge":
			w.Header().Set("Content-Type", "text/html")
			chunk := strings.Repeat("<p>filler text</p>", 1000)
			for i := 0; i < 1000; i++ { // 18 MB if read to the end
				if _, err := fmt.Fprint(w, chunk); err != nil {
					return
				}
			}
		case "/image":
			w.Header().Set("Content-Type", "image/png")
			w.Write([]byte("\x89PNG\r\n\x1a\n"))
		case "/octet":
			w.Header().Set("Content-Type", "application/octet-stream")
			fmt.Fprint(w, page("Octet", "An HTML page served as bytes."))
		case "/html-binary":
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03 gzip bytes, not HTML"))
		case "/slow-headers":
			trickle(w, r, false)
		case "/slow-body":
			trickle(w, r, true)
		case "/good":
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, page("Good", "A page that loads."))
		}
	}))
	t.Cleanup(srv.Close)

	docs, problems, err := Crawl(context.Background(), srv.URL+"/", CrawlOptions{
		AllowPrivate: true, MaxPages: 20, MaxDepth: 100, MaxBytes: 1 << 20, Timeout: 500 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := requests.Load() - 1; n > 20 { // robots.txt aside
		t.Errorf("%d page requests, MaxPages 20", n)
	}
	loaded := map[string]bool{}
	months := 0
	for _, d := range docs {
		p := strings.TrimPrefix(d.URL, srv.URL)
		loaded[p] = true
		if strings.HasPrefix(p, "/cal") {
			months++
		}
	}
	if !loaded["/"] || !loaded["/good"] || months == 0 {
		t.Errorf("loaded %v, want /, /good and calendar months", loaded)
	}
	if len(docs)+len(problems) != 20 {
		t.Errorf("%d documents + %d problems, want the 20 pages requested", len(docs), len(problems))
	}
	want := map[string]error{
		"/huge":         ErrTooLarge,
		"/image":        ErrUnsupportedType,
		"/octet":        ErrUnsupportedType,
		"/html-binary":  ErrBinary,
		"/slow-headers": context.DeadlineExceeded,
		"/slow-body":    context.DeadlineExceeded,
	}
	got := map[string]*DocumentError{}
	for _, p := range problems {
		got[strings.TrimPrefix(p.URL, srv.URL)] = p
		if !strings.Contains(p.Error(), p.URL) || p.Reason == "" {
			t.Errorf("problem %q does not name its URL and reason", p.Error())
		}
	}
	for p, sentinel := range want {
		if !errors.Is(got[p], sentinel) {
			t.Errorf("%s: problem %v, want %v", p, got[p], sentinel)
		}
	}
	if len(problems) != len(want) {
		t.Errorf("problems %v, want %d", problems, len(want))
	}
}
