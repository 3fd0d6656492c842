package summarize

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/kollektiv/kollektiv/internal/embed"
)

// words counts tokens as words, so budgets are easy to reason about.
func words(s string) int { return len(strings.Fields(s)) }

func TestBuildDigestBoundsALargeSource(t *testing.T) {
	t.Parallel()
	var in DigestInput
	for i := range 10000 {
		in.Documents = append(in.Documents, Document{Title: fmt.Sprintf("Page %d", i), URL: fmt.Sprintf("https://docs.example/p/%d", i)})
	}
	// A job feeds a bounded sample of chunks, not all of them. They share
	// a sentence but are no near-duplicates: each has a topic and numbers
	// of its own.
	topics := strings.Fields("routing middleware templates security databases testing deployment websockets")
	for i := range 2000 {
		in.Chunks = append(in.Chunks, Chunk{Text: fmt.Sprintf("chunk %d about %s, requests %d and handlers %d. %s", i, topics[i%len(topics)], 1000+i, 5000+i%37, "Handlers receive requests and return responses.")})
	}
	cfg := DigestConfig{TokenBudget: 2000, MaxTitles: 50, CountTokens: words}
	d, err := BuildDigest(context.Background(), in, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if d.TotalDocuments != 10000 || len(d.Documents) != 50 {
		t.Fatalf("total %d, %d titles; want 10000 and MaxTitles 50", d.TotalDocuments, len(d.Documents))
	}
	if d.Documents[0].Title != "Page 0" || d.Documents[49].Title != "Page 9800" {
		t.Fatalf("titles %q .. %q, want them spread evenly over the source", d.Documents[0].Title, d.Documents[49].Title)
	}
	used := 0
	for _, doc := range d.Documents {
		used += words(doc.Title+" "+doc.URL) + 2
	}
	for _, c := range d.Chunks {
		used += words(c) + 4
	}
	if used > cfg.TokenBudget || len(d.Chunks) < 20 {
		t.Fatalf("%d tokens for %d chunks; want within the budget of %d", used, len(d.Chunks), cfg.TokenBudget)
	}
	again, err := BuildDigest(context.Background(), in, cfg)
	if err != nil || !reflect.DeepEqual(again, d) {
		t.Fatal("BuildDigest is not deterministic")
	}
}

func TestBuildDigestPicksRepresentativeNotRedundant(t *testing.T) {
	t.Parallel()
	central := "Path parameters and query parameters are declared as function parameters with type hints."
	in := DigestInput{Chunks: []Chunk{
		{Text: "The weather in Lisbon was sunny and warm all week long."},
		{Text: central},
		{Text: central},
		{Text: "Query parameters with default values are optional function parameters."},
		{Text: "Path parameters are part of the URL path and declared with type hints."},
		{Text: "Bake the bread at two hundred degrees for forty minutes."},
	}}
	d, err := BuildDigest(context.Background(), in, DigestConfig{TokenBudget: 45, CountTokens: words})
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Chunks) != 2 || d.Chunks[0] != central || d.Chunks[1] == central {
		t.Fatalf("chunks %q, want the central chunk once and then another on-topic one", d.Chunks)
	}
	for _, c := range d.Chunks {
		if strings.Contains(c, "Lisbon") || strings.Contains(c, "bread") {
			t.Fatalf("off-topic chunk picked: %q", c)
		}
	}
}

type failingEmbedder struct{ embed.Embedder }

func (failingEmbedder) Embed(context.Context, []string) ([][]float32, error) {
	return nil, errors.New("embedder must not be called")
}

func TestBuildDigestUsesStoredEmbeddings(t *testing.T) {
	t.Parallel()
	in := DigestInput{Chunks: []Chunk{
		{Text: "a", Embedding: []float32{0, 1}},
		{Text: "b", Embedding: []float32{1, 0}},
		{Text: "c", Embedding: []float32{0.8, 0.6}},
	}}
	d, err := BuildDigest(context.Background(), in, DigestConfig{Embedder: failingEmbedder{}, CountTokens: words, TokenBudget: 5 + 4*1})
	if err != nil {
		t.Fatal(err)
	}
	// The centroid is closest to c.
	if len(d.Chunks) != 1 || d.Chunks[0] != "c" {
		t.Fatalf("chunks %q, want [c]", d.Chunks)
	}
	// One chunk without a vector: all are embedded afresh.
	in.Chunks[1].Embedding = nil
	if _, err := BuildDigest(context.Background(), in, DigestConfig{Embedder: failingEmbedder{}, CountTokens: words}); err == nil {
		t.Fatal("want the embedder called when a stored vector is missing")
	}
}
