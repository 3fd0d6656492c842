package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pgvector/pgvector-go"
)

// The chunks.embedding column has no fixed dimension. HNSW needs one, so each
// dimension in use gets a partial index over a cast of the column, and every
// vector query repeats that cast and the index's predicate. pgvector indexes
// vector up to 2,000 dimensions and halfvec up to 4,000.
const (
	maxVectorIndexDims  = 2000
	maxHalfvecIndexDims = 4000
)

// vectorIndexLockKey serialises index creation between processes starting
// at once ("kol-hnsw").
const vectorIndexLockKey int64 = 0x6b6f6c2d686e7377

// VectorIndexName is the name of the HNSW index for dims dimensions.
func VectorIndexName(dims int) string {
	return fmt.Sprintf("chunks_embedding_%d_idx", dims)
}

// vectorCast returns the SQL type that embeddings of dims dimensions are
// cast to, in the index and in queries, and its cosine operator class.
func vectorCast(dims int) (sqlType, opclass string, err error) {
	switch {
	case dims <= 0:
		return "", "", fmt.Errorf("embedding dimensions must be positive, got %d", dims)
	case dims <= maxVectorIndexDims:
		return fmt.Sprintf("vector(%d)", dims), "vector_cosine_ops", nil
	case dims <= maxHalfvecIndexDims:
		return fmt.Sprintf("halfvec(%d)", dims), "halfvec_cosine_ops", nil
	default:
		return "", "", fmt.Errorf("embedding dimensions %d exceed the %d that an HNSW index supports", dims, maxHalfvecIndexDims)
	}
}

// EnsureVectorIndex creates the HNSW index for embeddings of dims dimensions
// when it is missing (or left invalid by an interrupted build), without
// blocking writes. It reports whether it built one. Safe to call from several
// processes at once; run it at start-up for the configured embedder.
func EnsureVectorIndex(ctx context.Context, pool *pgxpool.Pool, dims int) (bool, error) {
	sqlType, opclass, err := vectorCast(dims)
	if err != nil {
		return false, err
	}
	name := VectorIndexName(dims)

	conn, err := pool.Acquire(ctx)
	if err != nil {
		return false, fmt.Errorf("error acquiring connection: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", vectorIndexLockKey); err != nil {
		return false, fmt.Errorf("error taking vector index lock: %w", err)
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", vectorIndexLockKey)
	}()

	var valid *bool
	err = conn.QueryRow(ctx, `
		SELECT i.indisvalid FROM pg_index i
		JOIN pg_class c ON c.oid = i.indexrelid
		WHERE c.relname = $1 AND c.relnamespace = 'public'::regnamespace`, name).Scan(&valid)
	switch {
	case err == nil && *valid:
		return false, nil
	case err == nil:
		if _, err := conn.Exec(ctx, "DROP INDEX CONCURRENTLY IF EXISTS "+pgx.Identifier{name}.Sanitize()); err != nil {
			return false, fmt.Errorf("error dropping invalid index %s: %w", name, err)
		}
	case !errors.Is(err, pgx.ErrNoRows):
		return false, fmt.Errorf("error looking for index %s: %w", name, err)
	}

	stmt := fmt.Sprintf("CREATE INDEX CONCURRENTLY IF NOT EXISTS %s ON chunks USING hnsw ((embedding::%s) %s) WHERE vector_dims(embedding) = %d",
		pgx.Identifier{name}.Sanitize(), sqlType, opclass, dims)
	if _, err := conn.Exec(ctx, stmt); err != nil {
		return false, fmt.Errorf("error creating index %s: %w", name, err)
	}
	return true, nil
}

// NearestChunksParams selects the chunks closest to a query vector.
type NearestChunksParams struct {
	UserID string
	// Model is the embedding model of Query; only its vectors are compared.
	Model string
	Query pgvector.Vector
	// SourceID restricts the search to one source when valid.
	SourceID uuid.NullUUID
	Limit    int
}

// NearestChunk is one hit of a vector search.
type NearestChunk struct {
	ID         uuid.UUID
	DocumentID uuid.UUID
	SourceID   uuid.UUID
	// Distance is the cosine distance to the query, 0 for the same direction.
	Distance float64
}

// NearestChunks runs a kNN search over the HNSW index of the query's
// dimension, scoped to one user, nearest first (ties by id). The SQL is
// written here rather than in db/queries because the cast must name the
// dimension as a literal.
//
// Run inside a transaction with SET LOCAL hnsw.iterative_scan =
// relaxed_order when a filter may be selective: the index then keeps
// scanning until Limit rows pass the filter instead of returning what its
// first ef_search candidates left. Relaxed order may return rows slightly
// out of order; the outer ORDER BY restores it.
func NearestChunks(ctx context.Context, db DBTX, arg NearestChunksParams) ([]NearestChunk, error) {
	sql, err := nearestChunksSQL(len(arg.Query.Slice()))
	if err != nil {
		return nil, err
	}
	rows, err := db.Query(ctx, sql, arg.Query, arg.UserID, arg.Model, arg.SourceID, arg.Limit)
	if err != nil {
		return nil, fmt.Errorf("error searching vectors: %w", err)
	}
	hits, err := pgx.CollectRows(rows, pgx.RowToStructByPos[NearestChunk])
	if err != nil {
		return nil, fmt.Errorf("error searching vectors: %w", err)
	}
	return hits, nil
}

// nearestChunksSQL materialises the index scan so that its LIMIT applies to
// the index order, then sorts the few rows it kept by exact distance.
func nearestChunksSQL(dims int) (string, error) {
	sqlType, _, err := vectorCast(dims)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf(`
		WITH nearest AS MATERIALIZED (
			SELECT id, document_id, source_id, (embedding::%[1]s <=> $1::vector::%[1]s)::float8 AS distance
			FROM chunks
			WHERE vector_dims(embedding) = %[2]d
			  AND user_id = $2
			  AND embedding_model = $3
			  AND ($4::uuid IS NULL OR source_id = $4::uuid)
			ORDER BY embedding::%[1]s <=> $1::vector::%[1]s
			LIMIT $5
		)
		SELECT id, document_id, source_id, distance FROM nearest
		ORDER BY distance, id`, sqlType, dims), nil
}
