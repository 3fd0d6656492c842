package api_test

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kollektiv/kollektiv/internal/api"
	"github.com/kollektiv/kollektiv/internal/config"
)

// requestLines returns the JSON log lines with msg "request".
func requestLines(t *testing.T, logs *logBuffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line map[string]any
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			t.Fatalf("a log line is not JSON: %s", sc.Text())
		}
		if line["msg"] == "request" {
			out = append(out, line)
		}
	}
	return out
}

// TestAccessLog: every request writes one line with its method, route
// pattern, status, duration (as text: "1.2ms"), user and request id; the
// id is the client's X-Request-Id when it is plain, a new one otherwise,
// and the response carries it either way. Logged through the service's
// own JSON logger (config.Logger), as KOLLEKTIV_LOG_FORMAT=json does.
func TestAccessLog(t *testing.T) {
	t.Parallel()
	logs := &logBuffer{}
	cfg := config.MustLoadDefaults()
	cfg.LogFormat, cfg.LogLevel = "json", slog.LevelInfo
	b := setupLogged(t, nil, cfg.Logger(logs))

	r := b.do(t, b.alice, "GET", "/v1/sources", nil, "X-Request-Id", "client-7f3a:retry.2")
	if r.status != 200 || r.header.Get("X-Request-Id") != "client-7f3a:retry.2" {
		t.Fatalf("GET /v1/sources: %d, X-Request-Id %q", r.status, r.header.Get("X-Request-Id"))
	}
	// Not plain (a space, a quote) or too long: replaced, not echoed.
	for _, bad := range []string{`a b"c`, strings.Repeat("x", 129)} {
		r := b.do(t, "", "GET", "/v1/sources/nope", nil, "X-Request-Id", bad)
		if got := r.header.Get("X-Request-Id"); r.status != 401 || got == "" || got == bad {
			t.Fatalf("X-Request-Id %.20q: %d, answered %q", bad, r.status, got)
		}
	}
	// Health checks log at debug, below this logger's level.
	if r := b.do(t, "", "GET", "/healthz", nil); r.status != 200 || r.header.Get("X-Request-Id") == "" {
		t.Fatalf("/healthz: %d %v", r.status, r.header)
	}

	lines := requestLines(t, logs)
	if len(lines) != 3 {
		t.Fatalf("want 3 request lines, got %d: %v", len(lines), lines)
	}
	first := lines[0]
	for k, want := range map[string]any{"method": "GET", "route": "GET /v1/sources", "status": 200.0, "user": "alice", "request_id": "client-7f3a:retry.2"} {
		if first[k] != want {
			t.Errorf("%s = %v, want %v in %v", k, first[k], want, first)
		}
	}
	d, ok := first["duration"].(string)
	if took, err := time.ParseDuration(d); !ok || err != nil || took <= 0 {
		t.Errorf("duration %v: want a duration as text", first["duration"])
	}
	for _, l := range lines[1:] {
		if l["route"] != "GET /v1/sources/{id}" || l["status"] != 401.0 || l["user"] != "" || len(l["request_id"].(string)) != 36 {
			t.Errorf("unauthenticated request's line: %v", l)
		}
	}
}

// TestRiverUILandsOnCompletedJobs: /riverui and /riverui/ send an admin to
// the completed jobs (River UI's own start, the running jobs, is empty
// after an ingest), which hold the ingest's jobs; nobody else is
// redirected, and River UI's other pages are served as they are.
func TestRiverUILandsOnCompletedJobs(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	source := b.createInline(t, b.alice, map[string]string{"content": guide("river")})
	b.waitFinished(t, b.alice, source["id"].(string))

	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	// get answers the status and Location of a GET, not following it.
	get := func(key, path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, b.baseURL+path, nil)
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Location")
	}
	for _, path := range []string{"/riverui", "/riverui/"} {
		if status, to := get(b.admin, path); status != http.StatusFound || to != api.RiverUIStart {
			t.Errorf("GET %s as admin: %d to %q, want 302 to %s", path, status, to, api.RiverUIStart)
		}
		if status, _ := get("", path); status != http.StatusUnauthorized {
			t.Errorf("GET %s without a key: %d, want 401", path, status)
		}
		if status, _ := get(b.alice, path); status != http.StatusForbidden {
			t.Errorf("GET %s as a user: %d, want 403", path, status)
		}
	}
	// River UI serves its page there, and its list of completed jobs has
	// the ingest's.
	if r := b.do(t, b.admin, "GET", api.RiverUIStart, nil); r.status != 200 || !strings.Contains(string(r.body), "<html") {
		t.Fatalf("GET %s: %d", api.RiverUIStart, r.status)
	}
	r := b.do(t, b.admin, "GET", "/riverui/api/jobs?state=completed&limit=100", nil)
	if r.status != 200 || !strings.Contains(string(r.body), `"process_documents"`) || !strings.Contains(string(r.body), `"generate_summary"`) {
		t.Fatalf("River UI's completed jobs: %d %.300s", r.status, r.body)
	}
	// A page of River UI with its own query is not redirected.
	if status, _ := get(b.admin, "/riverui/?state=running"); status != http.StatusOK {
		t.Errorf("GET /riverui/?state=running: %d, want River UI's page", status)
	}
}
