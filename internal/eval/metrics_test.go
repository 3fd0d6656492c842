package eval

import (
	"math"
	"testing"

	"github.com/kollektiv/kollektiv/internal/search"
)

// ndcg is 1/log2(r+1), the nDCG@10 of a question answered at rank r.
func ndcg(r float64) float64 { return 1 / math.Log2(r+1) }

func TestRankedScore(t *testing.T) {
	t.Parallel()
	const (
		R = true
		N = false
	)
	for _, tc := range []struct {
		name     string
		relevant []bool
		scores   []float64
		want     Metrics
		rank     int
		tied     int
	}{
		{"no hits", nil, nil, Metrics{}, 0, 0},
		{"no relevant hit", []bool{N, N, N}, []float64{3, 2, 1}, Metrics{}, 0, 0},
		{"first", []bool{R, N}, []float64{2, 1}, Metrics{1, 1, 1, 1, 1}, 1, 1},
		{"third", []bool{N, N, R}, []float64{3, 2, 1}, Metrics{0, 1, 1, 1.0 / 3, 0.5}, 3, 1},
		{"sixth", []bool{N, N, N, N, N, R}, []float64{6, 5, 4, 3, 2, 1}, Metrics{0, 0, 1, 1.0 / 6, ndcg(6)}, 6, 1},
		{"eleventh counts for nothing", append(make([]bool, 10), R), []float64{11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1}, Metrics{}, 11, 1},
		// Only the first relevant hit counts: a second chunk of the section
		// adds nothing.
		{"two relevant", []bool{N, R, R}, []float64{3, 2, 1}, Metrics{0, 1, 1, 0.5, ndcg(2)}, 2, 1},
		// Tied with the hit above it: first or second with probability 1/2.
		{"tie of two at the top", []bool{N, R, N}, []float64{2, 2, 1}, Metrics{0.5, 1, 1, 0.75, (1 + ndcg(2)) / 2}, 2, 2},
		// Tied with the hit below it: the same expectation.
		{"tie with the hit below", []bool{R, N}, []float64{2, 2}, Metrics{0.5, 1, 1, 0.75, (1 + ndcg(2)) / 2}, 1, 2},
		// Ranks 4 to 6 tied, one relevant: 4, 5 or 6 with 1/3 each.
		{"tie across the cutoff of 5", []bool{N, N, N, N, R, N}, []float64{9, 8, 7, 5, 5, 5}, Metrics{0, 2.0 / 3, 1, (1.0/4 + 1.0/5 + 1.0/6) / 3, (ndcg(4) + ndcg(5) + ndcg(6)) / 3}, 5, 3},
		// Three tied at the top, two relevant: the first relevant is first
		// with probability 2/3, second with 1/3.
		{"tie holding two relevant", []bool{N, R, R}, []float64{1, 1, 1}, Metrics{2.0 / 3, 1, 1, 2.0/3 + 1.0/6, 2.0/3 + ndcg(2)/3}, 2, 3},
		// A tie below the first relevant hit changes nothing.
		{"tie below", []bool{R, N, N}, []float64{3, 1, 1}, Metrics{1, 1, 1, 1, 1}, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, rank, tied := rankedScore(tc.relevant, tc.scores)
			if rank != tc.rank || tied != tc.tied {
				t.Errorf("rank %d tied %d, want %d and %d", rank, tied, tc.rank, tc.tied)
			}
			assertMetrics(t, got, tc.want)
		})
	}
}

func assertMetrics(t *testing.T, got, want Metrics) {
	t.Helper()
	for _, name := range MetricNames() {
		g, _ := got.Get(name)
		w, _ := want.Get(name)
		if math.Abs(g-w) > 1e-12 {
			t.Errorf("%s = %.6f, want %.6f", name, g, w)
		}
	}
}

func TestMean(t *testing.T) {
	t.Parallel()
	q := Question{Query: "q", Document: "a.md"}
	hit := func(url string, score float64) search.Hit { return search.Hit{DocumentURL: url, Score: score} }
	results := []Result{
		Score(q, []search.Hit{hit("a.md", 3), hit("b.md", 2)}),                 // rank 1
		Score(q, []search.Hit{hit("b.md", 3), hit("c.md", 2), hit("a.md", 1)}), // rank 3
		Score(q, nil), // no hits
		Score(q, []search.Hit{hit("b.md", 2), hit("a.md", 2)}), // tied at 1-2
	}
	want := Metrics{
		RecallAt1:  (1 + 0 + 0 + 0.5) / 4,
		RecallAt5:  (1 + 1 + 0 + 1) / 4.0,
		RecallAt10: (1 + 1 + 0 + 1) / 4.0,
		MRRAt10:    (1 + 1.0/3 + 0 + 0.75) / 4,
		NDCGAt10:   (1 + 0.5 + 0 + (1+ndcg(2))/2) / 4,
	}
	assertMetrics(t, mean(results), want)
	assertMetrics(t, mean(nil), Metrics{})

	if results[2].Top != nil || results[2].Hits != 0 || !results[2].Missed() {
		t.Errorf("no hits: %+v", results[2])
	}
	if top := results[1].Top; top == nil || top.DocumentURL != "b.md" || top.Relevant || results[1].Rank != 3 {
		t.Errorf("rank 3: %+v top %+v", results[1], top)
	}
	if results[0].Missed() || !results[3].Missed() {
		t.Errorf("missed: rank 1 %v, tied at 1 %v", results[0].Missed(), results[3].Missed())
	}
}

func TestMetricsGet(t *testing.T) {
	t.Parallel()
	m := Metrics{RecallAt1: 0.1, RecallAt5: 0.5, RecallAt10: 0.9, MRRAt10: 0.3, NDCGAt10: 0.4}
	for name, want := range map[string]float64{"recall@1": 0.1, "Recall@5": 0.5, "recall@10": 0.9, "MRR@10": 0.3, "ndcg@10": 0.4} {
		if got, err := m.Get(name); err != nil || got != want {
			t.Errorf("Get(%q) = %v, %v; want %v", name, got, err, want)
		}
	}
	if _, err := m.Get("recall@3"); err == nil {
		t.Error("Get(recall@3): no error")
	}
}
