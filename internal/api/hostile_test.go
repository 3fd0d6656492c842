package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kollektiv/kollektiv/internal/apikeys"
	"github.com/kollektiv/kollektiv/internal/config"
)

// checkError asserts r is an error of the given status in the API's shape,
// {"error": {"code", "message"}} and nothing else, and returns its message.
func checkError(t *testing.T, what string, r response, status int, code string) string {
	t.Helper()
	v := map[string]any{}
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Errorf("%s: body is not JSON: %.300s", what, r.body)
		return ""
	}
	e, ok := v["error"].(map[string]any)
	if !ok || len(v) != 1 || len(e) != 2 {
		t.Errorf("%s: want {\"error\": {\"code\", \"message\"}}, got %.300s", what, r.body)
		return ""
	}
	msg, _ := e["message"].(string)
	if r.status != status || e["code"] != code || msg == "" {
		t.Errorf("%s: %d %.300s, want %d %s", what, r.status, r.body, status, code)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s: Content-Type %q", what, ct)
	}
	return msg
}

// randomName returns n letters that do not compress: a long name must not
// slip under PostgreSQL's index row limit by compression.
func randomName(n int, ext string) string {
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	r := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, n)
	for i := range b {
		b[i] = letters[r.IntN(len(letters))]
	}
	return string(b) + ext
}

// TestHostileJSON sends broken and hostile JSON bodies: each is a 400, 413
// or an accepted source, never a 500, always in the error shape.
func TestHostileJSON(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *config.Config) { c.APIMaxBodyBytes = 256 << 10; c.APIRateLimit = 1000; c.APIRateBurst = 1000 })
	for _, tc := range []struct {
		name, body string
		status     int
		code       string
	}{
		{"open brace", `{`, 400, "invalid"},
		{"array", `[]`, 400, "invalid"},
		{"string", `"documents"`, 400, "invalid"},
		{"number", `42`, 400, "invalid"},
		{"null", `null`, 400, "invalid"},
		{"two values", `{"documents": [{"content": "a"}]} {"url": "http://x"}`, 400, "invalid"},
		{"trailing garbage", `{"documents": [{"content": "a"}]} x`, 400, "invalid"},
		{"content a number", `{"documents": [{"content": 5}]}`, 400, "invalid"},
		{"title an array", `{"documents": [{"title": ["x"], "content": "a"}]}`, 400, "invalid"},
		{"document a string", `{"documents": ["a"]}`, 400, "invalid"},
		{"url a number", `{"url": 12}`, 400, "invalid"},
		{"crawl a string", `{"url": "http://127.0.0.1:1/", "crawl": "deep"}`, 400, "invalid"},
		{"page limit huge", `{"url": "http://127.0.0.1:1/", "crawl": {"page_limit": 1e100}}`, 400, "invalid"},
		{"page limit fraction", `{"url": "http://127.0.0.1:1/", "crawl": {"page_limit": 1.5}}`, 400, "invalid"},
		{"page limit negative", `{"url": "http://127.0.0.1:1/", "crawl": {"page_limit": -1}}`, 400, "invalid"},
		{"depth negative", `{"url": "http://127.0.0.1:1/", "crawl": {"max_depth": -3}}`, 400, "invalid"},
		{"include a string", `{"url": "http://127.0.0.1:1/", "crawl": {"include_paths": "/a"}}`, 400, "invalid"},
		{"javascript url", `{"url": "javascript:alert(1)"}`, 400, "invalid"},
		{"bad escape", `{"documents": [{"content": "\x"}]}`, 400, "invalid"},
		{"raw control char", "{\"documents\": [{\"content\": \"a\x01b\"}]}", 400, "invalid"},
		{"deep nesting", strings.Repeat("[", 20_000) + strings.Repeat("]", 20_000), 400, "invalid"},
		{"deep object", `{"documents": [{"content": "a", "x": ` + strings.Repeat(`{"a":`, 20_000) + "1" + strings.Repeat("}", 20_000) + `}]}`, 400, "invalid"},
		{"oversized", `{"documents": [{"content": "` + strings.Repeat("x", 300<<10) + `"}]}`, 413, "too_large"},
		{"oversized garbage", strings.Repeat("x", 300<<10), 400, "invalid"},
		{"oversized whitespace", strings.Repeat(" ", 300<<10) + "{}", 413, "too_large"},
		{"empty documents", `{"documents": []}`, 400, "invalid"},
		{"empty object", `{}`, 400, "invalid"},
	} {
		r := b.do(t, b.alice, "POST", "/v1/sources", strings.NewReader(tc.body))
		checkError(t, tc.name, r, tc.status, tc.code)
	}

	// Bodies that are valid JSON but hostile text: NUL characters, invalid
	// UTF-8 and huge names must not reach PostgreSQL as a 500. Each request
	// carries a good document that must be stored. All are sent first, then
	// awaited together.
	pending := map[string]string{} // source id -> case
	for _, tc := range []struct {
		name string
		doc  map[string]string
	}{
		{"NUL in title", map[string]string{"title": "a\x00b", "url": "nul-title.md", "content": "# T\n\ntext"}},
		{"NUL in url", map[string]string{"url": "a\x00b.md", "content": "# T\n\ntext"}},
		{"NUL in content", map[string]string{"url": "nul-content.md", "content": "text \x00 more"}},
		{"NUL past the head", map[string]string{"url": "nul-late.md", "content": "# Late NUL\n\n" + strings.Repeat("text ", 4_000) + "\x00 more"}},
		{"long url", map[string]string{"url": randomName(10_000, ".md"), "content": "# Long\n\ntext"}},
		{"long title", map[string]string{"title": randomName(10_000, ""), "url": "long-title.md", "content": "# T\n\ntext"}},
		{"only spaces", map[string]string{"url": "blank.md", "content": " \n\t "}},
		{"sql in url", map[string]string{"url": "'); DROP TABLE documents; --", "content": "# T\n\ntext"}},
	} {
		good := map[string]string{"title": "Good", "url": "good.md", "content": guide("neighbour")}
		r := b.do(t, b.alice, "POST", "/v1/sources", jsonBody(t, map[string]any{"documents": []map[string]string{tc.doc, good}}))
		if r.status != http.StatusAccepted {
			t.Errorf("%s: %d %.300s, want 202 with the bad document reported", tc.name, r.status, r.body)
			continue
		}
		pending[r.json(t)["id"].(string)] = tc.name
	}
	// Two inline documents with the same url are two documents: neither
	// replaces the other.
	r := b.do(t, b.alice, "POST", "/v1/sources", jsonBody(t, map[string]any{"documents": []map[string]string{
		{"url": "same.md", "content": guide("first")},
		{"url": "same.md", "content": guide("second")},
		{"content": guide("third")},
		{"content": guide("third")},
	}}))
	if r.status != http.StatusAccepted {
		t.Fatalf("duplicate urls: %d %s", r.status, r.body)
	}
	dupID := r.json(t)["id"].(string)
	// An Idempotency-Key too long for its unique index is a 400, not a 500;
	// SQL in one is only text.
	r = b.do(t, b.alice, "POST", "/v1/sources", jsonBody(t, map[string]any{"documents": []map[string]string{{"content": "# K\n\ntext"}}}), "Idempotency-Key", randomName(10_000, ""))
	checkError(t, "Idempotency-Key of 10,000 bytes", r, http.StatusBadRequest, "invalid")
	for range 2 {
		r = b.do(t, b.alice, "POST", "/v1/sources", jsonBody(t, map[string]any{"documents": []map[string]string{{"content": "# K\n\ntext"}}}), "Idempotency-Key", "'; DROP TABLE sources; --")
		if r.status != http.StatusAccepted {
			t.Errorf("SQL in Idempotency-Key: %d %s", r.status, r.body)
		}
	}
	for id, name := range pending {
		source := b.waitFinished(t, b.alice, id)
		if source["stage"] != "completed" || source["documents"] != float64(2) || source["chunks"].(float64) < 1 {
			t.Errorf("%s: finished as %v", name, source)
		}
	}
	if source := b.waitFinished(t, b.alice, dupID); source["documents"] != float64(4) || source["failed_documents"] != float64(0) {
		t.Errorf("4 documents, 2 pairs of the same url, finished as %v", source)
	}
}

// TestHostileUploads sends uploads with hostile names, duplicates and
// oversized bodies.
func TestHostileUploads(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *config.Config) { c.APIMaxBodyBytes = 256 << 10 })
	upload := func(files [][2]string) response {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		for _, f := range files {
			// CreateFormFile escapes quotes; write the header by hand so
			// the name reaches the server as sent.
			h := textproto.MIMEHeader{}
			h.Set("Content-Disposition", `form-data; name="files"; filename="`+f[0]+`"`)
			h.Set("Content-Type", "application/octet-stream")
			fw, err := mw.CreatePart(h)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = fw.Write([]byte(f[1]))
		}
		_ = mw.Close()
		return b.do(t, b.alice, "POST", "/v1/sources/upload", &body, "Content-Type", mw.FormDataContentType())
	}
	long := randomName(10_000, ".md")
	r := upload([][2]string{
		{"a.md", "# A\n\nfirst a"},
		{"dir/a.md", "# A again\n\nsecond a"},
		{`..\..\windows\a.md`, "# A third\n\nthird a"},
		{"bad\xff.md", "# Bad\n\nname not UTF-8"},
		{"../../", "# Nothing\n\nno name"},
		{long, "# Long\n\nlong name"},
		{"/etc/passwd", "root:x:0:0"},
		{"good.md", guide("upload")},
	})
	if r.status != http.StatusAccepted {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	id := r.json(t)["id"].(string)
	source := b.waitFinished(t, b.alice, id)
	if source["stage"] != "completed" {
		t.Fatalf("upload finished as %v", source)
	}
	rows, err := b.app.Pool.Query(context.Background(), "SELECT url, status FROM documents WHERE source_id = $1 ORDER BY url", id)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]string{}
	for rows.Next() {
		var u, s string
		if err := rows.Scan(&u, &s); err != nil {
			t.Fatal(err)
		}
		stored[u] = s
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	// Every file is stored, as a document or as a failed one: nothing lost.
	if len(stored) != 8 {
		t.Errorf("%d of 8 files stored: %v", len(stored), keys(stored))
	}
	for _, name := range []string{"a.md", "a.md (2)", "a.md (3)", "passwd", "good.md"} {
		if stored[name] == "" {
			t.Errorf("%s not stored: %v", name, keys(stored))
		}
	}
	for name := range stored {
		if strings.ContainsAny(name, "/\\\x00") && !strings.Contains(name, "?") {
			t.Errorf("stored name %q keeps a path or a NUL", name)
		}
	}

	// Go's multipart reader refuses a NUL in a header: the whole request
	// is a 400 that says why.
	r = upload([][2]string{{"nul\x00.md", "# NUL"}, {"good.md", "# Good"}})
	checkError(t, "NUL in a file name", r, http.StatusBadRequest, "invalid")
	// An upload larger than the body limit.
	r = upload([][2]string{{"big.md", strings.Repeat("x", 300<<10)}})
	checkError(t, "oversized upload", r, http.StatusRequestEntityTooLarge, "too_large")
	// Broken multipart bodies.
	for _, tc := range []struct{ name, ctype, body string }{
		{"no boundary", "multipart/form-data", "--x\r\n"},
		{"truncated", "multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.md\"\r\n\r\nabc"},
		{"no files", "multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"field\"\r\n\r\nvalue\r\n--x--\r\n"},
		{"json", "application/json", `{"documents": []}`},
	} {
		r := b.do(t, b.alice, "POST", "/v1/sources/upload", strings.NewReader(tc.body), "Content-Type", tc.ctype)
		checkError(t, tc.name, r, http.StatusBadRequest, "invalid")
	}
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, fmt.Sprintf("%.40q", k))
	}
	return out
}

// TestHostileQueries puts SQL and other metacharacters in every query
// parameter: each is plain text or a 400, the tables stay, and another
// user's ids are as unknown as random ones.
func TestHostileQueries(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	source := b.createInline(t, b.alice, map[string]string{"title": "Plans", "url": "plans.md", "content": guide("zanzibar")})
	id := source["id"].(string)

	for _, p := range []string{
		"/v1/search?q=x&source_id=" + urlEscape("'; DROP TABLE sources; --"),
		"/v1/search?q=x&source_id=" + id + "%27",
		"/v1/search?q=x&k=" + urlEscape("1; DROP TABLE chunks"),
		"/v1/search?q=x&k=-1",
		"/v1/search?q=x&k=99999999999999999999",
		"/v1/sources?limit=" + urlEscape("1 OR 1=1"),
		"/v1/sources?limit=0",
		"/v1/sources?limit=101",
		"/v1/sources?limit=-5",
		"/v1/sources?limit=99999999999999999999",
		"/v1/sources?cursor=" + urlEscape("' OR '1'='1"),
		"/v1/sources?cursor=" + base64.RawURLEncoding.EncodeToString([]byte("1' OR 1=1 --:"+id)),
		"/v1/sources?cursor=" + base64.RawURLEncoding.EncodeToString([]byte("99999999999999999999999:"+id)),
		"/v1/sources?cursor=" + base64.RawURLEncoding.EncodeToString([]byte("1:"+id+"'--")),
		"/v1/sources?cursor=%00",
		"/v1/sources/" + id + "/documents?limit=" + urlEscape("1 OR 1=1"),
		"/v1/sources/" + id + "/documents?status=" + urlEscape("failed' OR '1'='1"),
		"/v1/sources/" + id + "/documents?cursor=" + urlEscape("' OR '1'='1"),
		"/v1/sources/" + id + "/documents?cursor=" + base64.RawURLEncoding.EncodeToString([]byte("d"+id+"\x00")),
		"/v1/sources/" + urlEscape("'; DROP TABLE documents; --") + "/documents",
		"/v1/documents/" + urlEscape("'; DROP TABLE documents; --"),
		"/v1/documents/" + id + "?chunk_limit=99999999999999999999",
		"/v1/documents/" + id + "?chunk_cursor=" + base64.RawURLEncoding.EncodeToString([]byte("c"+id+"1' OR 1=1 --:"+id)),
	} {
		checkError(t, p, b.do(t, b.alice, "GET", p, nil), http.StatusBadRequest, "invalid")
	}
	// Text that only a careless query would choke on: searched as text.
	for _, q := range []string{
		"'; DROP TABLE chunks; --", `\' OR 1=1`, "$1 $2", "a' || pg_sleep(10) || '", "zanzibar) | (!x & y:*",
		"\u202e\u202d", "<script>zanzibar</script>", "%s %d %x",
	} {
		r := b.do(t, b.alice, "GET", "/v1/search?q="+url.QueryEscape(q), nil)
		if r.status != http.StatusOK {
			t.Errorf("q=%.60q: %d %.300s", q, r.status, r.body)
		}
	}
	// Text the search refuses, with a 400 that says why.
	for _, q := range []string{"\xff\xfe", "\x00zanzibar", strings.Repeat("zanzibar ", 2_000)} {
		r := b.do(t, b.alice, "GET", "/v1/search?q="+url.QueryEscape(q), nil)
		checkError(t, fmt.Sprintf("q=%.40q", q), r, http.StatusBadRequest, "invalid")
	}
	// A cursor at the far past or future is a valid page, empty or not.
	for _, at := range []int64{0, -1 << 40, 1 << 52} {
		c := base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf("%d:%s", at, uuid.Nil)))
		if r := b.do(t, b.alice, "GET", "/v1/sources?cursor="+c, nil); r.status != http.StatusOK {
			t.Errorf("cursor at %d: %d %s", at, r.status, r.body)
		}
	}
	// The tables are all there and alice's source with them.
	if r := b.do(t, b.alice, "GET", "/v1/search?q=zanzibar", nil); r.status != 200 || len(r.json(t)["hits"].([]any)) == 0 {
		t.Fatalf("search after hostile queries: %d %s", r.status, r.body)
	}

	// Another user's source answers exactly as a random id does, on every
	// route: existence does not leak through status or body.
	random := uuid.NewString()
	for _, tc := range []struct{ method, path string }{
		{"GET", "/v1/sources/%s"},
		{"DELETE", "/v1/sources/%s"},
		{"POST", "/v1/sources/%s/retry"},
		{"POST", "/v1/sources/%s/refresh"},
		{"GET", "/v1/sources/%s/events"},
		{"GET", "/v1/search?q=zanzibar&source_id=%s"},
		{"GET", "/v1/sources/%s/documents"},
	} {
		theirs := b.do(t, b.bob, tc.method, fmt.Sprintf(tc.path, id), nil)
		unknown := b.do(t, b.bob, tc.method, fmt.Sprintf(tc.path, random), nil)
		checkError(t, "bob "+tc.method+" "+tc.path, theirs, http.StatusNotFound, "not_found")
		if theirs.status != unknown.status || !bytes.Equal(theirs.body, unknown.body) {
			t.Errorf("%s %s: alice's id answers %d %s, a random id %d %s", tc.method, tc.path, theirs.status, theirs.body, unknown.status, unknown.body)
		}
	}
	if r := b.do(t, b.alice, "GET", "/v1/sources/"+id, nil); r.status != 200 || r.json(t)["stage"] != "completed" {
		t.Fatalf("alice's source after bob: %d %s", r.status, r.body)
	}
}

// TestHostileKeys tries keys that must not pass and Authorization headers
// in the forms clients send.
func TestHostileKeys(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	ctx := context.Background()
	expiredAt := time.Now().Add(-time.Second)
	expired, _, err := apikeys.Create(ctx, b.app.Pool, apikeys.CreateParams{UserID: "alice", ExpiresAt: &expiredAt})
	if err != nil {
		t.Fatal(err)
	}
	revoked, key, err := apikeys.Create(ctx, b.app.Pool, apikeys.CreateParams{UserID: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.app.Queries.RevokeAPIKey(ctx, key.ID); err != nil {
		t.Fatal(err)
	}
	alice := b.alice
	for _, tc := range []struct {
		name, header string
		status       int
	}{
		{"bearer", "Bearer " + alice, 200},
		{"lowercase scheme", "bearer " + alice, 200},
		{"uppercase scheme", "BEARER " + alice, 200},
		{"extra spaces", "Bearer    " + alice + "  ", 200},
		{"tab", "Bearer\t" + alice, 200},
		{"no scheme", alice, 401},
		{"basic", "Basic " + base64.StdEncoding.EncodeToString([]byte("alice:"+alice)), 401},
		{"token scheme", "Token " + alice, 401},
		{"scheme only", "Bearer", 401},
		{"scheme and space", "Bearer ", 401},
		{"two keys", "Bearer " + alice + " " + alice, 401},
		{"wrong prefix", "Bearer sk_" + strings.TrimPrefix(alice, "kol_"), 401},
		{"prefix only", "Bearer kol_", 401},
		{"truncated", "Bearer " + alice[:len(alice)-1], 401},
		{"changed case", "Bearer " + strings.ToUpper(alice), 401},
		{"long", "Bearer kol_" + strings.Repeat("a", 100_000), 401},
		{"sql", "Bearer kol_' OR '1'='1", 401},
		{"expired", "Bearer " + expired, 401},
		{"revoked", "Bearer " + revoked, 401},
	} {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.baseURL+"/v1/sources", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", tc.header)
		r := send(t, req)
		if tc.status == 200 {
			if r.status != 200 {
				t.Errorf("%s: %d %s", tc.name, r.status, r.body)
			}
			continue
		}
		msg := checkError(t, tc.name, r, tc.status, "unauthorized")
		if strings.Contains(msg, alice) || strings.Contains(msg, "kol_") {
			t.Errorf("%s: the message echoes the key: %s", tc.name, msg)
		}
	}
}

func send(t *testing.T, req *http.Request) response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: buf.Bytes()}
}
