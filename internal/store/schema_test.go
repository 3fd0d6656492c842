package store_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pgvector/pgvector-go"

	"github.com/kollektiv/kollektiv/internal/dbtest"
	. "github.com/kollektiv/kollektiv/internal/store"
)

// seedChunks writes one source and document and n chunks with vectors of
// dims dimensions, the i-th pointing mostly along axis i%dims, for user.
func seedChunks(ctx context.Context, t *testing.T, pool *pgxpool.Pool, user string, dims, n int) uuid.UUID {
	t.Helper()
	q := New(pool)
	sourceID := uuid.New()
	if _, err := q.CreateSource(ctx, CreateSourceParams{ID: sourceID, UserID: user, Kind: "inline", Options: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	documentID := uuid.New()
	var upsertErr error
	q.UpsertDocument(ctx, []UpsertDocumentParams{{
		ID: documentID, SourceID: sourceID, URL: "doc.md", Title: "Doc", Content: "x",
		ContentHash: make([]byte, 32), Metadata: []byte("{}"),
	}}).Exec(func(_ int, err error) { upsertErr = err })
	if upsertErr != nil {
		t.Fatal(upsertErr)
	}
	rows := make([][]any, n)
	for i := range n {
		v := make([]float32, dims)
		v[i%dims] = 1
		v[(i+1)%dims] = 0.1
		text := fmt.Sprintf("chunk %d about tokio runtimes and async executors", i)
		if i == 7 {
			text = "the borrow checker enforces ownership rules"
		}
		rows[i] = []any{uuid.New(), documentID, sourceID, user, int32(i), []string{"Guide", "Section"}, text, int32(8),
			pgvector.NewVector(v), fmt.Sprintf("test-%d", dims)}
	}
	_, err := pool.CopyFrom(ctx, pgx.Identifier{"chunks"},
		[]string{"id", "document_id", "source_id", "user_id", "ordinal", "headers", "text", "token_count", "embedding", "embedding_model"},
		pgx.CopyFromRows(rows))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "ANALYZE chunks"); err != nil {
		t.Fatal(err)
	}
	return sourceID
}

// explain returns the plan of sql with sequential scans discouraged: the
// tables here are small, and the question is whether the index can serve the
// query's shape at all.
func explain(ctx context.Context, t *testing.T, pool *pgxpool.Pool, sql string, args ...any) string {
	t.Helper()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, "SET LOCAL enable_seqscan = off"); err != nil {
		t.Fatal(err)
	}
	rows, err := tx.Query(ctx, "EXPLAIN "+sql, args...)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

func TestSchemaIndexes(t *testing.T) {
	t.Parallel()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := dbtest.Pool(t)
	sourceID := seedChunks(ctx, t, pool, "alice", 384, 50)

	t.Run("KNNUsesHNSWIndex", func(t *testing.T) {
		query := make([]float32, 384)
		query[3] = 1
		sql, err := NearestChunksSQL(384, true, nil)
		if err != nil {
			t.Fatal(err)
		}
		plan := explain(ctx, t, pool, sql, pgvector.NewVector(query), "test-384", 5, "alice")
		if !strings.Contains(plan, "Index Scan using chunks_halfvec_384_idx") {
			t.Fatalf("kNN query does not use the HNSW index:\n%s", plan)
		}

		hits, err := NearestChunks(ctx, pool, NearestChunksParams{UserID: "alice", Model: "test-384", Query: pgvector.NewVector(query), Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		// The chunk whose vector points along axis 3 (plus 0.1 along 4) is
		// the nearest, at 1 - 1/sqrt(1.01) = 0.005; the next is far off.
		if len(hits) != 3 || hits[0].SourceID != sourceID || math.Abs(hits[0].Distance-0.00496) > 1e-3 || hits[1].Distance < 0.5 {
			t.Fatalf("unexpected hits %+v", hits)
		}
	})

	t.Run("FullTextUsesGINIndex", func(t *testing.T) {
		plan := explain(ctx, t, pool, `
			SELECT id FROM chunks c, websearch_to_tsquery('english', $1) q
			WHERE c.tsv @@ q`, "borrow checker")
		if !strings.Contains(plan, "chunks_tsv_idx") {
			t.Fatalf("full-text query does not use the GIN index:\n%s", plan)
		}

		hits, err := New(pool).SearchChunksText(ctx, SearchChunksTextParams{Query: "borrow checker", UserID: "alice", MaxRows: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(hits) != 1 || !strings.Contains(hits[0].Text, "borrow checker") {
			t.Fatalf("full-text search found %+v, want the one borrow checker chunk", hits)
		}
		// Header words are indexed too, weighted above the body.
		hits, err = New(pool).SearchChunksText(ctx, SearchChunksTextParams{Query: "guide", UserID: "alice", MaxRows: 100})
		if err != nil {
			t.Fatal(err)
		}
		if len(hits) != 50 {
			t.Fatalf("header search found %d chunks, want all 50", len(hits))
		}
	})

	t.Run("OtherUserSeesNothing", func(t *testing.T) {
		hits, err := New(pool).SearchChunksText(ctx, SearchChunksTextParams{Query: "borrow checker", UserID: "mallory", MaxRows: 10})
		if err != nil {
			t.Fatal(err)
		}
		query := make([]float32, 384)
		query[3] = 1
		vhits, err := NearestChunks(ctx, pool, NearestChunksParams{UserID: "mallory", Model: "test-384", Query: pgvector.NewVector(query), Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		if len(hits)+len(vhits) != 0 {
			t.Fatalf("another user's search found %d text and %d vector hits", len(hits), len(vhits))
		}
	})
}

func TestVectorIndexForOtherDimensions(t *testing.T) {
	t.Parallel()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := dbtest.Pool(t)

	// A second embedder of another dimension shares the column: its vectors
	// get their own index, and neither search sees the other's rows.
	seedChunks(ctx, t, pool, "alice", 384, 20)
	seedChunks(ctx, t, pool, "alice", 8, 20)

	created, err := EnsureVectorIndex(ctx, pool, 8)
	if err != nil {
		t.Fatal(err)
	}
	if !created {
		t.Fatal("EnsureVectorIndex(8) did not create the index")
	}
	created, err = EnsureVectorIndex(ctx, pool, 8)
	if err != nil || created {
		t.Fatalf("second EnsureVectorIndex(8): created %v, err %v", created, err)
	}
	if created, err := EnsureVectorIndex(ctx, pool, 384); err != nil || created {
		t.Fatalf("the migration's 384 index should exist: created %v, err %v", created, err)
	}

	query := make([]float32, 8)
	query[2] = 1
	sql, err := NearestChunksSQL(8, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	plan := explain(ctx, t, pool, sql, pgvector.NewVector(query), "test-8", 5, "alice")
	if !strings.Contains(plan, "Index Scan using "+VectorIndexName(8)) {
		t.Fatalf("8-d kNN does not use its index:\n%s", plan)
	}
	hits, err := NearestChunks(ctx, pool, NearestChunksParams{UserID: "alice", Model: "test-8", Query: pgvector.NewVector(query), Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 20 {
		t.Fatalf("8-d search returned %d hits, want the 20 8-d chunks only", len(hits))
	}

	if _, err := EnsureVectorIndex(ctx, pool, 5000); err == nil {
		t.Fatal("EnsureVectorIndex(5000) should fail: HNSW supports at most 4000 dimensions")
	}
	if sql, _ := NearestChunksSQL(3072, true, nil); !strings.Contains(sql, "halfvec(3072)") {
		t.Fatalf("3072 dimensions should be searched as halfvec:\n%s", sql)
	}
}

// TestCompleteRunningJobsAvoidsFetchingIndex checks that EndBatchJobs
// finds the jobs it completes by their ids only. In a database never
// analyzed, as here, or whose statistics lag a busy minute,
// "state = 'running'" drew the planner to River's fetching index, whose
// running entries are every job run since the last vacuum.
func TestCompleteRunningJobsAvoidsFetchingIndex(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := dbtest.Pool(t)
	rows, err := pool.Query(ctx, "EXPLAIN "+CompleteRunningJobsSQL, []int64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	// The table is empty, so a sequential scan is the planner's right
	// choice here; the fetching index is never.
	if plan := strings.Join(lines, "\n"); strings.Contains(plan, "river_job_prioritized_fetching_index") {
		t.Fatalf("the completion reads River's fetching index:\n%s", plan)
	}
}
