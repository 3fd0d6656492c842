package store_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/pgvector/pgvector-go"

	"github.com/kollektiv/kollektiv/internal/dbtest"
	"github.com/kollektiv/kollektiv/internal/store"
)

// TestSourceVectorIndex builds a source's own index over rows marked
// bulk_index and checks that the shared index leaves them out, that the
// kNN query scans both indexes and finds rows of both, that an invalid
// index left by an interrupted build is built again, and that the index of
// a deleted source is dropped.
func TestSourceVectorIndex(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := dbtest.Pool(t)
	shared := seedChunks(ctx, t, pool, "alice", 384, 40)
	bulk := seedChunks(ctx, t, pool, "alice", 384, 40)
	if _, err := pool.Exec(ctx, "UPDATE chunks SET bulk_index = true WHERE source_id = $1", bulk); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "UPDATE sources SET bulk_index = true WHERE id = $1", bulk); err != nil {
		t.Fatal(err)
	}

	// An interrupted concurrent build leaves an invalid index behind.
	name := store.SourceVectorIndexName(bulk, 384)
	if _, err := pool.Exec(ctx, "CREATE INDEX "+name+" ON chunks (id) WHERE false"); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "UPDATE pg_index SET indisvalid = false WHERE indexrelid = $1::regclass", name); err != nil {
		t.Fatal(err)
	}
	built, err := store.EnsureSourceVectorIndex(ctx, pool, bulk, 384, store.IndexBuild{Memory: "96MB"})
	if err != nil || !built {
		t.Fatalf("store.EnsureSourceVectorIndex: built %v, err %v; want the invalid index replaced", built, err)
	}
	if built, err := store.EnsureSourceVectorIndex(ctx, pool, bulk, 384, store.IndexBuild{}); err != nil || built {
		t.Fatalf("second store.EnsureSourceVectorIndex: built %v, err %v; want nothing to do", built, err)
	}
	var def string
	if err := pool.QueryRow(ctx, "SELECT pg_get_indexdef($1::regclass)", name).Scan(&def); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(def, "USING hnsw") || !strings.Contains(def, bulk.String()) {
		t.Fatalf("index %s is not the source's HNSW index: %s", name, def)
	}
	var memory string
	if err := pool.QueryRow(ctx, "SHOW maintenance_work_mem").Scan(&memory); err != nil {
		t.Fatal(err)
	}
	if memory == "96MB" {
		t.Fatal("the build's maintenance_work_mem leaked into a pooled connection")
	}

	// The shared index has no bulk row; the source's index has them all.
	var inShared int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM chunks WHERE `+store.SharedIndexPredicate(384)+` AND source_id = $1`, bulk).Scan(&inShared); err != nil {
		t.Fatal(err)
	}
	if inShared != 0 {
		t.Fatalf("%d bulk rows match the shared index's predicate", inShared)
	}

	query := make([]float32, 384)
	query[3] = 1
	sql, err := store.NearestChunksSQL(384, true, []store.ListSourceVectorIndexesRow{{SourceID: bulk, Halfvec: true}})
	if err != nil {
		t.Fatal(err)
	}
	plan := explain(ctx, t, pool, sql, pgvector.NewVector(query), "test-384", 5, "alice")
	for _, index := range []string{store.VectorIndexName(384), name} {
		if !strings.Contains(plan, "Index Scan using "+index) {
			t.Errorf("the kNN query does not scan %s:\n%s", index, plan)
		}
	}

	search := func(sources ...uuid.UUID) map[uuid.UUID]int {
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback(ctx) }()
		hits, err := store.NearestChunks(ctx, tx, store.NearestChunksParams{UserID: "alice", Model: "test-384", Query: pgvector.NewVector(query), Filter: store.ChunkFilter{SourceIDs: sources}, Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		bySource := map[uuid.UUID]int{}
		for i, h := range hits {
			bySource[h.SourceID]++
			if i > 0 && h.Distance < hits[i-1].Distance {
				t.Fatalf("hits out of order: %+v", hits)
			}
		}
		return bySource
	}
	// Not registered yet: the bulk source is not searched by vector.
	if got := search(); got[bulk] != 0 || got[shared] == 0 {
		t.Fatalf("before registration: hits by source %v, want the shared source's only", got)
	}
	if err := store.New(pool).RegisterSourceVectorIndex(ctx, store.RegisterSourceVectorIndexParams{SourceID: bulk, Dims: 384, UserID: "alice", IndexName: name}); err != nil {
		t.Fatal(err)
	}
	// Both sources' rows 3 and 2 point along axis 3: each source gives its
	// two nearest and more.
	if got := search(); got[bulk] == 0 || got[shared] == 0 || got[bulk]+got[shared] != 10 {
		t.Fatalf("hits by source %v, want 10 from both", got)
	}
	if got := search(bulk); got[bulk] != 10 || len(got) != 1 {
		t.Fatalf("within the bulk source: hits by source %v", got)
	}
	if got := search(shared); got[shared] != 10 || len(got) != 1 {
		t.Fatalf("within the shared source: hits by source %v", got)
	}
	// Both sources named: the shared index and the bulk one are scanned.
	if got := search(bulk, shared, bulk); got[bulk] == 0 || got[shared] == 0 || got[bulk]+got[shared] != 10 {
		t.Fatalf("within both sources: hits by source %v, want 10 from both", got)
	}

	// Deleting the source leaves an orphan index, which is dropped.
	if dropped, err := store.DropSourceVectorIndexes(ctx, pool, time.Second); err != nil || dropped != 0 {
		t.Fatalf("store.DropSourceVectorIndexes with the source alive: dropped %d, err %v", dropped, err)
	}
	if _, err := store.New(pool).DeleteSource(ctx, store.DeleteSourceParams{ID: bulk, UserID: "alice"}); err != nil {
		t.Fatal(err)
	}
	if dropped, err := store.DropSourceVectorIndexes(ctx, pool, time.Second); err != nil || dropped != 1 {
		t.Fatalf("store.DropSourceVectorIndexes: dropped %d, err %v; want the orphan dropped", dropped, err)
	}
}
