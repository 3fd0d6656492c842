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

func TestLoadPathSymlinks(t *testing.T) {
	t.Parallel()

	root := writeTree(t, map[string]string{"docs/a.md": "# A", "other/b.md": "# B"})
	// A loop back to the root, a link to a directory outside, and a broken link.
	for target, link := range map[string]string{
		root:                         "docs/loop",
		filepath.Join(root, "other"): "docs/linked",
		filepath.Join(root, "gone"):  "docs/broken.md",
	} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	docs, problems, err := LoadPath(context.Background(), filepath.Join(root, "docs"), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var urls []string
	for _, d := range docs {
		urls = append(urls, d.URL)
	}
	// loop/ is the parent of the root, walked once; its docs/ closes the loop.
	if strings.Join(urls, ",") != "a.md,linked/b.md,loop/other/b.md" {
		t.Errorf("urls %v", urls)
	}
	var loop, broken bool
	for _, p := range problems {
		loop = loop || (errors.Is(p, ErrSymlinkLoop) && p.URL == "loop/docs")
		broken = broken || p.URL == "broken.md"
	}
	if !loop || !broken {
		t.Errorf("problems %v, want the loop at loop/docs and broken.md reported", problems)
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
