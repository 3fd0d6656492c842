package search

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pgvector/pgvector-go"
	pgxvec "github.com/pgvector/pgvector-go/pgx"
	"go.uber.org/goleak"

	"github.com/kollektiv/kollektiv/internal/dbtest"
	"github.com/kollektiv/kollektiv/internal/embed"
	"github.com/kollektiv/kollektiv/internal/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type testBundle struct {
	pool     *pgxpool.Pool
	embedder *embed.Hashing
	searcher *Searcher
}

// setup returns a Searcher over a new database. opts change the pool's
// configuration (a tracer, session settings) before it connects.
func setup(t testing.TB, opts ...func(*pgxpool.Config)) *testBundle {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	config, err := pgxpool.ParseConfig(dbtest.DatabaseURL(t))
	if err != nil {
		t.Fatal(err)
	}
	config.AfterConnect = pgxvec.RegisterTypes
	for _, opt := range opts {
		opt(config)
	}
	pool, err := pgxpool.NewWithConfig(ctx, config)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	embedder, err := embed.NewHashing(embed.HashingConfig{})
	if err != nil {
		t.Fatal(err)
	}
	return &testBundle{pool: pool, embedder: embedder, searcher: New(pool, embedder)}
}

// chunkSeed is one chunk to write. Its vector is the embedding of vectorOf
// (of text when empty); noVector leaves it unembedded.
type chunkSeed struct {
	headers  []string
	headings []string
	anchor   string
	text     string
	vectorOf string
	noVector bool
	language string
}

// docSeed is a document to write chunks into.
type docSeed struct {
	url, language string
	metadata      string // JSON; "{}" when empty
}

// guide is the document seedSource writes.
var guide = docSeed{url: "https://docs.example/guide"}

// seedSource writes a source of user with one document holding chunks, and
// returns the source id and the chunk ids in the order of chunks.
func (b *testBundle) seedSource(ctx context.Context, t testing.TB, user string, chunks []chunkSeed) (uuid.UUID, []uuid.UUID) {
	t.Helper()
	sourceID := createSource(ctx, t, b.pool, user)
	return sourceID, b.seedDocument(ctx, t, user, sourceID, guide, chunks)
}

// seedDocument writes doc into the source sourceID of user, with chunks
// embedded by the test embedder, and returns the chunk ids in order.
func (b *testBundle) seedDocument(ctx context.Context, t testing.TB, user string, sourceID uuid.UUID, doc docSeed, chunks []chunkSeed) []uuid.UUID {
	t.Helper()
	return b.seedDocumentWith(ctx, t, b.embedder, user, sourceID, doc, chunks)
}

// seedDocumentWith is seedDocument with the chunks embedded by embedder.
func (b *testBundle) seedDocumentWith(ctx context.Context, t testing.TB, embedder embed.Embedder, user string, sourceID uuid.UUID, doc docSeed, chunks []chunkSeed) []uuid.UUID {
	t.Helper()
	documentID := createDocument(ctx, t, b.pool, sourceID, "Guide", doc.url)
	if doc.metadata != "" || doc.language != "" {
		if _, err := b.pool.Exec(ctx, "UPDATE documents SET metadata = $2, language = $3 WHERE id = $1",
			documentID, cmp.Or(doc.metadata, "{}"), doc.language); err != nil {
			t.Fatal(err)
		}
	}
	texts := make([]string, len(chunks))
	for i, c := range chunks {
		texts[i] = c.vectorOf
		if texts[i] == "" {
			texts[i] = c.text
		}
	}
	vectors, err := embedder.Embed(ctx, texts)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]uuid.UUID, len(chunks))
	rows := make([][]any, len(chunks))
	for i, c := range chunks {
		ids[i] = uuid.New()
		var vector *pgvector.Vector
		var model *string
		if !c.noVector {
			v := pgvector.NewVector(vectors[i])
			vector, model = &v, new(embedder.Model())
		}
		rows[i] = []any{ids[i], documentID, sourceID, user, int32(i), nonNil(c.headers), c.text, int32(len(c.text) / 4), vector, model,
			c.anchor, nonNil(c.headings), cmp.Or(c.language, doc.language)}
	}
	copyChunks(ctx, t, b.pool, rows)
	return ids
}

func createSource(ctx context.Context, t testing.TB, pool *pgxpool.Pool, user string) uuid.UUID {
	t.Helper()
	sourceID := uuid.New()
	if _, err := store.New(pool).CreateSource(ctx, store.CreateSourceParams{ID: sourceID, UserID: user, Kind: "inline", Options: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	return sourceID
}

func createDocument(ctx context.Context, t testing.TB, pool *pgxpool.Pool, sourceID uuid.UUID, title, url string) uuid.UUID {
	t.Helper()
	documentID := uuid.New()
	hash := sha256.Sum256([]byte(url))
	var upsertErr error
	store.New(pool).UpsertDocument(ctx, []store.UpsertDocumentParams{{
		ID: documentID, SourceID: sourceID, URL: url, Title: title, Content: "x",
		ContentHash: hash[:], Metadata: []byte("{}"),
	}}).Exec(func(_ int, err error) { upsertErr = err })
	if upsertErr != nil {
		t.Fatal(upsertErr)
	}
	return documentID
}

var chunkColumns = []string{"id", "document_id", "source_id", "user_id", "ordinal", "headers", "text", "token_count", "embedding", "embedding_model",
	"anchor", "headings", "language"}

func copyChunks(ctx context.Context, t testing.TB, pool *pgxpool.Pool, rows [][]any) {
	t.Helper()
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"chunks"}, chunkColumns, pgx.CopyFromRows(rows)); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, "ANALYZE chunks"); err != nil {
		t.Fatal(err)
	}
}

// hits runs q and returns its hits.
func (b *testBundle) hits(ctx context.Context, q Query) ([]Hit, error) {
	result, err := b.searcher.Search(ctx, q)
	return result.Hits, err
}

func chunkIDs(hits []Hit) []uuid.UUID {
	ids := make([]uuid.UUID, len(hits))
	for i, h := range hits {
		ids[i] = h.ChunkID
	}
	return ids
}

// rustChunks are the texts every user of these tests owns.
var rustChunks = []chunkSeed{
	{headers: []string{"Runtime"}, text: "The tokio runtime schedules async tasks on a pool of worker threads."},
	{headers: []string{"Ownership"}, text: "The borrow checker enforces ownership and lifetimes at compile time."},
	{headers: []string{"Errors"}, text: "Use the question mark operator to propagate errors from a function."},
	{headers: []string{"Cargo"}, text: "Cargo builds your code, downloads dependencies and runs tests."},
}

func TestSearchIsolation(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := setup(t)

	_, aliceIDs := b.seedSource(ctx, t, "alice", rustChunks)
	_, bobIDs := b.seedSource(ctx, t, "bob", append(slices.Clone(rustChunks),
		chunkSeed{headers: []string{"Zebra"}, text: "A zebra unicorn only bob has written about."}))

	for _, text := range []string{"tokio runtime", "borrow checker", "zebra unicorn", "bob"} {
		hits, err := b.hits(ctx, Query{UserID: "alice", Text: text, K: MaxK})
		if err != nil {
			t.Fatal(err)
		}
		if len(hits) != len(aliceIDs) {
			t.Errorf("alice searching %q: %d hits, want all %d of her chunks by vector", text, len(hits), len(aliceIDs))
		}
		for _, h := range hits {
			if slices.Contains(bobIDs, h.ChunkID) {
				t.Errorf("alice searching %q found bob's chunk %v (vector rank %d, text rank %d)", text, h.ChunkID, h.VectorRank, h.TextRank)
			}
		}
	}

	hits, err := b.hits(ctx, Query{UserID: "carol", Text: "tokio runtime"})
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 0 {
		t.Fatalf("carol, who owns nothing, found %d hits", len(hits))
	}
}

func TestSearchSourceFilter(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := setup(t)

	_, _ = b.seedSource(ctx, t, "alice", rustChunks)
	second, secondIDs := b.seedSource(ctx, t, "alice", rustChunks)

	hits, err := b.hits(ctx, Query{UserID: "alice", Text: "tokio runtime", SourceIDs: []uuid.UUID{second}})
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != len(secondIDs) {
		t.Fatalf("%d hits, want the %d chunks of the second source", len(hits), len(secondIDs))
	}
	for _, h := range hits {
		if h.SourceID != second || !slices.Contains(secondIDs, h.ChunkID) {
			t.Errorf("hit %v of source %v is outside the filter", h.ChunkID, h.SourceID)
		}
	}
	if hits[0].ChunkID != secondIDs[0] || hits[0].TextRank != 1 || hits[0].VectorRank != 1 {
		t.Errorf("first hit %+v, want the tokio chunk of the second source, first in both lists", hits[0])
	}

	// A source of another user is no way into that user's chunks.
	hits, err = b.hits(ctx, Query{UserID: "bob", Text: "tokio runtime", SourceIDs: []uuid.UUID{second}})
	if err != nil || len(hits) != 0 {
		t.Fatalf("bob searching alice's source: %d hits, error %v", len(hits), err)
	}
}

func TestSearchFusion(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := setup(t)

	const query = "borrow checker lifetimes"
	_, ids := b.seedSource(ctx, t, "alice", []chunkSeed{
		// Second in both lists.
		{headers: []string{"Ownership"}, text: "The borrow checker tracks lifetimes of references in depth."},
		// First by vector only: its vector is the query's, its words are not.
		{headers: []string{"Misc"}, text: "Completely unrelated prose about gardening.", vectorOf: query},
		// First by text only: the words are in its header too (a header
		// that is not the query itself, which the heading list would put
		// first), and it has no vector yet.
		{headers: []string{"Borrow checker lifetimes in short"}, text: "Borrow checker lifetimes.", noVector: true},
		// Far from everything.
		{headers: []string{"Cargo"}, text: "Cargo downloads dependencies."},
	})
	both, vectorOnly, textOnly, far := ids[0], ids[1], ids[2], ids[3]

	hits, err := b.hits(ctx, Query{UserID: "alice", Text: query})
	if err != nil {
		t.Fatal(err)
	}
	want := []uuid.UUID{both, vectorOnly, textOnly, far}
	if got := chunkIDs(hits); !slices.Equal(got, want) {
		t.Fatalf("hits %v, want %v (both lists, then the two first places tied, the vector list's first, then the far one)", got, want)
	}

	h := hits[0]
	if h.VectorRank != 2 || h.TextRank != 2 || h.Score != 2.0/62 || h.VectorDistance == nil || h.TextScore == nil {
		t.Errorf("hit in both lists: %+v, want rank 2 in each, score 2/62", h)
	}
	if h.DocumentTitle != "Guide" || h.DocumentURL != "https://docs.example/guide" || !slices.Equal(h.Headers, []string{"Ownership"}) ||
		!strings.Contains(h.Text, "tracks lifetimes") {
		t.Errorf("hit in both lists lacks its chunk or document: %+v", h)
	}
	for _, h := range hits[1:3] {
		switch h.ChunkID {
		case vectorOnly:
			if h.VectorRank != 1 || h.TextRank != 0 || h.TextScore != nil || *h.VectorDistance > 1e-6 {
				t.Errorf("vector-only hit: %+v", h)
			}
		case textOnly:
			if h.TextRank != 1 || h.VectorRank != 0 || h.VectorDistance != nil || *h.TextScore <= *hits[0].TextScore {
				t.Errorf("text-only hit: %+v", h)
			}
		}
		if h.Score != 1.0/61 {
			t.Errorf("hit %v: score %v, want 1/61", h.ChunkID, h.Score)
		}
	}

	// K cuts the fused list, not the candidate lists.
	top, err := b.hits(ctx, Query{UserID: "alice", Text: query, K: 1})
	if err != nil || len(top) != 1 || top[0].ChunkID != both {
		t.Fatalf("K=1: %v, error %v; want the hit in both lists", chunkIDs(top), err)
	}

	// The API serialises hits directly: snake_case, null scores, no null
	// headers.
	data, err := json.Marshal(hits[1:3])
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"chunk_id":`, `"document_title":"Guide"`, `"document_url":`, `"vector_rank":0`, `"text_score":null`, `"vector_distance":null`, `"headers":["Borrow checker lifetimes in short"]`} {
		if !strings.Contains(string(data), key) {
			t.Errorf("JSON of hits lacks %s:\n%s", key, data)
		}
	}
}

func TestSearchWithoutLexemes(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := setup(t)
	_, ids := b.seedSource(ctx, t, "alice", rustChunks)

	// Only stop words and punctuation: nothing for full text, so the vector
	// list alone decides.
	for _, text := range []string{"the and of", "?!", "-- ..."} {
		hits, err := b.hits(ctx, Query{UserID: "alice", Text: text})
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		if len(hits) != len(ids) {
			t.Errorf("%q: %d hits, want all %d chunks by vector", text, len(hits), len(ids))
		}
		for i, h := range hits {
			if h.TextRank != 0 || h.VectorRank != i+1 {
				t.Errorf("%q: hit %d has text rank %d and vector rank %d", text, i, h.TextRank, h.VectorRank)
			}
		}
	}
}

func TestSearchHostileText(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := setup(t)
	_, ids := b.seedSource(ctx, t, "alice", rustChunks)

	for _, text := range []string{
		"'; DROP TABLE chunks; --",
		`"unterminated`,
		"a & | ! :*",
		`tokio' OR '1'='1`,
		"tokio:* & !runtime | (cargo <-> build)",
		`or or - - "" "`,
		`\x00 \\ $1 %s %!`,
		"ключ 関数 🦀",
	} {
		if _, err := b.hits(ctx, Query{UserID: "alice", Text: text}); err != nil {
			t.Errorf("%q: %v", text, err)
		}
	}
	// Websearch syntax still works where it means something.
	hits, err := b.hits(ctx, Query{UserID: "alice", Text: `"borrow checker" -cargo`})
	if err != nil {
		t.Fatal(err)
	}
	if hits[0].ChunkID != ids[1] || hits[0].TextRank != 1 {
		t.Errorf("phrase search: first hit %+v, want the borrow checker chunk", hits[0])
	}
	var count int
	if err := b.pool.QueryRow(ctx, "SELECT count(*) FROM chunks").Scan(&count); err != nil || count != len(ids) {
		t.Fatalf("chunks after hostile searches: %d, error %v", count, err)
	}
}

func TestSearchInvalidQuery(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := setup(t)

	for _, tt := range []struct {
		query Query
		field string
	}{
		{Query{UserID: "alice"}, "text"},
		{Query{UserID: "alice", Text: " \t\n"}, "text"},
		{Query{UserID: "alice", Text: "nul\x00byte"}, "text"},
		{Query{UserID: "alice", Text: "bad \xff utf8"}, "text"},
		{Query{UserID: "alice", Text: strings.Repeat("é", MaxTextLength+1)}, "text"},
		{Query{UserID: "alice", Text: "tokio", K: -1}, "k"},
		{Query{UserID: "alice", Text: "tokio", K: MaxK + 1}, "k"},
		{Query{Text: "tokio"}, "user_id"},
	} {
		_, err := b.hits(ctx, tt.query)
		if !errors.Is(err, ErrInvalidQuery) || !strings.Contains(err.Error(), ": "+tt.field+" must") {
			t.Errorf("query %+v: error %v, want ErrInvalidQuery naming %s", tt.query, err, tt.field)
		}
	}
	if _, err := b.hits(ctx, Query{UserID: "alice", Text: strings.Repeat("é", MaxTextLength), K: MaxK}); err != nil {
		t.Errorf("the longest text and largest K: %v", err)
	}
}

// recorder keeps the SQL and latest arguments of every query run on a pool.
type recorder struct {
	mu      sync.Mutex
	queries map[string][]any
}

func (r *recorder) TraceQueryStart(ctx context.Context, _ *pgx.Conn, data pgx.TraceQueryStartData) context.Context {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.queries == nil {
		r.queries = map[string][]any{}
	}
	r.queries[data.SQL] = data.Args
	return ctx
}

func (r *recorder) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

// find returns the recorded query whose SQL contains substr, and its
// arguments.
func (r *recorder) find(t testing.TB, substr string) (string, []any) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for sql, args := range r.queries {
		if strings.Contains(sql, substr) && !strings.HasPrefix(sql, "EXPLAIN") {
			return sql, args
		}
	}
	t.Fatalf("no query containing %q was run", substr)
	return "", nil
}

func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	clear(r.queries)
}

// TestSearchPlans checks that the queries Search runs, recorded as sent,
// can use the HNSW and GIN indexes. Sequential scans are discouraged: the
// table is small, and the question is whether the indexes fit the queries'
// shapes at all.
func TestSearchPlans(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rec := &recorder{}
	b := setup(t, func(c *pgxpool.Config) { c.ConnConfig.Tracer = rec })
	// Enough chunks of alice's that her user id alone selects too many rows,
	// as in production, where the full-text index is the selective one.
	chunks := slices.Clone(rustChunks)
	for i := range 300 {
		chunks = append(chunks, chunkSeed{text: fmt.Sprintf("Filler note %d about build profiles.", i)})
	}
	sourceID := createSource(ctx, t, b.pool, "alice")
	b.seedDocument(ctx, t, "alice", sourceID, docSeed{url: "book/ch01.md", language: "en", metadata: `{"tags":["rust","async"]}`}, chunks)

	for name, q := range map[string]Query{
		"unfiltered": {},
		"source":     {SourceIDs: []uuid.UUID{sourceID}},
		"sources":    {SourceIDs: []uuid.UUID{sourceID, uuid.New()}},
		"path":       {PathPrefix: "book/"},
		"language":   {Languages: []string{"en", "de"}},
		"metadata":   {Metadata: json.RawMessage(`{"tags":"rust"}`)},
		"all":        {SourceIDs: []uuid.UUID{sourceID}, PathPrefix: "book/", Languages: []string{"en"}, Metadata: json.RawMessage(`{"tags":["async"],"draft":false}`)},
	} {
		q.UserID, q.Text = "alice", "borrow checker"
		hits, err := b.hits(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		if name != "all" && len(hits) == 0 {
			t.Errorf("%s: no hits", name)
		}
		for substr, index := range map[string]string{
			"<=>":                              "Index Scan using " + store.VectorIndexName(b.embedder.Dimensions()),
			"c.tsv @@ (SELECT matched FROM q)": "Bitmap Index Scan on chunks_tsv_idx",
		} {
			sql, args := rec.find(t, substr)
			if plan := explain(ctx, t, b.pool, sql, args...); !strings.Contains(plan, index) {
				t.Errorf("%s: query does not use %s:\n%s\n%s", name, index, sql, plan)
			} else if substr == "<=>" && strings.Contains(plan, "Sort Key: ((c.embedding") {
				// The distance must come in index order, not be sorted
				// after a scan of every matching row.
				t.Errorf("%s: vector query sorts by distance instead of reading the index in order:\n%s", name, plan)
			}
		}
		rec.reset()
	}
}

// explain returns the plan of sql with sequential scans discouraged.
func explain(ctx context.Context, t testing.TB, pool *pgxpool.Pool, sql string, args ...any) string {
	t.Helper()
	return explainWith(ctx, t, pool, "SET LOCAL enable_seqscan = off", "EXPLAIN", sql, args...)
}

// explainWith returns the output of explain (EXPLAIN and its options) for
// sql, run in a transaction begun with settings.
func explainWith(ctx context.Context, t testing.TB, pool *pgxpool.Pool, settings, explain, sql string, args ...any) string {
	t.Helper()
	tx, err := pool.BeginTx(ctx, pgx.TxOptions{BeginQuery: "BEGIN; " + settings})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	rows, err := tx.Query(ctx, explain+" "+sql, args...)
	if err != nil {
		t.Fatal(err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}

// TestSearchFilterDoesNotStarve gives the HNSW index a graph where nearly
// every near neighbour of the query belongs to another user. Without
// iterative scan, the index returns its ef_search nearest, the user filter
// removes nearly all, and alice finds few of her chunks by vector.
func TestSearchFilterDoesNotStarve(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// Only the HNSW index is left to serve the vector query, as on a large
	// table where alice's rows are too many to sort exactly.
	b := setup(t, func(c *pgxpool.Config) { c.ConnConfig.RuntimeParams["enable_seqscan"] = "off" })
	if _, err := b.pool.Exec(ctx, "DROP INDEX chunks_user_id_idx, chunks_source_id_idx"); err != nil {
		t.Fatal(err)
	}

	const query = "async runtime scheduler"
	crowd := make([]chunkSeed, 400)
	for i := range crowd {
		crowd[i] = chunkSeed{text: fmt.Sprintf("async runtime scheduler note %d", i)}
	}
	b.seedSource(ctx, t, "bob", crowd)
	mine := make([]chunkSeed, 5)
	for i := range mine {
		mine[i] = chunkSeed{text: fmt.Sprintf("async runtime scheduler tip %d", i)}
	}
	_, aliceIDs := b.seedSource(ctx, t, "alice", mine)

	vector, err := b.embedder.Embed(ctx, []string{query})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := store.NearestChunks(ctx, b.pool, store.NearestChunksParams{
		UserID: "alice", Model: b.embedder.Model(), Query: pgvector.NewVector(vector[0]), Limit: 40,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("without iterative scan, the index finds %d of alice's %d chunks", len(plain), len(aliceIDs))

	hits, err := b.hits(ctx, Query{UserID: "alice", Text: query})
	if err != nil {
		t.Fatal(err)
	}
	if got := chunkIDs(hits); len(got) != len(aliceIDs) {
		t.Fatalf("alice found %d of her %d chunks by vector (without iterative scan: %d)", len(got), len(aliceIDs), len(plain))
	}
	for i, h := range hits {
		if h.VectorDistance == nil {
			t.Fatalf("hit %d (%s) was found by full text only: the vector list missed it (without iterative scan: %d of %d)", i, h.ChunkID, len(plain), len(aliceIDs))
		}
	}
	// Relaxed order may return rows out of order; the vector ranks follow
	// the exact distances again. (The fused order also weighs text ranks.)
	byRank := slices.Clone(hits)
	slices.SortFunc(byRank, func(a, b Hit) int { return a.VectorRank - b.VectorRank })
	for i := 1; i < len(byRank); i++ {
		if *byRank[i].VectorDistance < *byRank[i-1].VectorDistance {
			t.Fatalf("vector ranks out of order: rank %d at %v before rank %d at %v",
				byRank[i-1].VectorRank, *byRank[i-1].VectorDistance, byRank[i].VectorRank, *byRank[i].VectorDistance)
		}
	}
}
