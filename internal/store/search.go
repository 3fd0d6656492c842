package store

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// ChunkFilter narrows a search within one user's chunks. The zero value
// keeps all of them. Both lists of a search apply the same filter, rendered
// by one function (where), so that no filter ever reaches one list and not
// the other; every value is sent as a parameter, never as SQL text.
type ChunkFilter struct {
	// SourceIDs keeps the chunks of these sources; empty keeps all. Ids of
	// sources the user does not own select nothing.
	SourceIDs []uuid.UUID
	// PathPrefix keeps the chunks of documents whose URL (a page's URL, a
	// file's path relative to its root) starts with it; empty keeps all.
	PathPrefix string
	// Languages keeps the chunks whose language (ISO 639-1, "" for
	// undetermined) is one of these; empty keeps all.
	Languages []string
	// Metadata keeps the chunks of documents whose metadata, for every key,
	// holds a value containing the given one (jsonb @>): equal scalars, a
	// list holding the value or the given list, an object holding the
	// given keys. Each value is JSON. Empty keeps all.
	Metadata map[string]json.RawMessage
}

// where returns the SQL condition that keeps userID's chunks (table alias
// c) passing f, with its parameters appended to args and numbered after
// them. Only the parts of f that are set are rendered, so an unfiltered
// search sends the same SQL as before filters existed. The document
// conditions are one correlated EXISTS: the planner runs it as a semi-join
// probing documents by primary key for each candidate chunk, which keeps
// the chunks in the order of the index that found them.
func (f ChunkFilter) where(userID string, args []any) (string, []any) {
	param := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	var b strings.Builder
	b.WriteString("c.user_id = " + param(userID))
	if len(f.SourceIDs) > 0 {
		b.WriteString(" AND c.source_id = ANY(" + param(f.SourceIDs) + "::uuid[])")
	}
	if len(f.Languages) > 0 {
		b.WriteString(" AND c.language = ANY(" + param(f.Languages) + "::text[])")
	}
	if f.PathPrefix != "" || len(f.Metadata) > 0 {
		b.WriteString(" AND EXISTS (SELECT FROM documents d WHERE d.id = c.document_id")
		if f.PathPrefix != "" {
			b.WriteString(" AND starts_with(d.url, " + param(f.PathPrefix) + "::text)")
		}
		// Keys in order, so the same filter always sends the same SQL and
		// reuses its prepared statement.
		keys := make([]string, 0, len(f.Metadata))
		for k := range f.Metadata {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			b.WriteString(" AND d.metadata -> " + param(k) + "::text @> " + param(string(f.Metadata[k])) + "::jsonb")
		}
		b.WriteString(")")
	}
	return b.String(), args
}

// RankChunksTextParams selects the chunks that match a full-text query.
type RankChunksTextParams struct {
	// Query is the user's text, in websearch syntax.
	Query  string
	UserID string
	Filter ChunkFilter
	// MaxRows bounds the ranked list.
	MaxRows int
}

// RankedChunk is one hit of a full-text search.
type RankedChunk struct {
	ID uuid.UUID
	// Rank is ts_rank_cd of the chunk for the query: header words weigh
	// more than body words.
	Rank float64
}

// RankChunksText is the full-text half of hybrid search: ids and ranks
// only, best first (ties by id), scoped to the owner and filtered; the
// fused winners' texts are read afterwards with GetSearchHits. A query
// with no lexemes (only stop words or punctuation) matches nothing. The SQL
// is written here rather than in db/queries because the filter's
// conditions are rendered for the parts that are set.
func RankChunksText(ctx context.Context, db DBTX, arg RankChunksTextParams) ([]RankedChunk, error) {
	where, args := arg.Filter.where(arg.UserID, []any{arg.Query, arg.MaxRows})
	sql := `SELECT c.id, ts_rank_cd(c.tsv, q)::float8 AS rank
		FROM chunks c, websearch_to_tsquery('english', $1) q
		WHERE c.tsv @@ q AND ` + where + `
		ORDER BY rank DESC, c.id
		LIMIT $2`
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("error searching text: %w", err)
	}
	hits, err := pgx.CollectRows(rows, pgx.RowToStructByPos[RankedChunk])
	if err != nil {
		return nil, fmt.Errorf("error searching text: %w", err)
	}
	return hits, nil
}

// EmbeddingModelsParams samples the embedded chunks a search can reach.
type EmbeddingModelsParams struct {
	UserID string
	Filter ChunkFilter
	// MaxRows bounds the sample: the embedded chunks in scope read, in no
	// particular order.
	MaxRows int
}

// EmbeddingModel is a model and dimension of the vectors in a sample.
type EmbeddingModel struct {
	Model string
	Dims  int
	// Chunks is how many chunks of the sample it embedded.
	Chunks int
}

// EmbeddingModels returns the models and dimensions of up to MaxRows
// embedded chunks of the user that pass the filter, most chunks first.
// Search calls it only when its vector list came back short, to tell
// whether chunks in scope are out of its sight; the sample's bound keeps
// that look cheap however large the scope.
func EmbeddingModels(ctx context.Context, db DBTX, arg EmbeddingModelsParams) ([]EmbeddingModel, error) {
	where, args := arg.Filter.where(arg.UserID, []any{arg.MaxRows})
	sql := `SELECT model, dims, count(*)::integer AS chunks FROM (
			SELECT c.embedding_model AS model, vector_dims(c.embedding) AS dims
			FROM chunks c
			WHERE c.embedding IS NOT NULL AND ` + where + `
			LIMIT $1) sample
		GROUP BY model, dims
		ORDER BY chunks DESC, model, dims`
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("error sampling embedding models: %w", err)
	}
	models, err := pgx.CollectRows(rows, pgx.RowToStructByPos[EmbeddingModel])
	if err != nil {
		return nil, fmt.Errorf("error sampling embedding models: %w", err)
	}
	return models, nil
}
