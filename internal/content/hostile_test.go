package content

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestLoadPathBrokenFiles loads a directory of files that cannot become
// documents next to a good one: each bad file is one problem naming it and
// its reason, and the good neighbour loads.
func TestLoadPathBrokenFiles(t *testing.T) {
	t.Parallel()

	// Mostly Latin-1: far more invalid bytes than can be repaired.
	latin1 := strings.Repeat("caf\xe9 na\xefve r\xe9sum\xe9 ", 50)
	// One bad byte in a long text: repaired, not refused.
	oneBad := "# Mostly fine\n\n" + strings.Repeat("valid text ", 300) + "\xff end"
	root := writeTree(t, map[string]string{
		"good.md":        "# Good\n\nThe neighbour that must load.",
		"empty.md":       "",
		"blank.md":       " \n\t\n\n",
		"binary.md":      "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
		"nul.txt":        "text with a \x00 NUL byte",
		"gzip.html":      "\x1f\x8b\x08\x00\x00\x00\x00\x00",
		"latin1.md":      latin1,
		"one-bad.md":     oneBad,
		"too-large.md":   "# Big\n\n" + strings.Repeat("a", 5000),
		"at-limit.md":    "# Fits\n\n" + strings.Repeat("b", 4096-len("# Fits\n\n")),
		"front-only.md":  "---\ntitle: Only front matter\n---\n",
		"bad-front.md":   "---\ntitle: [unclosed\n---\n# Body\n\ntext",
		"only-image.md":  "![logo](data:image/png;base64,iVBORw0KGgo=)",
		"only-tags.html": "<html><head><script>alert(1)</script></head><body><nav>menu</nav></body></html>",
	})
	docs, problems, err := LoadPath(context.Background(), root, LoadOptions{MaxBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	loaded := map[string]Document{}
	for _, d := range docs {
		loaded[d.URL] = d
	}
	for _, name := range []string{"good.md", "one-bad.md", "at-limit.md", "only-image.md"} {
		if _, ok := loaded[name]; !ok {
			t.Errorf("%s not loaded; problems: %v", name, problems)
		}
	}
	if d := loaded["only-image.md"]; strings.Contains(d.Content, "base64") || strings.TrimSpace(d.Content) != "logo" {
		t.Errorf("only-image.md: want the alt text alone, got %q", d.Content)
	}
	if d := loaded["one-bad.md"]; !strings.Contains(d.Content, "\uFFFD end") {
		t.Errorf("one-bad.md: the bad byte is not replaced: %q", d.Content[max(0, len(d.Content)-20):])
	}

	want := map[string]error{
		"empty.md":       ErrEmpty,
		"blank.md":       ErrEmpty,
		"binary.md":      ErrBinary,
		"nul.txt":        ErrBinary,
		"gzip.html":      ErrBinary,
		"latin1.md":      ErrInvalidUTF8,
		"too-large.md":   ErrTooLarge,
		"front-only.md":  ErrEmpty,
		"only-tags.html": ErrEmpty,
	}
	got := map[string]*DocumentError{}
	for _, p := range problems {
		if got[p.URL] != nil {
			t.Errorf("%s reported twice: %v and %v", p.URL, got[p.URL], p)
		}
		got[p.URL] = p
		if !strings.Contains(p.Error(), p.URL) || p.Reason == "" {
			t.Errorf("problem does not name the file and a reason: %q", p.Error())
		}
	}
	for name, sentinel := range want {
		p := got[name]
		switch {
		case p == nil:
			t.Errorf("%s: no problem reported (loaded: %v)", name, loaded[name].Content != "")
		case !errors.Is(p, sentinel):
			t.Errorf("%s: %v, want %v", name, p, sentinel)
		}
	}
	// bad-front.md is either loaded or a front matter problem; never lost.
	if _, ok := loaded["bad-front.md"]; !ok && got["bad-front.md"] == nil {
		t.Errorf("bad-front.md neither loaded nor reported")
	}
	if n := len(docs) + len(problems); n != 14 {
		t.Errorf("%d documents + problems for 14 files", n)
	}
}

// fullSizeEnv runs TestLoadPathHostileShapes at the sizes of issue 8 (a
// 100,000-row table, a 5 MB line, ...). They take tens of seconds: the
// chunker counts tokens at a few hundred KB per second on a 2-core machine,
// more than ten times slower under the race detector. By default the shapes
// are the same and the sizes smaller; the shape, not the size, is what could
// break the code.
const fullSizeEnv = "KOLLEKTIV_HOSTILE_FULL"

// TestLoadPathLateNUL: a NUL past the 8 KB sniffed for binary content is
// replaced, as PostgreSQL text cannot hold it; before, such a file failed
// the transaction storing its whole source. A NUL in a given title goes too.
func TestLoadPathLateNUL(t *testing.T) {
	t.Parallel()
	root := writeTree(t, map[string]string{
		"late-nul.md": "# Late NUL\n\n" + strings.Repeat("text ", 4_000) + "\x00 end",
	})
	docs, problems, err := LoadPath(context.Background(), root, LoadOptions{})
	if err != nil || len(problems) != 0 || len(docs) != 1 {
		t.Fatalf("%d docs, problems %v, err %v", len(docs), problems, err)
	}
	if c := docs[0].Content; strings.ContainsRune(c, 0) || !strings.HasSuffix(c, "\uFFFD end") {
		t.Errorf("the NUL is not replaced: %q", c[max(0, len(c)-20):])
	}
	doc, err := PrepareDocument("a\x00b\xff", "t.md", "# H\n\ntext", PrepareOptions{})
	if err != nil || doc.Title != "ab\uFFFD" {
		t.Errorf("title %q, %v", doc.Title, err)
	}
}

// hostileShape is a document of pathological structure, built in memory at
// full size or at a reduced size.
type hostileShape struct {
	name  string
	build func(full bool) string
}

func pick(full bool, fullSize, small int) int {
	if full {
		return fullSize
	}
	return small
}

func hostileShapes() []hostileShape {
	return []hostileShape{
		{"table.md", func(full bool) string {
			var b strings.Builder
			b.WriteString("# Table\n\n| id | name | value |\n|---|---|---|\n")
			for i := range pick(full, 100_000, 5_000) {
				fmt.Fprintf(&b, "| %d | row%d | v%d |\n", i, i, i*7)
			}
			return b.String()
		}},
		{"headers.md", func(full bool) string {
			var b strings.Builder
			for i := range pick(full, 10_000, 2_000) {
				fmt.Fprintf(&b, "%s Heading %d\n\nbody%d\n\n", strings.Repeat("#", i%6+1), i, i)
			}
			return b.String()
		}},
		{"headers-only.md", func(full bool) string {
			var b strings.Builder
			for i := range pick(full, 10_000, 2_000) {
				fmt.Fprintf(&b, "%s H%d\n", strings.Repeat("#", i%6+1), i)
			}
			return b.String()
		}},
		{"nested-list.md", func(full bool) string {
			// 1,000 levels are 1 MB of indentation; 300 are 90 KB.
			var b strings.Builder
			for i := range pick(full, 1_000, 300) {
				fmt.Fprintf(&b, "%s- level%d\n", strings.Repeat("  ", i), i)
			}
			return b.String()
		}},
		{"nested-quote.md", func(full bool) string {
			var b strings.Builder
			for i := range pick(full, 1_000, 300) {
				fmt.Fprintf(&b, "%s quote%d\n", strings.Repeat(">", i+1), i)
			}
			return b.String()
		}},
		{"long-line.md", func(full bool) string {
			var b strings.Builder
			b.WriteString("# One line\n\n")
			for i := 0; b.Len() < pick(full, 5<<20, 200<<10); i++ {
				fmt.Fprintf(&b, "w%d ", i)
			}
			return b.String()
		}},
		{"long-heading.md", func(full bool) string {
			// Every section's header path holds the huge h1.
			var b strings.Builder
			b.WriteString("# ")
			for i := 0; b.Len() < pick(full, 1<<20, 100<<10); i++ {
				fmt.Fprintf(&b, "t%d ", i)
			}
			for i := range pick(full, 10_000, 1_000) {
				fmt.Fprintf(&b, "\n\n## Section %d\n\nbody%d", i, i)
			}
			return b.String()
		}},
		{"long-word.txt", func(full bool) string {
			return strings.Repeat("abcdefghij", pick(full, 100_000, 10_000))
		}},
		{"wide.html", func(full bool) string {
			var b strings.Builder
			b.WriteString("<html><head><title>Wide</title></head><body>")
			for i := range pick(full, 100_000, 5_000) {
				fmt.Fprintf(&b, "<p>para%d</p>", i)
			}
			b.WriteString("<p>after the nesting</p></body></html>")
			return b.String()
		}},
		{"nested-500.html", func(bool) string {
			// Just under the 512 open elements golang.org/x/net/html allows.
			return "<html><head><title>Deep</title></head><body>" +
				strings.Repeat("<div>", 500) + "<p>deep text</p>" + strings.Repeat("</div>", 500) +
				"<p>after the nesting</p></body></html>"
		}},
	}
}

func TestLoadPathHostileShapes(t *testing.T) {
	t.Parallel()
	full := os.Getenv(fullSizeEnv) != ""
	c := newTestChunker(t, ChunkerOptions{})
	for _, shape := range hostileShapes() {
		t.Run(shape.name, func(t *testing.T) {
			t.Parallel()
			src := shape.build(full)
			root := writeTree(t, map[string]string{
				shape.name: src,
				"good.md":  "# Neighbour\n\nThe good file next to it.",
			})
			start := time.Now()
			docs, problems, err := LoadPath(context.Background(), root, LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			loadTime := time.Since(start)
			if len(problems) != 0 {
				t.Fatalf("problems: %v", problems)
			}
			if len(docs) != 2 || docs[0].URL != "good.md" || docs[1].URL != shape.name {
				t.Fatalf("want good.md and %s, got %d documents", shape.name, len(docs))
			}
			doc := docs[1]
			start = time.Now()
			chunks, err := c.Chunk(testDocID, doc.Content)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d bytes (full size: %v): load %v, chunk %v, %d chunks",
				len(src), full, loadTime.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), len(chunks))
			checkNothingLost(t, c, doc.Content, chunks)
			for _, want := range []string{"deep text", "after the nesting"} {
				if strings.Contains(src, want) && !strings.Contains(doc.Content, want) {
					t.Errorf("%q lost in HTML conversion", want)
				}
			}
		})
	}
}

// TestLoadPathDeepHTML: HTML nested deeper than golang.org/x/net/html
// parses (512 open elements) is one problem naming the file and the reason,
// and its neighbour loads. 100,000 nested elements, closed or not.
func TestLoadPathDeepHTML(t *testing.T) {
	t.Parallel()
	root := writeTree(t, map[string]string{
		"nested.html":   "<html><body>" + strings.Repeat("<div>", 100_000) + "<p>deep</p>" + strings.Repeat("</div>", 100_000) + "</body></html>",
		"unclosed.html": "<html><body>" + strings.Repeat("<span><b><i>", 33_334) + "<p>inside</p>",
		"good.md":       "# Neighbour\n\nThe good file next to it.",
	})
	docs, problems, err := LoadPath(context.Background(), root, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 1 || docs[0].URL != "good.md" {
		t.Fatalf("want good.md alone loaded, got %d documents", len(docs))
	}
	if len(problems) != 2 {
		t.Fatalf("want 2 problems, got %v", problems)
	}
	for i, name := range []string{"nested.html", "unclosed.html"} {
		if p := problems[i]; p.URL != name || !strings.Contains(p.Error(), "cannot convert HTML") || !strings.Contains(p.Error(), "512") {
			t.Errorf("problem %d: %v, want %s refused for its depth", i, p, name)
		}
	}
}

// checkNothingLost is checkChunks for large documents, in linear time: every
// chunk within the hard maximum, every non-blank line of the document whole
// in a chunk, or, for a line larger than a chunk, every word in a chunk but
// for at most one word cut at each chunk boundary.
func checkNothingLost(t *testing.T, c *Chunker, markdown string, chunks []Chunk) {
	t.Helper()
	opts := c.Options()
	lines, words := map[string]bool{}, map[string]bool{}
	for i, ch := range chunks {
		if n := c.CountTokens(ch.EmbedText()); n > opts.MaxTokens {
			t.Fatalf("chunk %d embeds %d tokens, max %d", i, n, opts.MaxTokens)
		}
		for line := range strings.SplitSeq(ch.Text, "\n") {
			lines[strings.TrimSpace(line)] = true
			for w := range strings.FieldsSeq(line) {
				words[w] = true
			}
		}
	}
	cut := 0
	for line := range strings.SplitSeq(normalizeMarkdown(markdown), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || lines[line] {
			continue
		}
		if n := c.CountTokens(line); n <= opts.MaxTokens/3 {
			t.Fatalf("line of %d tokens not in any chunk: %.200q", n, line)
		}
		for w := range strings.FieldsSeq(line) {
			if !words[w] {
				cut++
			}
		}
	}
	if cut > len(chunks) {
		t.Fatalf("%d words of long lines missing from %d chunks", cut, len(chunks))
	}
}

// BenchmarkChunkHostile chunks each hostile shape at full size, its
// content prepared (HTML converted) outside the timer. Its MB/s is to be
// compared with BenchmarkChunk's: linear time shows as the same order of
// magnitude for every shape. Run with -cpu 1 -benchtime 1x.
func BenchmarkChunkHostile(b *testing.B) {
	c := newTestChunker(b, ChunkerOptions{})
	for _, shape := range hostileShapes() {
		b.Run(shape.name, func(b *testing.B) {
			src := shape.build(true)
			doc, derr := prepare(shape.name, []byte(src), FormatAuto, len(src))
			if derr != nil {
				b.Fatal(derr)
			}
			b.SetBytes(int64(len(doc.Content)))
			for b.Loop() {
				if _, err := c.Chunk(testDocID, doc.Content); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
