package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kollektiv/kollektiv/internal/dbtest"
)

// searchAnswer is the JSON `kollektiv search --json` prints.
type searchAnswer struct {
	Mode         string  `json:"mode"`
	RRFK         int     `json:"rrf_k"`
	VectorWeight float64 `json:"vector_weight"`
	TextWeight   float64 `json:"text_weight"`
	Hits         []struct {
		DocumentURL      string   `json:"document_url"`
		URL              string   `json:"url"`
		Headers          []string `json:"headers"`
		VectorRank       int      `json:"vector_rank"`
		TextRank         int      `json:"text_rank"`
		TextContribution float64  `json:"text_contribution"`
	} `json:"hits"`
	Warnings []struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"warnings"`
}

// TestSearchFlags ingests a directory and searches it with each control
// and filter flag.
func TestSearchFlags(t *testing.T) {
	t.Parallel()
	url := dbtest.DatabaseURL(t)
	startWorker(t, url)
	dir := t.TempDir()
	for name, text := range map[string]string{
		"guide/async.md":   "---\ntags: [async, intro]\ndate: 2024-01-15\ndraft: false\n---\n# Async guide\n\n## Zanzibar tasks\n\nThe zanzibar scheduler runs tasks.\n",
		"guide/sync.md":    "---\ntags: [sync]\n---\n# Sync guide\n\n## Zanzibar locks\n\nThe zanzibar lock guards data.\n",
		"reference/api.md": "# Reference\n\n## Zanzibar API\n\nThe zanzibar API lists calls.\n",
	} {
		path := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{"DATABASE_URL": url, "KOLLEKTIV_LOG_LEVEL": "warn"}
	r := run(t, env, "ingest", dir, "--wait", "--json")
	if r.code != 0 {
		t.Fatalf("ingest: %d %s %s", r.code, r.stdout, r.stderr)
	}
	var source struct {
		SourceID string `json:"source_id"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &source); err != nil {
		t.Fatal(err)
	}

	search := func(args ...string) searchAnswer {
		t.Helper()
		r := run(t, env, append([]string{"search", "--json", "--k", "20"}, args...)...)
		if r.code != 0 {
			t.Fatalf("search %q: %d %s %s", args, r.code, r.stdout, r.stderr)
		}
		var answer searchAnswer
		if err := json.Unmarshal([]byte(r.stdout), &answer); err != nil {
			t.Fatalf("search %q: not JSON: %s", args, r.stdout)
		}
		return answer
	}
	documents := func(a searchAnswer) string {
		seen := map[string]bool{}
		var urls []string
		for _, h := range a.Hits {
			if !seen[h.DocumentURL] {
				seen[h.DocumentURL] = true
				urls = append(urls, h.DocumentURL)
			}
		}
		slices.Sort(urls)
		return strings.Join(urls, " ")
	}

	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "guide/async.md guide/sync.md reference/api.md"},
		{[]string{"--path-prefix", "guide/"}, "guide/async.md guide/sync.md"},
		{[]string{"--meta", "tags=async"}, "guide/async.md"},
		{[]string{"--meta", "date=2024-01-15", "--meta", `{"draft":false}`}, "guide/async.md"},
		{[]string{"--meta", `{"draft":true}`}, ""},
		{[]string{"--source", source.SourceID, "--source", source.SourceID, "--path-prefix", "reference/"}, "reference/api.md"},
		{[]string{"--lang", "und,en", "--lang", "fr", "--path-prefix", "reference/"}, "reference/api.md"},
	} {
		if got := documents(search(append(tt.args, "zanzibar")...)); got != tt.want {
			t.Errorf("search %q: documents %q, want %q", tt.args, got, tt.want)
		}
	}

	a := search("--mode", "text", "--rrf-k", "10", "--text-weight", "2", "zanzibar")
	if a.Mode != "text" || a.RRFK != 10 || a.TextWeight != 2 || a.VectorWeight != 1 || len(a.Hits) != 3 {
		t.Fatalf("text mode: %+v", a)
	}
	for _, h := range a.Hits {
		if h.VectorRank != 0 || h.TextContribution != 2/float64(10+h.TextRank) {
			t.Errorf("text-mode hit %+v", h)
		}
	}
	if a := search("--mode", "vector", "zanzibar"); len(a.Hits) != 3 || a.Hits[0].TextRank != 0 || a.Hits[0].VectorRank != 1 {
		t.Errorf("vector mode: %+v", a)
	}

	// Plain output: the breadcrumb and the link to the section.
	plain := run(t, env, "search", "--k", "1", "--path-prefix", "guide/async", "zanzibar")
	want := search("--k", "1", "--path-prefix", "guide/async", "zanzibar").Hits[0]
	if plain.code != 0 || !strings.HasPrefix(plain.stdout, "1. ") || !strings.Contains(plain.stdout, "("+want.URL+")") ||
		!strings.Contains(plain.stdout, strings.Join(want.Headers, " > ")) || plain.stderr != "" {
		t.Fatalf("plain output: %d %q %q, want the url %s and breadcrumb %q", plain.code, plain.stdout, plain.stderr, want.URL, want.Headers)
	}

	// Refused before anything runs, or by the searcher: exit 2, saying
	// which flag.
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--meta", "tags"}, "--meta"},
		{[]string{"--meta", "tags=a", "--meta", `{"tags":"b"}`}, `key "tags" given twice`},
		{[]string{"--meta", `{"tags":`}, "not a JSON object"},
		{[]string{"--vector-weight", "0"}, "--vector-weight"},
		{[]string{"--source", "nope"}, "--source"},
		{[]string{"--mode", "semantic"}, "mode must be hybrid, vector or text"},
		{[]string{"--rrf-k", "0"}, "--rrf-k 0: want a rank constant from 1 to 1000"},
		{[]string{"--rrf-k", "1001"}, "rrf_k must be between 1 and 1000"},
		{[]string{"--lang", "english"}, "languages must be ISO 639-1 codes"},
	} {
		r := run(t, env, append(append([]string{"search"}, tt.args...), "zanzibar")...)
		if r.code != 2 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("search %q: exit %d, stderr %q; want 2 and %q", tt.args, r.code, r.stderr, tt.want)
		}
	}

	// Chunks of another model: the answer comes, with a warning on stderr.
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if _, err := pool.Exec(context.Background(), "UPDATE chunks SET embedding_model = 'other-model' WHERE text LIKE '%lock%'"); err != nil {
		t.Fatal(err)
	}
	r = run(t, env, "search", "zanzibar")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "1. ") || !strings.Contains(r.stderr, "kollektiv search: warning: ") || !strings.Contains(r.stderr, "other-model") {
		t.Fatalf("search with a mismatch: %d %q %q", r.code, r.stdout, r.stderr)
	}
	if a := search("zanzibar"); len(a.Warnings) != 1 || a.Warnings[0].Code != "embedding_mismatch" {
		t.Fatalf("--json with a mismatch: warnings %+v", a.Warnings)
	}
	if r := run(t, env, "search", "--path-prefix", "reference/", "zanzibar"); r.code != 0 || r.stderr != "" {
		t.Fatalf("search of chunks of this model: %d %q", r.code, r.stderr)
	}
}

// TestWrapWords: a hit's text in two lines of 77 columns, cut at spaces,
// "..." when text is left over, a word longer than a line cut.
func TestWrapWords(t *testing.T) {
	t.Parallel()
	text := strings.Repeat("word ", 40)
	got := wrapWords(text, 77, 2)
	if len(got) != 2 || got[0] != strings.TrimSpace(strings.Repeat("word ", 15)) || !strings.HasSuffix(got[1], "...") {
		t.Errorf("wrapWords of 40 words: %q", got)
	}
	for _, l := range got {
		if utf8.RuneCountInString(l) > 77 {
			t.Errorf("line of %d characters: %q", utf8.RuneCountInString(l), l)
		}
	}
	if got := wrapWords("short text", 77, 2); len(got) != 1 || got[0] != "short text" {
		t.Errorf("short text: %q", got)
	}
	long := strings.Repeat("é", 100)
	if got := wrapWords(long+" end", 77, 2); len(got) != 2 || got[0] != strings.Repeat("é", 77) || got[1] != strings.Repeat("é", 23)+" end" {
		t.Errorf("a word longer than a line: %q", got)
	}
}
