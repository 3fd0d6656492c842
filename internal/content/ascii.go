package content

import (
	"sync"

	"github.com/tiktoken-go/tokenizer"
)

// The codec runs cl100k_base's split pattern with a backtracking regular
// expression engine that allocates for every piece it matches: on text the
// segment cache cannot help with (a table of unique numbers, a
// multi-megabyte line) that is under a megabyte per second. For ASCII text
// this file does the same work directly: asciiPieces splits as the pattern
// does, and bpe merges a piece with the codec's own ranks. Non-ASCII text
// goes to the codec. FuzzCountTokens and TestASCIITokens compare both.

var (
	ranksOnce sync.Once
	ranks     map[string]int
)

// cl100kRanks returns the rank of every token of the codec, read back
// through Decode: the codec does not export its vocabulary.
func cl100kRanks(codec tokenizer.Codec) map[string]int {
	ranksOnce.Do(func() {
		ranks = make(map[string]int, 100_256)
		for id := range uint(100_256) {
			if s, err := codec.Decode([]uint{id}); err == nil && s != "" {
				ranks[s] = int(id)
			}
		}
	})
	return ranks
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func asciiLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func asciiDigit(c byte) bool  { return '0' <= c && c <= '9' }

// asciiSpace is \s of the pattern (unicode.IsSpace) within ASCII.
func asciiSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

func newline(c byte) bool { return c == '\n' || c == '\r' }

// asciiOther is [^\s\p{L}\p{N}] of the codec's compiled pattern within
// ASCII: punctuation and control characters but DEL.
func asciiOther(c byte) bool {
	return !asciiSpace(c) && !asciiLetter(c) && !asciiDigit(c) && c != 0x7f
}

// asciiPieces calls yield with each piece cl100k_base's pattern
//
//	(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
//
// cuts the ASCII text s into, in order. Its alternatives are tried in
// order at each position, as the regular expression does. The codec's
// compiled pattern has DEL (0x7f) in none of its classes, so no piece
// matches there and DEL is dropped, as the codec drops it.
func asciiPieces(s string, yield func(string) bool) {
	for i := 0; i < len(s); {
		if s[i] == 0x7f {
			i++
			continue
		}
		end := asciiPieceEnd(s, i)
		if !yield(s[i:end]) {
			return
		}
		i = end
	}
}

func asciiPieceEnd(s string, i int) int {
	c := s[i]
	// (?i:'s|'t|'re|'ve|'m|'ll|'d)
	if c == '\'' && i+1 < len(s) {
		switch s[i+1] | 0x20 {
		case 's', 't', 'm', 'd':
			return i + 2
		}
		if i+2 < len(s) {
			a, b := s[i+1]|0x20, s[i+2]|0x20
			if (a == 'r' || a == 'v') && b == 'e' || a == 'l' && b == 'l' {
				return i + 3
			}
		}
	}
	// [^\r\n\p{L}\p{N}]?\p{L}+
	letters := -1
	switch {
	case asciiLetter(c):
		letters = i
	case !newline(c) && !asciiDigit(c) && c != 0x7f && i+1 < len(s) && asciiLetter(s[i+1]):
		letters = i + 1
	}
	if letters >= 0 {
		j := letters
		for j < len(s) && asciiLetter(s[j]) {
			j++
		}
		return j
	}
	// \p{N}{1,3}
	if asciiDigit(c) {
		j := i + 1
		for j < len(s) && j < i+3 && asciiDigit(s[j]) {
			j++
		}
		return j
	}
	//  ?[^\s\p{L}\p{N}]+[\r\n]*
	k := i
	if c == ' ' {
		k++
	}
	if k < len(s) && asciiOther(s[k]) {
		for k < len(s) && asciiOther(s[k]) {
			k++
		}
		for k < len(s) && newline(s[k]) {
			k++
		}
		return k
	}
	// Only white space is left: c is white space.
	e := i
	for e < len(s) && asciiSpace(s[e]) {
		e++
	}
	// \s*[\r\n]+ ends after the run's last line break.
	for j := e - 1; j >= i; j-- {
		if newline(s[j]) {
			return j + 1
		}
	}
	// \s+(?!\S) leaves the last space to the word after it; \s+ takes one.
	if e < len(s) && e-i >= 2 {
		return e - 1
	}
	return e
}

// bpe calls yield with the tokens byte-pair encoding merges piece into, as
// the codec's merge does: the adjacent pair whose merge is a token of the
// lowest rank first, the leftmost of equal ranks.
func bpe(ranks map[string]int, piece string, yield func(string)) {
	if _, ok := ranks[piece]; ok {
		yield(piece)
		return
	}
	if len(piece) > maxScanPiece {
		bpeHeap(ranks, piece, yield)
		return
	}
	// bounds[k] is where part k starts; rank[k] is the rank of merging
	// part k with part k+1, -1 if that is no token.
	var boundsBuf, rankBuf [maxScanPiece + 1]int
	n := len(piece)
	bounds := boundsBuf[:n+1]
	rank := rankBuf[:n]
	for k := range bounds {
		bounds[k] = k
	}
	pairRank := func(k int) int {
		if k+2 >= len(bounds) {
			return -1
		}
		if r, ok := ranks[piece[bounds[k]:bounds[k+2]]]; ok {
			return r
		}
		return -1
	}
	for k := range rank {
		rank[k] = pairRank(k)
	}
	for len(bounds) > 2 {
		best := -1
		for k := 0; k < len(bounds)-2; k++ {
			if rank[k] >= 0 && (best < 0 || rank[k] < rank[best]) {
				best = k
			}
		}
		if best < 0 {
			break
		}
		bounds = append(bounds[:best+1], bounds[best+2:]...)
		rank = append(rank[:best+1], rank[best+2:]...)
		rank[best] = pairRank(best)
		if best > 0 {
			rank[best-1] = pairRank(best - 1)
		}
	}
	for k := 0; k+1 < len(bounds); k++ {
		yield(piece[bounds[k]:bounds[k+1]])
	}
}

// maxScanPiece is the longest piece bpe merges by scanning, which is
// quadratic in the piece's length; longer ones take bpeHeap.
const maxScanPiece = 64

// bpeHeap is bpe in O(n log n): part boundaries in a linked list, merge
// candidates in a heap ordered by rank, then offset.
func bpeHeap(ranks map[string]int, piece string, yield func(string)) {
	n := len(piece)
	next := make([]int, n+1) // next[i]: start of the part after the one at i; -1 at the end
	prev := make([]int, n+1)
	rank := make([]int, n+1) // rank of merging the part at i with the next; -1 if none
	for i := range next {
		next[i], prev[i], rank[i] = i+1, i-1, -1
	}
	next[n] = -1
	rankOf := func(i int) int {
		j := next[i]
		if j < 0 || next[j] < 0 {
			return -1
		}
		if r, ok := ranks[piece[i:next[j]]]; ok {
			return r
		}
		return -1
	}
	h := &mergeHeap{}
	for i := 0; i+2 <= n; i++ {
		if rank[i] = rankOf(i); rank[i] >= 0 {
			h.push(mergeCandidate{rank: rank[i], at: i})
		}
	}
	for len(h.c) > 0 {
		top := h.pop()
		i := top.at
		if rank[i] != top.rank {
			continue // stale: the part changed since
		}
		j := next[i]
		k := next[j]
		rank[j] = -1
		next[i] = k
		if k >= 0 {
			prev[k] = i
		}
		for _, b := range [2]int{i, prev[i]} {
			if b < 0 {
				continue
			}
			if rank[b] = rankOf(b); rank[b] >= 0 {
				h.push(mergeCandidate{rank: rank[b], at: b})
			}
		}
	}
	for i := 0; next[i] >= 0; i = next[i] {
		yield(piece[i:next[i]])
	}
}

type mergeCandidate struct{ rank, at int }

// mergeHeap is a binary min-heap by rank, then offset.
type mergeHeap struct{ c []mergeCandidate }

func (h *mergeHeap) less(a, b int) bool {
	if h.c[a].rank != h.c[b].rank {
		return h.c[a].rank < h.c[b].rank
	}
	return h.c[a].at < h.c[b].at
}

func (h *mergeHeap) push(m mergeCandidate) {
	h.c = append(h.c, m)
	for i := len(h.c) - 1; i > 0; {
		p := (i - 1) / 2
		if !h.less(i, p) {
			break
		}
		h.c[i], h.c[p] = h.c[p], h.c[i]
		i = p
	}
}

func (h *mergeHeap) pop() mergeCandidate {
	top := h.c[0]
	last := len(h.c) - 1
	h.c[0] = h.c[last]
	h.c = h.c[:last]
	for i := 0; ; {
		l, r, m := 2*i+1, 2*i+2, i
		if l < len(h.c) && h.less(l, m) {
			m = l
		}
		if r < len(h.c) && h.less(r, m) {
			m = r
		}
		if m == i {
			break
		}
		h.c[i], h.c[m] = h.c[m], h.c[i]
		i = m
	}
	return top
}

// asciiCount counts the tokens of s when s is ASCII; ok is false
// otherwise.
func (t tokens) asciiCount(s string) (n int, ok bool) {
	if t.ranks == nil || !isASCII(s) {
		return 0, false
	}
	asciiPieces(s, func(p string) bool {
		bpe(t.ranks, p, func(string) { n++ })
		return true
	})
	return n, true
}

// asciiEncode is asciiCount returning the tokens.
func (t tokens) asciiEncode(s string) (toks []string, ok bool) {
	if t.ranks == nil || !isASCII(s) {
		return nil, false
	}
	asciiPieces(s, func(p string) bool {
		bpe(t.ranks, p, func(tok string) { toks = append(toks, tok) })
		return true
	})
	return toks, true
}
