package search

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/kollektiv/kollektiv/internal/store"
)

// Tuning of the full-text list.
const (
	// maxScored bounds the matches the full-text list ranks. A query of
	// common words matches a large share of the chunks, and reading each
	// match's tsvector to rank it is what takes the time; the words a query
	// requires are chosen so that the estimated matches stay under it
	// (textQuery.required), and the query stops at it in any case.
	maxScored = 2000
	// statisticsMaxAge is how long the lexeme statistics are reused.
	// ANALYZE refreshes them far less often.
	statisticsMaxAge = time.Minute
)

// textQuery is a question in websearch syntax, taken apart: words any of
// which a chunk may hold, "quoted phrases" it must hold, and -excluded words
// or phrases it must not. "or" between words is what every word is already.
type textQuery struct {
	words    []string
	phrases  []string
	excluded []string
}

// parseTextQuery reads text as websearch_to_tsquery does, without its AND:
// a word or a quoted phrase preceded by '-' is excluded, a quote left open
// runs to the end, "or" is dropped. Runs of Chinese, Japanese or Korean
// characters become overlapping pairs of characters in a word, or
// characters apart in a phrase, the units that the chunks of those
// languages are indexed by (kollektiv_cjk_split). Words repeat only once.
func parseTextQuery(text string) textQuery {
	var (
		q    textQuery
		seen = map[string]bool{}
	)
	addWord := func(w string) {
		for _, part := range cjkWords(w) {
			if key := strings.ToLower(part); !seen[key] {
				seen[key] = true
				q.words = append(q.words, part)
			}
		}
	}
	rest := text
	for {
		rest = strings.TrimLeftFunc(rest, unicode.IsSpace)
		if rest == "" {
			return q
		}
		negated := false
		if rest[0] == '-' {
			negated = true
			rest = rest[1:]
		}
		var item string
		phrase := false
		if rest != "" && rest[0] == '"' {
			phrase = true
			rest = rest[1:]
			end := strings.IndexByte(rest, '"')
			if end < 0 {
				end = len(rest)
			}
			item, rest = rest[:end], rest[min(end+1, len(rest)):]
		} else {
			end := strings.IndexFunc(rest, func(r rune) bool { return unicode.IsSpace(r) || r == '"' })
			if end < 0 {
				end = len(rest)
			}
			item, rest = rest[:end], rest[end:]
		}
		switch {
		case strings.TrimSpace(item) == "":
		case negated:
			q.excluded = append(q.excluded, cjkApart(item))
		case phrase:
			q.phrases = append(q.phrases, cjkApart(item))
		case strings.EqualFold(item, "or"):
		default:
			addWord(item)
		}
	}
}

// isCJK reports whether r is a Han, Hiragana, Katakana or Hangul character,
// the ranges kollektiv_cjk_split splits.
func isCJK(r rune) bool {
	return (r >= 0x3040 && r <= 0x30ff) || (r >= 0x3400 && r <= 0x4dbf) || (r >= 0x4e00 && r <= 0x9fff) ||
		(r >= 0xf900 && r <= 0xfaff) || (r >= 0xac00 && r <= 0xd7af)
}

// cjkApart puts a space between the CJK characters of s, and around them.
func cjkApart(s string) string {
	if !strings.ContainsFunc(s, isCJK) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if isCJK(r) {
			b.WriteByte(' ')
			b.WriteRune(r)
			b.WriteByte(' ')
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// cjkWords splits a word at its CJK runs: the other parts stay words, a run
// of one character is that character, a longer run gives each pair of
// adjacent characters, a space apart ("安装包" gives "安 装", "装 包"). A
// pair is a phrase of two units to PostgreSQL, so a two-character word
// of the query is found inside a sentence and a longer question still
// matches in part.
func cjkWords(w string) []string {
	if !strings.ContainsFunc(w, isCJK) {
		return []string{w}
	}
	var (
		words []string
		other []rune
		run   []rune
	)
	flush := func() {
		if len(other) > 0 {
			words = append(words, string(other))
			other = other[:0]
		}
		switch len(run) {
		case 0:
		case 1:
			words = append(words, string(run))
		default:
			for i := 0; i+1 < len(run); i++ {
				words = append(words, string(run[i])+" "+string(run[i+1]))
			}
		}
		run = run[:0]
	}
	for _, r := range w {
		if isCJK(r) {
			if len(other) > 0 {
				words = append(words, string(other))
				other = other[:0]
			}
			run = append(run, r)
			continue
		}
		if len(run) > 0 {
			flush()
		}
		other = append(other, r)
	}
	flush()
	return words
}

// searchable keeps the words and phrases of q that have lexemes in some
// configuration of the user's (lexemes is TextQueryLexemes of q.words
// followed by q.phrases), and returns, for each word kept, the share of
// chunks estimated to hold it. A query left without words or phrases
// matches nothing.
func (q textQuery) searchable(lexemes []store.TextQueryLexemesRow, stats store.TextStatistics) (textQuery, []float64) {
	kept := textQuery{excluded: q.excluded}
	var shares []float64
	for _, row := range lexemes {
		i := int(row.Ordinal) - 1
		switch {
		case i < 0 || i >= len(q.words)+len(q.phrases):
		case i >= len(q.words):
			kept.phrases = append(kept.phrases, q.phrases[i-len(q.words)])
		default:
			kept.words = append(kept.words, q.words[i])
			// A word of several lexemes ("path-parameters") matches
			// where all are; the most common one is a safe estimate.
			share := 0.0
			for _, l := range row.Lexemes {
				s, ok := stats.Shares[l]
				if !ok {
					s = stats.MinShare / 2 // rarer than any listed
				}
				share = max(share, s)
			}
			shares = append(shares, share)
		}
	}
	return kept, shares
}

// required returns the words of which a chunk must hold one to be ranked:
// the rarest first, as long as the chunks estimated to hold them stay
// within maxScored, and at least the rarest. The common words left out
// still count in the rank of the chunks found; a chunk that holds only
// them would rank low anyway, as a common word tells little about a chunk.
func required(words []string, shares []float64, chunks float64) []string {
	order := make([]int, len(words))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(shares[a], shares[b]) })
	var (
		picked   []string
		expected float64
	)
	for n, i := range order {
		expected += shares[i] * max(chunks, 0)
		if n > 0 && expected > maxScored {
			break
		}
		picked = append(picked, words[i])
	}
	return picked
}

// textStatistics caches store.GetTextStatistics for statisticsMaxAge.
type textStatistics struct {
	mu    sync.Mutex
	stats store.TextStatistics
	read  time.Time
}

// get returns the statistics, read with db when older than
// statisticsMaxAge.
func (s *textStatistics) get(ctx context.Context, db store.DBTX) (store.TextStatistics, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.read.IsZero() && time.Since(s.read) < statisticsMaxAge {
		return s.stats, nil
	}
	stats, err := store.GetTextStatistics(ctx, db)
	if err != nil {
		return store.TextStatistics{}, err
	}
	s.stats, s.read = stats, time.Now()
	return stats, nil
}
