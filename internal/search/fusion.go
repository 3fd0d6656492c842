package search

import (
	"bytes"
	"slices"

	"github.com/google/uuid"

	"github.com/kollektiv/kollektiv/internal/store"
)

// rrfK damps the weight of the top ranks in reciprocal rank fusion: a
// chunk's score is the sum over the lists of 1/(rrfK + rank). 60 is the
// value of the original paper (Cormack et al., 2009), which works across
// collections without tuning.
const rrfK = 60

// fuse merges the vector list (nearest first) and the full-text list (best
// first) by reciprocal rank fusion and returns the k best, with ids, ranks
// and scores set. Equal scores are ordered by chunk id, so the same lists
// always give the same hits.
func fuse(nearest []store.NearestChunk, matches []store.RankChunksTextRow, k int) []Hit {
	byID := make(map[uuid.UUID]int, len(nearest)+len(matches))
	hits := make([]Hit, 0, len(nearest)+len(matches))
	hit := func(id uuid.UUID) *Hit {
		i, ok := byID[id]
		if !ok {
			i = len(hits)
			byID[id] = i
			hits = append(hits, Hit{ChunkID: id})
		}
		return &hits[i]
	}
	for i, n := range nearest {
		h := hit(n.ID)
		if h.VectorRank != 0 {
			continue // a list never repeats an id; ignore it if it does
		}
		h.VectorRank = i + 1
		h.VectorDistance = &n.Distance
		h.Score += 1 / float64(rrfK+h.VectorRank)
	}
	for i, m := range matches {
		h := hit(m.ID)
		if h.TextRank != 0 {
			continue
		}
		h.TextRank = i + 1
		h.TextScore = &m.Rank
		h.Score += 1 / float64(rrfK+h.TextRank)
	}
	slices.SortFunc(hits, func(a, b Hit) int {
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		}
		return bytes.Compare(a.ChunkID[:], b.ChunkID[:])
	})
	return hits[:min(k, len(hits))]
}
