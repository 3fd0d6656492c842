package content

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeTree creates files under a new temporary directory.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func TestLoadPath(t *testing.T) {
	t.Parallel()

	root := writeTree(t, map[string]string{
		"index.md":            "---\ntitle: Home\n---\n# Welcome\n\nHello.",
		"guide/intro.mdx":     "# Intro\n\nText.",
		"guide/notes.txt":     "plain notes",
		"guide/page.html":     "<html><head><title>Page</title></head><body><p>From HTML</p></body></html>",
		"guide/logo.png":      "\x89PNG\r\n\x1a\n",
		"guide/blob.md":       "binary\x00data",
		"guide/big.md":        strings.Repeat("x", 200),
		"guide/empty.md":      "\n\n",
		".git/HEAD.md":        "# hidden",
		"a/b/c/deep.markdown": "# Deep",
	})
	docs, problems, err := LoadPath(context.Background(), root, LoadOptions{MaxBytes: 100})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	var order []string
	for _, d := range docs {
		got[d.URL] = d.Title
		order = append(order, d.URL)
	}
	want := map[string]string{
		"index.md":            "Home",
		"guide/intro.mdx":     "Intro",
		"guide/notes.txt":     "notes.txt",
		"guide/page.html":     "Page",
		"a/b/c/deep.markdown": "Deep",
	}
	if len(got) != len(want) {
		t.Errorf("loaded %v, want %v", got, want)
	}
	for url, title := range want {
		if got[url] != title {
			t.Errorf("%s: title %q, want %q", url, got[url], title)
		}
	}
	if strings.Join(order, ",") != "a/b/c/deep.markdown,guide/intro.mdx,guide/notes.txt,guide/page.html,index.md" {
		t.Errorf("order %v, want path order", order)
	}
	reasons := map[string]error{}
	for _, p := range problems {
		reasons[p.URL] = p
	}
	for url, sentinel := range map[string]error{"guide/blob.md": ErrBinary, "guide/big.md": ErrTooLarge, "guide/empty.md": ErrEmpty} {
		if !errors.Is(reasons[url], sentinel) {
			t.Errorf("%s: problem %v, want %v", url, reasons[url], sentinel)
		}
	}
	if len(problems) != 3 {
		t.Errorf("problems %v, want 3", problems)
	}
}

// TestLoadSymlinks: links inside the root are followed, loops end, and a
// link whose target resolves outside the root is not read unless
// FollowExternalLinks says so (issue 13: passwd.md -> /etc/passwd was
// ingested and returned by search).
func TestLoadSymlinks(t *testing.T) {
	t.Parallel()

	root := writeTree(t, map[string]string{
		"docs/a.md":        "# A",
		"docs/sub/deep.md": "# Deep",
		"other/b.md":       "# B",
		"secret.md":        "# Secret next door",
	})
	outside := writeTree(t, map[string]string{"passwd": "root:x:0:0:root:/root:/bin/bash\n"})
	docsDir := filepath.Join(root, "docs")
	for link, target := range map[string]string{
		"docs/passwd.md": filepath.Join(outside, "passwd"), // absolute, outside
		"docs/next.md":   "../secret.md",                   // relative, outside
		"docs/linked":    filepath.Join(root, "other"),     // a directory outside
		"docs/up":        root,                             // the root's parent
		"docs/inner.md":  "sub/deep.md",                    // inside: read
		"docs/sub/back":  "..",                             // inside, a loop
		"docs/broken.md": filepath.Join(root, "gone"),      // nowhere
		"docs/self.md":   "self.md",                        // a link to itself
		"docs/ping.md":   "pong.md",                        // two links in a loop
		"docs/pong.md":   "ping.md",
		"docs/chain.md":  "linked/b.md", // through an outside link
	} {
		if err := os.Symlink(target, filepath.Join(root, filepath.FromSlash(link))); err != nil {
			t.Fatal(err)
		}
	}
	rootReal, err := filepath.EvalSymlinks(docsDir)
	if err != nil {
		t.Fatal(err)
	}

	loaded, err := Load(context.Background(), docsDir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var urls []string
	for _, d := range loaded.Documents {
		urls = append(urls, d.URL)
		if strings.Contains(d.Content, "root:x") || strings.Contains(d.Content, "Secret") || d.Title == "B" {
			t.Errorf("%s: read through a link outside the root: %q", d.URL, d.Content)
		}
	}
	if strings.Join(urls, ",") != "a.md,inner.md,sub/deep.md" {
		t.Errorf("loaded %v, want a.md,inner.md,sub/deep.md", urls)
	}
	reasons := map[string]*DocumentError{}
	for _, p := range loaded.Problems {
		reasons[p.URL] = p
	}
	passwdReal, _ := filepath.EvalSymlinks(filepath.Join(outside, "passwd"))
	wantPasswd := "document passwd.md: symbolic link to " + passwdReal + " points outside " + rootReal + "; not read (use --follow-external-links to allow)"
	if p := reasons["passwd.md"]; p == nil || p.Error() != wantPasswd || !errors.Is(p, ErrOutsideRoot) {
		t.Errorf("passwd.md: %v\nwant %s", p, wantPasswd)
	}
	for _, name := range []string{"next.md", "linked", "up", "chain.md"} {
		if p := reasons[name]; !errors.Is(p, ErrOutsideRoot) {
			t.Errorf("%s: problem %v, want ErrOutsideRoot", name, p)
		}
	}
	for _, name := range []string{"sub/back", "self.md", "ping.md", "pong.md"} {
		if p := reasons[name]; !errors.Is(p, ErrSymlinkLoop) {
			t.Errorf("%s: problem %v, want ErrSymlinkLoop", name, p)
		}
	}
	if reasons["broken.md"] == nil {
		t.Errorf("broken.md not reported: %v", loaded.Problems)
	}
	if len(loaded.Problems) != 10 {
		t.Errorf("%d problems, want 10: %v", len(loaded.Problems), loaded.Problems)
	}

	// Asked for explicitly, outside links are read; loops still end.
	loaded, err = Load(context.Background(), docsDir, LoadOptions{FollowExternalLinks: true})
	if err != nil {
		t.Fatal(err)
	}
	urls = urls[:0]
	for _, d := range loaded.Documents {
		urls = append(urls, d.URL)
	}
	// up/ is the parent of the root, walked once; its docs/ closes the loop.
	want := "a.md,chain.md,inner.md,linked/b.md,next.md,passwd.md,sub/deep.md,up/other/b.md,up/secret.md"
	if strings.Join(urls, ",") != want {
		t.Errorf("with FollowExternalLinks loaded %v, want %s", urls, want)
	}
}

// TestLoadSkipped: every entry left out is listed with its reason; hidden
// files with a loaded extension are loaded (tldr's page for "." is "..md"),
// hidden directories are not walked unless IncludeHidden.
func TestLoadSkipped(t *testing.T) {
	t.Parallel()

	root := writeTree(t, map[string]string{
		"..md":            "# .\n\nThe current directory.",
		".hidden.md":      "# Hidden\n\nA page after all.",
		"guide.md":        "# Guide",
		"logo.png":        "\x89PNG",
		".DS_Store":       "x",
		".git/HEAD.md":    "# hidden",
		".git/config":     "x",
		"assets/app.js":   "x",
		"assets/page.htm": "<p>Page</p>",
	})
	loaded, err := Load(context.Background(), root, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var urls []string
	for _, d := range loaded.Documents {
		urls = append(urls, d.URL)
	}
	if strings.Join(urls, ",") != "..md,.hidden.md,assets/page.htm,guide.md" {
		t.Errorf("loaded %v", urls)
	}
	var skipped []string
	for _, s := range loaded.Skipped {
		skipped = append(skipped, s.Path+" ("+s.Reason+")")
	}
	want := []string{
		".DS_Store (" + SkipExtension + ")",
		".git (" + SkipHiddenDirectory + ")",
		"assets/app.js (" + SkipExtension + ")",
		"logo.png (" + SkipExtension + ")",
	}
	if strings.Join(skipped, "\n") != strings.Join(want, "\n") {
		t.Errorf("skipped:\n%s\nwant:\n%s", strings.Join(skipped, "\n"), strings.Join(want, "\n"))
	}
	if len(loaded.Problems) != 0 {
		t.Errorf("problems %v", loaded.Problems)
	}

	loaded, err = Load(context.Background(), root, LoadOptions{IncludeHidden: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded.Documents) != 5 || len(loaded.Skipped) != 4 || loaded.Skipped[1].Path != ".git/config" {
		t.Errorf("with IncludeHidden: %d documents, skipped %v", len(loaded.Documents), loaded.Skipped)
	}
}

func TestLoadPathFileAndErrors(t *testing.T) {
	t.Parallel()

	root := writeTree(t, map[string]string{"one.md": "# One\n\nbody", "pic.jpg": "x"})
	docs, problems, err := LoadPath(context.Background(), filepath.Join(root, "one.md"), LoadOptions{})
	if err != nil || len(problems) != 0 || len(docs) != 1 || docs[0].URL != "one.md" || docs[0].Title != "One" {
		t.Errorf("single file: %+v %v %v", docs, problems, err)
	}
	_, problems, err = LoadPath(context.Background(), filepath.Join(root, "pic.jpg"), LoadOptions{})
	if err != nil || len(problems) != 1 || !errors.Is(problems[0], ErrUnsupportedType) {
		t.Errorf("unsupported file: %v %v", problems, err)
	}
	if _, _, err := LoadPath(context.Background(), filepath.Join(root, "missing"), LoadOptions{}); err == nil {
		t.Error("missing root gave no error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := LoadPath(ctx, root, LoadOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled load: %v", err)
	}
}

// TestDocumentErrorSaysEachReasonOnce: issue 13 found "nothing left after
// cleaning: empty after cleaning" and "file name: not valid UTF-8 text:
// file name: not valid UTF-8 text".
func TestDocumentErrorSaysEachReasonOnce(t *testing.T) {
	t.Parallel()
	_, err := PrepareDocument("", "blank.md", "  \n\n", PrepareOptions{})
	if err == nil || err.Error() != "document blank.md: empty after cleaning" || !errors.Is(err, ErrEmpty) {
		t.Errorf("empty document: %v", err)
	}
	cause := errors.New("file name: not valid UTF-8 text")
	for _, tc := range []struct {
		err  *DocumentError
		want string
	}{
		{&DocumentError{URL: "a?.md", Reason: cause.Error(), Err: cause}, "document a?.md: file name: not valid UTF-8 text"},
		{&DocumentError{URL: "a.md", Reason: "contains NUL bytes", Err: ErrBinary}, "document a.md: contains NUL bytes: binary content"},
		{&DocumentError{URL: "a.md", Reason: "cannot read file"}, "document a.md: cannot read file"},
		{&DocumentError{URL: "a.md", Err: ErrEmpty}, "document a.md: empty after cleaning"},
	} {
		if got := tc.err.Error(); got != tc.want {
			t.Errorf("got %q, want %q", got, tc.want)
		}
	}
}

// TestWalkStopsAtVisitError: Walk hands each file to visit as it is read,
// in path order, documents and problems alike, and the first error of
// visit stops the walk: no file after it is read, and Walk returns that
// error.
func TestWalkStopsAtVisitError(t *testing.T) {
	t.Parallel()
	root := writeTree(t, map[string]string{
		"a.md": "# A", "b/bad.md": "binary\x00data", "b/c.md": "# C", "d.md": "# D", "e.md": "# E",
	})
	errEnough := errors.New("enough")
	var visited []string
	skipped, err := Walk(context.Background(), root, LoadOptions{}, func(doc *Document, problem *DocumentError) error {
		if doc != nil {
			visited = append(visited, doc.URL)
		} else {
			visited = append(visited, "problem "+problem.URL)
		}
		if len(visited) == 3 {
			return errEnough
		}
		return nil
	})
	if !errors.Is(err, errEnough) {
		t.Errorf("Walk returned %v, want visit's error", err)
	}
	if got := strings.Join(visited, ","); got != "a.md,problem b/bad.md,b/c.md" {
		t.Errorf("visited %s, want the first three files in path order and nothing after", got)
	}
	if len(skipped) != 0 {
		t.Errorf("skipped %v", skipped)
	}
}
