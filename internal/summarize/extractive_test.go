package summarize

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/kollektiv/kollektiv/internal/embed"
)

func collapse(s string) string { return strings.Join(strings.Fields(s), " ") }

// corpusSource loads up to n files under sub as a digest input, chunked by
// splitChunks, and returns it with the concatenated source text.
func corpusSource(tb testing.TB, sub string, n int) (DigestInput, string) {
	tb.Helper()
	var (
		in  DigestInput
		all strings.Builder
	)
	for _, f := range corpusFiles(tb, sub, n) {
		in.Documents = append(in.Documents, Document{Title: f.title, URL: f.path})
		for _, c := range splitChunks(f.text, 1600) {
			in.Chunks = append(in.Chunks, Chunk{Text: c})
		}
		all.WriteString(f.text)
		all.WriteString("\n")
	}
	return in, all.String()
}

func TestExtractiveOnCorpus(t *testing.T) {
	t.Parallel()
	for _, sub := range []string{"fastapi/docs/en/docs/tutorial", "rust-book/src", "tldr/pages/common"} {
		t.Run(strings.ReplaceAll(sub, "/", "_"), func(t *testing.T) {
			t.Parallel()
			in, source := corpusSource(t, sub, 40)
			ctx := context.Background()
			d, err := BuildDigest(ctx, in, DigestConfig{})
			if err != nil {
				t.Fatal(err)
			}
			x, err := NewExtractive(ExtractiveConfig{})
			if err != nil {
				t.Fatal(err)
			}
			s, err := x.Summarize(ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			words := len(strings.Fields(s.Summary))
			if words < 80 || words > 150 {
				t.Errorf("summary has %d words, want 80..150 (target 100..150):\n%s", words, s.Summary)
			}
			sents, err := x.summarySentences(ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			if len(sents) < 2 || strings.Join(sents, " ") != s.Summary {
				t.Fatalf("summary is not the join of its %d sentences", len(sents))
			}
			flat := collapse(source)
			for _, sent := range sents {
				if !strings.Contains(flat, sent) {
					t.Errorf("sentence not in the source: %q", sent)
				}
			}
			if n := len(s.Keywords); n < 5 || n > 10 {
				t.Errorf("%d keywords %v, want 5..10", n, s.Keywords)
			}
			lower := strings.ToLower(source)
			for _, k := range s.Keywords {
				if !strings.Contains(lower, k) {
					t.Errorf("keyword %q does not occur in the source", k)
				}
			}
			again, err := x.Summarize(ctx, d)
			if err != nil || !reflect.DeepEqual(again, s) {
				t.Errorf("second run differs: %+v vs %+v (%v)", again, s, err)
			}
			t.Logf("%d words, keywords %v", words, s.Keywords)
		})
	}
}

func TestExtractiveKeywordsRankFrequentTopicWords(t *testing.T) {
	t.Parallel()
	x, err := NewExtractive(ExtractiveConfig{})
	if err != nil {
		t.Fatal(err)
	}
	d := Digest{Chunks: []string{
		"The borrow checker enforces ownership. Ownership moves values; the borrow checker rejects dangling references.",
		"References borrow values without taking ownership. A mutable borrow is exclusive.",
		"Lifetimes tell the borrow checker how long references live.",
		"```rust\nlet compiler_only_word = 5; let compiler_only_word = 6;\n```\nOwnership again.",
	}}
	s, err := x.Summarize(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Keywords) < 3 || s.Keywords[0] != "borrow" && s.Keywords[0] != "ownership" {
		t.Fatalf("keywords %v, want borrow or ownership first", s.Keywords)
	}
	for _, k := range s.Keywords {
		if k == "compiler_only_word" || k == "the" {
			t.Fatalf("keywords %v contain a code or stop word", s.Keywords)
		}
	}
}

func TestExtractiveWithoutProse(t *testing.T) {
	t.Parallel()
	x, err := NewExtractive(ExtractiveConfig{})
	if err != nil {
		t.Fatal(err)
	}
	s, err := x.Summarize(context.Background(), Digest{
		Documents: []Document{{Title: "tar"}, {Title: "gzip"}},
		Chunks:    []string{"# tar\n\n`tar -xf file.tar`"},
	})
	if err != nil || s.Summary != "tar; gzip" {
		t.Fatalf("Summarize = %+v, %v; want the titles", s, err)
	}
	if _, err := x.Summarize(context.Background(), Digest{}); !errors.Is(err, ErrEmptyDigest) {
		t.Fatalf("empty digest: err = %v, want ErrEmptyDigest", err)
	}
}

func TestSentences(t *testing.T) {
	t.Parallel()
	md := "# Title\n\nFastAPI is a modern web framework for building APIs with Python.\nIt is based on standard\n  Python type hints. Short one.\n\n" +
		"```python\nprint(\"This code sentence must not appear in the output.\")\n```\n\n" +
		"- Use the path operation decorator to declare a route here.\n" +
		"> Extract files from an archive into the current directory.\n" +
		"Tools such as curl (e.g. Version 8) are handy for testing the API.\n" +
		"See [the docs](https://example.com) for more details about it all.\n" +
		"| a | table row that looks like a sentence of words. |\n"
	got := sentences(md)
	want := []string{
		"FastAPI is a modern web framework for building APIs with Python.",
		"It is based on standard Python type hints.",
		"Use the path operation decorator to declare a route here.",
		"Extract files from an archive into the current directory.",
		"Tools such as curl (e.g. Version 8) are handy for testing the API.",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("sentences:\n got %q\nwant %q", got, want)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	s, err := New("", Config{})
	if err != nil || s.Model() != "extractive-v1/hashing-v2-384" {
		t.Fatalf("New(\"\") = %v, %v", s, err)
	}
	if _, err := New("anthropic", Config{}); err == nil || !strings.Contains(err.Error(), "APIKey") {
		t.Fatalf("anthropic without key: err = %v", err)
	}
	s, err = New("openai", Config{OpenAI: OpenAIConfig{BaseURL: "http://localhost:11434/v1", Model: "llama3.2"}})
	if err != nil || s.Model() != "openai:llama3.2" {
		t.Fatalf("New(openai) = %v, %v", s, err)
	}
	_, err = New("gpt", Config{})
	if err == nil || !strings.Contains(err.Error(), `"extractive", "anthropic", "openai"`) {
		t.Fatalf("unknown name: err = %v, want the valid names listed", err)
	}
	if _, err := NewExtractive(ExtractiveConfig{MinWords: 200}); err == nil {
		t.Fatal("MinWords above MaxWords accepted")
	}
}

// bench1000 returns a digest input of 1,000 corpus chunks.
func bench1000(b *testing.B) DigestInput {
	in, _ := corpusSource(b, "", 2000)
	if len(in.Chunks) < 1000 {
		b.Skipf("corpus has %d chunks, want 1,000", len(in.Chunks))
	}
	in.Chunks = in.Chunks[:1000]
	return in
}

// BenchmarkExtractive measures summarising a 1,000-chunk source: building
// the digest (embedding and ranking the 1,000 chunks) and the extractive
// summary of it. The "all chunks" case summarises a digest holding all
// 1,000 chunks, the cost of the sentence ranking itself at that size.
func BenchmarkExtractive(b *testing.B) {
	in := bench1000(b)
	count, err := embed.NewTokenCounter()
	if err != nil {
		b.Fatal(err)
	}
	x, err := NewExtractive(ExtractiveConfig{})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.Run("digest+summary", func(b *testing.B) {
		for b.Loop() {
			d, err := BuildDigest(ctx, in, DigestConfig{CountTokens: count})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := x.Summarize(ctx, d); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("all chunks", func(b *testing.B) {
		d := Digest{}
		for _, c := range in.Chunks {
			d.Chunks = append(d.Chunks, c.Text)
		}
		for b.Loop() {
			if _, err := x.Summarize(ctx, d); err != nil {
				b.Fatal(err)
			}
		}
	})
}
