package content

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf8"

	"github.com/tiktoken-go/tokenizer"
)

// The codec is built once: loading the cl100k_base vocabulary is costly,
// and the codec is safe for concurrent use once built.
var (
	codecOnce sync.Once
	codec     tokenizer.Codec
	codecErr  error
)

func cl100k() (tokenizer.Codec, error) {
	codecOnce.Do(func() {
		codec, codecErr = tokenizer.Get(tokenizer.Cl100kBase)
		if codecErr != nil {
			codecErr = fmt.Errorf("error loading cl100k_base: %w", codecErr)
		}
	})
	return codec, codecErr
}

// tokens counts cl100k_base tokens. Input is valid UTF-8 by the time it gets
// here, and the codec's only error is for invalid UTF-8 in strict mode, so an
// error cannot happen; should one, a byte count is a safe over-estimate
// (no token is shorter than one byte).
type tokens struct {
	codec tokenizer.Codec
	cache *segmentCache // nil: count every string with the codec
}

// count returns the token count of s. It splits s into segments whose
// tokens do not depend on each other and looks short segments up in the
// cache, which makes counting several times faster than the codec's
// regular expression on documentation text.
//
// Why the split is exact: cl100k_base first cuts text with the pattern
//
//	(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//
// and encodes each piece on its own. A piece holding a letter ends with
// that letter's run; no piece holds a letter followed by a non-letter. So
// every point after a letter and before a non-letter is a piece boundary,
// the pattern has no look-behind, and its one look-ahead never reaches past
// such a point: the pieces of a segment are the same alone as in the text.
// FuzzCountTokens checks this against the codec.
func (t tokens) count(s string) int {
	if t.cache == nil {
		return t.countRaw(s)
	}
	n, start, prevLetter := 0, 0, false
	for i, r := range s {
		letter := isLetter(r)
		if prevLetter && !letter {
			n += t.segment(s[start:i])
			start = i
		}
		prevLetter = letter
	}
	return n + t.segment(s[start:])
}

func isLetter(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z'
	}
	return unicode.IsLetter(r)
}

func (t tokens) segment(s string) int {
	if len(s) > maxCachedSegment {
		return t.countRaw(s)
	}
	if n, ok := t.cache.m.Load(s); ok {
		return n.(int)
	}
	n := t.countRaw(s)
	if t.cache.size.Add(1) <= maxCachedSegments {
		t.cache.m.Store(strings.Clone(s), n)
	}
	return n
}

func (t tokens) countRaw(s string) int {
	if s == "" {
		return 0
	}
	n, err := t.codec.Count(s)
	if err != nil {
		return len(s)
	}
	return n
}

// Bounds of the segment cache: words with their leading space or
// punctuation are short and repeat; long segments rarely do. At the bound
// the cache stops growing (a few tens of MB) and keeps serving what it has.
const (
	maxCachedSegment  = 32
	maxCachedSegments = 1 << 18
)

// segmentCache maps a segment to its token count. It belongs to one
// Chunker and is safe for concurrent use.
type segmentCache struct {
	m    sync.Map
	size atomic.Int64
}

// cut splits s into pieces of at most limit tokens each, preferring to cut
// before a token that starts with a space, and never inside a UTF-8
// sequence. Every piece is recounted, so the limit holds for each piece as
// counted on its own. Pieces of only white space are dropped. It is for
// single lines too long to keep whole.
func (t tokens) cut(s string, limit int) []string {
	pieces := t.cutTokens(s, max(limit, 1))
	// A piece of only white space would make a blank chunk.
	return slices.DeleteFunc(pieces, func(p string) bool { return strings.TrimSpace(p) == "" })
}

func (t tokens) cutTokens(s string, limit int) []string {
	_, toks, err := t.codec.Encode(s)
	if err != nil || strings.Join(toks, "") != s {
		// The codec's tokens do not spell s (it cannot happen for valid
		// UTF-8); bytes are a safe bound.
		return cutBytes(s, limit)
	}
	// offsets[i] is the byte offset where token i starts.
	offsets := make([]int, len(toks)+1)
	for i, tok := range toks {
		offsets[i+1] = offsets[i] + len(tok)
	}
	var pieces []string
	start := 0 // token index
	for start < len(toks) {
		end := min(start+limit, len(toks))
		if end < len(toks) {
			end = cutPoint(s, toks, offsets, start, end)
		}
		piece := s[offsets[start]:offsets[end]]
		// A piece counted on its own can tokenize differently from the
		// same bytes inside the line; shrink until it fits.
		for end-start > 1 && t.count(piece) > limit {
			end = start + (end-start)*3/4
			end = cutPoint(s, toks, offsets, start, end)
			piece = s[offsets[start]:offsets[end]]
		}
		if t.count(piece) > limit {
			// One token that is not on a rune boundary alone, or that
			// tokenizes into more than limit tokens on its own.
			pieces = append(pieces, cutBytes(piece, limit)...)
		} else {
			pieces = append(pieces, piece)
		}
		start = end
	}
	return pieces
}

// cutPoint moves end back from the window [start, end) to a token that
// starts on a rune boundary, preferably one that starts with a space, and
// returns a value in (start, end].
func cutPoint(s string, toks []string, offsets []int, start, end int) int {
	// Prefer a word boundary within the last quarter of the window.
	for i := end; i > start && i > end-(end-start)/4-1; i-- {
		if i < len(toks) && strings.HasPrefix(toks[i], " ") {
			return i
		}
	}
	for i := end; i > start; i-- {
		if i >= len(toks) || utf8.RuneStart(s[offsets[i]]) {
			return i
		}
	}
	return end
}

// cutBytes is the last resort for cut: pieces of at most limit bytes on
// rune boundaries. Every token is at least one byte, so each piece is at
// most limit tokens.
func cutBytes(s string, limit int) []string {
	var pieces []string
	for len(s) > 0 {
		n := min(limit, len(s))
		for n > 0 && n < len(s) && !utf8.RuneStart(s[n]) {
			n--
		}
		if n == 0 {
			_, n = utf8.DecodeRuneInString(s)
		}
		pieces = append(pieces, s[:n])
		s = s[n:]
	}
	return pieces
}
