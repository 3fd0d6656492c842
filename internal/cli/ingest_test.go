package cli

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kollektiv/kollektiv/internal/content"
	"github.com/kollektiv/kollektiv/internal/dbtest"
)

// TestIngestWait runs `kollektiv ingest DIR --wait --json` against a
// running worker: the final object describes the completed source, a second
// run refreshes it, and a source whose every document fails exits 1.
func TestIngestWait(t *testing.T) {
	t.Parallel()
	url := dbtest.DatabaseURL(t)
	startWorker(t, url)

	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("intro.md", "# Intro\n\nKollektiv turns documentation into a knowledge base.\n")
	write("usage.md", "# Usage\n\n## Ingest\n\nRun the ingest command with a path.\n")
	write("logo.png.md", "\x89PNG\r\n\x1a\n\x00\x00binary")
	env := map[string]string{"DATABASE_URL": url, "KOLLEKTIV_LOG_LEVEL": "warn"}

	r := run(t, env, "ingest", dir, "--wait", "--json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	var out struct {
		SourceID        string `json:"source_id"`
		Stage           string `json:"stage"`
		Documents       int    `json:"documents"`
		Chunks          int    `json:"chunks"`
		FailedDocuments int    `json:"failed_documents"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("not one JSON object: %q", r.stdout)
	}
	if out.Stage != "completed" || out.Documents != 3 || out.FailedDocuments != 1 || out.Chunks < 2 {
		t.Fatalf("final object %+v", out)
	}

	// Plain output names the source and follows its stages.
	r = run(t, env, "ingest", "--wait", dir)
	if r.code != 0 || !strings.Contains(r.stdout, "source "+out.SourceID+" refreshed") || !strings.Contains(r.stdout, "completed") {
		t.Fatalf("second ingest: %d %s", r.code, r.stdout)
	}

	// sources ls, show, refresh, rm.
	if r := run(t, env, "sources", "ls"); r.code != 0 || !strings.Contains(r.stdout, "\n"+out.SourceID[:8]+"  completed ") {
		t.Fatalf("sources ls: %d %s", r.code, r.stdout)
	}
	show := run(t, env, "sources", "show", out.SourceID)
	if show.code != 0 || !strings.Contains(show.stdout, "stage      completed") || !strings.Contains(show.stdout, "failed     logo.png.md") || !strings.Contains(show.stdout, "summary") {
		t.Fatalf("sources show: %d %s", show.code, show.stdout)
	}
	// Its one failed document could not even be loaded: a retry has
	// nothing to process, says so and exits 4 (a conflict).
	if r := run(t, env, "sources", "retry", out.SourceID); r.code != 4 || !strings.Contains(r.stderr, "nothing to retry") {
		t.Fatalf("retry with nothing to retry: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r := run(t, map[string]string{"DATABASE_URL": url, "KOLLEKTIV_USER": "mallory"}, "sources", "show", out.SourceID); r.code != 3 || !strings.Contains(r.stderr, "no source") {
		t.Fatalf("another user's show: %d %s", r.code, r.stdout)
	}

	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "empty.md"), []byte("  \n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := run(t, env, "ingest", bad, "--wait", "--json"); r.code != 1 || !strings.Contains(r.stdout, `"stage":"failed"`) {
		t.Fatalf("all documents bad: exit %d %s", r.code, r.stdout)
	}
	if r := run(t, env, "ingest", filepath.Join(dir, "missing")); r.code != 1 || r.stderr == "" {
		t.Fatalf("missing path: exit %d %q", r.code, r.stderr)
	}
}

func TestSourcesRemove(t *testing.T) {
	t.Parallel()
	url := dbtest.DatabaseURL(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.md"), []byte("# A\n\nSome text about alpacas.\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"DATABASE_URL": url, "KOLLEKTIV_LOG_LEVEL": "warn"}
	// No worker: the source stays scheduled, and rm cancels its jobs.
	r := run(t, env, "ingest", dir)
	id := strings.Fields(r.stdout)[1]
	if r.code != 0 {
		t.Fatalf("ingest: %d %s", r.code, r.stderr)
	}
	// Still being processed: a retry is a conflict (exit 4) and says so.
	if r := run(t, env, "sources", "retry", id); r.code != 4 || !strings.Contains(r.stderr, "still being processed") {
		t.Fatalf("retry of a running source: %d %s %s", r.code, r.stdout, r.stderr)
	}
	if r := run(t, env, "sources", "rm", id); r.code != 0 || !strings.Contains(r.stdout, "deleted "+id) {
		t.Fatalf("rm: %d %s %s", r.code, r.stdout, r.stderr)
	}
	// Gone: not found is exit 3, for show, retry and rm alike.
	for _, action := range []string{"show", "retry", "rm"} {
		if r := run(t, env, "sources", action, id); r.code != 3 || !strings.Contains(r.stderr, "no source "+id) {
			t.Fatalf("%s after rm: %d %s", action, r.code, r.stderr)
		}
	}
	if r := run(t, env, "sources", "rm", "nope"); r.code != 2 {
		t.Fatalf("rm of a non-id: %d", r.code)
	}
}

// TestIngestListsSkippedAndOutsideLinks: `kollektiv ingest DIR` loads a
// hidden file with a loaded extension, lists what it skipped (count on the
// plain output, each entry with its reason in --json), and does not read a
// symbolic link to a file outside DIR unless --follow-external-links.
func TestIngestListsSkippedAndOutsideLinks(t *testing.T) {
	t.Parallel()
	url := dbtest.DatabaseURL(t)
	// No worker runs: each ingest is by another user, so none is a
	// refresh of a source still being processed.
	env := func(user string) map[string]string {
		return map[string]string{"DATABASE_URL": url, "KOLLEKTIV_LOG_LEVEL": "warn", "KOLLEKTIV_USER": user}
	}
	dir := t.TempDir()
	outside := t.TempDir()
	for name, text := range map[string]string{
		"guide.md":      "# Guide\n\nHow to use it.\n",
		"..md":          "# .\n\nThe current directory.\n",
		"logo.png":      "\x89PNG",
		".git/HEAD":     "ref: refs/heads/main\n",
		".git/notes.md": "# Not walked\n",
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	secret := filepath.Join(outside, "passwd")
	if err := os.WriteFile(secret, []byte("root:x:0:0:root:/root:/bin/bash\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(dir, "passwd.md")); err != nil {
		t.Fatal(err)
	}

	r := run(t, env("json"), "ingest", dir, "--json")
	if r.code != 0 {
		t.Fatalf("ingest --json: %d %s %s", r.code, r.stdout, r.stderr)
	}
	var out struct {
		Documents       int               `json:"documents"`
		FailedDocuments int               `json:"failed_documents"`
		Skipped         []content.Skipped `json:"skipped"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("not one JSON object: %q", r.stdout)
	}
	want := []content.Skipped{{Path: ".git", Reason: content.SkipHiddenDirectory}, {Path: "logo.png", Reason: content.SkipExtension}}
	if out.Documents != 3 || out.FailedDocuments != 1 || !slices.Equal(out.Skipped, want) {
		t.Fatalf("ingest --json: %+v, want 3 documents (guide.md, ..md, passwd.md failed), skipped %v", out, want)
	}

	r = run(t, env("plain"), "ingest", dir)
	if r.code != 0 || !strings.Contains(r.stdout, "2 documents, 1 could not be loaded") ||
		!strings.Contains(r.stdout, "not loaded: document passwd.md: symbolic link to ") ||
		!strings.Contains(r.stdout, "(use --follow-external-links to allow)") ||
		!strings.Contains(r.stdout, "skipped 2 entries: 1 "+content.SkipHiddenDirectory+": .git; 1 "+content.SkipExtension+": logo.png") {
		t.Fatalf("ingest: %d %s %s", r.code, r.stdout, r.stderr)
	}
	var stored int
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM documents WHERE content LIKE '%root:x:0:0%'").Scan(&stored); err != nil || stored != 0 {
		t.Fatalf("%d documents hold the linked file's text (%v)", stored, err)
	}

	r = run(t, env("follow"), "ingest", dir, "--follow-external-links")
	if r.code != 0 || !strings.Contains(r.stdout, "3 documents, 0 could not be loaded") {
		t.Fatalf("ingest --follow-external-links: %d %s %s", r.code, r.stdout, r.stderr)
	}
}
