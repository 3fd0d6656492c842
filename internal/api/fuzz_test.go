package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/kollektiv/kollektiv/internal/derr"
)

// FuzzCreateSourceRequest fuzzes the decoding and checking of a
// POST /v1/sources body, and the preparation of inline documents: all that
// runs before the database. No input may panic; every refusal is an *Error
// with a client's code, rendered as {"error": {"code", "message"}}; every
// accepted document becomes one document or one problem under a unique name
// that PostgreSQL can store.
func FuzzCreateSourceRequest(f *testing.F) {
	for _, seed := range []string{
		`{"documents": [{"title": "T", "url": "a.md", "content": "# A\n\ntext"}]}`,
		`{"documents": [{"url": "same.md", "content": "a"}, {"url": "same.md", "content": "b"}, {"content": "c"}]}`,
		`{"url": "https://example.com/docs", "crawl": {"page_limit": 5, "max_depth": 2, "include_paths": ["/docs"], "exclude_paths": ["/blog"]}}`,
		`{"url": "ftp://example.com"}`,
		`{"url": "http://x", "documents": [{"content": "a"}]}`,
		`{"url": "http://x", "crawl": {"page_limit": 11}}`,
		`{"url": "http://x", "crawl": {"page_limit": -1}}`,
		`{"documents": [{"title": "a\u0000b", "url": "n\u0000.md", "content": "x\u0000y"}]}`,
		`{"documents": [{"content": "<html><body><p>hi</p></body></html>"}]}`,
		`{"documents": [{"content": "---\ntitle: [x\n---\nbody"}]}`,
		`{"documents": "nope"}`,
		`{"documents": [1, 2]}`,
		`{"docs": []}`,
		`{"documents": [{"content": "a"}]} {}`,
		`[[[[[[[[[[`,
		`{}`,
		`null`,
		``,
		"{\"documents\": [{\"content\": \"\xff\xfe\"}]}",
	} {
		f.Add([]byte(seed))
	}
	s := &Server{Config: Config{Limits: Limits{MaxDocuments: 20, MaxCrawlPages: 10}.withDefaults()}}
	known := map[derr.Kind]bool{derr.Invalid: true, derr.TooLarge: true}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest(http.MethodPost, "/v1/sources", bytes.NewReader(body))
		r.Body = http.MaxBytesReader(nil, r.Body, 64<<10)
		req, err := s.decodeCreateSource(r)
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				return // wrap answers it with too_large
			}
			var e *derr.Error
			if !errors.As(err, &e) || !known[e.Kind] || e.Message == "" {
				t.Fatalf("error %#v (%v) is not a *derr.Error of a client's kind", err, err)
			}
			w := httptest.NewRecorder()
			s.writeError(w, r, err)
			var out struct {
				Error *Error `json:"error"`
			}
			want := Error{Code: string(e.Kind), Message: err.Error()}
			if w.Code != derr.HTTPStatus(err) || json.Unmarshal(w.Body.Bytes(), &out) != nil || out.Error == nil || *out.Error != want {
				t.Fatalf("rendered %d %s for %v", w.Code, w.Body, e)
			}
			return
		}
		if req.URL != "" {
			crawl, err := s.crawlSettings(req.Crawl)
			if err != nil {
				t.Fatalf("accepted a crawl its options refuse: %v", err)
			}
			if err := crawl.Validate(); err != nil {
				t.Fatalf("accepted crawl settings the crawl job would refuse: %v", err)
			}
			return
		}
		docs, problems := inlineDocuments(req.Documents)
		if len(docs)+len(problems) != len(req.Documents) {
			t.Fatalf("%d inputs gave %d documents and %d problems", len(req.Documents), len(docs), len(problems))
		}
		seen := map[string]bool{}
		storable := func(what, s string) {
			if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
				t.Fatalf("%s %q cannot be stored", what, s)
			}
		}
		for _, d := range docs {
			if seen[d.URL] || !storableName(d.URL) {
				t.Fatalf("document name %q twice or not storable", d.URL)
			}
			seen[d.URL] = true
			storable("title", d.Title)
			storable("content", d.Content)
		}
		for _, p := range problems {
			if seen[p.URL] || !storableName(p.URL) {
				t.Fatalf("problem name %q twice or not storable", p.URL)
			}
			seen[p.URL] = true
			storable("reason", p.Error())
		}
	})
}

// storableName: valid UTF-8 without NUL, and short enough for the unique
// index on documents (url) even with a " (n)" suffix.
func storableName(name string) bool {
	return utf8.ValidString(name) && !strings.ContainsRune(name, 0) && len(name) <= maxNameBytes+16
}
