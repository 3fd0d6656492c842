package summarize

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/kollektiv/kollektiv/internal/embed"
	"github.com/kollektiv/kollektiv/internal/provider"
)

// ErrEmptyDigest is returned by the extractive summarizer for a digest with
// neither prose sentences nor titles: there is nothing to extract.
var ErrEmptyDigest = errors.New("digest has no sentences and no titles to summarise")

// ExtractiveConfig configures the extractive summarizer.
type ExtractiveConfig struct {
	// Embedder embeds sentences for centroid scoring. Nil means the default
	// hashing embedder (lexical, offline).
	Embedder embed.Embedder
	// MinWords is the length at which the summary is complete. Default 100.
	MinWords int
	// MaxWords is the most words the summary may have. Default 150.
	MaxWords int
	// MinKeywords is the fewest keywords returned when the source has that
	// many candidate terms. Default 5.
	MinKeywords int
	// MaxKeywords is the most keywords returned. Default 10, at most 10.
	MaxKeywords int
}

// Extractive summarises without a language model: the summary is made of
// sentences of the digest's chunks, the keywords are words of it.
//
// Sentences are scored by centroid similarity with maximal marginal
// relevance: each is embedded, the one closest to the centroid of all
// sentences (the source's main topic) and least similar to those already
// chosen is added, while it keeps the summary within MaxWords, until
// MinWords are reached. Chosen sentences are shown in digest order.
//
// Keywords are ranked by TF-IDF against the digest's own chunks (and titles
// as one more document): tf·ln(1+N/df), so that words frequent in the
// source rank high, and words present in every chunk rank lower. Stop words
// and code blocks are left out.
//
// The result depends only on the digest and the embedder: it is
// deterministic.
type Extractive struct {
	cfg      ExtractiveConfig
	embedder embed.Embedder
	stop     map[string]bool // read-only after construction
}

var _ Summarizer = (*Extractive)(nil)

// NewExtractive returns an extractive summarizer.
func NewExtractive(cfg ExtractiveConfig) (*Extractive, error) {
	cfg.MinWords = cmp.Or(cfg.MinWords, 100)
	cfg.MaxWords = cmp.Or(cfg.MaxWords, 150)
	cfg.MinKeywords = cmp.Or(cfg.MinKeywords, 5)
	cfg.MaxKeywords = cmp.Or(cfg.MaxKeywords, maxKeywords)
	if cfg.MinWords < 0 || cfg.MaxWords < cfg.MinWords {
		return nil, fmt.Errorf("%w: extractive words %d..%d", provider.ErrInvalidConfig, cfg.MinWords, cfg.MaxWords)
	}
	if cfg.MinKeywords < 0 || cfg.MaxKeywords < cfg.MinKeywords || cfg.MaxKeywords > maxKeywords {
		return nil, fmt.Errorf("%w: extractive keywords %d..%d (at most %d)", provider.ErrInvalidConfig, cfg.MinKeywords, cfg.MaxKeywords, maxKeywords)
	}
	e := cfg.Embedder
	if e == nil {
		var err error
		if e, err = embed.NewHashing(embed.HashingConfig{}); err != nil {
			return nil, err
		}
	}
	return &Extractive{cfg: cfg, embedder: e, stop: stopWordSet()}, nil
}

// Model returns "extractive-v1/" followed by the embedder's model.
func (x *Extractive) Model() string { return "extractive-v1/" + x.embedder.Model() }

// Summarize returns sentences of the digest as the summary and words of it
// as keywords. A digest without prose sentences is summarised by its titles;
// one without titles either gives ErrEmptyDigest.
func (x *Extractive) Summarize(ctx context.Context, d Digest) (Summary, error) {
	sents, err := x.summarySentences(ctx, d)
	if err != nil {
		return Summary{}, err
	}
	s := strings.Join(sents, " ")
	if s == "" {
		s = x.titleSummary(d)
	}
	if s == "" {
		return Summary{}, ErrEmptyDigest
	}
	return Summary{Summary: s, Keywords: x.keywords(d)}, nil
}

// summarySentences returns the chosen sentences in digest order.
func (x *Extractive) summarySentences(ctx context.Context, d Digest) ([]string, error) {
	var sents []string
	seen := make(map[string]bool)
	for _, c := range d.Chunks {
		for _, s := range sentences(c) {
			if !seen[s] {
				seen[s] = true
				sents = append(sents, s)
			}
		}
	}
	if len(sents) == 0 {
		return nil, nil
	}
	vecs, err := x.embedder.Embed(ctx, sents)
	if err != nil {
		return nil, fmt.Errorf("error embedding sentences: %w", err)
	}
	words := 0
	picked := mmr(normalised(vecs), len(sents), func(i int) (take, stop bool) {
		if words >= x.cfg.MinWords {
			return false, true
		}
		n := strings.Count(sents[i], " ") + 1
		if words+n > x.cfg.MaxWords {
			return false, false
		}
		words += n
		return true, false
	})
	slices.Sort(picked)
	out := make([]string, len(picked))
	for k, i := range picked {
		out[k] = sents[i]
	}
	return out, nil
}

// titleSummary lists titles, within MaxWords, for a digest without prose.
func (x *Extractive) titleSummary(d Digest) string {
	var titles []string
	words := 0
	for _, doc := range d.Documents {
		t := strings.Join(strings.Fields(cmp.Or(doc.Title, doc.URL)), " ")
		n := strings.Count(t, " ") + 1
		if t == "" || words+n > x.cfg.MaxWords {
			continue
		}
		words += n
		titles = append(titles, t)
	}
	return strings.Join(titles, "; ")
}

// keywords ranks the digest's terms by TF-IDF against its own chunks.
func (x *Extractive) keywords(d Digest) []string {
	docs := slices.Clone(d.Chunks)
	var titles strings.Builder
	for _, doc := range d.Documents {
		titles.WriteString(doc.Title)
		titles.WriteString("\n")
	}
	docs = append(docs, titles.String())

	tf := make(map[string]int)
	df := make(map[string]int)
	local := make(map[string]bool)
	for _, doc := range docs {
		clear(local)
		forEachTerm(doc, x.stop, func(t string) {
			tf[t]++
			if !local[t] {
				local[t] = true
				df[t]++
			}
		})
	}
	type scored struct {
		term  string
		score float64
	}
	n := float64(len(docs))
	var all []scored
	for t, f := range tf {
		all = append(all, scored{t, float64(f) * math.Log(1+n/float64(df[t]))})
	}
	frequent := 0
	for _, s := range all {
		if tf[s.term] >= 2 {
			frequent++
		}
	}
	// Terms seen once rank last when there are enough others.
	rank := func(s scored) int {
		if frequent >= x.cfg.MinKeywords && tf[s.term] < 2 {
			return 1
		}
		return 0
	}
	slices.SortFunc(all, func(a, b scored) int {
		return cmp.Or(cmp.Compare(rank(a), rank(b)), cmp.Compare(b.score, a.score), strings.Compare(a.term, b.term))
	})

	var out []string
	chosen := make(map[string]bool)
	for _, s := range all {
		if len(out) == x.cfg.MaxKeywords {
			break
		}
		if len(out) >= x.cfg.MinKeywords && s.score < all[0].score/4 {
			break
		}
		// Keep one of a singular and its plural.
		if chosen[s.term+"s"] || chosen[strings.TrimSuffix(s.term, "s")] {
			continue
		}
		chosen[s.term] = true
		out = append(out, s.term)
	}
	return out
}
