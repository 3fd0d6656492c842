package summarize

import (
	"cmp"
	"context"
	"fmt"
	"math"

	"github.com/kollektiv/kollektiv/internal/embed"
	"github.com/kollektiv/kollektiv/internal/provider"
)

// Document is a document of a source as the digest sees it.
type Document struct {
	// Title is the document's title; empty falls back to the URL.
	Title string `json:"title"`
	// URL is the document's URL or path.
	URL string `json:"url"`
}

// Chunk is a candidate chunk for the digest.
type Chunk struct {
	// Text is what the chunk says (header path and text, as embedded).
	Text string
	// Embedding is the chunk's stored vector, optional. When every chunk has
	// one of the same length they are used as they are; otherwise all chunks
	// are embedded with DigestConfig.Embedder.
	Embedding []float32
}

// DigestInput is a bounded sample of a source, loaded by the job: its
// documents (ordered, for example by URL) and candidate chunks (for example
// a deterministic sample of a few thousand). BuildDigest never sends more
// than its token budget onward, however large the input.
type DigestInput struct {
	// Source names the source (its URL or path), shown to an LLM.
	Source string
	// TotalDocuments is the number of documents of the whole source; 0
	// means len(Documents). It lets the digest say "100 of 10,000 titles".
	TotalDocuments int
	// Documents are the documents to take titles from.
	Documents []Document
	// Chunks are the candidate chunks.
	Chunks []Chunk
}

// Digest is what a summarizer reads: a few titles and the most
// representative chunks of a source, bounded by a token budget.
type Digest struct {
	// Source names the source.
	Source string `json:"source"`
	// TotalDocuments is the number of documents in the source.
	TotalDocuments int `json:"total_documents"`
	// Documents are the titles shown, at most DigestConfig.MaxTitles,
	// spread evenly over the input.
	Documents []Document `json:"documents"`
	// Chunks are chunk texts, most representative first.
	Chunks []string `json:"chunks"`
}

// DigestConfig bounds a digest.
type DigestConfig struct {
	// TokenBudget bounds the cl100k tokens of titles, URLs and chunks
	// together. Default 6,000.
	TokenBudget int
	// MaxTitles caps the titles shown; titles use at most a quarter of the
	// budget. Default 100.
	MaxTitles int
	// Embedder embeds chunks that have no stored embedding. Nil means the
	// default hashing embedder.
	Embedder embed.Embedder
	// CountTokens counts tokens. Nil means cl100k_base.
	CountTokens func(string) int
}

// diversity is the weight of novelty against centrality in maximal marginal
// relevance: without it the top chunks near the centroid are near-copies of
// one another (the same boilerplate paragraph on many pages).
const diversity = 0.3

// nearDuplicate is the similarity above which an item is never picked
// after one like it: the same paragraph repeated on many pages, whose
// centrality would otherwise outweigh the diversity penalty.
const nearDuplicate = 0.95

// chunkOverhead is the tokens of the excerpt markup around a chunk.
const chunkOverhead = 4

// BuildDigest selects, deterministically, the titles and chunks a
// summarizer reads. Titles come first, evenly spread over the documents, up
// to MaxTitles and a quarter of the budget. Chunks fill the rest, picked
// greedily by maximal marginal relevance: close to the centroid of all
// candidate chunks (representative) and far from chunks already picked
// (not redundant). Ties go to the earlier chunk.
func BuildDigest(ctx context.Context, in DigestInput, cfg DigestConfig) (Digest, error) {
	cfg.TokenBudget = cmp.Or(cfg.TokenBudget, 6000)
	cfg.MaxTitles = cmp.Or(cfg.MaxTitles, 100)
	if cfg.TokenBudget < 0 || cfg.MaxTitles < 0 {
		return Digest{}, fmt.Errorf("%w: negative digest budget", provider.ErrInvalidConfig)
	}
	if cfg.CountTokens == nil {
		count, err := embed.NewTokenCounter()
		if err != nil {
			return Digest{}, err
		}
		cfg.CountTokens = count
	}
	d := Digest{Source: in.Source, TotalDocuments: cmp.Or(in.TotalDocuments, len(in.Documents))}

	budget := cfg.TokenBudget
	titleBudget := budget / 4
	n := min(cfg.MaxTitles, len(in.Documents))
	for i := range n {
		doc := in.Documents[i*len(in.Documents)/n]
		cost := cfg.CountTokens(doc.Title+" "+doc.URL) + 2
		if cost > titleBudget {
			break
		}
		titleBudget -= cost
		budget -= cost
		d.Documents = append(d.Documents, doc)
	}

	if len(in.Chunks) == 0 {
		return d, nil
	}
	vecs, err := chunkVectors(ctx, in.Chunks, cfg.Embedder)
	if err != nil {
		return Digest{}, err
	}
	for _, i := range mmr(vecs, len(vecs), func(i int) (take, stop bool) {
		if budget <= chunkOverhead {
			return false, true
		}
		// A cl100k token is rarely longer than 10 bytes: skip counting
		// chunks that cannot fit.
		if len(in.Chunks[i].Text)/10 > budget {
			return false, false
		}
		cost := cfg.CountTokens(in.Chunks[i].Text) + chunkOverhead
		if cost > budget {
			return false, false
		}
		budget -= cost
		return true, false
	}) {
		d.Chunks = append(d.Chunks, in.Chunks[i].Text)
	}
	return d, nil
}

// chunkVectors returns unit vectors for the chunks: their stored embeddings
// when all have one of the same length, otherwise fresh ones.
func chunkVectors(ctx context.Context, chunks []Chunk, e embed.Embedder) ([][]float32, error) {
	stored := true
	for _, c := range chunks {
		if len(c.Embedding) == 0 || len(c.Embedding) != len(chunks[0].Embedding) {
			stored = false
			break
		}
	}
	vecs := make([][]float32, len(chunks))
	if stored {
		for i, c := range chunks {
			vecs[i] = c.Embedding
		}
	} else {
		if e == nil {
			var err error
			if e, err = embed.NewHashing(embed.HashingConfig{}); err != nil {
				return nil, err
			}
		}
		texts := make([]string, len(chunks))
		for i, c := range chunks {
			texts[i] = c.Text
		}
		var err error
		if vecs, err = e.Embed(ctx, texts); err != nil {
			return nil, fmt.Errorf("error embedding digest candidates: %w", err)
		}
	}
	return normalised(vecs), nil
}

// normalised returns unit-length copies of vecs (zero vectors stay zero).
func normalised(vecs [][]float32) [][]float32 {
	out := make([][]float32, len(vecs))
	for i, v := range vecs {
		var sum float64
		for _, x := range v {
			sum += float64(x) * float64(x)
		}
		u := make([]float32, len(v))
		if sum > 0 {
			inv := 1 / math.Sqrt(sum)
			for k, x := range v {
				u[k] = float32(float64(x) * inv)
			}
		}
		out[i] = u
	}
	return out
}

func dot(a, b []float32) float64 {
	var s float32
	for i := range a {
		s += a[i] * b[i]
	}
	return float64(s)
}

// mmr picks up to limit items by maximal marginal relevance over unit
// vectors and returns their indexes in the order picked. accept is asked
// about the best remaining item; an item it refuses is never offered again,
// and stop ends the selection.
// Cost: O(picks × n × dims).
func mmr(vecs [][]float32, limit int, accept func(i int) (take, stop bool)) []int {
	n := len(vecs)
	if n == 0 || limit <= 0 {
		return nil
	}
	centroid := make([]float32, len(vecs[0]))
	for _, v := range vecs {
		for k, x := range v {
			centroid[k] += x
		}
	}
	centroid = normalised([][]float32{centroid})[0]
	central := make([]float64, n)
	for i, v := range vecs {
		central[i] = dot(v, centroid)
	}
	redundancy := make([]float64, n) // max similarity to an item picked
	done := make([]bool, n)
	var picked []int
	for len(picked) < limit {
		best, bestScore := -1, math.Inf(-1)
		for i := range n {
			if done[i] {
				continue
			}
			score := (1-diversity)*central[i] - diversity*redundancy[i]
			if score > bestScore {
				best, bestScore = i, score
			}
		}
		if best < 0 {
			break
		}
		done[best] = true
		take, stop := accept(best)
		if stop {
			break
		}
		if !take {
			continue
		}
		picked = append(picked, best)
		for i := range n {
			if !done[i] {
				redundancy[i] = max(redundancy[i], dot(vecs[i], vecs[best]))
				done[i] = redundancy[i] >= nearDuplicate
			}
		}
	}
	return picked
}
