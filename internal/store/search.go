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

// RankChunksTextParams selects the chunks that match a full-text query,
// its words already chosen by internal/search.
type RankChunksTextParams struct {
	UserID string
	Filter ChunkFilter
	// MatchWords are the words of which a chunk must hold at least one
	// (the query's rarer words).
	MatchWords []string
	// RankWords are the words the rank counts.
	RankWords []string
	// Phrases must all be in a chunk, each as a phrase.
	Phrases []string
	// Excluded words and phrases must not be in a chunk.
	Excluded []string
	// MaxScored bounds the matches ranked, which bounds the time of a
	// query of common words.
	MaxScored int
	// MaxRows bounds the ranked list.
	MaxRows int
}

// RankedChunk is one hit of a full-text search.
type RankedChunk struct {
	ID uuid.UUID
	// Rank is ts_rank of the chunk for the query: heading words weigh more
	// than body words.
	Rank float64
}

// RankChunksText is the full-text half of hybrid search: ids and ranks
// only, best first, scoped to the owner and filtered; the
// fused winners' texts are read afterwards with GetSearchHits.
//
// Every word, phrase and excluded word becomes a query in each text search
// configuration the user's chunks use (chunk_languages, English always),
// OR'ed, so a German chunk meets the German stem and an English one the
// English; the words are turned into lexemes by PostgreSQL, never pasted
// into a query string. A chunk matches when it holds any of MatchWords,
// every phrase and none of Excluded; it ranks by ts_rank over RankWords and
// the phrases, headings (weight A, 1.0) above body (B, 0.4), divided by
// 1 + log(length). Only the first MaxScored matches are ranked. Equal ranks
// are common; they are ordered by document URL and ordinal, the same in
// every database holding the same documents (ids are not: they derive from
// the random source id), and WITH TIES keeps every chunk tied with the last
// one so that this order, not the scan, decides which of them stay. The SQL is
// written here rather than in db/queries because the filter's conditions
// are rendered for the parts that are set.
func RankChunksText(ctx context.Context, db DBTX, arg RankChunksTextParams) ([]RankedChunk, error) {
	where, args := arg.Filter.where(arg.UserID, []any{arg.MatchWords, arg.RankWords, arg.Phrases, arg.Excluded, arg.MaxScored, arg.MaxRows})
	// $7 is the user id: the first parameter where renders.
	sql := `WITH configs AS (
			SELECT kollektiv_ts_config(cl.language) AS config FROM chunk_languages cl WHERE cl.user_id = $7
			UNION SELECT kollektiv_ts_config('')
		), parts AS (
			SELECT
				(SELECT kollektiv_tsquery_or(phraseto_tsquery(c.config, w)) FROM configs c, unnest($1::text[]) w) AS any_word,
				(SELECT kollektiv_tsquery_or(phraseto_tsquery(c.config, w)) FROM configs c, unnest($2::text[]) w) AS ranked_words,
				(SELECT kollektiv_tsquery_and(p.q) FROM (
					SELECT kollektiv_tsquery_or(phraseto_tsquery(c.config, p.phrase)) AS q
					FROM configs c, unnest($3::text[]) WITH ORDINALITY AS p(phrase, ordinal)
					GROUP BY p.ordinal) p) AS every_phrase,
				(SELECT kollektiv_tsquery_or(phraseto_tsquery(c.config, x)) FROM configs c, unnest($4::text[]) x) AS excluded
		), positive AS (
			SELECT CASE WHEN any_word IS NULL THEN every_phrase WHEN every_phrase IS NULL THEN any_word
			            ELSE any_word && every_phrase END AS required,
			       CASE WHEN ranked_words IS NULL THEN every_phrase WHEN every_phrase IS NULL THEN ranked_words
			            ELSE ranked_words || every_phrase END AS ranked,
			       excluded
			FROM parts
		), q AS (
			SELECT CASE WHEN excluded IS NULL THEN required ELSE required && !! excluded END AS matched, ranked
			FROM positive
		)
		, scored AS (
			SELECT c.id, c.document_id, c.ordinal,
			       ts_rank('{0.1, 0.2, 0.4, 1.0}', c.tsv, (SELECT ranked FROM q), 1)::float8 AS rank
			FROM chunks c
			WHERE c.tsv @@ (SELECT matched FROM q) AND ` + where + `
			LIMIT $5
		), best AS (
			SELECT * FROM scored
			ORDER BY rank DESC
			FETCH FIRST ($6::int) ROWS WITH TIES
		)
		SELECT b.id, b.rank
		FROM best b JOIN documents d ON d.id = b.document_id
		ORDER BY b.rank DESC, d.url, b.ordinal, b.id
		LIMIT $6`
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

// HeadingMatchesParams selects the chunks whose own heading is a query.
type HeadingMatchesParams struct {
	// Query is the user's text as typed.
	Query  string
	UserID string
	Filter ChunkFilter
	// MaxRows bounds the list.
	MaxRows int
	// MaxMatches is the most chunks a heading may title: a heading that
	// more chunks share (a "Usage" in every page) names none of them, and
	// the list is empty.
	MaxMatches int
}

// HeadingMatches returns the chunks of the user that pass the filter and
// whose own section heading (the last of the breadcrumb, or one of the other
// headings inside the chunk) is the query, compared by
// kollektiv_heading_key (case, punctuation and markup aside): a question
// that is a section's title asks for that section. They come in document
// URL and ordinal order, the same in every database holding the same
// documents. The matches are found by the chunks_heading_keys_idx index,
// at most MaxMatches+1 of them, so a common heading costs no more than a
// rare one: sorting every chunk a common heading titles by its document's
// URL would take longer than the rest of the search.
func HeadingMatches(ctx context.Context, db DBTX, arg HeadingMatchesParams) ([]uuid.UUID, error) {
	where, args := arg.Filter.where(arg.UserID, []any{arg.Query, arg.MaxRows, arg.MaxMatches})
	sql := `WITH matches AS MATERIALIZED (
			SELECT c.id, c.document_id, c.ordinal
			FROM chunks c
			WHERE kollektiv_heading_keys(c.headers, c.headings) @> ARRAY[kollektiv_heading_key($1::text)]
			  AND ` + where + `
			LIMIT $3::int + 1
		)
		SELECT m.id
		FROM matches m JOIN documents d ON d.id = m.document_id
		WHERE (SELECT count(*) FROM matches) <= $3::int
		ORDER BY d.url, m.ordinal, m.id
		LIMIT $2`
	rows, err := db.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("error looking up headings: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, fmt.Errorf("error looking up headings: %w", err)
	}
	return ids, nil
}
