package store_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pgvector/pgvector-go"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertest"
	"github.com/riverqueue/river/rivertype"

	"github.com/kollektiv/kollektiv/internal/content"
	"github.com/kollektiv/kollektiv/internal/dbtest"
	"github.com/kollektiv/kollektiv/internal/embed"
	. "github.com/kollektiv/kollektiv/internal/store"
	"github.com/kollektiv/kollektiv/internal/testcorpus"
)

// benchChunkRows returns n chunk rows of one new source and document in
// pool, made of the Rust book as the production chunker cuts it, so their
// text (and its tsvector) is as long as real chunks'.
func benchChunkRows(ctx context.Context, b *testing.B, pool *pgxpool.Pool, n int) (uuid.UUID, []ChunkRow) {
	b.Helper()
	docs, _, err := content.LoadPath(ctx, filepath.Join(testcorpus.Dir(b), "rust-book"), content.LoadOptions{})
	if err != nil {
		b.Fatal(err)
	}
	chunker, err := content.NewChunker(content.ChunkerOptions{})
	if err != nil {
		b.Fatal(err)
	}
	sourceID, documentID := uuid.New(), uuid.New()
	q := New(pool)
	if _, err := q.CreateSource(ctx, CreateSourceParams{ID: sourceID, UserID: "bench", Kind: "inline", Options: []byte("{}")}); err != nil {
		b.Fatal(err)
	}
	var upsertErr error
	q.UpsertDocument(ctx, []UpsertDocumentParams{{
		ID: documentID, SourceID: sourceID, URL: "book.md", Title: "Book", Content: "x", ContentHash: make([]byte, 32), Metadata: []byte("{}"),
	}}).Exec(func(_ int, err error) { upsertErr = err })
	if upsertErr != nil {
		b.Fatal(upsertErr)
	}
	rows := make([]ChunkRow, 0, n)
	for len(rows) < n {
		for _, d := range docs {
			chunks, _ := chunker.Chunk(documentID, d.Content)
			for _, c := range chunks {
				if len(rows) == n {
					return sourceID, rows
				}
				rows = append(rows, ChunkRow{ID: uuid.New(), DocumentID: documentID, Ordinal: int32(len(rows)), Headers: c.Headers, Text: c.Text, TokenCount: int32(c.Tokens)})
			}
		}
	}
	return sourceID, rows
}

// BenchmarkCopyChunks measures CopyChunks of one batch's rows without
// vectors (the tsvector is generated and GIN-indexed as they go in), in a
// transaction rolled back after each op so the table does not grow.
//
//	go test -run '^$' -bench BenchmarkCopyChunks ./internal/store/
func BenchmarkCopyChunks(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("rows=%d", n), func(b *testing.B) {
			ctx := context.Background()
			pool := dbtest.Pool(b)
			sourceID, rows := benchChunkRows(ctx, b, pool, n)
			var bytes int64
			for _, r := range rows {
				bytes += int64(len(r.Text))
			}
			b.SetBytes(bytes)
			start := time.Now()
			for b.Loop() {
				tx, err := pool.Begin(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := CopyChunks(ctx, tx, Source{ID: sourceID, UserID: "bench"}, "", rows); err != nil {
					b.Fatal(err)
				}
				_ = tx.Rollback(ctx)
			}
			b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "rows/s")
		})
	}
}

// BenchmarkSetEmbeddings measures the embedding job's write before issue 16
// (and an older binary's queued jobs' still): SetEmbeddings of one
// persist_chunks batch (100 vectors of 384 dimensions, the default batch
// then) into a table
// of 5,000 chunks whose HNSW index exists, so each vector is inserted into
// the index as it is written; rolled back after each op.
//
//	go test -run '^$' -bench BenchmarkSetEmbeddings ./internal/store/
func BenchmarkSetEmbeddings(b *testing.B) {
	const tableRows, batch = 5000, 100
	ctx := context.Background()
	pool := dbtest.Pool(b)
	sourceID, rows := benchChunkRows(ctx, b, pool, tableRows)
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_, err := CopyChunks(ctx, tx, Source{ID: sourceID, UserID: "bench"}, "", rows)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	embedder, err := embed.NewHashing(embed.HashingConfig{})
	if err != nil {
		b.Fatal(err)
	}
	texts := make([]string, len(rows))
	for i, r := range rows {
		texts[i] = content.Chunk{Headers: r.Headers, Text: r.Text}.EmbedText()
	}
	vectors, err := embedder.Embed(ctx, texts)
	if err != nil {
		b.Fatal(err)
	}
	start, i := time.Now(), 0
	for b.Loop() {
		at := (i * batch) % (tableRows - batch)
		i++
		ids := make([]uuid.UUID, batch)
		vecs := make([]pgvector.Vector, batch)
		for j := range batch {
			ids[j], vecs[j] = rows[at+j].ID, pgvector.NewVector(vectors[at+j])
		}
		tx, err := pool.Begin(ctx)
		if err != nil {
			b.Fatal(err)
		}
		n, err := SetEmbeddings(ctx, tx, embedder.Model(), ids, vecs)
		if err != nil || n != batch {
			b.Fatalf("SetEmbeddings wrote %d rows: %v", n, err)
		}
		_ = tx.Rollback(ctx)
	}
	b.ReportMetric(float64(batch*b.N)/time.Since(start).Seconds(), "vectors/s")
}

// fanInArgs has the shape of a batch job's args: the source generation
// that the fan-in's queries look for.
type fanInArgs struct {
	SourceID   uuid.UUID `json:"source_id"`
	Generation int32     `json:"generation"`
	kind       string
}

func (a fanInArgs) Kind() string { return a.kind }

// BenchmarkFanInCheck measures what a batch job does at its end
// (jobs/fan_in.go): JobCompleteTx and the update of the source's counter of
// unfinished batch jobs under its row lock, for a source whose batch jobs
// are all running, beside 2,000 jobs of another source; and, as count, what
// the completion check does on its safety interval instead: CountBatchJobs
// over river_job, which grows with the source. Each op completes one job in
// a transaction that is rolled back, so the state stays the same.
//
//	go test -run '^$' -bench BenchmarkFanInCheck ./internal/store/
func BenchmarkFanInCheck(b *testing.B) {
	for _, n := range []int{100, 1000, 10000} {
		for _, mode := range []string{"counter", "count"} {
			b.Run(fmt.Sprintf("batch_jobs=%d/%s", n, mode), func(b *testing.B) {
				benchFanIn(b, n, mode == "count")
			})
		}
	}
}

func benchFanIn(b *testing.B, n int, count bool) {
	ctx := context.Background()
	pool := dbtest.Pool(b)
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		b.Fatal(err)
	}
	sourceID := uuid.New()
	if _, err := New(pool).CreateSource(ctx, CreateSourceParams{ID: sourceID, UserID: "bench", Kind: "inline", Options: []byte("{}")}); err != nil {
		b.Fatal(err)
	}
	// One fan-in shard holds them all: the cost of one job's update of it.
	if err := New(pool).InsertFanInShards(ctx, InsertFanInShardsParams{SourceID: sourceID, Generation: 1, Unfinished: []int32{int32(n)}}); err != nil {
		b.Fatal(err)
	}
	insert := func(source uuid.UUID, count int) []*river.Job[fanInArgs] {
		params := make([]river.InsertManyParams, 0, count+1)
		for i := range count {
			kind := KindChunkDocumentsBatch
			if i%2 == 1 {
				kind = KindPersistChunks
			}
			params = append(params, river.InsertManyParams{Args: fanInArgs{SourceID: source, Generation: 1, kind: kind}})
		}
		params = append(params, river.InsertManyParams{
			Args:       fanInArgs{SourceID: source, Generation: 1, kind: KindCheckChunkingComplete},
			InsertOpts: &river.InsertOpts{ScheduledAt: time.Now().Add(time.Hour)},
		})
		results, err := client.InsertMany(ctx, params)
		if err != nil {
			b.Fatal(err)
		}
		jobs := make([]*river.Job[fanInArgs], 0, count)
		for _, r := range results[:count] {
			jobs = append(jobs, &river.Job[fanInArgs]{JobRow: r.Job, Args: fanInArgs{SourceID: source, Generation: 1}})
		}
		return jobs
	}
	insert(uuid.New(), 2000)
	jobs := insert(sourceID, n)
	// As the producer leaves them when it fetches them.
	if _, err := pool.Exec(ctx, `UPDATE river_job SET state = 'running', attempt = 1, attempted_at = now()
		WHERE kind IN ($1, $2)`, KindChunkDocumentsBatch, KindPersistChunks); err != nil {
		b.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE river_job"); err != nil {
		b.Fatal(err)
	}
	// JobCompleteTx finds the client in the context, as in a worker.
	workCtx := rivertest.WorkContext(ctx, client)
	check := func(job *river.Job[fanInArgs]) error {
		tx, err := pool.Begin(ctx)
		if err != nil {
			return err
		}
		defer func() { _ = tx.Rollback(ctx) }()
		done, err := river.JobCompleteTx[*riverpgxv5.Driver](workCtx, tx, job)
		if err != nil {
			return err
		}
		if done.State != rivertype.JobStateCompleted {
			return fmt.Errorf("job %d is %s after JobCompleteTx", job.ID, done.State)
		}
		if count {
			counts, err := CountBatchJobs(ctx, tx, []string{KindChunkDocumentsBatch, KindPersistChunks}, sourceID, 1)
			if err != nil {
				return err
			}
			if counts.Unfinished != n-1 {
				return fmt.Errorf("CountBatchJobs: %+v, want %d unfinished", counts, n-1)
			}
			return nil
		}
		shards, err := New(tx).AddFanInShards(ctx, AddFanInShardsParams{
			SourceIds: []uuid.UUID{sourceID}, Generations: []int32{1}, Shards: []int32{0},
			Deltas: []int32{-1}, Documents: []int32{0}, ChunksWritten: []int32{0}, ChunksEmbedded: []int32{1}, ThrottleSeconds: 1,
		})
		if err != nil {
			return err
		}
		if len(shards) != 1 || int(shards[0].BatchJobsUnfinished) != n-1 {
			return fmt.Errorf("AddFanInShards: %+v, want one shard with %d unfinished", shards, n-1)
		}
		return nil
	}
	rng := rand.New(rand.NewPCG(1, 2)) //nolint:gosec // which job to complete needs no secrecy
	for b.Loop() {
		job := jobs[rng.IntN(len(jobs))]
		job.State = rivertype.JobStateRunning
		if err := check(job); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkChunkBatchWrite measures what writing one persist_chunks batch
// (100 chunks of the Rust book with their 384-dimension vectors, the
// default batch when docs/BENCHMARKS.md's figures were taken) costs the
// database, into a table of 5,000 chunks whose HNSW index exists, rolled
// back after each op: "twice" as before issue 16 (CopyChunks without
// vectors, then SetEmbeddings, as the chunking and the embedding job did),
// "once" as now (DeleteChunksByIDs, then CopyChunks with the vectors, in
// the embedding job).
//
//	go test -run '^$' -bench BenchmarkChunkBatchWrite ./internal/store/
func BenchmarkChunkBatchWrite(b *testing.B) {
	const tableRows, batch = 5000, 100
	ctx := context.Background()
	pool := dbtest.Pool(b)
	sourceID, rows := benchChunkRows(ctx, b, pool, tableRows+batch)
	source := Source{ID: sourceID, UserID: "bench"}
	embedder, err := embed.NewHashing(embed.HashingConfig{})
	if err != nil {
		b.Fatal(err)
	}
	texts := make([]string, len(rows))
	for i, r := range rows {
		texts[i] = content.Chunk{Headers: r.Headers, Text: r.Text}.EmbedText()
	}
	vectors, err := embedder.Embed(ctx, texts)
	if err != nil {
		b.Fatal(err)
	}
	for i := range rows {
		v := pgvector.NewVector(vectors[i])
		rows[i].Embedding = &v
	}
	table, written := rows[:tableRows], rows[tableRows:]
	if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_, err := CopyChunks(ctx, tx, source, embedder.Model(), table)
		return err
	}); err != nil {
		b.Fatal(err)
	}
	ids := make([]uuid.UUID, batch)
	vecs := make([]pgvector.Vector, batch)
	bare := make([]ChunkRow, batch)
	for i, r := range written {
		ids[i], vecs[i] = r.ID, *r.Embedding
		bare[i] = r
		bare[i].Embedding = nil
	}
	for _, tc := range []struct {
		name  string
		write func(tx pgx.Tx) error
	}{
		{"twice", func(tx pgx.Tx) error {
			if _, err := CopyChunks(ctx, tx, source, "", bare); err != nil {
				return err
			}
			_, err := SetEmbeddings(ctx, tx, embedder.Model(), ids, vecs)
			return err
		}},
		{"once", func(tx pgx.Tx) error {
			if _, err := New(tx).DeleteChunksByIDs(ctx, ids); err != nil {
				return err
			}
			_, err := CopyChunks(ctx, tx, source, embedder.Model(), written)
			return err
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			start := time.Now()
			for b.Loop() {
				tx, err := pool.Begin(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if err := tc.write(tx); err != nil {
					b.Fatal(err)
				}
				_ = tx.Rollback(ctx)
			}
			b.ReportMetric(float64(batch*b.N)/time.Since(start).Seconds(), "chunks/s")
		})
	}
}
