package content

import (
	"iter"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
)

var testDocID = uuid.MustParse("7d444840-9dc0-11d1-b245-5ffdce74fad2")

func newTestChunker(t testing.TB, opts ChunkerOptions) *Chunker {
	t.Helper()
	c, err := NewChunker(opts)
	if err != nil {
		t.Fatalf("NewChunker(%+v): %v", opts, err)
	}
	return c
}

// checkChunks asserts the chunker's promises for one document: ordinals and
// ids, token counts, the hard maximum on what is embedded, that every
// non-blank line of the normalised document is in some chunk (whole, or in
// order in pieces when it alone is larger than a chunk; heading lines
// without their attribute lists), and that every heading is the last
// header of some chunk (at worst shortened to a prefix) or in some chunk's
// Headings.
func checkChunks(t testing.TB, c *Chunker, markdown string, chunks []Chunk) {
	t.Helper()
	opts := c.Options()
	for i, ch := range chunks {
		if ch.Ordinal != i {
			t.Fatalf("chunk %d has ordinal %d", i, ch.Ordinal)
		}
		if want := ChunkID(testDocID, i, ch.Text); ch.ID != want {
			t.Fatalf("chunk %d id %s, want %s", i, ch.ID, want)
		}
		if strings.TrimSpace(ch.Text) == "" {
			t.Fatalf("chunk %d is blank: %q", i, ch.Text)
		}
		if n := c.CountTokens(ch.Text); n != ch.Tokens {
			t.Fatalf("chunk %d Tokens = %d, text counts %d", i, ch.Tokens, n)
		}
		if n := c.CountTokens(ch.EmbedText()); n > opts.MaxTokens {
			t.Fatalf("chunk %d embeds %d tokens, max %d:\n%s", i, n, opts.MaxTokens, ch.EmbedText())
		}
	}
	blocks := parseBlocks(normalizeMarkdown(markdown))
	for _, b := range blocks {
		if b.kind == blockHeading && b.title != "" && !headingInChunks(chunks, b.title) {
			t.Fatalf("heading %q is in no chunk's Headers or Headings", b.title)
		}
	}
	for line := range blockLines(blocks) {
		line = strings.TrimSpace(line)
		if line == "" || inSomeChunk(chunks, line) {
			continue
		}
		// Only a line larger than a chunk is cut. The budget for a line is
		// at least a third of the maximum: a quarter goes at most to the
		// header path, and fences or table headers are repeated only when
		// they take at most half of what is left.
		n := c.CountTokens(line)
		if n <= opts.MaxTokens/3 {
			t.Fatalf("line of %d tokens not in any chunk: %q", n, line)
		}
		// Pieces of only white space are dropped; every word must be in a
		// chunk, and a word larger than a chunk in order in a few pieces,
		// each a long prefix of what is left.
		for word := range strings.FieldsSeq(line) {
			if inSomeChunk(chunks, word) {
				continue
			}
			pieces, rest := 0, word
			for rest != "" {
				k := longestPrefixInChunks(chunks, rest)
				if k == 0 {
					t.Fatalf("word not covered by chunks, missing from %q", rest)
				}
				rest = rest[k:]
				pieces++
			}
			wn := c.CountTokens(word)
			if limit := 2*(wn/max(opts.TargetTokens/4, 1)) + 4; pieces > limit {
				t.Fatalf("word of %d tokens found only in %d pieces (limit %d): %q", wn, pieces, limit, word)
			}
		}
	}
}

func inSomeChunk(chunks []Chunk, s string) bool {
	for _, ch := range chunks {
		if strings.Contains(ch.Text, s) {
			return true
		}
	}
	return false
}

// longestPrefixInChunks returns the length of the longest prefix of s found
// in one chunk.
func longestPrefixInChunks(chunks []Chunk, s string) int {
	best := 0
	for _, ch := range chunks {
		lo, hi := best, len(s) // invariant: s[:lo] is in ch or lo == best
		if best > 0 && !strings.Contains(ch.Text, s[:best+1]) {
			continue
		}
		for lo < hi {
			mid := (lo + hi + 1) / 2
			if strings.Contains(ch.Text, s[:mid]) {
				lo = mid
			} else {
				hi = mid - 1
			}
		}
		best = max(best, lo)
		if best == len(s) {
			break
		}
	}
	return best
}

// blockLines yields the lines of blocks, as the chunker writes them.
func blockLines(blocks []block) iter.Seq[string] {
	return func(yield func(string) bool) {
		for _, b := range blocks {
			for _, l := range b.lines {
				if !yield(l) {
					return
				}
			}
		}
	}
}

// headingInChunks reports whether title is in some chunk's Headings or is
// the last of its Headers, whole or shortened to a prefix.
func headingInChunks(chunks []Chunk, title string) bool {
	for _, ch := range chunks {
		if slices.Contains(ch.Headings, title) {
			return true
		}
		if n := len(ch.Headers); n > 0 && ch.Headers[n-1] != "" && strings.HasPrefix(title, ch.Headers[n-1]) {
			return true
		}
	}
	return false
}
