package jobs_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/kollektiv/kollektiv/internal/content"
	"github.com/kollektiv/kollektiv/internal/ingest"
	"github.com/kollektiv/kollektiv/internal/lifecycle"
)

type chunkHeadingsRow struct {
	ID       uuid.UUID
	Headers  []string
	Headings []string
	Anchor   string
	Text     string
}

// TestPipelineChunkAnchorsAndHeadings ingests documents whose small
// sections merge and whose headings carry attribute lists, and checks
// that the stored chunks keep every heading and the anchors, without the
// lists.
func TestPipelineChunkAnchorsAndHeadings(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{})
	ctx := context.Background()

	docs := []content.Document{
		doc(t, "faq.md", "# Go FAQ { #faq }\n\n## Design\n\n### Does Go have a runtime? { #runtime }\n\n"+
			"It does: a runtime library that implements garbage collection and goroutines.\n\n"+
			"### Why no generics?\n\nThey came in Go 1.18.\n"),
		doc(t, "tutorial/path-params.md", "# Path Parameters { #path-parameters }\n\n"+
			strings.Repeat("You can declare path parameters with the same syntax as format strings. ", 60)+
			"\n\n## Order matters {#order-matters .note}\n\n"+
			strings.Repeat("A fixed path must be declared before the path with a parameter. ", 60)+"\n"),
	}
	added, err := b.ingest.Add(ctx, ingest.AddParams{UserID: "alice", Kind: ingest.KindInline, Documents: docs})
	if err != nil {
		t.Fatal(err)
	}
	source := waitTerminal(t, b, added.Source.ID)
	if lifecycle.Stage(source.Stage) != lifecycle.StageCompleted {
		t.Fatalf("source ended %+v", source)
	}

	rows, err := b.pool.Query(ctx,
		"SELECT id, headers, headings, anchor, text FROM chunks WHERE source_id = $1 ORDER BY document_id, ordinal", source.ID)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := pgx.CollectRows(rows, pgx.RowToStructByPos[chunkHeadingsRow])
	if err != nil {
		t.Fatal(err)
	}
	byID := map[uuid.UUID]chunkHeadingsRow{}
	for _, r := range stored {
		byID[r.ID] = r
		for _, s := range append(append([]string{r.Text, r.Anchor}, r.Headers...), r.Headings...) {
			if strings.Contains(s, "{ #") || strings.Contains(s, "{#") {
				t.Errorf("chunk %s keeps an attribute list: %q", r.ID, s)
			}
		}
	}

	// What is stored is what the chunker gives, field for field; nil
	// headings are stored as an empty array.
	want := 0
	for _, d := range docs {
		chunks, err := b.deps.Chunker.Chunk(content.DocumentID(source.ID, d.URL), d.Content)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range chunks {
			want++
			r, ok := byID[c.ID]
			if !ok {
				t.Fatalf("chunk %d of %s not stored", c.Ordinal, d.URL)
			}
			if !slices.Equal(r.Headers, c.Headers) || !slices.Equal(r.Headings, c.Headings) || r.Anchor != c.Anchor {
				t.Errorf("chunk %d of %s stored headers %q headings %q anchor %q, want %q %q %q",
					c.Ordinal, d.URL, r.Headers, r.Headings, r.Anchor, c.Headers, c.Headings, c.Anchor)
			}
		}
	}
	if len(stored) != want {
		t.Errorf("%d chunks stored, want %d", len(stored), want)
	}

	// The FAQ is one chunk: its path is the h1's, every other heading is
	// among its headings.
	faq := stored[slices.IndexFunc(stored, func(r chunkHeadingsRow) bool { return strings.Contains(r.Text, "Go FAQ") })]
	if !slices.Equal(faq.Headers, []string{"Go FAQ"}) || faq.Anchor != "faq" ||
		!slices.Equal(faq.Headings, []string{"Design", "Does Go have a runtime?", "Why no generics?"}) {
		t.Errorf("FAQ chunk headers %q headings %q anchor %q", faq.Headers, faq.Headings, faq.Anchor)
	}
	anchors := map[string]bool{}
	for _, r := range stored {
		anchors[r.Anchor] = true
	}
	if !anchors["path-parameters"] || !anchors["order-matters"] {
		t.Errorf("anchors %v, want path-parameters and order-matters", anchors)
	}

	var title string
	if err := b.pool.QueryRow(ctx, "SELECT title FROM documents WHERE source_id = $1 AND url = $2", source.ID, "tutorial/path-params.md").Scan(&title); err != nil {
		t.Fatal(err)
	}
	if title != "Path Parameters" {
		t.Errorf("document title %q, want Path Parameters", title)
	}
}
