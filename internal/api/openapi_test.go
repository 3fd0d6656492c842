package api

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"
)

// TestOpenAPIMatchesRoutes keeps /v1/openapi.json in step with the mux: every
// route is documented, and nothing documented is missing.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	var documented, served []string
	for path, ops := range doc.Paths {
		for method := range ops {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	for _, rt := range (&Server{}).routes() {
		served = append(served, rt.method+" "+rt.pattern)
	}
	served = append(served, "GET /riverui/")
	sort.Strings(documented)
	sort.Strings(served)
	if strings.Join(documented, "\n") != strings.Join(served, "\n") {
		t.Fatalf("openapi.json documents\n%s\n\nthe mux serves\n%s", strings.Join(documented, "\n"), strings.Join(served, "\n"))
	}
}

func TestRateLimiter(t *testing.T) {
	t.Parallel()
	now := time.Unix(0, 0)
	l := newRateLimiter(2, 2, func() time.Time { return now })
	for i := range 2 {
		if _, ok := l.allow("k"); !ok {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	wait, ok := l.allow("k")
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("third request: ok %v wait %v, want refused for 500ms", ok, wait)
	}
	now = now.Add(500 * time.Millisecond)
	if _, ok := l.allow("k"); !ok {
		t.Fatal("a token should have refilled after 500ms at 2/s")
	}
	if _, ok := l.allow("other"); !ok {
		t.Fatal("another key shares the bucket")
	}
}

func TestSafeName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"../../etc/passwd":      "passwd",
		`..\..\windows\win.ini`: "win.ini",
		"/abs/path/doc.md":      "doc.md",
		"plain.md":              "plain.md",
	} {
		if got, err := safeName(in); err != nil || got != want {
			t.Errorf("safeName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "..", "/", "a\x00b", "\xff"} {
		if _, err := safeName(bad); err == nil {
			t.Errorf("safeName(%q) accepted", bad)
		}
	}
}
