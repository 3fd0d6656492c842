package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/goleak"

	"github.com/kollektiv/kollektiv/internal/apikeys"
	"github.com/kollektiv/kollektiv/internal/app"
	"github.com/kollektiv/kollektiv/internal/apptest"
	"github.com/kollektiv/kollektiv/internal/config"
	"github.com/kollektiv/kollektiv/internal/wait"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// net/http keeps idle client connections' goroutines briefly.
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
	)
}

type testBundle struct {
	app     *app.App
	baseURL string
	alice   string // alice's key
	bob     string // bob's key
	admin   string
}

// setup runs the whole service (API and workers) on a fresh database and a
// free port, with keys for alice, bob and an admin.
func setup(t *testing.T, tweak func(*config.Config)) *testBundle {
	t.Helper()
	return setupLogged(t, tweak, nil)
}

// setupLogged is setup with the service logging to logger.
func setupLogged(t *testing.T, tweak func(*config.Config), logger *slog.Logger) *testBundle {
	t.Helper()
	ctx := context.Background()
	cfg := apptest.Config(t)
	if tweak != nil {
		tweak(cfg)
	}
	a := apptest.Start(t, cfg, logger, app.Options{Worker: true, API: true})
	b := &testBundle{app: a, baseURL: "http://" + a.APIAddr()}
	for _, k := range []struct {
		user  string
		admin bool
		dest  *string
	}{{"alice", false, &b.alice}, {"bob", false, &b.bob}, {"ops", true, &b.admin}} {
		secret, _, err := apikeys.Create(ctx, a.Pool, apikeys.CreateParams{UserID: k.user, Admin: k.admin})
		if err != nil {
			t.Fatal(err)
		}
		*k.dest = secret
	}
	return b
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("body is not a JSON object: %s", r.body)
	}
	return v
}

func (r response) errorCode(t *testing.T) string {
	t.Helper()
	e, ok := r.json(t)["error"].(map[string]any)
	if !ok || e["message"] == "" {
		t.Fatalf("want an error body, got %s", r.body)
	}
	return e["code"].(string)
}

func (b *testBundle) do(t *testing.T, key, method, path string, body io.Reader, header ...string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, b.baseURL+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	if body != nil && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: raw}
}

func jsonBody(t *testing.T, v any) io.Reader {
	t.Helper()
	raw, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(raw)
}

func guide(topic string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s handbook\n\n", topic)
	for i := range 3 {
		fmt.Fprintf(&b, "## %s chapter %d\n\n", topic, i)
		for j := range 5 {
			fmt.Fprintf(&b, "The %s engine processes batch %d in chapter %d and reports progress clearly. ", topic, j, i)
		}
		b.WriteString("\n\n")
	}
	return b.String()
}

// createInline creates a source of the given documents as key and waits
// until it is finished.
func (b *testBundle) createInline(t *testing.T, key string, docs ...map[string]string) map[string]any {
	t.Helper()
	r := b.do(t, key, "POST", "/v1/sources", jsonBody(t, map[string]any{"documents": docs}))
	if r.status != http.StatusAccepted {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	return b.waitFinished(t, key, r.json(t)["id"].(string))
}

func (b *testBundle) waitFinished(t *testing.T, key, id string) map[string]any {
	t.Helper()
	var v map[string]any
	wait.For(t, 60*time.Second, func() (bool, string) {
		r := b.do(t, key, "GET", "/v1/sources/"+id, nil)
		if r.status != http.StatusOK {
			t.Fatalf("get: %d %s", r.status, r.body)
		}
		v = r.json(t)
		return v["stage"] == "completed" || v["stage"] == "failed", fmt.Sprintf("source %s still %v", id, v["stage"])
	})
	return v
}

func TestSourcesLifecycle(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)

	r := b.do(t, b.alice, "POST", "/v1/sources", jsonBody(t, map[string]any{"documents": []map[string]string{
		{"title": "Tokio", "url": "tokio.md", "content": guide("tokio")},
		{"title": "Broken", "url": "broken.md", "content": "   "},
	}}), "Idempotency-Key", "req-1")
	if r.status != http.StatusAccepted {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	created := r.json(t)
	id := created["id"].(string)
	if created["events_url"] != "/v1/sources/"+id+"/events" || created["status_url"] != "/v1/sources/"+id {
		t.Fatalf("links missing: %s", r.body)
	}
	// The same request with the same Idempotency-Key returns the first source.
	again := b.do(t, b.alice, "POST", "/v1/sources", jsonBody(t, map[string]any{"documents": []map[string]string{
		{"title": "Tokio", "url": "tokio.md", "content": guide("tokio")},
		{"title": "Broken", "url": "broken.md", "content": "   "},
	}}), "Idempotency-Key", "req-1")
	if again.status != http.StatusAccepted || again.json(t)["id"] != id {
		t.Fatalf("idempotent retry: %d %s", again.status, again.body)
	}

	source := b.waitFinished(t, b.alice, id)
	if source["stage"] != "completed" || source["documents"] != float64(2) || source["failed_documents"] != float64(1) {
		t.Fatalf("finished as %v", source)
	}
	summary, _ := source["summary"].(map[string]any)
	if summary == nil || summary["summary"] == "" {
		t.Fatalf("no summary: %v", source)
	}
	failed := source["failed"].([]any)
	if len(failed) != 1 || failed[0].(map[string]any)["url"] != "broken.md" || failed[0].(map[string]any)["error"] == "" {
		t.Fatalf("failed documents %v", failed)
	}

	// Job durations come from River's job events, which reach the
	// metrics asynchronously, possibly after the source completed: read
	// until they are all there.
	wantMetrics := []string{
		`kollektiv_provider_calls_total{model="hashing-v2-384",provider="embedder"}`,
		`kollektiv_provider_calls_total{model="extractive-v1/hashing-v2-384",provider="summarizer"} 1`,
		`kollektiv_job_duration_seconds_count{kind="persist_chunks",outcome="job_completed"}`,
		`kollektiv_documents{status="embedded"} 1`,
		`kollektiv_documents{status="failed"} 1`,
	}
	wait.For(t, 10*time.Second, func() (bool, string) {
		metrics := string(b.do(t, "", "GET", "/metrics", nil).body)
		var missing []string
		for _, want := range wantMetrics {
			if !strings.Contains(metrics, want) {
				missing = append(missing, want)
			}
		}
		return len(missing) == 0, fmt.Sprintf("metrics lack %s", strings.Join(missing, ", "))
	})

	// Search finds the chunks, with their document.
	s := b.do(t, b.alice, "GET", "/v1/search?q=tokio+engine+progress&k=3", nil)
	if s.status != http.StatusOK {
		t.Fatalf("search: %d %s", s.status, s.body)
	}
	hits := s.json(t)["hits"].([]any)
	if len(hits) == 0 || len(hits) > 3 {
		t.Fatalf("%d hits", len(hits))
	}
	hit := hits[0].(map[string]any)
	if hit["document_title"] != "Tokio" || hit["document_url"] != "tokio.md" || !strings.Contains(hit["text"].(string), "tokio") || hit["source_id"] != id {
		t.Fatalf("hit %v", hit)
	}

	// Retry: the broken document could not even be loaded (no content was
	// kept), so there is nothing to retry: 409 naming why, and the source
	// is left as it was, without a new generation.
	rt := b.do(t, b.alice, "POST", "/v1/sources/"+id+"/retry", nil)
	if rt.status != http.StatusConflict || rt.errorCode(t) != "conflict" || !strings.Contains(string(rt.body), "nothing to retry") {
		t.Fatalf("retry with nothing to retry: %d %s", rt.status, rt.body)
	}
	if v := b.do(t, b.alice, "GET", "/v1/sources/"+id, nil).json(t); v["generation"] != float64(1) || v["stage"] != "completed" || v["failed_documents"] != float64(1) {
		t.Fatalf("after a refused retry %v", v)
	}
	// Refresh of inline documents: nothing to re-read.
	if rf := b.do(t, b.alice, "POST", "/v1/sources/"+id+"/refresh", nil); rf.status != http.StatusConflict || rf.errorCode(t) != "conflict" {
		t.Fatalf("refresh inline: %d %s", rf.status, rf.body)
	}

	// Delete: gone, and nothing retrievable.
	if d := b.do(t, b.alice, "DELETE", "/v1/sources/"+id, nil); d.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", d.status, d.body)
	}
	if g := b.do(t, b.alice, "GET", "/v1/sources/"+id, nil); g.status != http.StatusNotFound || g.errorCode(t) != "not_found" {
		t.Fatalf("get after delete: %d", g.status)
	}
	if s := b.do(t, b.alice, "GET", "/v1/search?q=tokio", nil); len(s.json(t)["hits"].([]any)) != 0 {
		t.Fatalf("search after delete still finds %s", s.body)
	}
	var chunks int
	if err := b.app.Pool.QueryRow(context.Background(), "SELECT count(*) FROM chunks").Scan(&chunks); err != nil || chunks != 0 {
		t.Fatalf("%d chunks left after delete (%v)", chunks, err)
	}
}

func TestListPaging(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	var ids []string
	for i := range 5 {
		r := b.do(t, b.alice, "POST", "/v1/sources", jsonBody(t, map[string]any{"documents": []map[string]string{{"content": guide(fmt.Sprint("t", i))}}}))
		if r.status != http.StatusAccepted {
			t.Fatal(r.status)
		}
		ids = append(ids, r.json(t)["id"].(string))
	}
	var seen []string
	cursor := ""
	for pages := 0; ; pages++ {
		r := b.do(t, b.alice, "GET", "/v1/sources?limit=2&cursor="+cursor, nil)
		if r.status != http.StatusOK {
			t.Fatalf("list: %d %s", r.status, r.body)
		}
		v := r.json(t)
		for _, s := range v["sources"].([]any) {
			seen = append(seen, s.(map[string]any)["id"].(string))
		}
		next, _ := v["next_cursor"].(string)
		if next == "" {
			break
		}
		cursor = next
		if pages > 5 {
			t.Fatal("paging does not end")
		}
	}
	if len(seen) != 5 || seen[0] != ids[4] || seen[4] != ids[0] {
		t.Fatalf("pages gave %v, want the 5 sources newest first", seen)
	}
	if r := b.do(t, b.alice, "GET", "/v1/sources?limit=0", nil); r.status != http.StatusBadRequest {
		t.Fatalf("limit=0: %d", r.status)
	}
	if r := b.do(t, b.alice, "GET", "/v1/sources?cursor=garbage", nil); r.status != http.StatusBadRequest {
		t.Fatalf("bad cursor: %d", r.status)
	}
}

func TestBadRequests(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *config.Config) { c.APIMaxDocuments = 3; c.APIMaxBodyBytes = 64 << 10; c.APIMaxCrawlPages = 10 })
	for _, tc := range []struct {
		name, body string
		status     int
		code, want string
	}{
		{"malformed", `{"documents": [`, 400, "invalid", "malformed JSON"},
		{"wrong type", `{"documents": "nope"}`, 400, "invalid", `field documents: want an array, got string`},
		{"unknown field", `{"docs": []}`, 400, "invalid", "unknown field"},
		{"empty", ``, 400, "invalid", "empty body"},
		{"array", `[{"documents": [{"content": "x"}]}]`, 400, "invalid", `"request body must be a JSON object, got an array"`},
		{"string", `"documents"`, 400, "invalid", `"request body must be a JSON object, got a string"`},
		{"number", `42`, 400, "invalid", `"request body must be a JSON object, got a number"`},
		{"neither", `{}`, 400, "invalid", "want {"},
		{"both", `{"url": "http://example.com", "documents": [{"content": "x"}]}`, 400, "invalid", "either url or documents"},
		{"not http", `{"url": "file:///etc/passwd"}`, 400, "invalid", "http or https"},
		{"too many documents", `{"documents": [{"content":"a"},{"content":"b"},{"content":"c"},{"content":"d"}]}`, 413, "too_large", "limit is 3"},
		{"crawl ceiling", `{"url": "http://127.0.0.1:1/", "crawl": {"page_limit": 11}}`, 413, "too_large", "limit of 10 pages"},
		{"too large", `{"documents": [{"content": "` + strings.Repeat("x", 70<<10) + `"}]}`, 413, "too_large", "larger than"},
	} {
		r := b.do(t, b.alice, "POST", "/v1/sources", strings.NewReader(tc.body))
		if r.status != tc.status || r.errorCode(t) != tc.code || !strings.Contains(string(r.body), tc.want) {
			t.Errorf("%s: %d %s, want %d %s containing %q", tc.name, r.status, r.body, tc.status, tc.code, tc.want)
		}
	}
	for _, tc := range []struct{ path, want string }{
		{"/v1/search", "q:"},
		{"/v1/search?q=x&k=1000", "k:"},
		{"/v1/search?q=x&source_id=nope", "source_id:"},
	} {
		if r := b.do(t, b.alice, "GET", tc.path, nil); r.status != 400 || !strings.Contains(string(r.body), tc.want) {
			t.Errorf("%s: %d %s", tc.path, r.status, r.body)
		}
	}
	// The reason is said once (issue 13: "invalid search: invalid search query: ...").
	long := b.do(t, b.alice, "GET", "/v1/search?q="+strings.Repeat("a", 1001), nil)
	if want := `{"error":{"code":"invalid","message":"invalid search query: text must be at most 1000 characters, got 1001"}}` + "\n"; long.status != 400 || string(long.body) != want {
		t.Errorf("long query: %d %s, want %s", long.status, long.body, want)
	}
	// SQL and query-syntax metacharacters are only text.
	for _, q := range []string{"'; DROP TABLE chunks; --", `"unterminated`, "a & | ! :*", "%00"} {
		if r := b.do(t, b.alice, "GET", "/v1/search?q="+urlEscape(q), nil); r.status != http.StatusOK {
			t.Errorf("q=%q: %d %s", q, r.status, r.body)
		}
	}
	if r := b.do(t, b.alice, "GET", "/v1/sources/not-a-uuid", nil); r.status != 404 {
		t.Errorf("bad id: %d", r.status)
	}
	if r := b.do(t, b.alice, "GET", "/v1/nowhere", nil); r.status != 404 || r.errorCode(t) != "not_found" {
		t.Errorf("unknown path: %d %s", r.status, r.body)
	}
}

func urlEscape(s string) string {
	r := strings.NewReplacer("%", "%25", " ", "+", "&", "%26", "'", "%27", `"`, "%22", "!", "%21", "|", "%7C", ":", "%3A", "*", "%2A", ";", "%3B", "-", "-")
	return r.Replace(s)
}

func TestUpload(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for name, data := range map[string]string{
		"../../etc/passwd.md": guide("traversal"),
		"guide.html":          "<html><head><title>HTML guide</title></head><body><nav>menu</nav><main><h1>HTML guide</h1><p>" + guide("html") + "</p></main></body></html>",
		"photo.md":            "\x89PNG\r\n\x1a\n\x00\x00\x00binary",
	} {
		fw, err := mw.CreateFormFile("files", name)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = fw.Write([]byte(data))
	}
	_ = mw.Close()
	r := b.do(t, b.alice, "POST", "/v1/sources/upload", &body, "Content-Type", mw.FormDataContentType())
	if r.status != http.StatusAccepted {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	source := b.waitFinished(t, b.alice, r.json(t)["id"].(string))
	if source["documents"] != float64(3) || source["failed_documents"] != float64(1) {
		t.Fatalf("upload finished as %v", source)
	}
	var urls []string
	rows, err := b.app.Pool.Query(context.Background(), "SELECT url FROM documents ORDER BY url")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var u string
		_ = rows.Scan(&u)
		urls = append(urls, u)
	}
	if strings.Join(urls, ",") != "guide.html,passwd.md,photo.md" {
		t.Fatalf("stored names %v: the path must be reduced to its base name", urls)
	}
	if r := b.do(t, b.alice, "POST", "/v1/sources/upload", strings.NewReader("x"), "Content-Type", "text/plain"); r.status != 400 {
		t.Fatalf("non-multipart upload: %d", r.status)
	}
}

func TestAuth(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	ctx := context.Background()
	if r := b.do(t, "", "GET", "/v1/sources", nil); r.status != 401 || r.errorCode(t) != "unauthorized" {
		t.Fatalf("no key: %d %s", r.status, r.body)
	}
	if r := b.do(t, "kol_"+strings.Repeat("0", 64), "GET", "/v1/sources", nil); r.status != 401 {
		t.Fatalf("unknown key: %d", r.status)
	}
	expired := time.Now().Add(-time.Minute)
	old, _, err := apikeys.Create(ctx, b.app.Pool, apikeys.CreateParams{UserID: "alice", ExpiresAt: &expired})
	if err != nil {
		t.Fatal(err)
	}
	if r := b.do(t, old, "GET", "/v1/sources", nil); r.status != 401 || !strings.Contains(string(r.body), "expired") {
		t.Fatalf("expired key: %d %s", r.status, r.body)
	}
	revoked, key, err := apikeys.Create(ctx, b.app.Pool, apikeys.CreateParams{UserID: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if r := b.do(t, revoked, "GET", "/v1/sources", nil); r.status != 200 {
		t.Fatalf("fresh key: %d", r.status)
	}
	if _, err := b.app.Queries.RevokeAPIKey(ctx, key.ID); err != nil {
		t.Fatal(err)
	}
	if r := b.do(t, revoked, "GET", "/v1/sources", nil); r.status != 401 || !strings.Contains(string(r.body), "revoked") {
		t.Fatalf("revoked key: %d %s", r.status, r.body)
	}
	// River UI: admins only.
	if r := b.do(t, b.alice, "GET", "/riverui/", nil); r.status != 403 || r.errorCode(t) != "forbidden" {
		t.Fatalf("river ui as user: %d", r.status)
	}
	if r := b.do(t, "", "GET", "/riverui/", nil); r.status != 401 || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic") {
		t.Fatalf("river ui without key: %d %v", r.status, r.header)
	}
	// A browser sends the key as the Basic password.
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("ops:"+b.admin))
	if r := b.do(t, "", "GET", "/riverui/", nil, "Authorization", basic); r.status != 200 {
		t.Fatalf("river ui with basic auth: %d", r.status)
	}
	if r := b.do(t, b.admin, "GET", "/riverui/", nil); r.status != 200 || !strings.Contains(string(r.body), "<html") {
		t.Fatalf("river ui as admin: %d", r.status)
	}
	// Health needs no key.
	for _, p := range []string{"/healthz", "/readyz", "/v1/openapi.json"} {
		if r := b.do(t, "", "GET", p, nil); r.status != 200 {
			t.Fatalf("%s: %d", p, r.status)
		}
	}
	// A source, so that there are jobs to count.
	if r := b.do(t, b.alice, "POST", "/v1/sources", jsonBody(t, map[string]any{"documents": []map[string]string{{"content": guide("m")}}})); r.status != 202 {
		t.Fatal(r.status)
	}
	m := b.do(t, "", "GET", "/metrics", nil)
	for _, want := range []string{"kollektiv_http_request_duration_seconds", "kollektiv_jobs{", "kollektiv_sse_subscribers", `route="GET /v1/sources"`} {
		if !strings.Contains(string(m.body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *config.Config) { c.APIRateLimit = 1; c.APIRateBurst = 3 })
	// The burst of 3 goes through; the 4th, well within a second of the
	// first, finds the bucket empty (one token refills per second).
	codes := []int{}
	for range 4 {
		codes = append(codes, b.do(t, b.alice, "GET", "/v1/sources", nil).status)
	}
	if fmt.Sprint(codes) != "[200 200 200 429]" {
		t.Fatalf("statuses %v, want the burst of 3 then 429", codes)
	}
	r := b.do(t, b.alice, "GET", "/v1/sources", nil)
	if r.header.Get("Retry-After") == "" || r.errorCode(t) != "rate_limited" {
		t.Fatalf("429 without Retry-After: %v", r.header)
	}
	// Another key has its own bucket.
	if r := b.do(t, b.bob, "GET", "/v1/sources", nil); r.status != 200 {
		t.Fatalf("bob limited by alice's use: %d", r.status)
	}
}

// TestIsolation runs every endpoint with bob's key against alice's
// resources: nothing of alice's may show, in status or body.
func TestIsolation(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	source := b.createInline(t, b.alice, map[string]string{"title": "Secret plans", "url": "secret.md", "content": guide("zanzibar")})
	id := source["id"].(string)
	var docID string
	if err := b.app.Pool.QueryRow(context.Background(), "SELECT id::text FROM documents WHERE source_id = $1", id).Scan(&docID); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct{ method, path string }{
		{"GET", "/v1/sources/" + id},
		{"GET", "/v1/sources/" + id + "/documents"},
		{"GET", "/v1/documents/" + docID},
		{"GET", "/v1/documents/" + docID + "?content=true"},
		{"DELETE", "/v1/sources/" + id},
		{"POST", "/v1/sources/" + id + "/retry"},
		{"POST", "/v1/sources/" + id + "/refresh"},
		{"GET", "/v1/sources/" + id + "/events"},
		{"GET", "/v1/search?q=zanzibar&source_id=" + id},
	} {
		r := b.do(t, b.bob, tc.method, tc.path, nil)
		if r.status != http.StatusNotFound || strings.Contains(string(r.body), "zanzibar") || strings.Contains(string(r.body), "Secret") {
			t.Errorf("bob %s %s: %d %s", tc.method, tc.path, r.status, r.body)
		}
	}
	if r := b.do(t, b.bob, "GET", "/v1/sources", nil); len(r.json(t)["sources"].([]any)) != 0 {
		t.Errorf("bob lists %s", r.body)
	}
	if r := b.do(t, b.bob, "GET", "/v1/search?q=zanzibar+engine", nil); len(r.json(t)["hits"].([]any)) != 0 {
		t.Errorf("bob's search finds alice's chunks: %s", r.body)
	}
	// Bob's Idempotency-Key equal to one of alice's does not return hers.
	if r := b.do(t, b.alice, "POST", "/v1/sources", jsonBody(t, map[string]any{"documents": []map[string]string{{"content": guide("a")}}}), "Idempotency-Key", "same"); r.status != 202 {
		t.Fatal(r.status)
	}
	if r := b.do(t, b.bob, "POST", "/v1/sources", jsonBody(t, map[string]any{"documents": []map[string]string{{"content": guide("b")}}}), "Idempotency-Key", "same"); r.status != 202 || r.json(t)["id"] == id {
		t.Fatalf("bob's idempotency key: %d %s", r.status, r.body)
	}
	// Alice still has her source, untouched.
	if r := b.do(t, b.alice, "GET", "/v1/sources/"+id, nil); r.status != 200 || r.json(t)["stage"] != "completed" {
		t.Fatalf("alice's source after bob: %d %s", r.status, r.body)
	}
	_ = uuid.Nil
}
