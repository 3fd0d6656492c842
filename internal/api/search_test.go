package api_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
)

// logBuffer collects a service's log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// searchHits runs a search that must succeed and returns its body and hits.
func (b *testBundle) searchHits(t *testing.T, key string, params url.Values) (map[string]any, []map[string]any) {
	t.Helper()
	r := b.do(t, key, "GET", "/v1/search?"+params.Encode(), nil)
	if r.status != http.StatusOK {
		t.Fatalf("search %s: %d %s", params.Encode(), r.status, r.body)
	}
	body := r.json(t)
	var hits []map[string]any
	for _, h := range body["hits"].([]any) {
		hits = append(hits, h.(map[string]any))
	}
	return body, hits
}

func TestSearchControls(t *testing.T) {
	t.Parallel()
	logs := &logBuffer{}
	b := setupLogged(t, nil, slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})))

	frontMatter := "---\ntitle: Async guide\ntags: [async, intro]\ndate: 2024-01-15\ndraft: false\n---\n"
	r := b.do(t, b.alice, "POST", "/v1/sources", jsonBody(t, map[string]any{"documents": []map[string]any{
		// The client's metadata is merged over the front matter: its draft wins.
		{"url": "guide/async.md", "content": frontMatter + guide("zanzibar"), "metadata": map[string]any{"draft": true, "team": "platform"}},
		{"url": "reference/api.md", "content": "---\ntags: reference\n---\n" + guide("zanzibar")},
	}}))
	if r.status != http.StatusAccepted {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	first := r.json(t)["id"].(string)
	if v := b.waitFinished(t, b.alice, first); v["stage"] != "completed" {
		t.Fatalf("first source %v", v)
	}
	second := b.createInline(t, b.alice, map[string]string{"url": "other/notes.md", "content": guide("zanzibar")})["id"].(string)
	// bob's documents match every filter alice uses.
	r = b.do(t, b.bob, "POST", "/v1/sources", jsonBody(t, map[string]any{"documents": []map[string]any{
		{"url": "guide/async.md", "content": frontMatter + guide("zanzibar"), "metadata": map[string]any{"draft": true, "team": "platform"}},
	}}))
	if r.status != http.StatusAccepted {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	b.waitFinished(t, b.bob, r.json(t)["id"].(string))

	body, hits := b.searchHits(t, b.alice, url.Values{"q": {"zanzibar engine"}})
	if body["mode"] != "hybrid" || body["rrf_k"] != float64(60) || body["vector_weight"] != float64(1) || body["text_weight"] != float64(1) ||
		fmt.Sprint(body["warnings"]) != "[]" || len(hits) == 0 {
		t.Fatalf("default search: %v", body)
	}
	for _, h := range hits {
		link := h["document_url"].(string)
		if h["anchor"] != "" {
			link += "#" + h["anchor"].(string)
		}
		if h["url"] != link || h["headings"] == nil || h["language"] == nil {
			t.Errorf("hit without its section link, headings or language: %v", h)
		}
	}

	documentsOf := func(hits []map[string]any) string {
		seen := map[string]bool{}
		var urls []string
		for _, h := range hits {
			if u := h["document_url"].(string); !seen[u] {
				seen[u] = true
				urls = append(urls, u)
			}
		}
		slices.Sort(urls)
		return strings.Join(urls, " ")
	}
	for _, tt := range []struct {
		params url.Values
		want   string
	}{
		{url.Values{"metadata": {`{"tags":"async"}`}}, "guide/async.md"},
		{url.Values{"metadata": {`{"tags":["intro","async"]}`}}, "guide/async.md"},
		{url.Values{"metadata": {`{"date":"2024-01-15"}`}}, "guide/async.md"},
		{url.Values{"metadata": {`{"title":"Async guide"}`}}, "guide/async.md"},
		{url.Values{"metadata": {`{"draft":true,"team":"platform"}`}}, "guide/async.md"},
		{url.Values{"metadata": {`{"draft":false}`}}, ""},
		{url.Values{"metadata": {`{"tags":"reference"}`}}, "reference/api.md"},
		{url.Values{"path_prefix": {"reference/"}}, "reference/api.md"},
		{url.Values{"path_prefix": {"guide/"}, "metadata": {`{"tags":"reference"}`}}, ""},
		{url.Values{"source_id": {second}}, "other/notes.md"},
		{url.Values{"source_id": {first + "," + second}}, "guide/async.md other/notes.md reference/api.md"},
		{url.Values{"source_id": {first, second}, "path_prefix": {"other/"}}, "other/notes.md"},
		{url.Values{"lang": {"en", "und"}}, "guide/async.md other/notes.md reference/api.md"},
		{url.Values{"lang": {"ja"}}, ""},
	} {
		tt.params.Set("q", "zanzibar engine")
		tt.params.Set("k", "100")
		_, hits := b.searchHits(t, b.alice, tt.params)
		if got := documentsOf(hits); got != tt.want {
			t.Errorf("%s: documents %q, want %q", tt.params.Encode(), got, tt.want)
		}
	}

	// Mode and weights: text alone, its contribution weighted.
	body, hits = b.searchHits(t, b.alice, url.Values{"q": {"zanzibar engine"}, "mode": {"text"}, "text_weight": {"2"}, "rrf_k": {"10"}})
	if body["mode"] != "text" || body["rrf_k"] != float64(10) || body["text_weight"] != float64(2) || len(hits) == 0 {
		t.Fatalf("text mode: %v", body)
	}
	for _, h := range hits {
		rank := h["text_rank"].(float64)
		if h["vector_rank"] != float64(0) || h["vector_distance"] != nil || h["text_contribution"] != 2/(10+rank) || h["score"] != h["text_contribution"] {
			t.Errorf("text-mode hit: %v", h)
		}
	}

	// Chunks embedded by another model: answered, and said so, in the
	// body and in the log.
	if _, err := b.app.Pool.Exec(context.Background(), "UPDATE chunks SET embedding_model = 'other-model' WHERE source_id = $1", second); err != nil {
		t.Fatal(err)
	}
	body, _ = b.searchHits(t, b.alice, url.Values{"q": {"zanzibar engine"}})
	warnings := body["warnings"].([]any)
	if len(warnings) != 1 || warnings[0].(map[string]any)["code"] != "embedding_mismatch" ||
		!strings.Contains(warnings[0].(map[string]any)["message"].(string), "other-model") {
		t.Fatalf("warnings %v, want the other model named", body["warnings"])
	}
	if log := logs.String(); !strings.Contains(log, `"msg":"search warning"`) || !strings.Contains(log, `"code":"embedding_mismatch"`) || !strings.Contains(log, `"user_id":"alice"`) {
		t.Errorf("no WARN line for the mismatch:\n%s", log)
	}
	if body, _ := b.searchHits(t, b.alice, url.Values{"q": {"zanzibar engine"}, "source_id": {first}}); fmt.Sprint(body["warnings"]) != "[]" {
		t.Errorf("a source of the searcher's model warns: %v", body["warnings"])
	}
	if body, _ := b.searchHits(t, b.alice, url.Values{"q": {"zanzibar engine"}, "mode": {"text"}}); fmt.Sprint(body["warnings"]) != "[]" {
		t.Errorf("text mode warns: %v", body["warnings"])
	}

	// Each bad parameter is a 400 naming it.
	tooMany := make([]string, 101)
	for i := range tooMany {
		tooMany[i] = uuid.NewString()
	}
	for _, tt := range []struct {
		params url.Values
		want   string
	}{
		{url.Values{"mode": {"semantic"}}, "mode must be hybrid, vector or text"},
		{url.Values{"rrf_k": {"0"}}, "rrf_k: want a whole number from 1 to 1000"},
		{url.Values{"rrf_k": {"sixty"}}, "rrf_k:"},
		{url.Values{"vector_weight": {"0"}}, "vector_weight: want a number above 0"},
		{url.Values{"text_weight": {"NaN"}}, "text_weight:"},
		{url.Values{"text_weight": {"1e999"}}, "text_weight:"},
		{url.Values{"text_weight": {"-1"}}, "text_weight:"},
		{url.Values{"lang": {"english"}}, "languages must be ISO 639-1 codes"},
		{url.Values{"metadata": {`["tags"]`}}, "metadata must be a JSON object"},
		{url.Values{"metadata": {`{"tags":`}}, "metadata must be a JSON object"},
		{url.Values{"metadata": {`{"a":"\u0000"}`}}, "metadata key"},
		{url.Values{"metadata": {`{"a":"` + strings.Repeat("x", 5000) + `"}`}}, "metadata must be at most 4096 bytes"},
		{url.Values{"path_prefix": {strings.Repeat("p", 1025)}}, "path_prefix must be at most 1024 bytes"},
		{url.Values{"source_id": {"nope"}}, `source_id: "nope" is not a source id`},
		{url.Values{"source_id": tooMany}, "source_id: at most 100 sources"},
		{url.Values{"langs": {"en"}}, "langs: unknown parameter"},
		{url.Values{"k": {"3", "4"}}, "k: give it once"},
	} {
		tt.params.Set("q", "zanzibar")
		r := b.do(t, b.alice, "GET", "/v1/search?"+tt.params.Encode(), nil)
		if msg := checkError(t, tt.params.Encode(), r, http.StatusBadRequest, "invalid"); !strings.Contains(msg, tt.want) {
			t.Errorf("%.80s: message %q, want it to say %q", tt.params.Encode(), msg, tt.want)
		}
	}
	// Another user's source among several is not found, as one alone is.
	r = b.do(t, b.bob, "GET", "/v1/search?"+url.Values{"q": {"zanzibar"}, "source_id": {first}}.Encode(), nil)
	checkError(t, "bob with alice's source", r, http.StatusNotFound, "not_found")
	theirs := b.do(t, b.bob, "GET", "/v1/search?"+url.Values{"q": {"zanzibar"}, "source_id": {uuid.NewString(), first}}.Encode(), nil)
	checkError(t, "bob with alice's source among others", theirs, http.StatusNotFound, "not_found")
	if !bytes.Equal(theirs.body, r.body) {
		t.Errorf("bob's answers differ: %s and %s", r.body, theirs.body)
	}
}

func TestDocumentMetadataValidation(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	for _, tt := range []struct {
		name, metadata, want string
	}{
		{"array", `["a"]`, "documents[1].metadata: want a JSON object"},
		{"string", `"tags"`, "documents[1].metadata: want a JSON object"},
		{"too large", `{"a":"` + strings.Repeat("x", 17<<10) + `"}`, "documents[1].metadata: 17416 bytes of JSON, limit 16384"},
		{"nul", `{"a":"b\u0000"}`, "documents[1].metadata: keys and strings must be valid UTF-8 without NUL"},
		{"nul key", `{"a":{"\u0000":1}}`, "documents[1].metadata: keys and strings must be valid UTF-8 without NUL"},
	} {
		body := `{"documents":[{"content":"# A\n\nok"},{"content":"# B\n\nok","metadata":` + tt.metadata + `}]}`
		r := b.do(t, b.alice, "POST", "/v1/sources", strings.NewReader(body))
		if msg := checkError(t, tt.name, r, http.StatusBadRequest, "invalid"); !strings.Contains(msg, tt.want) {
			t.Errorf("%s: message %q, want %q", tt.name, msg, tt.want)
		}
	}
	// Null and an empty object are no metadata, and accepted.
	for _, m := range []string{"null", "{}"} {
		r := b.do(t, b.alice, "POST", "/v1/sources", strings.NewReader(`{"documents":[{"content":"# A\n\nok","metadata":`+m+`}]}`))
		if r.status != http.StatusAccepted {
			t.Errorf("metadata %s: %d %s", m, r.status, r.body)
		}
	}
}
