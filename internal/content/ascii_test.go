package content

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/kollektiv/kollektiv/internal/testcorpus"
)

// TestMaxTokenBytes: no cl100k_base token is longer than maxTokenBytes,
// which surelyOver relies on.
func TestMaxTokenBytes(t *testing.T) {
	t.Parallel()
	c := newTestChunker(t, ChunkerOptions{})
	longest := 0
	for tok := range c.tok.ranks {
		longest = max(longest, len(tok))
	}
	if longest != maxTokenBytes {
		t.Errorf("longest token %d bytes, maxTokenBytes %d", longest, maxTokenBytes)
	}
	if len(c.tok.ranks) < 100_000 {
		t.Errorf("%d ranks read back from the codec", len(c.tok.ranks))
	}
}

// TestASCIITokens compares the ASCII tokenizer with the codec, token by
// token, on every line of the corpus (every tenth document with -short or
// under the race detector) and on hand-picked cases.
func TestASCIITokens(t *testing.T) {
	t.Parallel()
	c := newTestChunker(t, ChunkerOptions{})
	check := func(s string) {
		t.Helper()
		got, ok := c.tok.asciiEncode(s)
		if !ok {
			return
		}
		_, want, err := c.tok.codec.Encode(s)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%q: ASCII tokens %q, codec %q", s, got, want)
		}
	}
	for _, s := range []string{
		"", "a", "'s 'S 'RE 're 'Ve 'LL 'll 'x 'd'm 't", "don't I'LL we've", "1234567 12 1",
		"  \n  x", "a  b   c\t\td", " \n\n \r\n x \t", "x   ", "((word ( word --> ... !!\n\n",
		"| 12345 | row12345 | v86415 |", "\v\f x", "a\tb \tc", strings.Repeat("ab", 200),
		strings.Repeat(" ", 300) + "x", "x" + strings.Repeat("-", 300),
	} {
		check(s)
	}
	docs, _, err := LoadPath(context.Background(), testcorpus.Dir(t), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i, d := range docs {
		if (testing.Short() || raceEnabled) && i%10 != 0 {
			continue
		}
		for line := range strings.SplitSeq(d.Content, "\n") {
			check(line)
		}
		check(d.Content[:min(len(d.Content), 4096)])
	}
}
