// Package eval measures how well search finds the answers to labelled
// questions: Recall@1, @5 and @10, MRR@10 and nDCG@10, per question and
// over a set, with the same search code as the API. `kollektiv eval` runs
// it; docs/RETRIEVAL.md describes the figures.
package eval

import (
	"context"
	"fmt"

	"github.com/kollektiv/kollektiv/internal/search"
)

// SearchFunc searches for a question's text and returns the hits, best
// first. The command line gives one that runs search.Searcher with the
// user, k and filters of the evaluation.
type SearchFunc func(ctx context.Context, text string) ([]search.Hit, error)

// Report is the outcome of an evaluation.
type Report struct {
	// Questions is how many questions were asked.
	Questions int `json:"questions"`
	// Metrics averages the figures of every question.
	Metrics Metrics `json:"metrics"`
	// Results holds each question's outcome, in the order asked.
	Results []Result `json:"results"`
}

// Result is the outcome of one question.
type Result struct {
	Question
	// Rank is the 1-based position of the first relevant hit, 0 when no
	// hit is relevant.
	Rank int `json:"rank"`
	// Tied is how many hits share the first relevant hit's score, itself
	// included (1: no tie; 0: no relevant hit). Metrics average over the
	// orders of a tie.
	Tied int `json:"tied"`
	// Metrics are this question's figures.
	Metrics Metrics `json:"metrics"`
	// Hits is how many hits the search returned.
	Hits int `json:"hits"`
	// Top is the hit ranked first, nil when there was none.
	Top *TopHit `json:"top"`
}

// TopHit describes the hit ranked first for a question.
type TopHit struct {
	DocumentURL string   `json:"document_url"`
	Headers     []string `json:"headers"`
	Score       float64  `json:"score"`
	Relevant    bool     `json:"relevant"`
}

// Missed reports whether the question was not answered first for sure: no
// relevant hit, one below rank 1, or one tied with others at rank 1.
func (r Result) Missed() bool { return r.Metrics.RecallAt1 < 1 }

// Run asks every question through searchFn and scores the hits. A search
// that fails stops the run with an error naming the question.
func Run(ctx context.Context, questions []Question, searchFn SearchFunc) (Report, error) {
	report := Report{Questions: len(questions), Results: make([]Result, 0, len(questions))}
	for _, q := range questions {
		hits, err := searchFn(ctx, q.Query)
		if err != nil {
			return Report{}, fmt.Errorf("error searching for %s: %w", q.describe(), err)
		}
		report.Results = append(report.Results, Score(q, hits))
	}
	report.Metrics = mean(report.Results)
	return report, nil
}

// Score returns the outcome of question q for hits, best first.
func Score(q Question, hits []search.Hit) Result {
	relevant := make([]bool, len(hits))
	scores := make([]float64, len(hits))
	for i, h := range hits {
		relevant[i] = Relevant(q, h)
		scores[i] = h.Score
	}
	m, rank, tied := rankedScore(relevant, scores)
	r := Result{Question: q, Rank: rank, Tied: tied, Metrics: m, Hits: len(hits)}
	if len(hits) > 0 {
		r.Top = &TopHit{DocumentURL: hits[0].DocumentURL, Headers: hits[0].Headers, Score: hits[0].Score, Relevant: relevant[0]}
	}
	return r
}

// describe names q in an error: its line when it has one.
func (q Question) describe() string {
	if q.Line > 0 {
		return fmt.Sprintf("the question of line %d (%q)", q.Line, q.Query)
	}
	return fmt.Sprintf("%q", q.Query)
}
