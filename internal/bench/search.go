package bench

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/kollektiv/kollektiv/internal/bench/seed"
	"github.com/kollektiv/kollektiv/internal/config"
	"github.com/kollektiv/kollektiv/internal/embed"
	"github.com/kollektiv/kollektiv/internal/search"
	"github.com/kollektiv/kollektiv/internal/store"
)

// SearchOptions configure the search benchmark.
type SearchOptions struct {
	// Config gives the database server. Required.
	Config *config.Config
	// Corpus is the directory of documents the collection is made of
	// (repeated with variations up to Chunks). Required.
	Corpus string
	// Chunks is the size of the collection. Default 100,000.
	Chunks int
	// Queries is how many searches are timed, after 50 that warm the
	// caches. Default 1000.
	Queries int
	// Keep leaves the bench database in place.
	Keep bool
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// SearchReport is the outcome of Search, in milliseconds.
type SearchReport struct {
	Chunks      int     `json:"chunks"`
	Documents   int     `json:"documents"`
	Queries     int     `json:"queries"`
	SeedSeconds float64 `json:"seed_seconds"`
	P50         float64 `json:"p50_ms"`
	P95         float64 `json:"p95_ms"`
	P99         float64 `json:"p99_ms"`
	// HitsPerQuery is the mean number of hits (at most 10).
	HitsPerQuery float64 `json:"hits_per_query"`
}

// WriteTable writes the report as a table.
func (r *SearchReport) WriteTable(w io.Writer) error {
	t := &table{title: fmt.Sprintf("search: %d chunks in %d documents, %d hybrid queries (k=10)", r.Chunks, r.Documents, r.Queries)}
	t.add("measure", "value")
	t.add("seed (chunk, embed, COPY, index)", fmt.Sprintf("%.1f s", r.SeedSeconds))
	t.add("p50", fmt.Sprintf("%.1f ms", r.P50))
	t.add("p95", fmt.Sprintf("%.1f ms (target < 20 ms at 100,000 chunks)", r.P95))
	t.add("p99", fmt.Sprintf("%.1f ms", r.P99))
	t.add("hits per query", fmt.Sprintf("%.1f", r.HitsPerQuery))
	return t.write(w)
}

// warmQueries warm the caches and prepared statements, as a running
// server has them, before timing.
const warmQueries = 50

// Search seeds a collection of Chunks chunks into a fresh database (the
// same one BenchmarkSearch100k searches) and times Queries hybrid searches
// through internal/search, one at a time.
func Search(ctx context.Context, opts SearchOptions) (_ *SearchReport, err error) {
	switch {
	case opts.Config == nil:
		return nil, errors.New("bench search: a Config is required")
	case opts.Corpus == "":
		return nil, errors.New("bench search: --corpus is required")
	case opts.Chunks < 0 || opts.Queries < 0:
		return nil, fmt.Errorf("bench search: --chunks and --queries must be positive, got %d and %d", opts.Chunks, opts.Queries)
	}
	opts.Chunks, opts.Queries = cmp.Or(opts.Chunks, 100_000), cmp.Or(opts.Queries, 1000)
	logger := cmp.Or(opts.Logger, slog.New(slog.DiscardHandler))

	db, err := createDatabase(ctx, opts.Config.DatabaseURL, "search", logger)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, db.release(ctx, opts.Keep, logger)) }()
	pool, err := store.Connect(ctx, db.URL, 4)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	embedder, err := embed.NewHashing(embed.HashingConfig{})
	if err != nil {
		return nil, err
	}
	start := time.Now()
	collection, err := seed.Chunks(ctx, pool, embedder, seed.Options{
		Corpus: opts.Corpus, Chunks: opts.Chunks, Queries: opts.Queries,
		Logf: func(format string, args ...any) {
			logger.InfoContext(ctx, "seeding", slog.String("step", fmt.Sprintf(format, args...)))
		},
	})
	if err != nil {
		return nil, err
	}
	report := &SearchReport{Chunks: collection.Chunks, Documents: collection.Documents, Queries: opts.Queries, SeedSeconds: seconds(time.Since(start))}

	searcher := search.New(pool, embedder)
	queries := collection.Queries
	for i := range min(warmQueries, len(queries)) {
		if _, err := searcher.Search(ctx, search.Query{UserID: "bench", Text: queries[i]}); err != nil {
			return nil, fmt.Errorf("error searching %q: %w", queries[i], err)
		}
	}
	latencies := make([]time.Duration, 0, len(queries))
	hits := 0
	for _, q := range queries {
		start := time.Now()
		found, err := searcher.Search(ctx, search.Query{UserID: "bench", Text: q})
		latencies = append(latencies, time.Since(start))
		if err != nil {
			return nil, fmt.Errorf("error searching %q: %w", q, err)
		}
		hits += len(found.Hits)
	}
	report.P50, report.P95, report.P99 = ms(quantile(latencies, 0.5)), ms(quantile(latencies, 0.95)), ms(quantile(latencies, 0.99))
	report.HitsPerQuery = ratio(float64(hits), float64(len(latencies)))
	return report, nil
}
