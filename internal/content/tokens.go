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
	cache *segmentCache  // nil: count every string with the codec
	ranks map[string]int // the codec's ranks, for ASCII text; nil: none
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
	m := misses{t: t, s: s, start: -1}
	start, prevLetter := 0, false
	for i, r := range s {
		letter := isLetter(r)
		if prevLetter && !letter {
			m.segment(start, i)
			start = i
		}
		prevLetter = letter
	}
	m.segment(start, len(s))
	m.flush()
	return m.n
}

// misses counts the segments of one count call: from the cache, and those
// the cache lacks in runs of adjacent segments, one codec call per run
// instead of one per segment, since a call costs far more than a token.
type misses struct {
	t     tokens
	s     string
	n     int   // tokens counted so far
	start int   // of the pending run in s, -1 if none
	ends  []int // ends in s of the pending run's segments
}

func (m *misses) segment(a, b int) {
	if a == b {
		return
	}
	seg := m.s[a:b]
	if b-a <= maxCachedSegment {
		if n, ok := m.t.cache.lookup(seg); ok {
			m.n += n
			return
		}
	}
	if n, ok := m.t.asciiCount(seg); ok {
		m.n += n
		return
	}
	if m.start >= 0 && (m.ends[len(m.ends)-1] != a || a-m.start >= encodeWindow) {
		m.flush()
	}
	if m.start < 0 {
		m.start = a
	}
	m.ends = append(m.ends, b)
}

// flush counts the pending run with the codec and caches the count of each
// short segment in it: segment boundaries are token boundaries.
func (m *misses) flush() {
	if m.start < 0 {
		return
	}
	run := m.s[m.start:m.ends[len(m.ends)-1]]
	_, toks, err := m.t.codec.Encode(run)
	switch {
	case err != nil:
		m.n += len(run)
	case !spells(toks, run):
		// The codec drops what its pattern does not match (DEL): offsets
		// would not line up with the segments, so nothing is cached.
		m.n += len(toks)
	default:
		m.n += len(toks)
		segStart, off, k, i := m.start, m.start, 0, 0
		for _, tok := range toks {
			off += len(tok)
			k++
			for i < len(m.ends) && off > m.ends[i] {
				i = len(m.ends) // a token across a boundary: cache nothing more
			}
			if i < len(m.ends) && off == m.ends[i] {
				if off-segStart <= maxCachedSegment {
					m.t.cache.store(m.s[segStart:off], k)
				}
				segStart, k = off, 0
				i++
			}
		}
	}
	m.start, m.ends = -1, m.ends[:0]
}

// encode returns the tokens of s as strings, as the codec's Encode does.
// Long text is encoded in pieces of about encodeWindow bytes cut at the
// boundaries count relies on, so the codec never holds the rune and
// offset arrays of a whole multi-megabyte line at once.
func (t tokens) encode(s string) ([]string, error) {
	var toks []string
	start, prevLetter := 0, false
	for i, r := range s {
		letter := isLetter(r)
		if prevLetter && !letter && i-start >= encodeWindow {
			part, err := t.encodeWindow(s[start:i])
			if err != nil {
				return nil, err
			}
			toks = append(toks, part...)
			start = i
		}
		prevLetter = letter
	}
	part, err := t.encodeWindow(s[start:])
	if err != nil {
		return nil, err
	}
	return append(toks, part...), nil
}

func (t tokens) encodeWindow(s string) ([]string, error) {
	if toks, ok := t.asciiEncode(s); ok {
		return toks, nil
	}
	_, toks, err := t.codec.Encode(s)
	return toks, err
}

const encodeWindow = 16 << 10

// maxTokenBytes is the length in bytes of the longest cl100k_base token
// (TestMaxTokenBytes checks it). Text of n bytes therefore has at least
// n/maxTokenBytes tokens, which tells without counting that a long text
// exceeds a limit.
const maxTokenBytes = 128

// surelyOver reports whether s certainly has more than limit tokens, from
// its length alone.
func surelyOver(s string, limit int) bool {
	return len(s) > limit*maxTokenBytes
}

func isLetter(r rune) bool {
	if r < utf8.RuneSelf {
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z'
	}
	return unicode.IsLetter(r)
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
// punctuation are short and repeat; long segments rarely do. The cache
// holds at most two generations of maxCachedSegments/2 segments (a few tens
// of MB).
const (
	maxCachedSegment  = 32
	maxCachedSegments = 1 << 18
)

// segmentCache maps a segment to its token count. It belongs to one
// Chunker and is safe for concurrent use.
//
// When the current generation is full it becomes the old one and the
// older one is dropped; a segment found in the old generation moves to the
// current one. So segments that keep coming back stay, and a document of
// segments that never repeat (a table of unique numbers) cannot fill the
// cache for good and leave every later document to the slow codec.
type segmentCache struct {
	mu  sync.Mutex // held to rotate generations
	gen atomic.Pointer[cacheGenerations]
}

type cacheGenerations struct {
	cur, old *sync.Map
	size     atomic.Int64 // entries stored in cur
}

func (c *segmentCache) generations() *cacheGenerations {
	if g := c.gen.Load(); g != nil {
		return g
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen.Load() == nil {
		c.gen.Store(&cacheGenerations{cur: &sync.Map{}, old: &sync.Map{}})
	}
	return c.gen.Load()
}

func (c *segmentCache) lookup(s string) (int, bool) {
	g := c.generations()
	if n, ok := g.cur.Load(s); ok {
		return n.(int), true
	}
	n, ok := g.old.Load(s)
	if !ok {
		return 0, false
	}
	c.store(s, n.(int))
	return n.(int), true
}

func (c *segmentCache) store(s string, n int) {
	g := c.generations()
	if g.size.Add(1) > maxCachedSegments/2 {
		c.mu.Lock()
		if c.gen.Load() == g {
			c.gen.Store(&cacheGenerations{cur: &sync.Map{}, old: g.cur})
		}
		c.mu.Unlock()
		g = c.gen.Load()
		g.size.Add(1)
	}
	g.cur.Store(strings.Clone(s), n)
}

// piece is a text and its token count.
type piece struct {
	text   string
	tokens int
}

// cut splits s into pieces of at most limit tokens each, preferring to cut
// before a token that starts with a space, and never inside a UTF-8
// sequence. Every piece is counted on its own, so the limit holds for each
// piece as counted alone. Pieces of only white space are dropped. It is
// for single lines too long to keep whole.
func (t tokens) cut(s string, limit int) []piece {
	pieces := t.cutTokens(s, max(limit, 1))
	// A piece of only white space would make a blank chunk.
	return slices.DeleteFunc(pieces, func(p piece) bool { return strings.TrimSpace(p.text) == "" })
}

func (t tokens) cutTokens(s string, limit int) []piece {
	toks, err := t.encode(s)
	if err != nil || !spells(toks, s) {
		// The codec's tokens do not spell s (it cannot happen for valid
		// UTF-8); bytes are a safe bound.
		return t.counted(cutBytes(s, limit))
	}
	// offsets[i] is the byte offset where token i starts.
	offsets := make([]int, len(toks)+1)
	for i, tok := range toks {
		offsets[i+1] = offsets[i] + len(tok)
	}
	var pieces []piece
	start := 0 // token index
	for start < len(toks) {
		end := min(start+limit, len(toks))
		if end < len(toks) {
			end = cutPoint(s, toks, offsets, start, end)
		}
		text := s[offsets[start]:offsets[end]]
		n := t.count(text)
		// A piece counted on its own can tokenize differently from the
		// same bytes inside the line; shrink until it fits.
		for end-start > 1 && n > limit {
			end = start + (end-start)*3/4
			end = cutPoint(s, toks, offsets, start, end)
			text = s[offsets[start]:offsets[end]]
			n = t.count(text)
		}
		if n > limit {
			// One token that is not on a rune boundary alone, or that
			// tokenizes into more than limit tokens on its own.
			pieces = append(pieces, t.counted(cutBytes(text, limit))...)
		} else {
			pieces = append(pieces, piece{text: text, tokens: n})
		}
		start = end
	}
	return pieces
}

// spells reports whether the tokens joined are s, without joining them.
func spells(toks []string, s string) bool {
	for _, tok := range toks {
		if !strings.HasPrefix(s, tok) {
			return false
		}
		s = s[len(tok):]
	}
	return s == ""
}

func (t tokens) counted(texts []string) []piece {
	pieces := make([]piece, len(texts))
	for i, s := range texts {
		pieces[i] = piece{text: s, tokens: t.count(s)}
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
