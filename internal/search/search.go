// Package search answers a user's question with the chunks that best match
// it: a vector kNN over the HNSW index and a full-text search over the GIN
// index, each scoped to the user, fused by reciprocal rank.
package search

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pgvector/pgvector-go"

	"github.com/kollektiv/kollektiv/internal/content"
	"github.com/kollektiv/kollektiv/internal/derr"
	"github.com/kollektiv/kollektiv/internal/embed"
	"github.com/kollektiv/kollektiv/internal/store"
)

// Limits and defaults of a Query.
const (
	// DefaultK is the number of hits returned when Query.K is zero.
	DefaultK = 10
	// MaxK is the largest Query.K accepted.
	MaxK = 100
	// MaxTextLength is the longest Query.Text accepted, in characters. A
	// question longer than this is a document, and a remote embedder would
	// be paid to embed it on every request.
	MaxTextLength = 1000
	// DefaultRRFK is the rank constant of reciprocal rank fusion when
	// Query.RRFK is zero: a hit's score is the sum over the lists of
	// weight/(RRFK + rank). 60 is the value of the original paper (Cormack
	// et al., 2009), which works across collections without tuning; a
	// smaller constant gives the top ranks of each list more say.
	DefaultRRFK = 60
	// MaxRRFK is the largest Query.RRFK accepted.
	MaxRRFK = 1000
	// MaxWeight is the largest list weight accepted.
	MaxWeight = 100
	// MaxSourceIDs is the most source ids one query may name.
	MaxSourceIDs = 100
	// MaxLanguages is the most languages one query may name.
	MaxLanguages = 20
	// MaxPathPrefixBytes bounds Query.PathPrefix, as the API bounds a
	// document's url.
	MaxPathPrefixBytes = 1024
	// MaxMetadataKeys and MaxMetadataBytes bound Query.Metadata.
	MaxMetadataKeys  = 20
	MaxMetadataBytes = 4096
	// UndeterminedLanguage in Query.Languages selects the chunks whose
	// language could not be told (stored as '').
	UndeterminedLanguage = "und"
)

// ErrInvalidQuery is wrapped by every error that Search returns for a query
// it refuses to run; the message after it names the field. It is of kind
// derr.Invalid: the API answers 400 with the message.
var ErrInvalidQuery = derr.New(derr.Invalid, "invalid search query")

// Mode picks the lists a search runs.
type Mode string

// The modes.
const (
	// ModeHybrid runs the vector list and the full-text list and fuses
	// them. The default.
	ModeHybrid Mode = "hybrid"
	// ModeVector runs the vector list alone.
	ModeVector Mode = "vector"
	// ModeText runs the full-text list alone; the query is not embedded.
	ModeText Mode = "text"
)

// Query is one search by one user.
type Query struct {
	// UserID is the owner whose chunks are searched; nobody else's ever are,
	// whatever the filters. Required.
	UserID string
	// Text is the question, in words. The full-text half finds chunks
	// holding any of the words and honours websearch syntax: a "quoted
	// phrase" must be in the chunk, a -word or -"phrase" must not, "or" is
	// what every word already is. Harmless to the vector half. Required, at most MaxTextLength characters.
	Text string
	// K is the number of hits to return. Default DefaultK, at most MaxK.
	K int
	// Mode picks the lists to run. Default ModeHybrid.
	Mode Mode
	// RRFK is the rank constant of the fusion. Default DefaultRRFK, from 1
	// to MaxRRFK.
	RRFK int
	// VectorWeight and TextWeight multiply each list's share of a hit's
	// score. Default 1 each; above 0 and at most MaxWeight. To leave a list
	// out, choose a Mode.
	VectorWeight, TextWeight float64

	// Filters, applied to both lists. Each narrows the search; none can
	// widen it beyond UserID's chunks.

	// SourceIDs keeps the chunks of these sources (at most MaxSourceIDs);
	// empty keeps all the user's sources.
	SourceIDs []uuid.UUID
	// PathPrefix keeps the chunks of documents whose URL (or path, for
	// files) starts with it; empty keeps all.
	PathPrefix string
	// Languages keeps the chunks in these languages (ISO 639-1 codes such
	// as "en", UndeterminedLanguage for those whose language could not be
	// told; at most MaxLanguages); empty keeps all.
	Languages []string
	// Metadata keeps the chunks of documents whose metadata holds, for
	// every key of this JSON object, a value containing the given one:
	// {"tags":"go"} or {"tags":["go"]} match a document tagged go among
	// others, {"draft":false} one whose draft is false. Empty or null keeps
	// all; at most MaxMetadataKeys keys and MaxMetadataBytes bytes.
	Metadata json.RawMessage
}

// Hit is one chunk found by Search. The HTTP API serialises it as is.
type Hit struct {
	ChunkID    uuid.UUID `json:"chunk_id"`
	DocumentID uuid.UUID `json:"document_id"`
	SourceID   uuid.UUID `json:"source_id"`
	// Headers is the path of markdown headers above the chunk, outermost
	// first (the breadcrumb); empty, never null.
	Headers []string `json:"headers"`
	// Headings are the other headings inside the chunk, in order, when
	// small sections were merged into it; empty, never null.
	Headings []string `json:"headings"`
	// Anchor is the URL fragment of the chunk's first section, "" above
	// the document's first heading.
	Anchor string `json:"anchor"`
	// URL links to the chunk: the document's URL, with #Anchor when there
	// is one.
	URL string `json:"url"`
	// Language is the chunk's ISO 639-1 code, "" when undetermined.
	Language      string `json:"language"`
	Text          string `json:"text"`
	DocumentTitle string `json:"document_title"`
	DocumentURL   string `json:"document_url"`
	// Score is the weighted reciprocal rank fusion score,
	// VectorContribution + TextContribution + HeadingContribution. Hits are
	// ordered by it, highest first.
	Score float64 `json:"score"`
	// VectorContribution is the vector list's share of Score,
	// VectorWeight/(RRFK + VectorRank), 0 when absent from it.
	VectorContribution float64 `json:"vector_contribution"`
	// TextContribution is the full-text list's share of Score,
	// TextWeight/(RRFK + TextRank), 0 when absent from it.
	TextContribution float64 `json:"text_contribution"`
	// HeadingContribution is the heading list's share of Score,
	// TextWeight/(RRFK + HeadingRank), 0 when absent from it.
	HeadingContribution float64 `json:"heading_contribution"`
	// VectorRank is the 1-based rank in the vector list, 0 when absent.
	VectorRank int `json:"vector_rank"`
	// TextRank is the 1-based rank in the full-text list, 0 when absent.
	TextRank int `json:"text_rank"`
	// HeadingRank is the 1-based rank in the heading list, the chunks whose
	// own section heading is the query (case and punctuation aside), 0 when
	// absent. That list runs with the full-text list and shares its weight.
	HeadingRank int `json:"heading_rank"`
	// VectorDistance is the cosine distance to the query (0 is the same
	// direction, 2 the opposite), null when not in the vector list.
	VectorDistance *float64 `json:"vector_distance"`
	// TextScore is ts_rank of the chunk for the query's words (heading
	// words weigh 2.5 times body words), null when not in the full-text
	// list.
	TextScore *float64 `json:"text_score"`
}

// Result is the answer to a Query.
type Result struct {
	// Query is the query as run: defaults filled, lists deduplicated.
	Query Query
	// Hits are the chunks found, best first; empty, never nil.
	Hits []Hit
	// Warnings say what the user should know about this search (chunks
	// the vector list cannot see, for one); empty, never nil.
	Warnings []Warning
}

// Response is a search's answer as the API (GET /v1/search) and
// `kollektiv search --json` show it: the settings it ran with, the hits and
// the warnings.
type Response struct {
	Query        string    `json:"query"`
	K            int       `json:"k"`
	Mode         Mode      `json:"mode"`
	RRFK         int       `json:"rrf_k"`
	VectorWeight float64   `json:"vector_weight"`
	TextWeight   float64   `json:"text_weight"`
	Hits         []Hit     `json:"hits"`
	Warnings     []Warning `json:"warnings"`
}

// Response returns the result as the API answers it.
func (r Result) Response() Response {
	q := r.Query
	return Response{
		Query: q.Text, K: q.K, Mode: q.Mode, RRFK: q.RRFK, VectorWeight: q.VectorWeight, TextWeight: q.TextWeight,
		Hits: r.Hits, Warnings: r.Warnings,
	}
}

// Warning is something a search could not do as asked, which it answers
// anyway.
type Warning struct {
	// Code is stable for programs: one of the Warning* constants.
	Code string `json:"code"`
	// Message is for people, and says what to do.
	Message string `json:"message"`
}

// WarningEmbeddingMismatch: chunks in the search's scope are embedded by
// another model, or with another dimension, than the searcher's. The
// vector list cannot compare them, so they are found by full text only.
const WarningEmbeddingMismatch = "embedding_mismatch"

// Tuning of the two candidate lists.
const (
	// Each list fetches candidateFactor*K candidates, at least
	// minCandidates, so that a chunk ranked modestly by both lists can
	// still win the fusion.
	candidateFactor = 4
	minCandidates   = 40
	// hnsw.ef_search is twice the candidates, at least efSearchMin and at
	// most efSearchMax (pgvector's maximum). On 100,000 chunks of the
	// corpus (BenchmarkSearch100k), the 40 candidates of K=10 found 52% of
	// the exact 40 nearest at pgvector's default of 40, 70% at 100, 80% at
	// 200, 88% at 400 over a vector(384) index, for a vector query about
	// 1.4 times slower at each doubling. The halfvec index (internal/store)
	// finds a little less at the same setting (100 queries of the bench:
	// 75.3% against 76.9%, ties counted) and 78.6% at 240, still faster
	// than the vector index at 200.
	efSearchMin = 240
	efSearchMax = 1000
	// maxHeadingMatches is the most sections a heading may title and still
	// be looked up by the heading list: a heading shared by more ("Usage",
	// "Examples" in every page) names none of them in particular, and the
	// other lists decide.
	maxHeadingMatches = 100
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

// mismatchRows bounds the chunks read to tell why a vector list came back
// short.
const mismatchRows = 1000

// Search returns up to q.K chunks of q.UserID for q.Text that pass q's
// filters, best first, with the query as run and any warnings. An invalid
// query gives an error wrapping ErrInvalidQuery. A text without any
// searchable word (only stop words or punctuation) is searched by vector
// alone.
func (s *Searcher) Search(ctx context.Context, q Query) (Result, error) {
	q, filter, err := q.normalize()
	if err != nil {
		return Result{}, err
	}
	result := Result{Query: q, Hits: []Hit{}, Warnings: []Warning{}}

	// Embed before taking a connection: a remote embedder may be slow.
	var vector pgvector.Vector
	if q.Mode != ModeText {
		vectors, err := s.embedder.Embed(ctx, []string{q.Text})
		if err != nil {
			return Result{}, fmt.Errorf("error embedding query: %w", err)
		}
		if len(vectors) != 1 || len(vectors[0]) != s.embedder.Dimensions() {
			return Result{}, fmt.Errorf("error embedding query: embedder %s returned %d vectors, the first of %d dimensions, want 1 of %d",
				s.embedder.Model(), len(vectors), len(firstOrNil(vectors)), s.embedder.Dimensions())
		}
		vector = pgvector.NewVector(vectors[0])
	}
	candidates := candidatesFor(q.K)

	// One read-only snapshot for the queries, so a chunk that one list
	// found is still there when its text is read. The settings apply to
	// this transaction only: iterative scan keeps the HNSW index scanning
	// until enough rows pass the user's filters.
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{BeginQuery: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; " + searchSettings(q.K)})
	if err != nil {
		return Result{}, fmt.Errorf("error beginning search transaction: %w", err)
	}
	defer func() { _ = tx.Rollback(ctx) }()

	var (
		nearest []store.NearestChunk
		warning *Warning
		matches []store.RankedChunk
		headed  []uuid.UUID
	)
	vectorList := func(ctx context.Context, tx pgx.Tx) error {
		var err error
		nearest, err = store.NearestChunks(ctx, tx, store.NearestChunksParams{
			UserID: q.UserID, Model: s.embedder.Model(), Query: vector, Filter: filter, Limit: candidates,
		})
		if err != nil {
			return err
		}
		// A short list is the only sign that chunks in scope may be out of
		// the vector list's sight; a full one needs no second look.
		if len(nearest) < candidates {
			warning, err = s.mismatch(ctx, tx, q, filter)
		}
		return err
	}
	textList := func(ctx context.Context, tx pgx.Tx) error {
		var err error
		matches, err = s.rankText(ctx, tx, q, filter, candidates)
		return err
	}
	headingList := func(ctx context.Context, tx pgx.Tx) error {
		var err error
		headed, err = store.HeadingMatches(ctx, tx, store.HeadingMatchesParams{
			Query: q.Text, UserID: q.UserID, Filter: filter, MaxRows: q.K, MaxMatches: maxHeadingMatches,
		})
		return err
	}
	switch q.Mode {
	case ModeVector:
		err = vectorList(ctx, tx)
	case ModeText:
		err = inTurn(textList, headingList)(ctx, tx)
	default:
		// The heading lookup is quick and the text ranking the slower
		// half: the lookup follows the vector list.
		err = s.atOnce(ctx, tx, inTurn(vectorList, headingList), textList)
	}
	if err != nil {
		return Result{}, err
	}
	if warning != nil {
		result.Warnings = append(result.Warnings, *warning)
	}

	hits := fuse(nearest, matches, headed, q)
	if len(hits) == 0 {
		return result, nil
	}
	ids := make([]uuid.UUID, len(hits))
	for i := range hits {
		ids[i] = hits[i].ChunkID
	}
	rows, err := store.New(tx).GetSearchHits(ctx, store.GetSearchHitsParams{Ids: ids, UserID: q.UserID})
	if err != nil {
		return Result{}, fmt.Errorf("error reading search hits: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return Result{}, fmt.Errorf("error committing search transaction: %w", err)
	}
	result.Hits = fill(hits, rows)
	return result, nil
}

// atOnce runs first and second, two halves of a hybrid search. They run
// at the same time when a second connection is at hand, second's
// transaction on the snapshot of tx (pg_export_snapshot), so both see the
// same chunks and the search takes as long as the slower half rather than
// both; otherwise one after the other on tx. The second connection is
// taken only if the pool gives one within secondConnWait: a search that
// waited for a connection while holding one could deadlock with others
// doing the same.
func (s *Searcher) atOnce(ctx context.Context, tx pgx.Tx, first, second func(context.Context, pgx.Tx) error) error {
	other, release, err := s.shareSnapshot(ctx, tx)
	if err != nil {
		return err
	}
	if other == nil {
		return inTurn(first, second)(ctx, tx)
	}
	defer release()
	var wg sync.WaitGroup
	var secondErr error
	wg.Go(func() { secondErr = second(ctx, other) })
	firstErr := first(ctx, tx)
	wg.Wait()
	return errors.Join(firstErr, secondErr)
}

// inTurn runs lists one after the other on one transaction, up to the
// first error.
func inTurn(lists ...func(context.Context, pgx.Tx) error) func(context.Context, pgx.Tx) error {
	return func(ctx context.Context, tx pgx.Tx) error {
		for _, list := range lists {
			if err := list(ctx, tx); err != nil {
				return err
			}
		}
		return nil
	}
}

// secondConnWait is how long a hybrid search waits for a second
// connection before it runs its lists one after the other on its first.
const secondConnWait = 2 * time.Millisecond

// shareSnapshot returns a read-only transaction on another connection that
// sees tx's snapshot, and the function that ends it and returns its
// connection; nil and no error when no connection is free. It runs the
// full-text ranking only, so it takes none of tx's HNSW settings.
func (s *Searcher) shareSnapshot(ctx context.Context, tx pgx.Tx) (pgx.Tx, func(), error) {
	acquireCtx, cancel := context.WithTimeout(ctx, secondConnWait)
	conn, err := s.pool.Acquire(acquireCtx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil, nil, fmt.Errorf("error acquiring a second search connection: %w", ctx.Err())
		}
		return nil, nil, nil
	}
	var snapshot string
	if err := tx.QueryRow(ctx, "SELECT pg_export_snapshot()").Scan(&snapshot); err != nil {
		conn.Release()
		return nil, nil, fmt.Errorf("error exporting the search snapshot: %w", err)
	}
	second, err := conn.BeginTx(ctx, pgx.TxOptions{BeginQuery: "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT " +
		quoteLiteral(snapshot)})
	if err != nil {
		conn.Release()
		return nil, nil, fmt.Errorf("error beginning the second search transaction: %w", err)
	}
	return second, func() {
		_ = second.Rollback(context.WithoutCancel(ctx))
		conn.Release()
	}, nil
}

// quoteLiteral quotes s as an SQL string literal.
func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// mismatch returns a warning when chunks in q's scope are embedded by
// another model or dimension than the searcher's, nil when none are. It
// reads a sample of mismatchRows embedded chunks in scope: the vector list
// was short, so fewer than that many are of the searcher's model, and any
// others are in the sample.
func (s *Searcher) mismatch(ctx context.Context, tx pgx.Tx, q Query, filter store.ChunkFilter) (*Warning, error) {
	models, err := store.EmbeddingModels(ctx, tx, store.EmbeddingModelsParams{UserID: q.UserID, Filter: filter, MaxRows: mismatchRows})
	if err != nil {
		return nil, err
	}
	sampled, others := 0, 0
	var described []string
	for _, m := range models {
		sampled += m.Chunks
		if m.Model == s.embedder.Model() && m.Dims == s.embedder.Dimensions() {
			continue
		}
		others += m.Chunks
		described = append(described, fmt.Sprintf("%s (%d dimensions)", m.Model, m.Dims))
	}
	if others == 0 {
		return nil, nil
	}
	count := strconv.Itoa(others)
	if sampled >= mismatchRows {
		count = "at least " + count
	}
	fate := "found by full text only"
	if q.Mode == ModeVector {
		fate = "not found at all in vector mode"
	}
	return &Warning{
		Code: WarningEmbeddingMismatch,
		Message: fmt.Sprintf("%s chunks in scope are embedded by %s, not by this search's embedder %s (%d dimensions): "+
			"the vector list cannot compare them, so they are %s. Search with the embedder they were ingested with, or ingest them again with this one",
			count, strings.Join(described, ", "), s.embedder.Model(), s.embedder.Dimensions(), fate),
	}, nil
}

// rankText returns the full-text list: up to candidates chunks of the
// user's that hold the query's words, best first, none when the query has
// no searchable word (only stop words or punctuation).
func (s *Searcher) rankText(ctx context.Context, tx pgx.Tx, q Query, filter store.ChunkFilter, candidates int) ([]store.RankedChunk, error) {
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
	return store.RankChunksText(ctx, tx, store.RankChunksTextParams{
		UserID:     q.UserID,
		Filter:     filter,
		MatchWords: required(parsed.words, shares, stats.Chunks),
		RankWords:  parsed.words,
		Phrases:    parsed.phrases,
		Excluded:   parsed.excluded,
		MaxScored:  maxScored,
		MaxRows:    candidates,
	})
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

// normalize checks q, fills its defaults and returns it with the filter
// its fields make.
func (q Query) normalize() (Query, store.ChunkFilter, error) {
	invalid := func(format string, args ...any) (Query, store.ChunkFilter, error) {
		return q, store.ChunkFilter{}, fmt.Errorf("%w: "+format, append([]any{ErrInvalidQuery}, args...)...)
	}
	q.Text = strings.TrimSpace(q.Text)
	switch {
	case q.UserID == "":
		return invalid("user_id must not be empty")
	case q.Text == "":
		return invalid("text must not be empty")
	case !validText(q.Text):
		// PostgreSQL stores neither invalid UTF-8 nor NUL in text.
		return invalid("text must be valid UTF-8 without NUL characters")
	case utf8.RuneCountInString(q.Text) > MaxTextLength:
		return invalid("text must be at most %d characters, got %d", MaxTextLength, utf8.RuneCountInString(q.Text))
	}
	q.K = cmp.Or(q.K, DefaultK)
	if q.K < 1 || q.K > MaxK {
		return invalid("k must be between 1 and %d, got %d", MaxK, q.K)
	}
	q.Mode = cmp.Or(q.Mode, ModeHybrid)
	if q.Mode != ModeHybrid && q.Mode != ModeVector && q.Mode != ModeText {
		return invalid("mode must be %s, %s or %s, got %q", ModeHybrid, ModeVector, ModeText, q.Mode)
	}
	q.RRFK = cmp.Or(q.RRFK, DefaultRRFK)
	if q.RRFK < 1 || q.RRFK > MaxRRFK {
		return invalid("rrf_k must be between 1 and %d, got %d", MaxRRFK, q.RRFK)
	}
	for _, w := range []struct {
		name  string
		value *float64
	}{{"vector_weight", &q.VectorWeight}, {"text_weight", &q.TextWeight}} {
		*w.value = cmp.Or(*w.value, 1)
		if !(*w.value > 0 && *w.value <= MaxWeight) { // also refuses NaN
			return invalid("%s must be above 0 and at most %d, got %v (choose a mode to leave a list out)", w.name, MaxWeight, *w.value)
		}
	}

	var filter store.ChunkFilter
	q.SourceIDs = dedupe(q.SourceIDs)
	if len(q.SourceIDs) > MaxSourceIDs {
		return invalid("source_ids must name at most %d sources, got %d", MaxSourceIDs, len(q.SourceIDs))
	}
	filter.SourceIDs = q.SourceIDs
	switch {
	case !validText(q.PathPrefix):
		return invalid("path_prefix must be valid UTF-8 without NUL characters")
	case len(q.PathPrefix) > MaxPathPrefixBytes:
		return invalid("path_prefix must be at most %d bytes, got %d", MaxPathPrefixBytes, len(q.PathPrefix))
	}
	filter.PathPrefix = q.PathPrefix
	languages := make([]string, 0, len(q.Languages))
	for _, l := range q.Languages {
		l = strings.ToLower(strings.TrimSpace(l))
		if !languageCode.MatchString(l) {
			return invalid("languages must be ISO 639-1 codes such as en, or %s for undetermined, got %q", UndeterminedLanguage, l)
		}
		languages = append(languages, l)
	}
	q.Languages = dedupe(languages)
	if len(q.Languages) > MaxLanguages {
		return invalid("languages must name at most %d languages, got %d", MaxLanguages, len(q.Languages))
	}
	for _, l := range q.Languages {
		if l == UndeterminedLanguage {
			l = ""
		}
		filter.Languages = append(filter.Languages, l)
	}
	metadata, err := parseMetadata(q.Metadata)
	if err != nil {
		return invalid("metadata %v", err)
	}
	filter.Metadata = metadata
	return q, filter, nil
}

// languageCode is a language as Query.Languages takes it: ISO 639-1, or
// three letters for undetermined and the few languages without a
// two-letter code.
var languageCode = regexp.MustCompile(`^[a-z]{2,3}$`)

// parseMetadata checks a metadata filter and returns its keys with their
// values as compact JSON; nil for an empty or null filter. The error
// completes "metadata ...".
func parseMetadata(raw json.RawMessage) (map[string]json.RawMessage, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if len(raw) > MaxMetadataBytes {
		return nil, fmt.Errorf("must be at most %d bytes of JSON, got %d", MaxMetadataBytes, len(raw))
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var object map[string]any
	if err := dec.Decode(&object); err != nil || raw[0] != '{' || dec.More() {
		return nil, fmt.Errorf("must be a JSON object such as {\"tags\":\"go\"}")
	}
	if len(object) > MaxMetadataKeys {
		return nil, fmt.Errorf("must have at most %d keys, got %d", MaxMetadataKeys, len(object))
	}
	filter := make(map[string]json.RawMessage, len(object))
	for k, v := range object {
		// jsonb refuses NUL (\u0000) in keys and strings.
		if k == "" || !validText(k) || !validJSONText(v) {
			return nil, fmt.Errorf("key %q: keys must be non-empty and keys and strings valid UTF-8 without NUL characters", k)
		}
		// Re-encoded from the decoded value: invalid UTF-8 in raw becomes
		// U+FFFD rather than an error from PostgreSQL.
		value, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("key %q: %w", k, err)
		}
		filter[k] = value
	}
	if len(filter) == 0 {
		return nil, nil
	}
	return filter, nil
}

// validText reports whether PostgreSQL can store s as text: valid UTF-8
// without NUL.
func validText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// validJSONText reports whether every key and string in v, a decoded JSON
// value, is valid text.
func validJSONText(v any) bool {
	switch v := v.(type) {
	case string:
		return validText(v)
	case []any:
		for _, e := range v {
			if !validJSONText(e) {
				return false
			}
		}
	case map[string]any:
		for k, e := range v {
			if !validText(k) || !validJSONText(e) {
				return false
			}
		}
	}
	return true
}

// dedupe returns s without repeats, in first-seen order; nil when empty.
func dedupe[T comparable](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	seen := make(map[T]bool, len(s))
	out := make([]T, 0, len(s))
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
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
		h.Headers = nonNil(row.Headers)
		h.Headings = nonNil(row.Headings)
		h.Anchor = row.Anchor
		h.URL = content.SectionURL(row.URL, row.Anchor)
		h.Language = row.Language
		h.Text = row.Text
		h.DocumentTitle = row.Title
		h.DocumentURL = row.URL
		filled = append(filled, h)
	}
	return filled
}

// nonNil returns s, or an empty slice for nil: the API shows [] rather
// than null.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func firstOrNil(vectors [][]float32) []float32 {
	if len(vectors) == 0 {
		return nil
	}
	return vectors[0]
}
