package api_test

import (
	"bytes"
	"context"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kollektiv/kollektiv/internal/content"
	"github.com/kollektiv/kollektiv/internal/ingest"
)

// TestProblemsSayTheirReasonOnce: the reasons issue 13 found doubled
// ("file name: not valid UTF-8 text: file name: not valid UTF-8 text",
// "nothing left after cleaning: empty after cleaning"), as a client sees
// them in the answer and in the source's failed documents.
func TestProblemsSayTheirReasonOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	failedOf := func(r response) []string {
		t.Helper()
		if r.status != http.StatusAccepted {
			t.Fatalf("create: %d %s", r.status, r.body)
		}
		var errs []string
		for _, f := range r.json(t)["failed"].([]any) {
			errs = append(errs, f.(map[string]any)["error"].(string))
		}
		slices.Sort(errs)
		return errs
	}

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for name, data := range map[string]string{"bad\xff.md": "# Bad name\n\ntext", "blank.md": " \n\n ", "good.md": guide("good")} {
		fw, err := mw.CreateFormFile("files", name)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = fw.Write([]byte(data))
	}
	_ = mw.Close()
	r := b.do(t, b.alice, "POST", "/v1/sources/upload", &body, "Content-Type", mw.FormDataContentType())
	want := []string{"document bad?.md: file name: not valid UTF-8 text", "document blank.md: empty after cleaning"}
	if got := failedOf(r); !slices.Equal(got, want) {
		t.Errorf("upload problems %q, want %q", got, want)
	}
	source := b.waitFinished(t, b.alice, r.json(t)["id"].(string))
	var stored []string
	for _, f := range source["failed"].([]any) {
		stored = append(stored, f.(map[string]any)["error"].(string))
	}
	slices.Sort(stored)
	if !slices.Equal(stored, want) {
		t.Errorf("stored problems %q, want %q", stored, want)
	}

	r = b.do(t, b.alice, "POST", "/v1/sources", jsonBody(t, map[string]any{"documents": []map[string]string{
		{"url": "empty.md", "content": "   "}, {"url": "ok.md", "content": guide("ok")},
	}}))
	if got := failedOf(r); !slices.Equal(got, []string{"document empty.md: empty after cleaning"}) {
		t.Errorf("inline problems %q", got)
	}
}

// TestRefreshDoesNotFollowLinksOutside: a files source refreshed over the
// API re-reads its directory under the same rule as `kollektiv ingest`: a
// symbolic link out of the directory is a failed document, never read.
func TestRefreshDoesNotFollowLinksOutside(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	ctx := context.Background()
	dir, outside := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "guide.md"), []byte(guide("refresh")), 0o600); err != nil {
		t.Fatal(err)
	}
	docs, problems, err := content.LoadPath(ctx, dir, content.LoadOptions{})
	if err != nil || len(problems) != 0 {
		t.Fatal(err, problems)
	}
	svc := &ingest.Service{Pool: b.app.Pool, River: b.app.River}
	added, err := svc.Add(ctx, ingest.AddParams{UserID: "alice", Kind: ingest.KindFiles, URI: dir, Documents: docs})
	if err != nil {
		t.Fatal(err)
	}
	id := added.Source.ID.String()
	b.waitFinished(t, b.alice, id)

	// Later, a link to a secret appears in the directory.
	secret := filepath.Join(outside, "secret")
	if err := os.WriteFile(secret, []byte("password=hunter2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(dir, "secret.md")); err != nil {
		t.Fatal(err)
	}
	r := b.do(t, b.alice, "POST", "/v1/sources/"+id+"/refresh", nil)
	if r.status != http.StatusAccepted {
		t.Fatalf("refresh: %d %s", r.status, r.body)
	}
	source := b.waitFinished(t, b.alice, id)
	failed, _ := source["failed"].([]any)
	if len(failed) != 1 || failed[0].(map[string]any)["url"] != "secret.md" ||
		!strings.Contains(failed[0].(map[string]any)["error"].(string), "points outside") {
		t.Fatalf("after refresh: failed %v", failed)
	}
	var n int
	if err := b.app.Pool.QueryRow(ctx, "SELECT count(*) FROM documents WHERE content LIKE '%hunter2%'").Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d documents hold the secret (%v)", n, err)
	}
	for _, h := range b.do(t, b.alice, "GET", "/v1/search?q=hunter2+password", nil).json(t)["hits"].([]any) {
		if strings.Contains(h.(map[string]any)["text"].(string), "hunter2") {
			t.Fatalf("search finds the secret: %v", h)
		}
	}
}
