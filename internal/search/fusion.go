package search

import (
	"bytes"
	"cmp"
	"math"
	"slices"

	"github.com/google/uuid"

	"github.com/kollektiv/kollektiv/internal/store"
)

// fuse merges the vector list (nearest first), the full-text list (best
// first) and the heading list (the chunks whose own heading is the query)
// by weighted reciprocal rank fusion and returns the q.K best, with ids,
// ranks and scores set: a list adds weight/(q.RRFK + rank) to the score of
// each hit in it, the heading list with the full-text list's weight. A
// chunk titled by the query is thus the answer unless another chunk leads
// both other lists. Equal scores are ordered by rank (compareHits),
// never by chunk ids, which differ between two databases that ingested the
// same documents: the same lists give the same hits in every database.
func fuse(nearest []store.NearestChunk, matches []store.RankedChunk, headed []uuid.UUID, q Query) []Hit {
	byID := make(map[uuid.UUID]int, len(nearest)+len(matches)+len(headed))
	hits := make([]Hit, 0, len(nearest)+len(matches)+len(headed))
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
	for i, id := range headed {
		h := hit(id)
		if h.HeadingRank != 0 {
			continue
		}
		h.HeadingRank = i + 1
		h.HeadingContribution = q.TextWeight / float64(q.RRFK+h.HeadingRank)
	}
	for i := range hits {
		hits[i].Score = hits[i].VectorContribution + hits[i].TextContribution + hits[i].HeadingContribution
	}
	slices.SortFunc(hits, compareHits)
	return hits[:min(q.K, len(hits))]
}

// compareHits orders fused hits best first: by score, then by vector rank
// (absent last), then by text rank, then by heading rank (each absent last),
// then by id for a hit that no list ranked (none in practice).
func compareHits(a, b Hit) int {
	switch {
	case a.Score > b.Score:
		return -1
	case a.Score < b.Score:
		return 1
	}
	if c := cmp.Compare(rankOrder(a.VectorRank), rankOrder(b.VectorRank)); c != 0 {
		return c
	}
	if c := cmp.Compare(rankOrder(a.TextRank), rankOrder(b.TextRank)); c != 0 {
		return c
	}
	if c := cmp.Compare(rankOrder(a.HeadingRank), rankOrder(b.HeadingRank)); c != 0 {
		return c
	}
	return bytes.Compare(a.ChunkID[:], b.ChunkID[:])
}

// rankOrder makes an absent rank (0) sort after every present one.
func rankOrder(rank int) int {
	if rank == 0 {
		return math.MaxInt
	}
	return rank
}
