package ingest_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/kollektiv/kollektiv/internal/content"
	"github.com/kollektiv/kollektiv/internal/dbtest"
	"github.com/kollektiv/kollektiv/internal/ingest"
	"github.com/kollektiv/kollektiv/internal/testcorpus"
)

// BenchmarkAdd measures the first transaction of a source: ingest.Service.Add
// of the corpus repeated 13 times (99,996 documents, 90 MB, as
// `kollektiv bench ingest --repeat 13`; 100,009 with the corpus of
// 2026-11-30), documents already loaded. new is a
// new source; refresh is the same source again with nothing changed, which
// must skip every document (each op ends by checking that none went back
// to pending); refresh-changed is the same source again with every
// document changed (each op checks that all went back to pending).
//
//	go test -run '^$' -bench BenchmarkAdd -benchtime 3x -benchmem ./internal/ingest/
func BenchmarkAdd(b *testing.B) {
	ctx := context.Background()
	loaded, _, err := content.LoadPath(ctx, testcorpus.Dir(b), content.LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	docs := make([]content.Document, 0, 13*len(loaded))
	for k := range 13 {
		for _, d := range loaded {
			if k > 0 {
				d.URL = fmt.Sprintf("%s?copy=%d", d.URL, k)
			}
			docs = append(docs, d)
		}
	}
	pool := dbtest.Pool(b)
	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{}) // insert only
	if err != nil {
		b.Fatal(err)
	}
	svc := &ingest.Service{Pool: pool, River: rc}
	b.Logf("%d documents", len(docs))

	sources := 0
	b.Run("new", func(b *testing.B) {
		for range b.N {
			sources++
			added, err := svc.Add(ctx, ingest.AddParams{UserID: "bench", Kind: ingest.KindFiles, URI: fmt.Sprintf("/bench/%d", sources), Documents: docs})
			if err != nil {
				b.Fatal(err)
			}
			if int(added.Source.DocumentCount) != len(docs) {
				b.Fatalf("source has %d documents, want %d", added.Source.DocumentCount, len(docs))
			}
		}
		b.ReportMetric(float64(len(docs))*float64(b.N)/b.Elapsed().Seconds(), "documents/s")
	})
	b.Run("refresh", func(b *testing.B) {
		added, err := svc.Add(ctx, ingest.AddParams{UserID: "bench", Kind: ingest.KindFiles, URI: "/bench/refresh", Documents: docs})
		if err != nil {
			b.Fatal(err)
		}
		id := added.Source.ID
		finish := finisher(b, pool, id)
		finish()
		b.ResetTimer()
		for range b.N {
			added, err := svc.Add(ctx, ingest.AddParams{UserID: "bench", Kind: ingest.KindFiles, URI: "/bench/refresh", Documents: docs})
			if err != nil {
				b.Fatal(err)
			}
			if !added.Refreshed || added.Source.ID != id {
				b.Fatalf("got source %s (refreshed %v), want a refresh of %s", added.Source.ID, added.Refreshed, id)
			}
			b.StopTimer()
			var pending int
			if err := pool.QueryRow(ctx, "SELECT count(*) FROM documents WHERE source_id = $1 AND status = 'pending'", id).Scan(&pending); err != nil {
				b.Fatal(err)
			}
			if pending != 0 {
				b.Fatalf("%d unchanged documents went back to pending", pending)
			}
			finish()
			b.StartTimer()
		}
		b.ReportMetric(float64(len(docs))*float64(b.N)/b.Elapsed().Seconds(), "documents/s")
	})
	b.Run("refresh-changed", func(b *testing.B) {
		const uri = "/bench/refresh-changed"
		added, err := svc.Add(ctx, ingest.AddParams{UserID: "bench", Kind: ingest.KindFiles, URI: uri, Documents: docs})
		if err != nil {
			b.Fatal(err)
		}
		id := added.Source.ID
		finish := finisher(b, pool, id)
		finish()
		// Two versions of every document, given in turn: each op changes
		// them all.
		versions := [2][]content.Document{make([]content.Document, len(docs)), make([]content.Document, len(docs))}
		for v := range versions {
			for i, d := range docs {
				d.Content += fmt.Sprintf("\n\nVersion %d.", v)
				versions[v][i] = d
			}
		}
		b.ResetTimer()
		for i := range b.N {
			added, err := svc.Add(ctx, ingest.AddParams{UserID: "bench", Kind: ingest.KindFiles, URI: uri, Documents: versions[i%2]})
			if err != nil {
				b.Fatal(err)
			}
			if !added.Refreshed || added.Source.ID != id {
				b.Fatalf("got source %s (refreshed %v), want a refresh of %s", added.Source.ID, added.Refreshed, id)
			}
			b.StopTimer()
			var pending int
			if err := pool.QueryRow(ctx, "SELECT count(*) FROM documents WHERE source_id = $1 AND status = 'pending'", id).Scan(&pending); err != nil {
				b.Fatal(err)
			}
			if pending != len(docs) {
				b.Fatalf("%d of %d changed documents went back to pending", pending, len(docs))
			}
			finish()
			b.StartTimer()
		}
		b.ReportMetric(float64(len(docs))*float64(b.N)/b.Elapsed().Seconds(), "documents/s")
	})
}

// finisher returns a func that leaves source id and its documents where a
// finished run leaves them.
func finisher(b *testing.B, pool *pgxpool.Pool, id uuid.UUID) func() {
	return func() {
		ctx := context.Background()
		if _, err := pool.Exec(ctx, "UPDATE documents SET status = 'embedded' WHERE source_id = $1", id); err != nil {
			b.Fatal(err)
		}
		if _, err := pool.Exec(ctx, "UPDATE sources SET stage = 'completed', completed_at = now() WHERE id = $1", id); err != nil {
			b.Fatal(err)
		}
	}
}
