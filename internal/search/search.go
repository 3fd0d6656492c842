// Package search answers a user's question with the chunks that best match
// it: a vector kNN over the HNSW index and a full-text search over the GIN
// index, each scoped to the user, fused by reciprocal rank.
package search

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pgvector/pgvector-go"

	"github.com/kollektiv/kollektiv/internal/derr"
	"github.com/kollektiv/kollektiv/internal/embed"
	"github.com/kollektiv/kollektiv/internal/store"
)

// Limits of a Query.
const (
	// DefaultK is the number of hits returned when Query.K is zero.
	DefaultK = 10
	// MaxK is the largest Query.K accepted.
	MaxK = 100
	// MaxTextLength is the longest Query.Text accepted, in characters. A
	// question longer than this is a document, and a remote embedder would
	// be paid to embed it on every request.
	MaxTextLength = 1000
)

// ErrInvalidQuery is wrapped by every error that Search returns for a query
// it refuses to run; the message after it names the field. It is of kind
// derr.Invalid: the API answers 400 with the message.
var ErrInvalidQuery = derr.New(derr.Invalid, "invalid search query")

// Query is one search by one user.
type Query struct {
	// UserID is the owner whose chunks are searched; nobody else's ever are.
	// Required.
	UserID string
	// Text is the question, in words. The full-text half finds chunks
	// holding any of the words and honours websearch syntax: a "quoted
	// phrase" must be in the chunk, a -word or -"phrase" must not, "or" is
	// what every word already is. Harmless to the vector half. Required, at most MaxTextLength characters.
	Text string
	// K is the number of hits to return. Default DefaultK, at most MaxK.
	K int
	// SourceID restricts the search to one source when valid.
	SourceID uuid.NullUUID
}

// Hit is one chunk found by Search. The HTTP API serialises it as is.
type Hit struct {
	ChunkID    uuid.UUID `json:"chunk_id"`
	DocumentID uuid.UUID `json:"document_id"`
	SourceID   uuid.UUID `json:"source_id"`
	// Headers is the path of markdown headers above the chunk, outermost
	// first; empty, never null.
	Headers       []string `json:"headers"`
	Text          string   `json:"text"`
	DocumentTitle string   `json:"document_title"`
	DocumentURL   string   `json:"document_url"`
	// Score is the reciprocal rank fusion score: the sum over both lists
	// of 1/(60 + rank). Hits are ordered by it, highest first.
	Score float64 `json:"score"`
	// VectorRank is the 1-based rank in the vector list, 0 when absent.
	VectorRank int `json:"vector_rank"`
	// TextRank is the 1-based rank in the full-text list, 0 when absent.
	TextRank int `json:"text_rank"`
	// VectorDistance is the cosine distance to the query (0 is the same
	// direction, 2 the opposite), null when not in the vector list.
	VectorDistance *float64 `json:"vector_distance"`
	// TextScore is ts_rank of the chunk for the query's words (heading
	// words weigh 2.5 times body words), null when not in the full-text
	// list.
	TextScore *float64 `json:"text_score"`
}

// Tuning of the two candidate lists.
const (
	// Each list fetches candidateFactor*K candidates, at least
	// minCandidates, so that a chunk ranked modestly by both lists can
	// still win the fusion.
	candidateFactor = 4
	minCandidates   = 40
	// hnsw.ef_search is twice the candidates, at least efSearchMin and at
	// most efSearchMax (pgvector's maximum). On 100,000 chunks of the
	// corpus (BenchmarkSearch100k), the 40 candidates of K=10 find 52% of
	// the exact 40 nearest at pgvector's default of 40, 70% at 100, 80% at
	// 200, 88% at 400, for a vector query about 1.4 times slower at each
	// doubling; 200 balances the two.
	efSearchMin = 200
	efSearchMax = 1000
)

// Searcher runs hybrid searches. It is safe for concurrent use.
type Searcher struct {
	pool       *pgxpool.Pool
	embedder   embed.Embedder
	statistics *textStatistics
}

// New returns a Searcher over the chunks in pool that embeds queries with
// embedder. Only chunks embedded by the same model (embedder.Model()) are
// compared by vector; others are still found by full text.
func New(pool *pgxpool.Pool, embedder embed.Embedder) *Searcher {
	return &Searcher{pool: pool, embedder: embedder, statistics: &textStatistics{}}
}

// Search returns up to q.K chunks of q.UserID for q.Text, best first. An
// invalid query gives an error wrapping ErrInvalidQuery. A text without any
// searchable word (only stop words or punctuation) is searched by vector
// alone.
func (s *Searcher) Search(ctx context.Context, q Query) ([]Hit, error) {
	q, err := q.normalize()
	if err != nil {
		return nil, err
	}

	// Embed before taking a connection: a remote embedder may be slow.
	vectors, err := s.embedder.Embed(ctx, []string{q.Text})
	if err != nil {
		return nil, fmt.Errorf("error embedding query: %w", err)
	}
	if len(vectors) != 1 || len(vectors[0]) != s.embedder.Dimensions() {
		return nil, fmt.Errorf("error embedding query: embedder %s returned %d vectors, the first of %d dimensions, want 1 of %d",
			s.embedder.Model(), len(vectors), len(firstOrNil(vectors)), s.embedder.Dimensions())
	}
	candidates := candidatesFor(q.K)

	// One read-only snapshot for the three queries, so a chunk that one
	// list found is still there when its text is read. The settings apply
	// to this transaction only: iterative scan keeps the HNSW index
	// scanning until enough rows pass the user and source filters.
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{BeginQuery: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; " + searchSettings(q.K)})
	if err != nil {
		return nil, fmt.Errorf("error beginning search transaction: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()

	nearest, err := store.NearestChunks(ctx, tx, store.NearestChunksParams{
		UserID:   q.UserID,
		Model:    s.embedder.Model(),
		Query:    pgvector.NewVector(vectors[0]),
		SourceID: q.SourceID,
		Limit:    candidates,
	})
	if err != nil {
		return nil, err
	}
	queries := store.New(tx)
	matches, err := s.rankText(ctx, tx, q, candidates)
	if err != nil {
		return nil, err
	}

	hits := fuse(nearest, matches, q.K)
	if len(hits) == 0 {
		return hits, nil
	}
	ids := make([]uuid.UUID, len(hits))
	for i := range hits {
		ids[i] = hits[i].ChunkID
	}
	rows, err := queries.GetSearchHits(ctx, store.GetSearchHitsParams{Ids: ids, UserID: q.UserID})
	if err != nil {
		return nil, fmt.Errorf("error reading search hits: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("error committing search transaction: %w", err)
	}
	return fill(hits, rows), nil
}

// rankText returns the full-text list: up to candidates chunks of the
// user's that hold the query's words, best first, none when the query has
// no searchable word (only stop words or punctuation).
func (s *Searcher) rankText(ctx context.Context, tx pgx.Tx, q Query, candidates int) ([]store.RankChunksTextRow, error) {
	parsed := parseTextQuery(q.Text)
	if len(parsed.words)+len(parsed.phrases) == 0 {
		return nil, nil
	}
	queries := store.New(tx)
	lexemes, err := queries.TextQueryLexemes(ctx, store.TextQueryLexemesParams{
		Words:  append(slices.Clone(parsed.words), parsed.phrases...),
		UserID: q.UserID,
	})
	if err != nil {
		return nil, fmt.Errorf("error reading the lexemes of the query: %w", err)
	}
	stats, err := s.statistics.get(ctx, tx)
	if err != nil {
		return nil, err
	}
	parsed, shares := parsed.searchable(lexemes, stats)
	if len(parsed.words)+len(parsed.phrases) == 0 {
		return nil, nil
	}
	matches, err := queries.RankChunksText(ctx, store.RankChunksTextParams{
		UserID:     q.UserID,
		SourceID:   q.SourceID,
		MatchWords: required(parsed.words, shares, stats.Chunks),
		RankWords:  parsed.words,
		Phrases:    parsed.phrases,
		Excluded:   parsed.excluded,
		MaxScored:  maxScored,
		MaxRows:    int32(candidates),
	})
	if err != nil {
		return nil, fmt.Errorf("error searching text: %w", err)
	}
	return matches, nil
}

// candidatesFor returns how many candidates each list fetches for k hits.
func candidatesFor(k int) int {
	return max(k*candidateFactor, minCandidates)
}

// searchSettings returns the statements that set up a search transaction
// for k hits. The search sends them with BEGIN, in one round trip.
func searchSettings(k int) string {
	return fmt.Sprintf("SET LOCAL hnsw.iterative_scan = relaxed_order; SET LOCAL hnsw.ef_search = %d",
		min(max(2*candidatesFor(k), efSearchMin), efSearchMax))
}

// normalize checks q and fills its defaults.
func (q Query) normalize() (Query, error) {
	q.Text = strings.TrimSpace(q.Text)
	switch {
	case q.UserID == "":
		return q, fmt.Errorf("%w: user_id must not be empty", ErrInvalidQuery)
	case q.Text == "":
		return q, fmt.Errorf("%w: text must not be empty", ErrInvalidQuery)
	case !utf8.ValidString(q.Text) || strings.ContainsRune(q.Text, 0):
		// PostgreSQL stores neither invalid UTF-8 nor NUL in text.
		return q, fmt.Errorf("%w: text must be valid UTF-8 without NUL characters", ErrInvalidQuery)
	case utf8.RuneCountInString(q.Text) > MaxTextLength:
		return q, fmt.Errorf("%w: text must be at most %d characters, got %d", ErrInvalidQuery, MaxTextLength, utf8.RuneCountInString(q.Text))
	}
	if q.K == 0 {
		q.K = DefaultK
	}
	if q.K < 1 || q.K > MaxK {
		return q, fmt.Errorf("%w: k must be between 1 and %d, got %d", ErrInvalidQuery, MaxK, q.K)
	}
	return q, nil
}

// fill copies each chunk's text and document into hits, in the order of
// hits. A hit without a row (impossible within one snapshot, but never
// returned half-empty) is dropped.
func fill(hits []Hit, rows []store.GetSearchHitsRow) []Hit {
	byID := make(map[uuid.UUID]*store.GetSearchHitsRow, len(rows))
	for i := range rows {
		byID[rows[i].ID] = &rows[i]
	}
	filled := hits[:0]
	for _, h := range hits {
		row, ok := byID[h.ChunkID]
		if !ok {
			continue
		}
		h.DocumentID = row.DocumentID
		h.SourceID = row.SourceID
		h.Headers = row.Headers
		if h.Headers == nil {
			h.Headers = []string{}
		}
		h.Text = row.Text
		h.DocumentTitle = row.Title
		h.DocumentURL = row.URL
		filled = append(filled, h)
	}
	return filled
}

func firstOrNil(vectors [][]float32) []float32 {
	if len(vectors) == 0 {
		return nil
	}
	return vectors[0]
}
