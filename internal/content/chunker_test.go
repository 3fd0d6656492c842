package content

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
)

func TestChunkerOptions(t *testing.T) {
	t.Parallel()

	c := newTestChunker(t, ChunkerOptions{})
	if got, want := c.Options(), (ChunkerOptions{TargetTokens: 400, MaxTokens: 512, MinTokens: 100, OverlapTokens: 20}); got != want {
		t.Errorf("defaults = %+v, want %+v", got, want)
	}
	c = newTestChunker(t, ChunkerOptions{MaxTokens: 256, OverlapTokens: -1})
	if got, want := c.Options(), (ChunkerOptions{TargetTokens: 204, MaxTokens: 256, MinTokens: 51, OverlapTokens: 0}); got != want {
		t.Errorf("derived = %+v, want %+v", got, want)
	}
	for _, bad := range []ChunkerOptions{
		{MaxTokens: 16},
		{TargetTokens: 600, MaxTokens: 512},
		{MinTokens: 500},
		{MinTokens: -1},
		{OverlapTokens: 200},
	} {
		if _, err := NewChunker(bad); err == nil {
			t.Errorf("NewChunker(%+v) succeeded, want an error", bad)
		}
	}
}

func TestChunkHeaderPath(t *testing.T) {
	t.Parallel()

	doc := `# Guide

Intro to the guide.

## Install

### Linux

Use the package manager.

` + "```sh\n# this is a comment, not a heading\napt install tool\n```" + `

# Reference

Reference text.
`
	c := newTestChunker(t, ChunkerOptions{MinTokens: 1})
	chunks, err := c.Chunk(testDocID, doc)
	if err != nil {
		t.Fatal(err)
	}
	checkChunks(t, c, doc, chunks)
	got := map[string]string{}
	for _, ch := range chunks {
		got[strings.Join(ch.Headers, " > ")] = ch.Text
	}
	for path, text := range map[string]string{
		"Guide":                   "Intro to the guide.",
		"Guide > Install > Linux": "apt install tool",
		"Reference":               "Reference text.", // a new h1 resets the path
	} {
		if !strings.Contains(got[path], text) {
			t.Errorf("chunk under %q = %q, want it to contain %q (chunks: %q)", path, got[path], text, got)
		}
	}
	if _, ok := got["Guide > Install > Linux > this is a comment, not a heading"]; ok {
		t.Error("a # line inside a code fence was taken as a heading")
	}
	// The h2 with nothing under it but an h3 still gives its heading line.
	if !inSomeChunk(chunks, "## Install") {
		t.Error("heading line ## Install lost")
	}
}

func TestChunkSetextAndClosedATX(t *testing.T) {
	t.Parallel()

	doc := "Title\n=====\n\nSome text.\n\nPart ##\n---\n\nMore text.\n\n## Closed ##\n\nEnd."
	chunks, err := newTestChunker(t, ChunkerOptions{MinTokens: 1}).Chunk(testDocID, doc)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, ch := range chunks {
		paths = append(paths, strings.Join(ch.Headers, " > "))
	}
	want := []string{"Title", "Title > Part ##", "Title > Closed"}
	if !reflect.DeepEqual(paths, want) {
		t.Errorf("paths = %q, want %q", paths, want)
	}
}

func TestChunkEmbedText(t *testing.T) {
	t.Parallel()

	ch := Chunk{Headers: []string{"A", "B", "C"}, Text: "body"}
	if got, want := ch.EmbedText(), "A > B > C\n\nbody"; got != want {
		t.Errorf("EmbedText = %q, want %q", got, want)
	}
	if got := (Chunk{Text: "body"}).EmbedText(); got != "body" {
		t.Errorf("EmbedText without headers = %q", got)
	}
}

// paragraphs returns n distinct sentences as separate paragraphs.
func paragraphs(n int) string {
	var sb strings.Builder
	for i := range n {
		fmt.Fprintf(&sb, "Paragraph %d explains one more detail about configuring the server for production use.\n\n", i)
	}
	return sb.String()
}

func TestChunkSplitsLongSectionWithOverlap(t *testing.T) {
	t.Parallel()

	doc := "# Long\n\n" + paragraphs(80)
	c := newTestChunker(t, ChunkerOptions{})
	chunks, err := c.Chunk(testDocID, doc)
	if err != nil {
		t.Fatal(err)
	}
	checkChunks(t, c, doc, chunks)
	if len(chunks) < 3 {
		t.Fatalf("got %d chunks, want a long section split", len(chunks))
	}
	for i, ch := range chunks {
		if !reflect.DeepEqual(ch.Headers, []string{"Long"}) {
			t.Errorf("chunk %d headers %q", i, ch.Headers)
		}
		if i < len(chunks)-1 && (ch.Tokens < 300 || ch.Tokens > 420) {
			t.Errorf("chunk %d has %d tokens, want near the 400 target", i, ch.Tokens)
		}
	}
	// The start of each later chunk repeats the end of the one before.
	for i := 1; i < len(chunks); i++ {
		prev := chunks[i-1].Text
		first, _, _ := strings.Cut(chunks[i].Text, "\n")
		if !strings.HasSuffix(prev, first) {
			t.Errorf("chunk %d starts with %q, not an overlap with the end of chunk %d", i, first, i-1)
		}
		if n := c.CountTokens(first); n > 20 {
			t.Errorf("overlap of %d tokens, want at most 20", n)
		}
	}
}

func TestChunkNoOverlap(t *testing.T) {
	t.Parallel()

	doc := paragraphs(80)
	c := newTestChunker(t, ChunkerOptions{OverlapTokens: -1})
	chunks, err := c.Chunk(testDocID, doc)
	if err != nil {
		t.Fatal(err)
	}
	checkChunks(t, c, doc, chunks)
	var joined []string
	for _, ch := range chunks {
		joined = append(joined, ch.Text)
	}
	if got, want := strings.Join(joined, "\n\n"), normalizeMarkdown(doc); got != want {
		t.Error("without overlap, the chunks joined are not the document")
	}
}

func TestChunkKeepsCodeFenceWhole(t *testing.T) {
	t.Parallel()

	var code strings.Builder
	code.WriteString("```python\n")
	for i := range 40 {
		fmt.Fprintf(&code, "value_%d = compute(%d)\n", i, i)
	}
	code.WriteString("```")
	doc := "# Code\n\n" + paragraphs(12) + code.String() + "\n\nAfter the code."
	c := newTestChunker(t, ChunkerOptions{})
	chunks, err := c.Chunk(testDocID, doc)
	if err != nil {
		t.Fatal(err)
	}
	checkChunks(t, c, doc, chunks)
	if !inSomeChunk(chunks, code.String()) {
		t.Errorf("code fence of %d tokens was split", c.CountTokens(code.String()))
	}
}

func TestChunkSplitsLargeCodeFenceAtBlankLines(t *testing.T) {
	t.Parallel()

	var code strings.Builder
	code.WriteString("```go\n")
	for i := range 30 {
		fmt.Fprintf(&code, "func f%d() {\n\treturn doSomething(%d, \"argument\")\n}\n\n", i, i)
	}
	code.WriteString("```")
	c := newTestChunker(t, ChunkerOptions{MaxTokens: 128, TargetTokens: 100})
	chunks, err := c.Chunk(testDocID, code.String())
	if err != nil {
		t.Fatal(err)
	}
	checkChunks(t, c, code.String(), chunks)
	if len(chunks) < 3 {
		t.Fatalf("got %d chunks, want the fence split", len(chunks))
	}
	for i, ch := range chunks {
		if !strings.HasPrefix(ch.Text, "```go\nfunc f") || !strings.HasSuffix(ch.Text, "}\n```") {
			t.Errorf("part %d is not a whole fenced block of whole functions:\n%s", i, ch.Text)
		}
	}
}

func TestChunkSplitsLargeTableRepeatingHeader(t *testing.T) {
	t.Parallel()

	var table strings.Builder
	table.WriteString("| Option | Meaning |\n|--------|---------|\n")
	for i := range 60 {
		fmt.Fprintf(&table, "| opt%d | what option number %d does |\n", i, i)
	}
	c := newTestChunker(t, ChunkerOptions{MaxTokens: 128, TargetTokens: 100})
	chunks, err := c.Chunk(testDocID, table.String())
	if err != nil {
		t.Fatal(err)
	}
	checkChunks(t, c, table.String(), chunks)
	if len(chunks) < 3 {
		t.Fatalf("got %d chunks, want the table split", len(chunks))
	}
	for i, ch := range chunks {
		if !strings.HasPrefix(ch.Text, "| Option | Meaning |\n|--------|---------|\n| opt") {
			t.Errorf("part %d does not start with the header row:\n%s", i, ch.Text)
		}
	}
}

func TestChunkCutsHugeLine(t *testing.T) {
	t.Parallel()

	line := strings.Repeat("word ", 2000) + strings.Repeat("x", 3000)
	c := newTestChunker(t, ChunkerOptions{})
	chunks, err := c.Chunk(testDocID, "# Big\n\n"+line)
	if err != nil {
		t.Fatal(err)
	}
	checkChunks(t, c, "# Big\n\n"+line, chunks)
	if len(chunks) < 4 {
		t.Errorf("got %d chunks for a line of %d tokens", len(chunks), c.CountTokens(line))
	}
}

func TestChunkMergesSmallSections(t *testing.T) {
	t.Parallel()

	doc := "# API\n\nOverview.\n\n## Get\n\nGets a thing.\n\n## Put\n\nPuts a thing.\n\n# Other\n\n" + paragraphs(30)
	c := newTestChunker(t, ChunkerOptions{})
	chunks, err := c.Chunk(testDocID, doc)
	if err != nil {
		t.Fatal(err)
	}
	checkChunks(t, c, doc, chunks)
	first := chunks[0]
	if !reflect.DeepEqual(first.Headers, []string{"API"}) || !strings.Contains(first.Text, "Gets a thing.") || !strings.Contains(first.Text, "Puts a thing.") {
		t.Errorf("small sections under API not merged into one chunk: %q %q", first.Headers, first.Text)
	}
	for _, ch := range chunks[1:] {
		if strings.Contains(ch.Text, "thing") {
			t.Errorf("text of API merged across into %q", ch.Headers)
		}
	}
}

func TestChunkMergeKeepsHeadings(t *testing.T) {
	t.Parallel()

	c := newTestChunker(t, ChunkerOptions{})
	chunkOf := func(t *testing.T, doc string) []Chunk {
		t.Helper()
		chunks, err := c.Chunk(testDocID, doc)
		if err != nil {
			t.Fatal(err)
		}
		checkChunks(t, c, doc, chunks)
		return chunks
	}

	t.Run("heading-only section swallows its first subsection", func(t *testing.T) {
		t.Parallel()
		doc := "## Design\n\n### Does Go have a runtime? { #runtime }\n\nIt does: the runtime library.\n\n### Why no generics?\n\nThey came in 1.18."
		chunks := chunkOf(t, doc)
		if len(chunks) != 1 {
			t.Fatalf("got %d chunks, want the small sections merged into one", len(chunks))
		}
		ch := chunks[0]
		if !reflect.DeepEqual(ch.Headers, []string{"Design"}) || ch.Anchor != "design" {
			t.Errorf("headers %q anchor %q, want the first section's [Design] design", ch.Headers, ch.Anchor)
		}
		if want := []string{"Does Go have a runtime?", "Why no generics?"}; !reflect.DeepEqual(ch.Headings, want) {
			t.Errorf("headings %q, want %q", ch.Headings, want)
		}
		if !strings.Contains(ch.Text, "### Does Go have a runtime?\n") {
			t.Errorf("heading line missing or not stripped in %q", ch.Text)
		}
	})

	t.Run("text above the first heading", func(t *testing.T) {
		t.Parallel()
		chunks := chunkOf(t, "A line above.\n\n# Title\n\nBody.")
		if len(chunks) != 1 || chunks[0].Headers != nil || chunks[0].Anchor != "" || !reflect.DeepEqual(chunks[0].Headings, []string{"Title"}) {
			t.Errorf("chunks %+v, want one with no headers, no anchor and headings [Title]", chunks)
		}
	})

	t.Run("a deeper first section keeps its own path", func(t *testing.T) {
		t.Parallel()
		// The first section is the deeper one: the merged chunk keeps
		// its path, and the shallower heading is one of its headings.
		doc := "# A\n\n## B\n\nSmall.\n\n# A\n\nAlso small."
		chunks := chunkOf(t, doc)
		var paths [][]string
		var headings [][]string
		for _, ch := range chunks {
			paths = append(paths, ch.Headers)
			headings = append(headings, ch.Headings)
		}
		if want := [][]string{{"A"}}; !reflect.DeepEqual(paths, want) || !reflect.DeepEqual(headings, [][]string{{"B", "A"}}) {
			t.Errorf("paths %q headings %q, want %q and [[B A]]", paths, headings, want)
		}
	})

	t.Run("continuations of a long section", func(t *testing.T) {
		t.Parallel()
		chunks := chunkOf(t, "# Long { #long-one }\n\n"+paragraphs(80))
		if len(chunks) < 3 {
			t.Fatalf("got %d chunks, want a long section split", len(chunks))
		}
		for i, ch := range chunks {
			if !reflect.DeepEqual(ch.Headers, []string{"Long"}) || ch.Headings != nil || ch.Anchor != "long-one" {
				t.Errorf("chunk %d: headers %q headings %q anchor %q, want [Long], none, long-one", i, ch.Headers, ch.Headings, ch.Anchor)
			}
		}
	})

	t.Run("shortened breadcrumb", func(t *testing.T) {
		t.Parallel()
		// Over the quarter of MaxTokens a path may take, within a line.
		long := strings.TrimSpace(strings.Repeat("very long heading ", 13))
		doc := "# " + long + "\n\n## Short\n\nText.\n\n## " + long + " two\n\n" + paragraphs(3)
		small := newTestChunker(t, ChunkerOptions{MaxTokens: 128, TargetTokens: 100})
		chunks, err := small.Chunk(testDocID, doc)
		if err != nil {
			t.Fatal(err)
		}
		checkChunks(t, small, doc, chunks)
		var all []string
		for _, ch := range chunks {
			all = append(all, ch.Headings...)
		}
		// The first heading is cut to a prefix in the chunk's path; the
		// merged Short is whole in its Headings.
		if !slices.Contains(all, "Short") {
			t.Errorf("headings %q, want Short among them", all)
		}
		if chunks[0].Anchor != slug(long) || len(chunks[0].Headers) != 1 || !strings.HasPrefix(long, chunks[0].Headers[0]) || chunks[0].Headers[0] == long {
			t.Errorf("first chunk headers %q anchor %q, want a prefix of the heading and its whole slug", chunks[0].Headers, chunks[0].Anchor)
		}
	})
}

func TestChunkDeterministicIDs(t *testing.T) {
	t.Parallel()

	doc := "# A\n\n" + paragraphs(50)
	c := newTestChunker(t, ChunkerOptions{})
	a, err := c.Chunk(testDocID, doc)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Chunk(testDocID, doc)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Error("same document chunked twice gives different chunks")
	}
	other, err := c.Chunk(uuid.New(), doc)
	if err != nil {
		t.Fatal(err)
	}
	if other[0].ID == a[0].ID {
		t.Error("chunk ids do not depend on the document id")
	}
}

func TestChunkEmpty(t *testing.T) {
	t.Parallel()

	c := newTestChunker(t, ChunkerOptions{})
	for _, doc := range []string{"", " \n\t\n", "\r\n\r\n"} {
		if _, err := c.Chunk(testDocID, doc); !errors.Is(err, ErrEmpty) {
			t.Errorf("Chunk(%q) error = %v, want ErrEmpty", doc, err)
		}
	}
}

func TestChunkLongHeadings(t *testing.T) {
	t.Parallel()

	long := strings.Repeat("very long heading ", 100)
	doc := "# " + long + "\n\n## " + long + "\n\n" + paragraphs(20)
	c := newTestChunker(t, ChunkerOptions{MaxTokens: 128, TargetTokens: 100})
	chunks, err := c.Chunk(testDocID, doc)
	if err != nil {
		t.Fatal(err)
	}
	checkChunks(t, c, doc, chunks)
	for _, ch := range chunks {
		if n := c.CountTokens(strings.Join(ch.Headers, " > ")); n > 32 {
			t.Errorf("header path of %d tokens, want at most a quarter of 128", n)
		}
	}
}

func TestChunkConcurrent(t *testing.T) {
	t.Parallel()

	c := newTestChunker(t, ChunkerOptions{})
	doc := "# A\n\n" + paragraphs(40)
	want, err := c.Chunk(testDocID, doc)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			got, err := c.Chunk(testDocID, doc)
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Errorf("concurrent Chunk differs (err %v)", err)
			}
		})
	}
	wg.Wait()
}

func TestChunkIDs(t *testing.T) {
	t.Parallel()

	src := uuid.MustParse("00000000-0000-0000-0000-000000000001")
	d := DocumentID(src, "docs/a.md")
	if d != DocumentID(src, "docs/a.md") || d == DocumentID(src, "docs/b.md") || d.Version() != 5 {
		t.Errorf("DocumentID not a deterministic UUIDv5 of the url: %s", d)
	}
	if ChunkID(d, 0, "x") == ChunkID(d, 1, "x") || ChunkID(d, 0, "x") == ChunkID(d, 0, "y") {
		t.Error("ChunkID ignores the ordinal or the text")
	}
}

func TestChunkKeepsLineThatFitsWhole(t *testing.T) {
	t.Parallel()

	c := newTestChunker(t, ChunkerOptions{})
	long := strings.TrimSpace(strings.Repeat("a sentence that goes on ", 90))
	if n := c.CountTokens(long); n <= 400 || n >= 500 {
		t.Fatalf("test line has %d tokens, want between target and max", n)
	}
	// One block (no blank lines) too large for a chunk, holding the line.
	doc := "- first item\n- second item\n- " + long + "\n" + strings.Repeat("- one more item in the list\n", 20)
	chunks, err := c.Chunk(testDocID, doc)
	if err != nil {
		t.Fatal(err)
	}
	checkChunks(t, c, doc, chunks)
	if !inSomeChunk(chunks, "- "+long) {
		t.Error("a line within the hard maximum was cut")
	}
}
