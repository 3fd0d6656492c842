package eval

import (
	"fmt"
	"math"
	"strings"
)

// Metrics are the figures of one question or, averaged, of a set. Every
// figure is in [0, 1], higher is better.
//
// Relevance is binary and the unit is the expected section, not the chunk:
// a question is answered at rank r when its first relevant hit is the r-th,
// and further chunks of the same section add nothing. So Recall@k is the
// share of questions answered in the top k; MRR@10 the mean of 1/r (0 past
// 10); nDCG@10 the mean of 1/log2(r+1) (0 past 10): with one relevant item
// the ideal DCG is 1, and a section split over several chunks cannot score
// above a section in one.
//
// Ties: when the first relevant hit has the same fusion score as other
// hits, their order is arbitrary (the search breaks ties by chunk id), so
// each figure is its expected value over every order of the tied hits. Two
// hits tied at ranks 1 and 2, one of them relevant, give Recall@1 0.5 and
// MRR@10 0.75.
type Metrics struct {
	RecallAt1  float64 `json:"recall_at_1"`
	RecallAt5  float64 `json:"recall_at_5"`
	RecallAt10 float64 `json:"recall_at_10"`
	MRRAt10    float64 `json:"mrr_at_10"`
	NDCGAt10   float64 `json:"ndcg_at_10"`
}

// metricNames are the names of the figures, as --min takes and the report
// prints them, in Metrics order.
var metricNames = []string{"recall@1", "recall@5", "recall@10", "mrr@10", "ndcg@10"}

// MetricNames returns the names Get accepts.
func MetricNames() []string { return append([]string(nil), metricNames...) }

// Get returns the figure called name (one of MetricNames, any case).
func (m Metrics) Get(name string) (float64, error) {
	switch strings.ToLower(name) {
	case "recall@1":
		return m.RecallAt1, nil
	case "recall@5":
		return m.RecallAt5, nil
	case "recall@10":
		return m.RecallAt10, nil
	case "mrr@10":
		return m.MRRAt10, nil
	case "ndcg@10":
		return m.NDCGAt10, nil
	}
	return 0, fmt.Errorf("unknown metric %q, want one of %s", name, strings.Join(metricNames, ", "))
}

// atRank returns the figures of a question answered at 1-based rank r.
func atRank(r int) Metrics {
	var m Metrics
	if r <= 1 {
		m.RecallAt1 = 1
	}
	if r <= 5 {
		m.RecallAt5 = 1
	}
	if r <= 10 {
		m.RecallAt10 = 1
		m.MRRAt10 = 1 / float64(r)
		m.NDCGAt10 = 1 / math.Log2(float64(r)+1)
	}
	return m
}

func (m Metrics) plus(o Metrics, weight float64) Metrics {
	return Metrics{
		RecallAt1:  m.RecallAt1 + weight*o.RecallAt1,
		RecallAt5:  m.RecallAt5 + weight*o.RecallAt5,
		RecallAt10: m.RecallAt10 + weight*o.RecallAt10,
		MRRAt10:    m.MRRAt10 + weight*o.MRRAt10,
		NDCGAt10:   m.NDCGAt10 + weight*o.NDCGAt10,
	}
}

// rankedScore gives the figures of one ranked list: relevant[i] says
// whether the hit at rank i+1 is relevant, scores[i] is its fusion score
// (hits are ordered by it, highest first). rank is the list position of the
// first relevant hit (0 when none), tied the number of hits sharing its
// score, itself included.
func rankedScore(relevant []bool, scores []float64) (m Metrics, rank, tied int) {
	first := -1
	for i, r := range relevant {
		if r {
			first = i
			break
		}
	}
	if first < 0 {
		return Metrics{}, 0, 0
	}
	// The run of hits with the first relevant hit's score; none before it
	// in the run is relevant.
	start, end := first, first
	for start > 0 && scores[start-1] == scores[first] {
		start--
	}
	for end+1 < len(scores) && scores[end+1] == scores[first] {
		end++
	}
	n, k := end-start+1, 0
	for i := start; i <= end; i++ {
		if relevant[i] {
			k++
		}
	}
	// Drawn in a random order, the run's first relevant hit is its j-th
	// with the probability that the j-1 before it are among the n-k others.
	before := 1.0 // probability that the first j-1 drawn are not relevant
	for j := 1; j <= n-k+1; j++ {
		left := float64(n - j + 1)
		m = m.plus(atRank(start+j), before*float64(k)/left)
		before *= (left - float64(k)) / left
	}
	return m, first + 1, n
}

// mean averages the figures of results.
func mean(results []Result) Metrics {
	var m Metrics
	if len(results) == 0 {
		return m
	}
	for _, r := range results {
		m = m.plus(r.Metrics, 1)
	}
	return Metrics{}.plus(m, 1/float64(len(results)))
}
