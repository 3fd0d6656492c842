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

	"github.com/kollektiv/kollektiv/internal/apikeys"
	"github.com/kollektiv/kollektiv/internal/app"
	"github.com/kollektiv/kollektiv/internal/apptest"
	"github.com/kollektiv/kollektiv/internal/documents"
)

// TestSourcesDocsAndDocsShow ingests a directory and reads it back with
// `sources docs` and `docs show`: the table fits 80 columns and shows the
// failed document's reason, pages follow each other without gaps, and
// --json prints byte for byte what the API answers.
func TestSourcesDocsAndDocsShow(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(t)
	url := cfg.DatabaseURL
	server := apptest.Start(t, cfg, nil, app.Options{Worker: true, API: true})
	key, _, err := apikeys.Create(context.Background(), server.Pool, apikeys.CreateParams{UserID: "local"})
	if err != nil {
		t.Fatal(err)
	}
	api := apiGetter(t, server, key)
	sameJSON := func(what string, cli string, api []byte) {
		t.Helper()
		sameJSONAs(t, what, cli, api)
	}

	dir := t.TempDir()
	write := func(name, text string) {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var long strings.Builder
	long.WriteString("---\ntags: [guide]\n---\n# Guide\n\n")
	for range 20 {
		long.WriteString("This guide introduces every procedure an operator of Kollektiv follows. ")
	}
	long.WriteString("\n\n")
	for _, h := range []string{"Install", "Configure", "Run", "Upgrade"} {
		long.WriteString("## " + h + "\n\n")
		for range 20 {
			long.WriteString("Kollektiv keeps every step of the " + strings.ToLower(h) + " procedure in its own section. ")
		}
		long.WriteString("\n\n")
	}
	write("guide.md", long.String())
	write("intro.md", "# Intro\n\nKollektiv turns documentation into a knowledge base.\n")
	write("usage.md", "# Usage\n\n## Ingest\n\nRun the ingest command with a path.\n")
	write("reference/configuration/environment-variables-and-their-defaults-in-detail.md", "# Environment\n\nEvery setting has an environment variable.\n")
	write("logo.png.md", "\x89PNG\r\n\x1a\n\x00\x00binary")
	env := map[string]string{"DATABASE_URL": url, "KOLLEKTIV_LOG_LEVEL": "warn"}
	id := ingestWait(t, env, dir)

	// The table: a header, a row per document in path order, the failed
	// one's reason under it; nothing wider than 80 columns.
	r := run(t, env, "sources", "docs", id)
	if r.code != 0 {
		t.Fatalf("sources docs: exit %d: %s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	for _, l := range lines {
		if n := utf8.RuneCountInString(l); n > 80 {
			t.Errorf("a line of %d columns: %q", n, l)
		}
	}
	if len(lines) != 7 || strings.Join(strings.Fields(lines[0]), " ") != "ID STATUS CHUNKS LANG PATH" {
		t.Fatalf("want a header, 5 rows and an error line:\n%s", r.stdout)
	}
	var paths []string
	for _, l := range lines[1:] {
		if f := strings.Fields(l); f[0] != "error:" {
			paths = append(paths, f[len(f)-1])
		}
	}
	wantPaths := []string{"guide.md", "intro.md", "logo.png.md", "...t-variables-and-their-defaults-in-detail.md", "usage.md"}
	if !slices.Equal(paths, wantPaths) {
		t.Errorf("paths %v, want %v (the long one cut at its start)", paths, wantPaths)
	}
	if f := strings.Fields(lines[3]); f[1] != "failed" || f[2] != "0" || !strings.HasPrefix(strings.TrimSpace(lines[4]), "error: ") || len(strings.TrimSpace(lines[4])) < 10 {
		t.Errorf("the failed document and its reason:\n%s\n%s", lines[3], lines[4])
	}
	if f := strings.Fields(lines[1]); f[1] != "embedded" || f[2] == "0" {
		t.Errorf("guide.md row %q", lines[1])
	}

	// --status keeps one status.
	r = run(t, env, "sources", "docs", id, "--status", "failed")
	if r.code != 0 || strings.Count(r.stdout, "\n") != 3 || !strings.Contains(r.stdout, "logo.png.md") {
		t.Errorf("--status failed: exit %d:\n%s", r.code, r.stdout)
	}
	if r := run(t, env, "sources", "docs", id, "--status", "pending"); r.code != 0 || !strings.Contains(r.stdout, "no pending documents") {
		t.Errorf("--status pending: exit %d: %s", r.code, r.stdout)
	}

	// Two a page: the last line says how to go on, and going on gives the
	// rest, each document once.
	var seen []string
	args := []string{"sources", "docs", id, "--limit", "2"}
	for pages := 0; ; pages++ {
		r := run(t, env, args...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d: %s", args, r.code, r.stderr)
		}
		lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
		more := ""
		if last := lines[len(lines)-1]; strings.HasPrefix(last, "more: kollektiv ") {
			more, lines = strings.TrimPrefix(last, "more: kollektiv "), lines[:len(lines)-1]
		}
		for _, l := range lines[1:] {
			if f := strings.Fields(l); f[0] != "error:" {
				seen = append(seen, f[0])
			}
		}
		if more == "" {
			break
		}
		args = strings.Fields(more)
		if pages > 3 {
			t.Fatal("paging does not end")
		}
	}
	if len(seen) != 5 || len(slices.Compact(slices.Sorted(slices.Values(seen)))) != 5 {
		t.Errorf("pages of 2 gave %v, want 5 documents once each", seen)
	}

	// --json is the API's answer.
	r = run(t, env, "sources", "docs", id, "--json", "--limit", "3")
	sameJSON("sources docs --json", r.stdout, api("/v1/sources/"+id+"/documents?limit=3"))
	var list documents.List
	if err := json.Unmarshal([]byte(r.stdout), &list); err != nil || len(list.Documents) != 3 || list.NextCursor == "" {
		t.Fatalf("sources docs --json: %v %+v", err, list)
	}
	r = run(t, env, "sources", "docs", id, "--json", "--status", "failed")
	sameJSON("sources docs --status failed --json", r.stdout, api("/v1/sources/"+id+"/documents?status=failed"))

	// docs show by the short id the table shows.
	guide := list.Documents[0]
	if guide.URL != "guide.md" || guide.ChunkCount < 3 {
		t.Fatalf("guide.md: %+v", guide)
	}
	r = run(t, env, "docs", "show", guide.ID.String()[:8])
	if r.code != 0 {
		t.Fatalf("docs show: exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{
		"document   " + guide.ID.String(), "source     " + id, "url        guide.md", "status     embedded,",
		`"tags":["guide"]`,
		"\n[0] Guide\n", "\n[1] Guide > Install\n", "    url       guide.md", "    tokens    ", ", embedded by ",
		"    Kollektiv keeps every step of the install procedure",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("docs show lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "more chunks") || strings.Contains(r.stdout, "--- content") {
		t.Errorf("docs show of one page of chunks, without --content:\n%s", r.stdout)
	}
	// One chunk a page, then the next by the command it prints.
	r = run(t, env, "docs", "show", guide.ID.String(), "--chunk-limit", "1")
	i := strings.Index(r.stdout, "more chunks: kollektiv ")
	if r.code != 0 || i < 0 || strings.Contains(r.stdout, "[1]") {
		t.Fatalf("--chunk-limit 1: exit %d:\n%s", r.code, r.stdout)
	}
	next := run(t, env, strings.Fields(strings.TrimPrefix(strings.TrimSpace(r.stdout[i:]), "more chunks: kollektiv "))...)
	if next.code != 0 || !strings.Contains(next.stdout, "\n[1] Guide > Install\n") || strings.Contains(next.stdout, "[0]") {
		t.Fatalf("the next chunk: exit %d:\n%s", next.code, next.stdout)
	}
	r = run(t, env, "docs", "show", guide.ID.String(), "--content")
	if !strings.Contains(r.stdout, "--- content (") || !strings.Contains(r.stdout, "## Configure") {
		t.Errorf("--content:\n%.400s", r.stdout)
	}
	for _, q := range []struct{ args []string }{
		{[]string{"docs", "show", guide.ID.String(), "--json"}},
		{[]string{"docs", "show", guide.ID.String(), "--json", "--content", "--chunk-limit", "2"}},
	} {
		r := run(t, env, q.args...)
		path := "/v1/documents/" + guide.ID.String()
		if slices.Contains(q.args, "--content") {
			path += "?content=true&chunk_limit=2"
		}
		sameJSON(strings.Join(q.args, " "), r.stdout, api(path))
	}
	failed := list.Documents[2]
	if r := run(t, env, "docs", "show", failed.ID.String()); r.code != 0 || !strings.Contains(r.stdout, "status     failed, 0 chunks\nerror      ") || !strings.Contains(r.stdout, "no chunks") {
		t.Errorf("docs show of the failed document: exit %d:\n%s", r.code, r.stdout)
	}

	// Another user sees none of it; mistakes are usage errors.
	other := map[string]string{"DATABASE_URL": url, "KOLLEKTIV_LOG_LEVEL": "warn", "KOLLEKTIV_USER": "mallory"}
	for _, tc := range []struct {
		env  map[string]string
		args []string
		code int
		want string
	}{
		{other, []string{"sources", "docs", id}, 3, "no source " + id},
		{other, []string{"docs", "show", guide.ID.String()}, 3, "no document " + guide.ID.String()},
		{other, []string{"docs", "show", guide.ID.String()[:8]}, 3, "no document " + guide.ID.String()[:8]},
		{env, []string{"sources", "docs", id, "--status", "done"}, 2, "status: want one of pending, chunked, embedded, failed"},
		{env, []string{"sources", "docs", id, "--cursor", "nope"}, 2, "cursor:"},
		{env, []string{"sources", "docs", id, "--limit", "5000"}, 2, "limit:"},
		{env, []string{"sources", "docs"}, 2, "needs a source id"},
		{env, []string{"docs", "show", "zz"}, 2, "not a document id"},
		{env, []string{"docs", "show", guide.ID.String(), "--chunk-limit", "501"}, 2, "chunk_limit:"},
		{env, []string{"docs", "show"}, 2, "needs a document id"},
		{env, []string{"docs", "frob"}, 2, `unknown subcommand "frob": want show`},
		{env, []string{"docs"}, 2, "want a subcommand: show"},
	} {
		r := run(t, tc.env, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.want) || r.stdout != "" {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit %d naming %q", tc.args, r.code, r.stdout, r.stderr, tc.code, tc.want)
		}
	}
}
