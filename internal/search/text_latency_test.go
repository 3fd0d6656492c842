package search

import (
	"cmp"
	"context"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pgvector/pgvector-go"
	pgxvec "github.com/pgvector/pgvector-go/pgx"

	"github.com/kollektiv/kollektiv/internal/embed"
	"github.com/kollektiv/kollektiv/internal/store"
)

// TestTextListLatency times, on a database that `kollektiv bench search
// --keep` seeded (user "bench"), named by KOLLEKTIV_SEARCH_DB, the
// full-text list before (every word required, English: SearchChunksText)
// and after (rankText), each query both ways in turn so that a shared
// machine's load falls on both alike, then the vector list and the whole
// hybrid search. Queries are made as the bench makes them: a chunk's last
// heading, or two to four of its words. It logs p50, p95 and p99 and
// asserts nothing.
//
//	KOLLEKTIV_SEARCH_DB=postgres://postgres@127.0.0.1:5432/kollektiv_bench_search_... go test -run TestTextListLatency -v ./internal/search/
func TestTextListLatency(t *testing.T) {
	url := os.Getenv("KOLLEKTIV_SEARCH_DB")
	if url == "" {
		t.Skip("set KOLLEKTIV_SEARCH_DB to a database seeded by kollektiv bench search --keep")
	}
	ctx := context.Background()
	config, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	config.AfterConnect = pgxvec.RegisterTypes
	pool, err := pgxpool.NewWithConfig(ctx, config)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	embedder, err := embed.NewHashing(embed.HashingConfig{})
	if err != nil {
		t.Fatal(err)
	}
	searcher := New(pool, embedder)

	rows, err := pool.Query(ctx, "SELECT headers, text FROM chunks WHERE user_id = 'bench' ORDER BY id LIMIT 1000")
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(3, 4)) //nolint:gosec // reproducible queries
	var queries []string
	for rows.Next() {
		var headers []string
		var text string
		if err := rows.Scan(&headers, &text); err != nil {
			t.Fatal(err)
		}
		words := strings.FieldsFunc(text, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
		switch {
		case len(headers) > 0 && rng.IntN(2) == 0:
			queries = append(queries, headers[len(headers)-1])
		case len(words) >= 4:
			n := 2 + rng.IntN(3)
			at := rng.IntN(len(words) - n + 1)
			queries = append(queries, strings.Join(words[at:at+n], " "))
		}
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}

	timings := map[string][]time.Duration{}
	found := map[string]int{}
	timed := func(name string, f func(tx pgx.Tx) int) {
		tx, err := pool.BeginTx(ctx, pgx.TxOptions{BeginQuery: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; " + searchSettings(DefaultK)})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback(ctx) }()
		start := time.Now()
		n := f(tx)
		timings[name] = append(timings[name], time.Since(start))
		found[name] += n
	}
	before := func(q string) func(pgx.Tx) int {
		return func(tx pgx.Tx) int {
			rows, err := store.New(tx).SearchChunksText(ctx, store.SearchChunksTextParams{Query: q, UserID: "bench", MaxRows: int32(candidatesFor(DefaultK))})
			if err != nil {
				t.Fatal(err)
			}
			return len(rows)
		}
	}
	after := func(q string) func(pgx.Tx) int {
		return func(tx pgx.Tx) int {
			rows, err := searcher.rankText(ctx, tx, Query{UserID: "bench", Text: q}, store.ChunkFilter{}, candidatesFor(DefaultK))
			if err != nil {
				t.Fatal(err)
			}
			return len(rows)
		}
	}
	for i, q := range append(queries[:50:50], queries...) { // 50 to warm up
		if i%2 == 0 {
			timed("text before", before(q))
			timed("text after", after(q))
		} else {
			timed("text after", after(q))
			timed("text before", before(q))
		}
		vectors, err := embedder.Embed(ctx, []string{q})
		if err != nil {
			t.Fatal(err)
		}
		timed("vector list", func(tx pgx.Tx) int {
			hits, err := store.NearestChunks(ctx, tx, store.NearestChunksParams{UserID: "bench", Model: embedder.Model(), Query: pgvector.NewVector(vectors[0]), Limit: candidatesFor(DefaultK)})
			if err != nil {
				t.Fatal(err)
			}
			return len(hits)
		})
		start := time.Now()
		hits, err := searcher.Search(ctx, Query{UserID: "bench", Text: q})
		if err != nil {
			t.Fatal(err)
		}
		timings["hybrid after"] = append(timings["hybrid after"], time.Since(start))
		found["hybrid after"] += len(hits.Hits)
		if i == 49 {
			clear(timings)
			clear(found)
		}
	}
	for _, name := range []string{"text before", "text after", "vector list", "hybrid after"} {
		d := slices.Clone(timings[name])
		slices.SortFunc(d, cmp.Compare)
		q := func(p float64) time.Duration { return d[int(p*float64(len(d)-1))].Round(10 * time.Microsecond) }
		t.Logf("%-12s %d queries: p50 %v  p95 %v  p99 %v  hits/query %.1f", name, len(d), q(0.5), q(0.95), q(0.99), float64(found[name])/float64(len(d)))
	}
}
