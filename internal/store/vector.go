package store

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pgvector/pgvector-go"
)

// The chunks.embedding column has no fixed dimension. HNSW needs one, so each
// dimension in use gets a partial index over a cast of the column, and every
// vector query repeats that cast and the index's predicate. The cast is to
// halfvec (pgvector indexes it up to 4,000 dimensions): half the size of
// vector, so that the index of 100,000 384-dimension chunks (109 MB rather
// than 190 MB) fits PostgreSQL's default 128 MB of shared buffers. halfvec
// keeps about three significant digits of each component: the neighbours
// found are nearly the same (internal/search raises hnsw.ef_search to make
// up the difference).
//
// Indexes built before casting to halfvec cast to vector up to 2,000
// dimensions and have other names (legacyVectorIndexName,
// legacySourceVectorIndexName): a shared one is replaced at start-up by
// EnsureVectorIndex, a source's own one when the source is next ingested.
const (
	maxVectorIndexDims  = 2000
	maxHalfvecIndexDims = 4000
)

// vectorIndexLockKey serialises index creation between processes starting
// at once ("kol-hnsw").
const vectorIndexLockKey int64 = 0x6b6f6c2d686e7377

// VectorIndexName is the name of the shared HNSW index for dims dimensions.
func VectorIndexName(dims int) string {
	return fmt.Sprintf("chunks_halfvec_%d_idx", dims)
}

// legacyVectorIndexName is the name the shared index for dims dimensions
// had before indexes cast to halfvec.
func legacyVectorIndexName(dims int) string {
	return fmt.Sprintf("chunks_embedding_%d_idx", dims)
}

// vectorCast returns the SQL type that embeddings of dims dimensions are
// cast to, in the index and in queries, and its cosine operator class.
func vectorCast(dims int) (sqlType, opclass string, err error) {
	switch {
	case dims <= 0:
		return "", "", fmt.Errorf("embedding dimensions must be positive, got %d", dims)
	case dims <= maxHalfvecIndexDims:
		return fmt.Sprintf("halfvec(%d)", dims), "halfvec_cosine_ops", nil
	default:
		return "", "", fmt.Errorf("embedding dimensions %d exceed the %d that an HNSW index supports", dims, maxHalfvecIndexDims)
	}
}

// legacyVectorCast is the SQL type that an index built before indexes cast
// to halfvec casts embeddings of dims dimensions to.
func legacyVectorCast(dims int) string {
	if dims <= maxVectorIndexDims {
		return fmt.Sprintf("vector(%d)", dims)
	}
	return fmt.Sprintf("halfvec(%d)", dims)
}

// EnsureVectorIndex creates the shared HNSW index for embeddings of dims
// dimensions when it is missing (or left invalid by an interrupted build),
// without blocking writes, then drops the index of that dimension built
// before indexes cast to halfvec. Above 2,000 dimensions that one already
// cast to halfvec and is renamed instead of built again. It reports
// whether it built or renamed one. Safe to call from several processes at
// once; run it at start-up for the configured embedder. The shared index
// leaves out the rows of bulk-indexed sources.
func EnsureVectorIndex(ctx context.Context, pool *pgxpool.Pool, dims int) (bool, error) {
	sqlType, opclass, err := vectorCast(dims)
	if err != nil {
		return false, err
	}
	name := VectorIndexName(dims)
	replaced := indexReplacement{name: legacyVectorIndexName(dims), rename: legacyVectorCast(dims) == sqlType}
	return ensureIndex(ctx, pool, name, IndexBuild{}, fmt.Sprintf(
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS %s ON chunks USING hnsw ((embedding::%s) %s) WHERE %s",
		pgx.Identifier{name}.Sanitize(), sqlType, opclass, sharedIndexPredicate(dims)), &replaced)
}

// SourceVectorIndexName is the name of the bulk-built HNSW index of one
// source's embeddings of dims dimensions.
func SourceVectorIndexName(sourceID uuid.UUID, dims int) string {
	return fmt.Sprintf("chunks_src_%s_h%d_idx", hex.EncodeToString(sourceID[:]), dims)
}

// legacySourceVectorIndexName is the name a source's own index had before
// indexes cast to halfvec.
func legacySourceVectorIndexName(sourceID uuid.UUID, dims int) string {
	return fmt.Sprintf("chunks_src_%s_%d_idx", hex.EncodeToString(sourceID[:]), dims)
}

// sharedIndexPredicate is the WHERE clause of the shared index of dims
// dimensions; a query repeats it to use the index.
func sharedIndexPredicate(dims int) string {
	return fmt.Sprintf("vector_dims(embedding) = %d AND NOT bulk_index", dims)
}

// sourceIndexPredicate is the WHERE clause of a source's bulk-built index.
func sourceIndexPredicate(sourceID uuid.UUID, dims int) string {
	return fmt.Sprintf("source_id = '%s'::uuid AND bulk_index AND vector_dims(embedding) = %d", sourceID, dims)
}

// IndexBuild tunes the session that builds an index.
type IndexBuild struct {
	// Memory is maintenance_work_mem for the build, such as "1GB"; empty
	// keeps the server's. An HNSW graph that outgrows it is built far
	// more slowly.
	Memory string
}

// EnsureSourceVectorIndex builds the HNSW index over one bulk-indexed
// source's embeddings of dims dimensions, in bulk, with the server's
// parallel maintenance workers, without blocking writes to chunks. It does
// nothing when the index exists and is valid; an index left invalid by an
// interrupted build is dropped and built again. It reports whether it built
// one. The source's index built before indexes cast to halfvec, if any,
// stays and is searched until RegisterSourceVectorIndex records this one;
// DropSourceVectorIndexes drops it then.
func EnsureSourceVectorIndex(ctx context.Context, pool *pgxpool.Pool, sourceID uuid.UUID, dims int, build IndexBuild) (bool, error) {
	sqlType, opclass, err := vectorCast(dims)
	if err != nil {
		return false, err
	}
	name := SourceVectorIndexName(sourceID, dims)
	return ensureIndex(ctx, pool, name, build, fmt.Sprintf(
		"CREATE INDEX CONCURRENTLY IF NOT EXISTS %s ON chunks USING hnsw ((embedding::%s) %s) WHERE %s",
		pgx.Identifier{name}.Sanitize(), sqlType, opclass, sourceIndexPredicate(sourceID, dims)), nil)
}

// indexReplacement is an older index that a new one replaces.
type indexReplacement struct {
	name string
	// rename is set when the older index is the new one under another name.
	rename bool
}

// ensureIndex runs create (a CREATE INDEX CONCURRENTLY IF NOT EXISTS of
// the index name) unless a valid index of that name exists, dropping an
// invalid one first. When replaced is set, a valid index of that name is
// renamed instead of building (replaced.rename), or dropped once the new
// one is valid. Builds take turns between processes under an advisory
// lock, which is polled rather than waited for: a session blocked in
// pg_advisory_lock holds a snapshot, and the concurrent build it waits for
// would wait for that snapshot in turn.
func ensureIndex(ctx context.Context, pool *pgxpool.Pool, name string, build IndexBuild, create string, replaced *indexReplacement) (bool, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return false, fmt.Errorf("error acquiring connection: %w", err)
	}
	defer conn.Release()
	if err := pollAdvisoryLock(ctx, conn, vectorIndexLockKey); err != nil {
		return false, fmt.Errorf("error taking vector index lock: %w", err)
	}
	defer func() {
		_, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", vectorIndexLockKey)
	}()

	valid, err := indexValid(ctx, conn, name)
	if err != nil {
		return false, err
	}
	if valid == nil && replaced != nil && replaced.rename {
		old, err := indexValid(ctx, conn, replaced.name)
		if err != nil {
			return false, err
		}
		if old != nil && *old {
			if _, err := conn.Exec(ctx, "ALTER INDEX "+pgx.Identifier{replaced.name}.Sanitize()+" RENAME TO "+pgx.Identifier{name}.Sanitize()); err != nil {
				return false, fmt.Errorf("error renaming index %s to %s: %w", replaced.name, name, err)
			}
			return true, nil
		}
	}
	built := false
	switch {
	case valid != nil && *valid:
	case valid != nil:
		if _, err := conn.Exec(ctx, "DROP INDEX CONCURRENTLY IF EXISTS "+pgx.Identifier{name}.Sanitize()); err != nil {
			return false, fmt.Errorf("error dropping invalid index %s: %w", name, err)
		}
		fallthrough
	default:
		if err := createIndex(ctx, conn, name, build, create); err != nil {
			return false, err
		}
		built = true
	}
	if replaced != nil {
		if _, err := conn.Exec(ctx, "DROP INDEX CONCURRENTLY IF EXISTS "+pgx.Identifier{replaced.name}.Sanitize()); err != nil {
			return built, fmt.Errorf("error dropping index %s, which %s replaces: %w", replaced.name, name, err)
		}
	}
	return built, nil
}

// indexValid returns whether the index name of the current schema is
// valid, nil when there is none.
func indexValid(ctx context.Context, conn *pgxpool.Conn, name string) (*bool, error) {
	var valid bool
	err := conn.QueryRow(ctx, `
		SELECT i.indisvalid FROM pg_index i
		JOIN pg_class c ON c.oid = i.indexrelid
		WHERE c.relname = $1 AND c.relnamespace = current_schema()::regnamespace`, name).Scan(&valid)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("error looking for index %s: %w", name, err)
	}
	return &valid, nil
}

// createIndex runs create, the build of index name, with build's settings.
func createIndex(ctx context.Context, conn *pgxpool.Conn, name string, build IndexBuild, create string) error {
	if build.Memory != "" {
		if _, err := conn.Exec(ctx, "SELECT set_config('maintenance_work_mem', $1, false)", build.Memory); err != nil {
			return fmt.Errorf("error setting maintenance_work_mem to %q: %w", build.Memory, err)
		}
		defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), "RESET maintenance_work_mem") }()
	}
	if _, err := conn.Exec(ctx, create); err != nil {
		return fmt.Errorf("error creating index %s: %w", name, err)
	}
	return nil
}

// pollAdvisoryLock takes a session advisory lock, trying again every 100ms
// until it is free or ctx ends.
func pollAdvisoryLock(ctx context.Context, conn *pgxpool.Conn, key int64) error {
	for {
		var ok bool
		if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", key).Scan(&ok); err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// DropSourceVectorIndexes drops the bulk-built indexes whose source no
// longer exists, and those replaced by the source's index registered since
// (RegisterSourceVectorIndex), without blocking reads or writes of chunks.
// Run it after deleting sources, after registering a source's index and
// at start-up (a process may have died between a deletion and its drop).
// A positive lockTimeout gives up on an index when another build keeps the
// table's lock longer than that. It returns how many it dropped.
func DropSourceVectorIndexes(ctx context.Context, pool *pgxpool.Pool, lockTimeout time.Duration) (int, error) {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("error acquiring connection: %w", err)
	}
	defer conn.Release()
	// The names are SourceVectorIndexName's and
	// legacySourceVectorIndexName's: the source id's 32 hex digits after
	// "chunks_src_", then the dimensions, after an "h" in the new ones. An
	// old index is replaced when a new one is registered for its source
	// and dimensions (not while that one is being built).
	rows, err := conn.Query(ctx, `
		SELECT c.relname FROM pg_index i
		JOIN pg_class c ON c.oid = i.indexrelid
		WHERE i.indrelid = 'chunks'::regclass
		  AND c.relname ~ '^chunks_src_[0-9a-f]{32}_h?[0-9]+_idx$'
		  AND (NOT EXISTS (SELECT 1 FROM sources s WHERE s.id = substring(c.relname FROM 12 FOR 32)::uuid)
		       OR c.relname ~ '_[0-9]+_idx$' AND EXISTS (
		           SELECT 1 FROM source_vector_indexes v
		           WHERE v.source_id = substring(c.relname FROM 12 FOR 32)::uuid
		             AND v.dims = substring(c.relname FROM '_([0-9]+)_idx$')::int
		             AND v.halfvec AND v.index_name <> c.relname))`)
	if err != nil {
		return 0, fmt.Errorf("error listing the indexes of deleted sources: %w", err)
	}
	orphans, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, fmt.Errorf("error listing the indexes of deleted sources: %w", err)
	}
	if len(orphans) == 0 {
		return 0, nil
	}
	if _, err := conn.Exec(ctx, "SELECT set_config('lock_timeout', $1, false)", fmt.Sprintf("%dms", lockTimeout.Milliseconds())); err != nil {
		return 0, fmt.Errorf("error setting lock_timeout: %w", err)
	}
	defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), "RESET lock_timeout") }()
	for i, name := range orphans {
		if _, err := conn.Exec(ctx, "DROP INDEX CONCURRENTLY IF EXISTS "+pgx.Identifier{name}.Sanitize()); err != nil {
			return i, fmt.Errorf("error dropping index %s: %w", name, err)
		}
	}
	return len(orphans), nil
}

// NearestChunksParams selects the chunks closest to a query vector.
type NearestChunksParams struct {
	UserID string
	// Model is the embedding model of Query; only its vectors are compared.
	Model string
	Query pgvector.Vector
	// Filter narrows the chunks searched, as in the full-text list.
	Filter ChunkFilter
	Limit  int
}

// NearestChunk is one hit of a vector search.
type NearestChunk struct {
	ID         uuid.UUID
	DocumentID uuid.UUID
	SourceID   uuid.UUID
	// Distance is the cosine distance to the query, 0 for the same direction.
	Distance float64
}

// NearestChunks runs a kNN search scoped to one user and filtered, nearest
// first (ties by document URL, then ordinal, so that two databases holding
// the same documents agree): over the shared HNSW index of the query's
// dimension, and over the bulk-built index of each of the user's
// bulk-indexed sources (among Filter.SourceIDs when set) that is ready,
// each scan returning its Limit nearest, merged. The SQL is written here
// rather than in db/queries because the casts and the predicates of the
// partial indexes must be literals for the planner to use them.
//
// Run inside a transaction with SET LOCAL hnsw.iterative_scan =
// relaxed_order when a filter may be selective: an index then keeps
// scanning until Limit rows pass the filter instead of returning what its
// first ef_search candidates left. Relaxed order may return rows slightly
// out of order; the outer ORDER BY restores it.
func NearestChunks(ctx context.Context, db DBTX, arg NearestChunksParams) ([]NearestChunk, error) {
	dims := len(arg.Query.Slice())
	bulk, err := New(db).ListSourceVectorIndexes(ctx, ListSourceVectorIndexesParams{
		UserID: arg.UserID, Dims: int32(dims), SourceIds: arg.Filter.SourceIDs,
	})
	if err != nil {
		return nil, fmt.Errorf("error listing bulk-built indexes: %w", err)
	}
	// A source is either in the shared index or in its own: when every
	// source searched has its own, the shared index has nothing of them.
	shared := len(arg.Filter.SourceIDs) == 0 || len(bulk) < len(distinct(arg.Filter.SourceIDs))
	where, args := arg.Filter.where(arg.UserID, []any{arg.Query, arg.Model, arg.Limit})
	sql, err := nearestChunksSQL(dims, shared, bulk, where)
	if err != nil {
		return nil, err
	}
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("error searching vectors: %w", err)
	}
	hits, err := pgx.CollectRows(rows, pgx.RowToStructByPos[NearestChunk])
	if err != nil {
		return nil, fmt.Errorf("error searching vectors: %w", err)
	}
	return hits, nil
}

// distinct returns ids without repeats.
func distinct(ids []uuid.UUID) []uuid.UUID {
	seen := make(map[uuid.UUID]bool, len(ids))
	out := ids[:0:0]
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

// nearestChunksSQL scans the shared index (when shared) and the index of
// each source in bulk, each scan materialised so that its LIMIT applies to
// its index order, then sorts the few rows they kept by exact distance.
// Each scan casts as its index does: a source's index built before indexes
// cast to halfvec casts to vector. Its parameters are the query vector
// ($1), the model ($2), the limit ($3) and then those of where, a
// ChunkFilter's condition.
func nearestChunksSQL(dims int, shared bool, bulk []ListSourceVectorIndexesRow, where string) (string, error) {
	sqlType, _, err := vectorCast(dims)
	if err != nil {
		return "", err
	}
	scan := func(sqlType, predicate string) string {
		return fmt.Sprintf(`(
			SELECT c.id, c.document_id, c.source_id, c.ordinal, (c.embedding::%[1]s <=> $1::vector::%[1]s)::float8 AS distance
			FROM chunks c
			WHERE %[2]s
			  AND c.embedding_model = $2
			  AND %[3]s
			ORDER BY c.embedding::%[1]s <=> $1::vector::%[1]s
			LIMIT $3)`, sqlType, predicate, where)
	}
	var scans []string
	if shared {
		scans = append(scans, scan(sqlType, sharedIndexPredicate(dims)))
	}
	for _, index := range bulk {
		cast := sqlType
		if !index.Halfvec {
			cast = legacyVectorCast(dims)
		}
		scans = append(scans, scan(cast, sourceIndexPredicate(index.SourceID, dims)))
	}
	// Equal distances (the same text in two documents, or two texts with
	// the same words) are ordered by the document's URL and the chunk's
	// ordinal, which are the same in every database that ingested the same
	// documents, unlike ids, which derive from the random source id.
	return fmt.Sprintf(`
		WITH nearest AS MATERIALIZED (%s)
		SELECT n.id, n.document_id, n.source_id, n.distance
		FROM nearest n JOIN documents d ON d.id = n.document_id
		ORDER BY n.distance, d.url, n.ordinal, n.id
		LIMIT $3`, strings.Join(scans, "\n\t\tUNION ALL ")), nil
}
