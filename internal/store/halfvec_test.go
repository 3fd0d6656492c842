package store_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pgvector/pgvector-go"

	"github.com/kollektiv/kollektiv/internal/dbtest"
	"github.com/kollektiv/kollektiv/internal/store"
)

// indexOID returns the oid of the index name, 0 when there is none.
func indexOID(ctx context.Context, t *testing.T, pool *pgxpool.Pool, name string) uint32 {
	t.Helper()
	var oid uint32
	err := pool.QueryRow(ctx, "SELECT oid FROM pg_class WHERE relname = $1 AND relkind = 'i'", name).Scan(&oid)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		t.Fatal(err)
	}
	return oid
}

// TestVectorIndexUpgrade starts from the indexes of the version before
// halfvec: the shared index of 384 dimensions cast to vector, and one of
// 2,048 dimensions that already cast to halfvec. EnsureVectorIndex must
// build the first again as halfvec and drop the old one, rename the second
// without building it, and the vector query must then scan the new ones.
func TestVectorIndexUpgrade(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := dbtest.Pool(t)
	seedChunks(ctx, t, pool, "alice", 384, 30)
	seedChunks(ctx, t, pool, "alice", 2048, 10)
	for _, stmt := range []string{
		"DROP INDEX " + store.VectorIndexName(384),
		"CREATE INDEX " + store.LegacyVectorIndexName(384) + " ON chunks USING hnsw ((embedding::vector(384)) vector_cosine_ops) WHERE " + store.SharedIndexPredicate(384),
		"CREATE INDEX " + store.LegacyVectorIndexName(2048) + " ON chunks USING hnsw ((embedding::halfvec(2048)) halfvec_cosine_ops) WHERE " + store.SharedIndexPredicate(2048),
	} {
		if _, err := pool.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	legacy2048 := indexOID(ctx, t, pool, store.LegacyVectorIndexName(2048))

	for _, dims := range []int{384, 2048} {
		if done, err := store.EnsureVectorIndex(ctx, pool, dims); err != nil || !done {
			t.Fatalf("EnsureVectorIndex(%d): done %v, err %v; want the index replaced", dims, done, err)
		}
		if done, err := store.EnsureVectorIndex(ctx, pool, dims); err != nil || done {
			t.Fatalf("second EnsureVectorIndex(%d): done %v, err %v; want nothing to do", dims, done, err)
		}
		if oid := indexOID(ctx, t, pool, store.LegacyVectorIndexName(dims)); oid != 0 {
			t.Errorf("the old index %s is still there", store.LegacyVectorIndexName(dims))
		}
		var def string
		if err := pool.QueryRow(ctx, "SELECT pg_get_indexdef($1::regclass)", store.VectorIndexName(dims)).Scan(&def); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(def, "halfvec_cosine_ops") {
			t.Errorf("%s does not cast to halfvec: %s", store.VectorIndexName(dims), def)
		}

		query := make([]float32, dims)
		query[3] = 1
		sql, err := store.NearestChunksSQL(dims, true, nil)
		if err != nil {
			t.Fatal(err)
		}
		plan := explain(ctx, t, pool, sql, pgvector.NewVector(query), model(dims), 5, "alice")
		if !strings.Contains(plan, "Index Scan using "+store.VectorIndexName(dims)) {
			t.Errorf("the %d-dimension kNN query does not scan the new index:\n%s", dims, plan)
		}
	}
	if oid := indexOID(ctx, t, pool, store.VectorIndexName(2048)); oid != legacy2048 {
		t.Errorf("the 2,048-dimension index was built again (oid %d, was %d), want it renamed", oid, legacy2048)
	}
}

// TestSourceVectorIndexUpgrade starts from a bulk-indexed source whose own
// index casts to vector, as built before halfvec, and is registered so.
// Search must scan it with its cast until the source's halfvec index is
// registered, then scan the new one, and DropSourceVectorIndexes must drop
// the old one then and not before.
func TestSourceVectorIndexUpgrade(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := dbtest.Pool(t)
	bulk := seedChunks(ctx, t, pool, "alice", 384, 30)
	legacy := store.LegacySourceVectorIndexName(bulk, 384)
	for _, stmt := range []string{
		"UPDATE chunks SET bulk_index = true WHERE source_id = '" + bulk.String() + "'",
		"UPDATE sources SET bulk_index = true WHERE id = '" + bulk.String() + "'",
		"CREATE INDEX " + legacy + " ON chunks USING hnsw ((embedding::vector(384)) vector_cosine_ops) WHERE source_id = '" +
			bulk.String() + "'::uuid AND bulk_index AND vector_dims(embedding) = 384",
		// As migration 000017 leaves the registration of an index built before.
		"INSERT INTO source_vector_indexes (source_id, dims, user_id, index_name) VALUES ('" + bulk.String() + "', 384, 'alice', '" + legacy + "')",
	} {
		if _, err := pool.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}

	query := make([]float32, 384)
	query[3] = 1
	// scans returns the indexes the vector query of the registered indexes
	// scans, and checks that it finds the source's nearest chunk.
	scans := func() string {
		t.Helper()
		registered, err := store.New(pool).ListSourceVectorIndexes(ctx, store.ListSourceVectorIndexesParams{UserID: "alice", Dims: 384})
		if err != nil {
			t.Fatal(err)
		}
		sql, err := store.NearestChunksSQL(384, false, registered)
		if err != nil {
			t.Fatal(err)
		}
		hits, err := store.NearestChunks(ctx, pool, store.NearestChunksParams{UserID: "alice", Model: model(384), Query: pgvector.NewVector(query), Limit: 3})
		if err != nil {
			t.Fatal(err)
		}
		if len(hits) != 3 || hits[0].SourceID != bulk || math.Abs(hits[0].Distance-0.00496) > 1e-3 {
			t.Fatalf("unexpected hits %+v", hits)
		}
		return explain(ctx, t, pool, sql, pgvector.NewVector(query), model(384), 5, "alice")
	}
	if plan := scans(); !strings.Contains(plan, "Index Scan using "+legacy) {
		t.Fatalf("the kNN query does not scan the source's old index:\n%s", plan)
	}

	// The next ingest of the source builds its halfvec index; until it is
	// registered, the old one serves and stays.
	if built, err := store.EnsureSourceVectorIndex(ctx, pool, bulk, 384, store.IndexBuild{}); err != nil || !built {
		t.Fatalf("store.EnsureSourceVectorIndex: built %v, err %v", built, err)
	}
	if dropped, err := store.DropSourceVectorIndexes(ctx, pool, time.Second); err != nil || dropped != 0 {
		t.Fatalf("store.DropSourceVectorIndexes before registration: dropped %d, err %v; want none", dropped, err)
	}
	if plan := scans(); !strings.Contains(plan, "Index Scan using "+legacy) {
		t.Fatalf("before registration, the kNN query does not scan the source's old index:\n%s", plan)
	}
	name := store.SourceVectorIndexName(bulk, 384)
	if err := store.New(pool).RegisterSourceVectorIndex(ctx, store.RegisterSourceVectorIndexParams{SourceID: bulk, Dims: 384, UserID: "alice", IndexName: name}); err != nil {
		t.Fatal(err)
	}
	if plan := scans(); !strings.Contains(plan, "Index Scan using "+name) {
		t.Fatalf("after registration, the kNN query does not scan the source's new index:\n%s", plan)
	}
	if dropped, err := store.DropSourceVectorIndexes(ctx, pool, time.Second); err != nil || dropped != 1 {
		t.Fatalf("store.DropSourceVectorIndexes after registration: dropped %d, err %v; want the old index", dropped, err)
	}
	if indexOID(ctx, t, pool, legacy) != 0 || indexOID(ctx, t, pool, name) == 0 {
		t.Fatalf("after the drop, want %s gone and %s kept", legacy, name)
	}
}

// TestHalfvecRecall compares the vector query over the halfvec index with
// the exact nearest neighbours, computed in float64 here, on dense random
// vectors whose distances are close together: halfvec's rounding may swap
// neighbours at the edge of the list, no more.
func TestHalfvecRecall(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := dbtest.Pool(t)
	const dims, n, k = 384, 400, 10
	rng := rand.New(rand.NewPCG(3, 4)) //nolint:gosec // reproducible vectors
	random := func() []float32 {
		v := make([]float32, dims)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	source := seedChunks(ctx, t, pool, "alice", dims, 0)
	var document uuid.UUID
	if err := pool.QueryRow(ctx, "SELECT id FROM documents WHERE source_id = $1", source).Scan(&document); err != nil {
		t.Fatal(err)
	}
	ids := make([]uuid.UUID, n)
	vectors := make([][]float32, n)
	rows := make([][]any, n)
	for i := range n {
		ids[i], vectors[i] = uuid.New(), random()
		rows[i] = []any{ids[i], document, source, "alice", int32(i), []string{}, "text", int32(1), pgvector.NewVector(vectors[i]), model(dims)}
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"chunks"},
		[]string{"id", "document_id", "source_id", "user_id", "ordinal", "headers", "text", "token_count", "embedding", "embedding_model"},
		pgx.CopyFromRows(rows)); err != nil {
		t.Fatal(err)
	}

	cosine := func(a, b []float32) float64 {
		var dot, na, nb float64
		for i := range a {
			dot += float64(a[i]) * float64(b[i])
			na += float64(a[i]) * float64(a[i])
			nb += float64(b[i]) * float64(b[i])
		}
		return 1 - dot/math.Sqrt(na*nb)
	}
	sql, err := store.NearestChunksSQL(dims, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if plan := explain(ctx, t, pool, sql, pgvector.NewVector(random()), model(dims), k, "alice"); !strings.Contains(plan, "Index Scan using "+store.VectorIndexName(dims)) {
		t.Fatalf("the kNN query does not scan the halfvec index:\n%s", plan)
	}
	found, queries := 0, 20
	for range queries {
		query := random()
		order := make([]int, n)
		for i := range order {
			order[i] = i
		}
		slices.SortFunc(order, func(a, b int) int { return cmp.Compare(cosine(query, vectors[a]), cosine(query, vectors[b])) })
		exact := map[uuid.UUID]bool{}
		for _, i := range order[:k] {
			exact[ids[i]] = true
		}
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// A table this small is cheaper to sort than to search by index.
		if _, err := tx.Exec(ctx, "SET LOCAL hnsw.ef_search = 200; SET LOCAL enable_seqscan = off"); err != nil {
			t.Fatal(err)
		}
		hits, err := store.NearestChunks(ctx, tx, store.NearestChunksParams{UserID: "alice", Model: model(dims), Query: pgvector.NewVector(query), Limit: k})
		_ = tx.Rollback(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hits {
			if exact[h.ID] {
				found++
			}
		}
	}
	recall := float64(found) / float64(queries*k)
	t.Logf("recall@%d %.3f", k, recall)
	if recall < 0.95 {
		t.Fatalf("recall@%d of the halfvec index %.3f, want at least 0.95", k, recall)
	}
}

// model is the embedding model seedChunks gives vectors of dims dimensions.
func model(dims int) string {
	return fmt.Sprintf("test-%d", dims)
}
