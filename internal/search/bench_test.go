package search

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pgvector/pgvector-go"

	"github.com/kollektiv/kollektiv/internal/content"
	"github.com/kollektiv/kollektiv/internal/embed"
	"github.com/kollektiv/kollektiv/internal/store"
	"github.com/kollektiv/kollektiv/internal/testcorpus"
)

// benchChunks is the size of the benchmark's collection.
const benchChunks = 100_000

// BenchmarkSearch100k searches 100,000 chunks of one user: the documentation
// corpus, chunked by the production chunker and repeated with a share of
// words replaced in each copy (like several versions of the same docs),
// embedded by the hashing embedder. Each iteration is one Search with K=10
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
	for _, substr := range []string{"<=>", "websearch_to_tsquery"} {
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
	start := time.Now()
	docs, _, err := content.LoadPath(ctx, testcorpus.Dir(b), content.LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	chunker, err := content.NewChunker(content.ChunkerOptions{})
	if err != nil {
		b.Fatal(err)
	}
	type original struct {
		doc    int
		chunks []content.Chunk
	}
	var (
		originals []original
		count     int
		vocab     []string
		seen      = map[string]bool{}
	)
	for i, doc := range docs {
		chunks, err := chunker.Chunk(uuid.Nil, doc.Content)
		if err != nil {
			continue // empty documents
		}
		originals = append(originals, original{doc: i, chunks: chunks})
		count += len(chunks)
		for _, w := range strings.FieldsFunc(doc.Content, notWord) {
			if w = strings.ToLower(w); len(w) > 3 && !seen[w] {
				seen[w] = true
				vocab = append(vocab, w)
			}
		}
	}
	b.Logf("corpus: %d documents, %d chunks, %d words, chunked in %v", len(originals), count, len(vocab), time.Since(start).Round(time.Millisecond))

	// The copies: copy 0 is the corpus, copy c replaces c*3% of the words
	// (at most 30%), so every chunk has its own vector.
	sourceID := createSource(ctx, b, pool, "bench")
	rng := rand.New(rand.NewPCG(1, 2))
	var (
		docRows   [][]any
		chunkRows [][]any
		texts     []string
	)
	for copyNo := 0; len(chunkRows) < benchChunks; copyNo++ {
		for _, o := range originals {
			if len(chunkRows) == benchChunks {
				break
			}
			doc := docs[o.doc]
			documentID := uuid.New()
			url := doc.URL
			if copyNo > 0 {
				url = fmt.Sprintf("%s?version=%d", doc.URL, copyNo)
			}
			docRows = append(docRows, []any{documentID, sourceID, url, doc.Title, "", make([]byte, 32), "embedded", len(o.chunks)})
			for _, ch := range o.chunks {
				if len(chunkRows) == benchChunks {
					break
				}
				text := ch.Text
				if copyNo > 0 {
					text = vary(rng, text, vocab, min(copyNo*3, 30))
				}
				texts = append(texts, embedTextOf(ch.Headers, text))
				headers := ch.Headers
				if headers == nil {
					headers = []string{}
				}
				chunkRows = append(chunkRows, []any{uuid.New(), documentID, sourceID, "bench", int32(ch.Ordinal), headers, text, int32(ch.Tokens), nil, embedder.Model()})
			}
		}
	}
	vectors, err := embedder.Embed(ctx, texts)
	if err != nil {
		b.Fatal(err)
	}
	for i := range chunkRows {
		chunkRows[i][8] = pgvector.NewVector(vectors[i])
	}
	b.Logf("seed: %d documents, %d chunks, embedded in %v", len(docRows), len(chunkRows), time.Since(start).Round(time.Millisecond))

	// Incremental HNSW inserts of 100k rows take many minutes: load without
	// the index, then build it once, as the migration defines it.
	indexName := store.VectorIndexName(embedder.Dimensions())
	var indexDef string
	if err := pool.QueryRow(ctx, "SELECT indexdef FROM pg_indexes WHERE indexname = $1", indexName).Scan(&indexDef); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "DROP INDEX "+pgx.Identifier{indexName}.Sanitize()); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"documents"},
		[]string{"id", "source_id", "url", "title", "content", "content_hash", "status", "chunk_count"}, pgx.CopyFromRows(docRows)); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"chunks"}, chunkColumns, pgx.CopyFromRows(chunkRows)); err != nil {
		b.Fatal(err)
	}
	b.Logf("copied in %v", time.Since(start).Round(time.Millisecond))

	conn, err := pool.Acquire(ctx)
	if err != nil {
		b.Fatal(err)
	}
	for _, stmt := range []string{"SET maintenance_work_mem = '1GB'", "SET max_parallel_maintenance_workers = 2", indexDef,
		"RESET maintenance_work_mem", "RESET max_parallel_maintenance_workers", "VACUUM ANALYZE chunks", "ANALYZE documents"} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			conn.Release()
			b.Fatalf("%s: %v", stmt, err)
		}
	}
	conn.Release()
	b.Logf("indexed in %v", time.Since(start).Round(time.Millisecond))

	// Queries as users type them: a header, or a few words of a chunk.
	queries := make([]string, 0, 1000)
	for len(queries) < cap(queries) {
		o := originals[rng.IntN(len(originals))]
		ch := o.chunks[rng.IntN(len(o.chunks))]
		if len(ch.Headers) > 0 && rng.IntN(2) == 0 {
			queries = append(queries, ch.Headers[len(ch.Headers)-1])
			continue
		}
		words := strings.FieldsFunc(ch.Text, notWord)
		if len(words) < 4 {
			continue
		}
		n := 2 + rng.IntN(3)
		at := rng.IntN(len(words) - n + 1)
		queries = append(queries, strings.Join(words[at:at+n], " "))
	}
	return queries
}

// vary replaces percent% of the words of text with words of vocab.
func vary(rng *rand.Rand, text string, vocab []string, percent int) string {
	fields := strings.Fields(text)
	for i := range fields {
		if rng.IntN(100) < percent {
			fields[i] = vocab[rng.IntN(len(vocab))]
		}
	}
	return strings.Join(fields, " ")
}

func embedTextOf(headers []string, text string) string {
	if len(headers) == 0 {
		return text
	}
	return strings.Join(headers, " > ") + "\n\n" + text
}

func notWord(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }

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
