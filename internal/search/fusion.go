package search

import (
	"bytes"
	"slices"

	"github.com/google/uuid"

	"github.com/kollektiv/kollektiv/internal/store"
)

// fuse merges the vector list (nearest first) and the full-text list (best
// first) by weighted reciprocal rank fusion and returns the q.K best, with
// ids, ranks and scores set: a list adds weight/(q.RRFK + rank) to the
// score of each hit in it. Equal scores are ordered by chunk id, so the
// same lists always give the same hits.
func fuse(nearest []store.NearestChunk, matches []store.RankedChunk, q Query) []Hit {
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
		h.VectorContribution = q.VectorWeight / float64(q.RRFK+h.VectorRank)
	}
	for i, m := range matches {
		h := hit(m.ID)
		if h.TextRank != 0 {
			continue
		}
		h.TextRank = i + 1
		h.TextScore = &m.Rank
		h.TextContribution = q.TextWeight / float64(q.RRFK+h.TextRank)
	}
	for i := range hits {
		hits[i].Score = hits[i].VectorContribution + hits[i].TextContribution
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
	return hits[:min(q.K, len(hits))]
}
