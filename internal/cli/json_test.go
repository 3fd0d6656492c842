package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/kollektiv/kollektiv/internal/app"
	"github.com/kollektiv/kollektiv/internal/apptest"
	"github.com/kollektiv/kollektiv/internal/dbtest"
)

var update = flag.Bool("update", false, "rewrite the testdata/*.golden files from what the commands print")

// TestJSONIsTheAPIs ingests a directory with the CLI's defaults, creates a
// key with `keys create`'s defaults, and compares `sources ls --json`,
// `sources show --json` and `search --json` with what the API answers for
// the same key: byte for byte, so the keys, their order and every value
// are the API's. The key's user is the CLI's default user, so the API sees
// what the CLI ingested. Each answer, with ids, times and scores
// normalised, is also compared with its testdata/*.golden file
// (go test -run TestJSONIsTheAPIs ./internal/cli/ -update rewrites them).
func TestJSONIsTheAPIs(t *testing.T) {
	t.Parallel()
	cfg := apptest.Config(t)
	dbURL := cfg.DatabaseURL
	server := apptest.Start(t, cfg, nil, app.Options{Worker: true, API: true})

	// No KOLLEKTIV_USER anywhere: the CLI's default user on both sides.
	env := map[string]string{"DATABASE_URL": dbURL, "KOLLEKTIV_LOG_LEVEL": "warn"}
	created := run(t, env, "keys", "create")
	key := strings.TrimSpace(created.stdout)
	if created.code != 0 || !strings.Contains(created.stderr, `user "local"`) {
		t.Fatalf("keys create: %d %q %q", created.code, created.stdout, created.stderr)
	}
	api := apiGetter(t, server, key)

	dir := writeDocs(t, map[string]string{
		"install.md":  "# Installing { #install }\n\nDownload the archive and unpack it into /usr/local.\n\n## Checking the installation\n\nRun the version command to check that the tools are on your PATH.\n",
		"modules.md":  "# Modules\n\nA module is a collection of packages released together. Create one with the init command.\n",
		"logo.png.md": "\x89PNG\r\n\x1a\n\x00\x00binary",
	})
	id := ingestWait(t, env, dir)

	// The plain output: titles and breadcrumbs without the heading's
	// attribute list, the anchor in the link.
	r := run(t, env, "search", "--k", "1", "check the installation")
	if r.code != 0 || !strings.HasPrefix(r.stdout, "1. ") || !strings.Contains(r.stdout, "  Installing  (install.md#install)\n") || strings.Contains(r.stdout, "{") {
		t.Errorf("search: exit %d:\n%s", r.code, r.stdout)
	}

	for _, c := range []struct {
		golden string
		args   []string
		path   string
	}{
		{"sources_ls", []string{"sources", "ls", "--json"}, "/v1/sources"},
		{"sources_show", []string{"sources", "show", id, "--json"}, "/v1/sources/" + id},
		// By its short id, as `sources ls` shows it.
		{"sources_show", []string{"sources", "show", id[:8], "--json"}, "/v1/sources/" + id},
		{"search", []string{"search", "--k", "2", "--json", "check the installation"}, "/v1/search?" + url.Values{"q": {"check the installation"}, "k": {"2"}}.Encode()},
	} {
		r := run(t, env, c.args...)
		if r.code != 0 {
			t.Fatalf("%v: exit %d: %s", c.args, r.code, r.stderr)
		}
		sameJSONAs(t, strings.Join(c.args, " "), r.stdout, api(c.path))
		checkGolden(t, c.golden, r.stdout)
	}
}

// TestSourcesLsTable lists a finished source and one held at its chunking
// stage: each row and the path under it fit 80 columns, with the created
// and updated times, and the running one says how far it got.
func TestSourcesLsTable(t *testing.T) {
	t.Parallel()
	dbURL := dbtest.DatabaseURL(t)
	env := map[string]string{"DATABASE_URL": dbURL, "KOLLEKTIV_LOG_LEVEL": "warn"}
	pausedChunkingWorker(t, dbURL)
	long := filepath.Join(t.TempDir(), strings.Repeat("a-directory-with-a-long-name-", 3))
	if err := os.MkdirAll(long, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(long, "a.md"), []byte("# A\n\nText.\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := run(t, env, "ingest", long)
	if r.code != 0 {
		t.Fatalf("ingest: %d %s", r.code, r.stderr)
	}
	running := sourceCreated.FindStringSubmatch(r.stdout)[1]
	waitUntil(t, "the source at its chunking stage", func() (bool, string) {
		r := run(t, env, "sources", "show", running)
		return strings.Contains(r.stdout, "stage      processing_scheduled"), r.stdout
	})

	r = run(t, env, "sources", "ls")
	if r.code != 0 {
		t.Fatalf("sources ls: %d %s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimRight(r.stdout, "\n"), "\n")
	for _, l := range lines {
		if n := utf8.RuneCountInString(l); n > 80 {
			t.Errorf("a line of %d columns: %q", n, l)
		}
	}
	if len(lines) != 3 || strings.Join(strings.Fields(lines[0]), " ") != "ID STAGE DOCUMENTS FAILED CHUNKS CREATED UPDATED" {
		t.Fatalf("want a header, a row and its path:\n%s", r.stdout)
	}
	row := strings.Fields(lines[1])
	today := time.Now().Format("2006-01-02")
	if row[0] != running[:8] || row[1] != "chunking" || row[2] != "0%" || row[3] != "1" || row[6] != today || !strings.HasSuffix(lines[1], "ago") && !strings.HasSuffix(lines[1], "just now") {
		t.Errorf("row of the running source: %q", lines[1])
	}
	if path := strings.TrimSpace(lines[2]); !strings.HasPrefix(path, "files ...") || !strings.HasSuffix(path, "-name-") {
		t.Errorf("path line %q: want the kind and the path's end", lines[2])
	}
	if r := run(t, env, "sources", "show", "0000"); r.code != 2 || !strings.Contains(r.stderr, "first 8 or more hex digits") {
		t.Errorf("a short id of 4 digits: exit %d %q", r.code, r.stderr)
	}
	if r := run(t, env, "sources", "show", "00000000"); r.code != 3 {
		t.Errorf("a short id of no source: exit %d %q", r.code, r.stderr)
	}
}

// ingestWait ingests dir with `ingest --wait --json` and returns the
// source's id.
func ingestWait(t *testing.T, env map[string]string, dir string) string {
	t.Helper()
	r := run(t, env, "ingest", dir, "--wait", "--json")
	if r.code != 0 {
		t.Fatalf("ingest: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	var ingested struct {
		SourceID string `json:"source_id"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &ingested); err != nil {
		t.Fatal(err)
	}
	return ingested.SourceID
}

// apiGetter returns a function that GETs a path of server's API with key
// and returns the body of its 200 answer.
func apiGetter(t *testing.T, server *app.App, key string) func(path string) []byte {
	return func(path string) []byte {
		t.Helper()
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://"+server.APIAddr()+path, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
		}
		return body
	}
}

// sameJSONAs fails unless the CLI printed, byte for byte once compacted,
// what the API answered.
func sameJSONAs(t *testing.T, what, cli string, api []byte) {
	t.Helper()
	var a, b bytes.Buffer
	if err := json.Compact(&a, []byte(cli)); err != nil {
		t.Fatalf("%s: --json is not JSON: %v\n%s", what, err, cli)
	}
	if err := json.Compact(&b, api); err != nil {
		t.Fatal(err)
	}
	if a.String() != b.String() {
		t.Errorf("%s: --json prints\n%s\nthe API answers\n%s", what, a.String(), b.String())
	}
}

var (
	goldenID    = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	goldenTime  = regexp.MustCompile(`"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)"`)
	goldenFloat = regexp.MustCompile(`-?\d+\.\d+(e-?\d+)?`)
	// t.TempDir's directories: TMPDIR/TestName123/001.
	goldenTemp = regexp.MustCompile(regexp.QuoteMeta(os.TempDir()) + `/[^"/]+/\d+`)
)

// checkGolden compares got, with its volatile values normalised (ids by
// order of first appearance, times, scores, the test's temporary
// directory), with testdata/NAME.golden.
func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	ids := map[string]string{}
	got = goldenID.ReplaceAllStringFunc(got, func(id string) string {
		if _, ok := ids[id]; !ok {
			ids[id] = "<id-" + string(rune('a'+len(ids))) + ">"
		}
		return ids[id]
	})
	got = goldenTime.ReplaceAllString(got, `"<time>"`)
	got = goldenFloat.ReplaceAllString(got, "<float>")
	got = goldenTemp.ReplaceAllString(got, "<tmp>")
	file := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(file, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run with -update to write it)", err)
	}
	if string(want) != got {
		t.Errorf("%s differs from what the command prints (normalised):\n%s\nwant:\n%s", file, got, want)
	}
}
