package content

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kollektiv/kollektiv/internal/testcorpus"
)

// TestCorpus loads and chunks the real documentation corpus and checks every
// chunk against the limits. With -short it takes every tenth document. With
// -v it logs the chunk count and token distribution. Under the race
// detector it samples one document in ten too, to keep the run to seconds.
func TestCorpus(t *testing.T) {
	t.Parallel()

	root := testcorpus.Dir(t)
	start := time.Now()
	docs, problems, err := LoadPath(context.Background(), root, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Logf("problem: %v", p)
	}
	if len(docs) < 1000 {
		t.Fatalf("loaded %d documents from %s, want the whole corpus", len(docs), root)
	}
	loaded := time.Since(start)
	c := newTestChunker(t, ChunkerOptions{})
	var (
		sizes   []int
		bySet   = map[string][]int{} // embedded tokens per top directory
		bytes   int
		splits  int
		checked int
	)
	start = time.Now()
	for i, doc := range docs {
		if (testing.Short() || raceEnabled) && i%10 != 0 {
			continue
		}
		checked++
		bytes += len(doc.Content)
		chunks, err := c.Chunk(testDocID, doc.Content)
		if err != nil {
			t.Errorf("%s: %v", doc.URL, err)
			continue
		}
		checkChunks(t, c, doc.Content, chunks)
		set, _, _ := strings.Cut(doc.URL, "/")
		for _, ch := range chunks {
			n := c.CountTokens(ch.EmbedText())
			sizes = append(sizes, n)
			bySet[set] = append(bySet[set], n)
		}
		splits += splitFences(t, c, doc, chunks)
	}
	elapsed := time.Since(start)
	t.Logf("%d documents (%d problems) loaded in %v; %d checked, %.1f MB chunked in %v",
		len(docs), len(problems), loaded.Round(time.Millisecond), checked, float64(bytes)/1e6, elapsed.Round(time.Millisecond))
	t.Logf("all: %s; %d fences larger than a chunk were split", distribution(sizes), splits)
	for _, set := range slices.Sorted(maps.Keys(bySet)) {
		t.Logf("%s: %s", set, distribution(bySet[set]))
	}
}

// TestCorpusHeadings chunks the FastAPI docs and the Rust book and checks
// that every heading is in some chunk's Headers or Headings, and that no
// attribute list ("{ #id }") is left in a title, a header, a heading or a
// heading line of a chunk. With -v it logs how many headings only a
// merged chunk's Headings hold.
func TestCorpusHeadings(t *testing.T) {
	t.Parallel()

	root := testcorpus.Dir(t)
	c := newTestChunker(t, ChunkerOptions{})
	for _, set := range []string{"fastapi", "rust-book"} {
		docs, _, err := LoadPath(context.Background(), filepath.Join(root, set), LoadOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(docs) < 50 {
			t.Fatalf("loaded %d documents from %s, want the whole set", len(docs), set)
		}
		var headings, merged, explicit, anchored int
		for i, doc := range docs {
			if raceEnabled && i%10 != 0 {
				continue
			}
			if hasAttributeList(doc.Title) {
				t.Errorf("%s: title %q keeps its attribute list", doc.URL, doc.Title)
			}
			chunks, err := c.Chunk(testDocID, doc.Content)
			if err != nil {
				t.Errorf("%s: %v", doc.URL, err)
				continue
			}
			inHeaders, inHeadings, anchors := map[string]bool{}, map[string]bool{}, map[string]bool{}
			for _, ch := range chunks {
				for _, h := range ch.Headers {
					inHeaders[h] = true
				}
				for _, h := range ch.Headings {
					inHeadings[h] = true
				}
				anchors[ch.Anchor] = true
				for _, s := range append(slices.Clone(ch.Headers), ch.Headings...) {
					if hasAttributeList(s) {
						t.Errorf("%s: chunk %d keeps an attribute list in %q", doc.URL, ch.Ordinal, s)
					}
				}
				for _, b := range parseBlocks(ch.Text) {
					if b.kind == blockHeading && hasAttributeList(b.lines[0]) {
						t.Errorf("%s: chunk %d keeps an attribute list in heading line %q", doc.URL, ch.Ordinal, b.lines[0])
					}
				}
			}
			for _, b := range parseBlocks(normalizeMarkdown(doc.Content)) {
				if b.kind != blockHeading || b.title == "" {
					continue
				}
				headings++
				switch {
				case inHeaders[b.title]:
				case inHeadings[b.title]:
					merged++
				default:
					t.Errorf("%s: heading %q is in no chunk's Headers or Headings", doc.URL, b.title)
				}
				if b.id != "" {
					explicit++
					if anchors[b.id] {
						anchored++
					}
				}
			}
		}
		t.Logf("%s: %d documents, %d headings, %d of them only in a merged chunk's Headings; %d explicit ids, %d of them a chunk's anchor",
			set, len(docs), headings, merged, explicit, anchored)
	}
}

// hasAttributeList reports whether s holds what looks like a heading
// attribute list with an id.
func hasAttributeList(s string) bool {
	return strings.Contains(s, "{ #") || strings.Contains(s, "{#") || strings.Contains(s, "{: #")
}

// distribution describes token counts: count, min, median, p95, max.
func distribution(sizes []int) string {
	slices.Sort(sizes)
	return fmt.Sprintf("%d chunks, embedded tokens min %d, median %d, p95 %d, max %d",
		len(sizes), sizes[0], sizes[len(sizes)/2], sizes[len(sizes)*95/100], sizes[len(sizes)-1])
}

// splitFences checks that every code fence that fits its section's budget
// (the hard maximum less the header path) is whole in some chunk, and
// returns how many did not fit.
func splitFences(t testing.TB, c *Chunker, doc Document, chunks []Chunk) int {
	t.Helper()
	split := 0
	var stack []block
	for _, b := range parseBlocks(doc.Content) {
		if b.kind == blockHeading {
			for len(stack) > 0 && stack[len(stack)-1].level >= b.level {
				stack = stack[:len(stack)-1]
			}
			stack = append(stack, b)
		}
		if b.kind != blockCode {
			continue
		}
		fence := strings.Join(b.lines, "\n")
		if inSomeChunk(chunks, fence) {
			continue
		}
		var headers []string
		for _, h := range stack {
			if h.title != "" {
				headers = append(headers, h.title)
			}
		}
		if n, budget := c.CountTokens(fence), c.newSection(headers).budget; n <= budget {
			t.Errorf("%s: code fence of %d tokens, budget %d, was split:\n%s", doc.URL, n, budget, fence[:min(len(fence), 200)])
		}
		split++
	}
	return split
}

// corpusText concatenates corpus documents until it has n bytes.
func corpusText(b *testing.B, n int) string {
	root := testcorpus.Dir(b)
	var sb strings.Builder
	for _, sub := range []string{"rust-book", "fastapi", "tldr"} {
		_ = filepath.WalkDir(filepath.Join(root, sub), func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return nil //nolint:nilerr // an unreadable entry is skipped: the benchmark needs text, not every file
			}
			if d.IsDir() || !strings.HasSuffix(p, ".md") || sb.Len() >= n {
				return nil
			}
			raw, err := os.ReadFile(p)
			if err == nil {
				sb.Write(raw)
				sb.WriteString("\n\n")
			}
			return nil
		})
	}
	s := sb.String()
	for len(s) < n {
		s += "\n\n" + s
	}
	return s[:n]
}

// BenchmarkChunk measures throughput over real documentation, one
// document at a time as the pipeline chunks them. Run with -cpu 1 for the
// single-core figure. The chunker's segment cache is warm after the first
// iteration, as it is in a worker that has chunked a few documents;
// BenchmarkChunkCold gives the figure with a new chunker every time.
func BenchmarkChunk(b *testing.B) {
	benchmarkChunk(b, false)
}

// BenchmarkChunkCold is BenchmarkChunk with an empty segment cache on
// every iteration.
func BenchmarkChunkCold(b *testing.B) {
	benchmarkChunk(b, true)
}

func benchmarkChunk(b *testing.B, cold bool) {
	root := testcorpus.Dir(b)
	docs, _, err := LoadPath(context.Background(), filepath.Join(root, "rust-book"), LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	more, _, err := LoadPath(context.Background(), filepath.Join(root, "fastapi"), LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	docs = append(docs, more...)
	total := 0
	for _, d := range docs {
		total += len(d.Content)
	}
	c := newTestChunker(b, ChunkerOptions{})
	b.SetBytes(int64(total))
	b.ResetTimer()
	for b.Loop() {
		if cold {
			c = newTestChunker(b, ChunkerOptions{})
		}
		for _, d := range docs {
			if _, err := c.Chunk(testDocID, d.Content); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkChunkSize chunks one 1 MB document and the same text ten times
// over as one 10 MB document; linear time shows as the same MB/s, a ns/op
// ratio near 10.
func BenchmarkChunkSize(b *testing.B) {
	c := newTestChunker(b, ChunkerOptions{})
	one := corpusText(b, 1<<20)
	for _, mb := range []int{1, 10} {
		text := strings.TrimSuffix(strings.Repeat(one+"\n\n", mb), "\n\n")
		b.Run(fmt.Sprintf("%dMB", mb), func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				if _, err := c.Chunk(testDocID, text); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
