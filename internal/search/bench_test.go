package search

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pgvector/pgvector-go"

	"github.com/kollektiv/kollektiv/internal/bench/seed"
	"github.com/kollektiv/kollektiv/internal/embed"
	"github.com/kollektiv/kollektiv/internal/store"
	"github.com/kollektiv/kollektiv/internal/testcorpus"
)

// benchChunks is the size of the benchmark's collection.
const benchChunks = 100_000

// BenchmarkSearch100k searches 100,000 chunks of one user: the documentation
// corpus, chunked by the production chunker and repeated with a share of
// words replaced in each copy (like several versions of the same docs),
// embedded by the hashing embedder (package seed, which `kollektiv bench
// search` seeds with too). Each iteration is one Search with K=10
// and a different query; p50, p95 and p99 are of those latencies. recall@40
// is the share of the exact 40 nearest chunks that the vector half finds
// with Search's settings; -v also logs the plans of the production queries,
// the slowest queries and recall at other hnsw.ef_search values. Seeding
// takes a minute or two and runs only when -bench selects this benchmark:
//
//	go test -run '^$' -bench BenchmarkSearch100k -benchtime 2000x ./internal/search/
func BenchmarkSearch100k(b *testing.B) {
	if testing.Short() {
		b.Skip("seeds 100,000 chunks")
	}
	ctx := context.Background()
	rec := &recorder{}
	bundle := setup(b, func(c *pgxpool.Config) { c.ConnConfig.Tracer = rec })
	pool, embedder, searcher := bundle.pool, bundle.embedder, bundle.searcher
	queries := seedBench(ctx, b, pool, embedder)

	// Warm the caches and the prepared statements, as a running server has.
	for _, q := range queries[:50] {
		if _, err := searcher.Search(ctx, Query{UserID: "bench", Text: q}); err != nil {
			b.Fatal(err)
		}
	}
	// The plans of the production queries, as last sent.
	for _, substr := range []string{"<=>", "c.tsv @@ (SELECT matched FROM q)"} {
		sql, args := rec.find(b, substr)
		b.Logf("%s", explainWith(ctx, b, pool, searchSettings(DefaultK), "EXPLAIN (ANALYZE, BUFFERS)", sql, args...))
	}

	type timed struct {
		query   string
		latency time.Duration
	}
	runs := make([]timed, 0, max(b.N, 1000))
	hits, i := 0, 0
	for b.Loop() {
		q := queries[i%len(queries)]
		i++
		start := time.Now()
		found, err := searcher.Search(ctx, Query{UserID: "bench", Text: q})
		runs = append(runs, timed{q, time.Since(start)})
		if err != nil {
			b.Fatal(err)
		}
		hits += len(found)
	}
	slices.SortFunc(runs, func(a, b timed) int { return cmp.Compare(a.latency, b.latency) })
	quantile := func(p float64) float64 {
		return float64(runs[int(p*float64(len(runs)-1))].latency) / float64(time.Millisecond)
	}
	for _, r := range runs[max(len(runs)-5, 0):] {
		b.Logf("slow: %v %q", r.latency.Round(time.Microsecond), r.query)
	}
	b.ReportMetric(quantile(0.50), "p50-ms")
	b.ReportMetric(quantile(0.95), "p95-ms")
	b.ReportMetric(quantile(0.99), "p99-ms")
	b.ReportMetric(float64(hits)/float64(len(runs)), "hits/op")
	recall, _ := vectorRecall(ctx, b, pool, embedder, queries[:100], searchSettings(DefaultK))
	b.ReportMetric(recall, "recall@40")
	for _, ef := range []int{40, 100, 200, 400, 800} {
		recall, mean := vectorRecall(ctx, b, pool, embedder, queries[:100],
			fmt.Sprintf("SET LOCAL hnsw.iterative_scan = relaxed_order; SET LOCAL hnsw.ef_search = %d", ef))
		b.Logf("hnsw.ef_search %d: recall@40 %.3f, mean vector query %v", ef, recall, mean.Round(time.Microsecond))
	}
}

// seedBench writes benchChunks chunks for user "bench" and returns the
// queries to search them with.
func seedBench(ctx context.Context, b *testing.B, pool *pgxpool.Pool, embedder *embed.Hashing) []string {
	b.Helper()
	collection, err := seed.Chunks(ctx, pool, embedder, seed.Options{Corpus: testcorpus.Dir(b), Chunks: benchChunks, Logf: b.Logf})
	if err != nil {
		b.Fatal(err)
	}
	return collection.Queries
}

// vectorRecall returns the share of the exact 40 nearest chunks that the
// HNSW search begun with settings finds, over queries, and the mean time of
// the approximate search.
func vectorRecall(ctx context.Context, b *testing.B, pool *pgxpool.Pool, embedder *embed.Hashing, queries []string, settings string) (float64, time.Duration) {
	b.Helper()
	vectors, err := embedder.Embed(ctx, queries)
	if err != nil {
		b.Fatal(err)
	}
	nearest := func(settings string, v []float32) map[uuid.UUID]bool {
		tx, err := pool.BeginTx(ctx, pgx.TxOptions{BeginQuery: "BEGIN; " + settings})
		if err != nil {
			b.Fatal(err)
		}
		defer func() { _ = tx.Rollback(ctx) }()
		hits, err := store.NearestChunks(ctx, tx, store.NearestChunksParams{
			UserID: "bench", Model: embedder.Model(), Query: pgvector.NewVector(v), Limit: 40,
		})
		if err != nil {
			b.Fatal(err)
		}
		ids := make(map[uuid.UUID]bool, len(hits))
		for _, h := range hits {
			ids[h.ID] = true
		}
		return ids
	}
	// Without the cast, the distance matches no index: an exact scan.
	exact := func(v []float32) []uuid.UUID {
		rows, err := pool.Query(ctx, `SELECT id FROM chunks WHERE user_id = 'bench' ORDER BY embedding <=> $1, id LIMIT 40`, pgvector.NewVector(v))
		if err != nil {
			b.Fatal(err)
		}
		ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil {
			b.Fatal(err)
		}
		return ids
	}
	var (
		found, total int
		elapsed      time.Duration
	)
	for _, v := range vectors {
		start := time.Now()
		approx := nearest(settings, v)
		elapsed += time.Since(start)
		for _, id := range exact(v) {
			total++
			if approx[id] {
				found++
			}
		}
	}
	return float64(found) / float64(total), elapsed / time.Duration(len(vectors))
}
