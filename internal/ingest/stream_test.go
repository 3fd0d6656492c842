package ingest_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/kollektiv/kollektiv/internal/content"
	"github.com/kollektiv/kollektiv/internal/dbtest"
	"github.com/kollektiv/kollektiv/internal/derr"
	"github.com/kollektiv/kollektiv/internal/ingest"
)

type streamBundle struct {
	pool *pgxpool.Pool
	svc  *ingest.Service
}

func setupStream(t *testing.T) streamBundle {
	t.Helper()
	pool := dbtest.Pool(t)
	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{}) // insert only
	if err != nil {
		t.Fatal(err)
	}
	return streamBundle{pool: pool, svc: &ingest.Service{Pool: pool, River: rc}}
}

func document(t *testing.T, name, text string) content.Document {
	t.Helper()
	d, err := content.PrepareDocument("", name, text, content.PrepareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// count runs a count(*) query.
func count(t *testing.T, pool *pgxpool.Pool, query string, args ...any) int {
	t.Helper()
	var n int
	if err := pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// documentStates returns the status of each document of source id by url,
// and whether its row is older than 30 minutes ("status old=true"), which
// the tests set for the rows a refresh must not rewrite.
func documentStates(t *testing.T, pool *pgxpool.Pool, id uuid.UUID) map[string]string {
	t.Helper()
	rows, err := pool.Query(context.Background(), "SELECT url, status, updated_at < now() - interval '30 minutes' FROM documents WHERE source_id = $1", id)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for rows.Next() {
		var url, status string
		var old bool
		if err := rows.Scan(&url, &status, &old); err != nil {
			t.Fatal(err)
		}
		got[url] = fmt.Sprintf("%s old=%v", status, old)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

// TestAddStreamIsOneTransaction (issue 16, item 3): a streamed source is
// written in several COPY batches, yet nobody sees it, its documents or its
// jobs before the last document is stored; then all at once, with its first
// job.
func TestAddStreamIsOneTransaction(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupStream(t)
	const n = 2500 // batches of 1,000: three COPYs
	var seenMidway [3]int
	added, err := b.svc.Add(ctx, ingest.AddParams{UserID: "alice", Kind: ingest.KindFiles, URI: "/stream",
		Stream: func(_ context.Context, emit content.Visit) error {
			for i := range n {
				if i == 2000 {
					// Two batches are written by now, on another connection.
					seenMidway = [3]int{
						count(t, b.pool, "SELECT count(*) FROM sources"),
						count(t, b.pool, "SELECT count(*) FROM documents"),
						count(t, b.pool, "SELECT count(*) FROM river_job"),
					}
				}
				d := document(t, fmt.Sprintf("doc-%04d.md", i), fmt.Sprintf("# Document %d\n\nIts text.", i))
				if err := emit(&d, nil); err != nil {
					return err
				}
			}
			return emit(nil, &content.DocumentError{URL: "broken.md", Reason: "cannot read file", Err: errors.New("permission denied")})
		}})
	if err != nil {
		t.Fatal(err)
	}
	if seenMidway != [3]int{} {
		t.Errorf("while streaming, another connection saw %d sources, %d documents, %d jobs; want none", seenMidway[0], seenMidway[1], seenMidway[2])
	}
	if added.Documents != n || len(added.Problems) != 1 || added.Problems[0].URL != "broken.md" {
		t.Errorf("Add reports %d documents and problems %v; want %d and broken.md", added.Documents, added.Problems, n)
	}
	if added.Source.DocumentCount != n+1 || added.Source.FailedDocumentCount != 1 {
		t.Errorf("source counts %d documents, %d failed; want %d and 1", added.Source.DocumentCount, added.Source.FailedDocumentCount, n+1)
	}
	if got := count(t, b.pool, "SELECT count(*) FROM documents WHERE source_id = $1 AND status = 'pending'", added.Source.ID); got != n {
		t.Errorf("%d pending documents, want %d", got, n)
	}
	var reason string
	if err := b.pool.QueryRow(ctx, "SELECT error FROM documents WHERE source_id = $1 AND url = 'broken.md' AND status = 'failed'", added.Source.ID).Scan(&reason); err != nil || !strings.Contains(reason, "permission denied") {
		t.Errorf("broken.md stored failed with %q (%v), want its reason", reason, err)
	}
	if got := count(t, b.pool, "SELECT count(*) FROM river_job WHERE kind = 'process_documents' AND args->>'source_id' = $1", added.Source.ID.String()); got != 1 {
		t.Errorf("%d process_documents jobs for the source, want 1", got)
	}
}

// TestAddStreamFailureLeavesNothing: a stream that fails after some
// batches were written leaves no source, no document and no job, and Add
// returns its error.
func TestAddStreamFailureLeavesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupStream(t)
	errDisk := errors.New("disk went away")
	_, err := b.svc.Add(ctx, ingest.AddParams{UserID: "alice", Kind: ingest.KindFiles, URI: "/broken",
		Stream: func(_ context.Context, emit content.Visit) error {
			for i := range 1500 {
				d := document(t, fmt.Sprintf("doc-%04d.md", i), "# A document\n\nIts text.")
				if err := emit(&d, nil); err != nil {
					return err
				}
			}
			return errDisk
		}})
	if !errors.Is(err, errDisk) {
		t.Fatalf("Add returned %v, want the stream's error", err)
	}
	for _, table := range []string{"sources", "documents", "river_job"} {
		if got := count(t, b.pool, "SELECT count(*) FROM "+table); got != 0 {
			t.Errorf("%d rows in %s after a failed stream, want 0", got, table)
		}
	}
}

// TestAddDocumentGivenTwice: a name given twice in one source is refused
// as invalid input naming it, not stored with one copy silently lost.
func TestAddDocumentGivenTwice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupStream(t)
	docs := []content.Document{document(t, "a.md", "# A\n\nOne."), document(t, "b.md", "# B\n\nTwo."), document(t, "a.md", "# A\n\nThree.")}
	_, err := b.svc.Add(ctx, ingest.AddParams{UserID: "alice", Kind: ingest.KindInline, Documents: docs})
	if derr.HTTPStatus(err) != http.StatusBadRequest || !strings.Contains(fmt.Sprint(err), `"a.md"`) {
		t.Fatalf("Add of a.md twice: %v (status %d), want invalid input naming a.md", err, derr.HTTPStatus(err))
	}
	if got := count(t, b.pool, "SELECT count(*) FROM sources"); got != 0 {
		t.Errorf("%d sources after a refused Add", got)
	}
}

// TestRefreshStreamed: refreshing a directory reads it again through the
// stream and the staging table. An unchanged document keeps its status and
// is not rewritten, a changed one goes back to pending, a new one is added,
// a vanished one is removed with its chunks, a document that had failed is
// tried again, and a file that cannot be loaded is stored failed. A root
// that cannot be read any more starts no generation.
func TestRefreshStreamed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupStream(t)
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("same.md", "# Same\n\nNever changes.")
	write("changed.md", "# Changed\n\nFirst version.")
	write("vanished.md", "# Vanished\n\nDeleted before the refresh.")
	write("flaky.md", "# Flaky\n\nFailed in the pipeline the first time.")
	write("turns-bad.md", "# Turns bad\n\nBecomes binary.")
	write("meta.md", "---\ntags: [first]\n---\n# Meta\n\nOnly its front matter changes.")
	docs, problems, err := content.LoadPath(ctx, dir, content.LoadOptions{})
	if err != nil || len(problems) > 0 {
		t.Fatal(err, problems)
	}
	added, err := b.svc.Add(ctx, ingest.AddParams{UserID: "alice", Kind: ingest.KindFiles, URI: dir, Documents: docs})
	if err != nil {
		t.Fatal(err)
	}
	id := added.Source.ID
	// Where a finished run leaves it: every document embedded but flaky.md,
	// one chunk for vanished.md.
	for _, stmt := range []string{
		"UPDATE documents SET status = 'embedded', updated_at = now() - interval '1 hour' WHERE source_id = $1",
		"UPDATE documents SET status = 'failed', error = 'provider down' WHERE source_id = $1 AND url = 'flaky.md'",
		`INSERT INTO chunks (id, document_id, source_id, user_id, ordinal, text, token_count)
		 SELECT gen_random_uuid(), id, source_id, 'alice', 0, 'text', 1 FROM documents WHERE source_id = $1 AND url = 'vanished.md'`,
		"UPDATE sources SET stage = 'completed', completed_at = now() WHERE id = $1",
	} {
		if _, err := b.pool.Exec(ctx, stmt, id); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	write("changed.md", "# Changed\n\nSecond version.")
	write("new.md", "# New\n\nAdded before the refresh.")
	write("turns-bad.md", "binary\x00content")
	write("meta.md", "---\ntags: [second]\n---\n# Meta\n\nOnly its front matter changes.")
	if err := os.Remove(filepath.Join(dir, "vanished.md")); err != nil {
		t.Fatal(err)
	}

	refreshed, err := b.svc.Refresh(ctx, ingest.RefreshParams{UserID: "alice", SourceID: id})
	if err != nil {
		t.Fatal(err)
	}
	if !refreshed.Refreshed || refreshed.Source.ID != id || refreshed.Documents != 5 || len(refreshed.Problems) != 1 {
		t.Errorf("refresh: source %s refreshed %v, %d documents, problems %v; want %s, 5 documents, turns-bad.md failed",
			refreshed.Source.ID, refreshed.Refreshed, refreshed.Documents, refreshed.Problems, id)
	}
	got := documentStates(t, b.pool, id)
	want := map[string]string{
		"same.md":      "embedded old=true", // not rewritten
		"changed.md":   "pending old=false",
		"new.md":       "pending old=false",
		"flaky.md":     "pending old=false",
		"turns-bad.md": "failed old=false",
		"meta.md":      "embedded old=false", // its metadata rewritten, its status kept
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("documents after the refresh:\n got %v\nwant %v", got, want)
	}
	if n := count(t, b.pool, "SELECT count(*) FROM chunks WHERE source_id = $1", id); n != 0 {
		t.Errorf("%d chunks left of the vanished document", n)
	}
	var tags string
	if err := b.pool.QueryRow(ctx, "SELECT metadata->>'tags' FROM documents WHERE source_id = $1 AND url = 'meta.md'", id).Scan(&tags); err != nil || tags != `["second"]` {
		t.Errorf("meta.md's tags after the refresh: %s (%v), want [\"second\"]", tags, err)
	}
	if refreshed.Source.DocumentCount != 6 || refreshed.Source.FailedDocumentCount != 1 {
		t.Errorf("source counts %d documents, %d failed; want 6 and 1", refreshed.Source.DocumentCount, refreshed.Source.FailedDocumentCount)
	}

	// Finished again, then the directory goes away: nothing changes.
	if _, err := b.pool.Exec(ctx, "UPDATE sources SET stage = 'completed', completed_at = now() WHERE id = $1", id); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	_, err = b.svc.Refresh(ctx, ingest.RefreshParams{UserID: "alice", SourceID: id})
	if !errors.Is(err, ingest.ErrCannotReRead) {
		t.Fatalf("refresh of a removed directory: %v, want ErrCannotReRead", err)
	}
	var generation int32
	var stage string
	if err := b.pool.QueryRow(ctx, "SELECT generation, stage FROM sources WHERE id = $1", id).Scan(&generation, &stage); err != nil {
		t.Fatal(err)
	}
	if generation != refreshed.Source.Generation || stage != "completed" || count(t, b.pool, "SELECT count(*) FROM documents WHERE source_id = $1", id) != 6 {
		t.Errorf("after a refused refresh: generation %d (want %d), stage %s, documents changed", generation, refreshed.Source.Generation, stage)
	}
}

// TestRefreshLargeStream: a refresh over several batches, each compared
// with the stored documents while the next is read, with changes spread
// over every batch. Only what changed is written: an unchanged document
// keeps its status and row, a changed one goes back to pending, one that
// now fails to load is stored failed, new ones are added and vanished ones
// removed, and the counts are those of what was streamed.
func TestRefreshLargeStream(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	b := setupStream(t)
	const n, kept = 2500, 2400 // documents 2400 to 2499 vanish
	text := func(i int, version string) string { return fmt.Sprintf("# Document %d\n\nIts text, %s.", i, version) }
	changed := func(i int) bool { return i%300 == 7 } // in each batch
	const failing = 1234
	docs := make([]content.Document, n)
	for i := range n {
		docs[i] = document(t, fmt.Sprintf("doc-%04d.md", i), text(i, "first"))
	}
	added, err := b.svc.Add(ctx, ingest.AddParams{UserID: "alice", Kind: ingest.KindFiles, URI: "/large", Documents: docs})
	if err != nil {
		t.Fatal(err)
	}
	id := added.Source.ID
	for _, stmt := range []string{
		"UPDATE documents SET status = 'embedded', updated_at = now() - interval '1 hour' WHERE source_id = $1",
		"UPDATE sources SET stage = 'completed', completed_at = now() WHERE id = $1",
	} {
		if _, err := b.pool.Exec(ctx, stmt, id); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}

	refreshed, err := b.svc.Add(ctx, ingest.AddParams{UserID: "alice", Kind: ingest.KindFiles, URI: "/large",
		Stream: func(_ context.Context, emit content.Visit) error {
			for i := range n + 50 { // 50 new ones after the first n
				if i >= kept && i < n {
					continue
				}
				if i == failing {
					if err := emit(nil, &content.DocumentError{URL: fmt.Sprintf("doc-%04d.md", i), Reason: "cannot read file", Err: errors.New("gone bad")}); err != nil {
						return err
					}
					continue
				}
				version := "first"
				if changed(i) || i >= n {
					version = "second"
				}
				d := document(t, fmt.Sprintf("doc-%04d.md", i), text(i, version))
				if err := emit(&d, nil); err != nil {
					return err
				}
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if !refreshed.Refreshed || refreshed.Source.ID != id {
		t.Fatalf("got source %s (refreshed %v), want a refresh of %s", refreshed.Source.ID, refreshed.Refreshed, id)
	}
	got := documentStates(t, b.pool, id)
	wrong := 0
	for i := range n + 50 {
		url := fmt.Sprintf("doc-%04d.md", i)
		want := "embedded old=true"
		switch {
		case i >= kept && i < n:
			want = "" // vanished
		case i == failing:
			want = "failed old=false"
		case changed(i) || i >= n:
			want = "pending old=false"
		}
		if got[url] != want {
			if wrong++; wrong <= 5 {
				t.Errorf("%s: %q, want %q", url, got[url], want)
			}
		}
	}
	if wrong > 0 || len(got) != kept+50 {
		t.Errorf("%d documents wrong, %d stored; want none wrong and %d stored", wrong, len(got), kept+50)
	}
	if refreshed.Source.DocumentCount != kept+50 || refreshed.Source.FailedDocumentCount != 1 {
		t.Errorf("source counts %d documents, %d failed; want %d and 1", refreshed.Source.DocumentCount, refreshed.Source.FailedDocumentCount, kept+50)
	}
}
