package search

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/pgvector/pgvector-go"

	"github.com/kollektiv/kollektiv/internal/content"
	"github.com/kollektiv/kollektiv/internal/store"
	"github.com/kollektiv/kollektiv/internal/testcorpus"
)

// TestRunToRunCorpus ingests the English FastAPI docs and the Rust book
// into two fresh databases the way the pipeline does (a random source id,
// production document and chunk ids, the HNSW index built as chunks
// arrive from parallel jobs in varying order) and compares the hits of the
// same queries in both. It prints how many top-1 and top-10 lists differ
// and why. It runs only when KOLLEKTIV_DETERMINISM_QUERIES names a JSONL
// file of questions ({"query": ...}); it takes minutes.
func TestRunToRunCorpus(t *testing.T) {
	path := os.Getenv("KOLLEKTIV_DETERMINISM_QUERIES")
	if path == "" {
		t.Skip("set KOLLEKTIV_DETERMINISM_QUERIES to a JSONL file of questions")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	docs := corpusDocuments(t)
	queries := readQueries(t, path)
	for _, d := range docs[:min(len(docs), 200)] {
		for _, line := range strings.Split(d.markdown, "\n") {
			if strings.HasPrefix(line, "## ") {
				queries = append(queries, strings.TrimPrefix(line, "## "))
			}
		}
	}
	a, b := setup(t), setup(t)
	for i, bundle := range []*testBundle{a, b} {
		ingestCorpus(ctx, t, bundle, docs, uint64(i))
	}
	var top1, top10, vec1, vec10, text1, text10 int
	for _, q := range queries {
		ha, err := a.hits(ctx, Query{UserID: "alice", Text: q})
		if err != nil {
			t.Fatal(err)
		}
		hb, err := b.hits(ctx, Query{UserID: "alice", Text: q})
		if err != nil {
			t.Fatal(err)
		}
		ka, kb := hitKeys(ha), hitKeys(hb)
		if len(ka) > 0 && len(kb) > 0 && ka[0] != kb[0] {
			top1++
			t.Logf("%q: top-1 %s (v%d t%d %.6g) vs %s (v%d t%d %.6g)", q, ka[0], ha[0].VectorRank, ha[0].TextRank, ha[0].Score, kb[0], hb[0].VectorRank, hb[0].TextRank, hb[0].Score)
		}
		if strings.Join(ka, ",") != strings.Join(kb, ",") {
			top10++
		}
		va, vb := listKeys(ha, true), listKeys(hb, true)
		if len(va) > 0 && len(vb) > 0 && va[0] != vb[0] {
			vec1++
		}
		if strings.Join(va, ",") != strings.Join(vb, ",") {
			vec10++
		}
		ta, tb := listKeys(ha, false), listKeys(hb, false)
		if len(ta) > 0 && len(tb) > 0 && ta[0] != tb[0] {
			text1++
		}
		if strings.Join(ta, ",") != strings.Join(tb, ",") {
			text10++
		}
	}
	t.Logf("%d queries: fused top-1 differs %d, top-10 differs %d; among the hits, vector order differs top-1 %d / all %d, text order top-1 %d / all %d",
		len(queries), top1, top10, vec1, vec10, text1, text10)
}

type corpusDoc struct {
	url, markdown string
}

func corpusDocuments(t *testing.T) []corpusDoc {
	t.Helper()
	root := testcorpus.Dir(t)
	var docs []corpusDoc
	for _, sub := range []string{"fastapi/docs/en/docs", "rust-book/src"} {
		err := filepath.WalkDir(filepath.Join(root, sub), func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".md") {
				return err
			}
			b, err := os.ReadFile(path)
			rel, _ := filepath.Rel(root, path)
			docs = append(docs, corpusDoc{url: filepath.ToSlash(rel), markdown: string(b)})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return docs
}

func readQueries(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var q struct{ Query string }
		if err := json.Unmarshal(sc.Bytes(), &q); err == nil && q.Query != "" {
			out = append(out, q.Query)
		}
	}
	return out
}

// ingestCorpus writes docs as one source of alice with a random id, and
// their chunks in batches from four goroutines in an order of seed.
func ingestCorpus(ctx context.Context, t *testing.T, b *testBundle, docs []corpusDoc, seed uint64) {
	t.Helper()
	if _, err := store.EnsureVectorIndex(ctx, b.pool, b.embedder.Dimensions()); err != nil {
		t.Fatal(err)
	}
	sourceID := createSource(ctx, t, b.pool, "alice")
	chunker, err := content.NewChunker(content.ChunkerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]any
	for _, d := range docs {
		documentID := content.DocumentID(sourceID, d.url)
		hash := sha256.Sum256([]byte(d.markdown))
		var upsertErr error
		store.New(b.pool).UpsertDocument(ctx, []store.UpsertDocumentParams{{
			ID: documentID, SourceID: sourceID, URL: d.url, Title: d.url, Content: d.markdown,
			ContentHash: hash[:], Metadata: []byte("{}"),
		}}).Exec(func(_ int, err error) { upsertErr = err })
		if upsertErr != nil {
			t.Fatal(upsertErr)
		}
		chunks, err := chunker.Chunk(documentID, d.markdown)
		if err != nil {
			continue
		}
		texts := make([]string, len(chunks))
		for i, c := range chunks {
			texts[i] = c.EmbedText()
		}
		vectors, err := b.embedder.Embed(ctx, texts)
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range chunks {
			headers := c.Headers
			if headers == nil {
				headers = []string{}
			}
			rows = append(rows, []any{c.ID, documentID, sourceID, "alice", int32(c.Ordinal), headers, c.Text, int32(c.Tokens), pgvector.NewVector(vectors[i]), b.embedder.Model()})
		}
	}
	rng := rand.New(rand.NewPCG(seed, seed))
	rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
	// Four writers, as several persist_chunks jobs write at once.
	batches := make(chan [][]any)
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			var err error
			for batch := range batches {
				if err == nil {
					_, err = b.pool.CopyFrom(ctx, pgx.Identifier{"chunks"}, chunkColumns, pgx.CopyFromRows(batch))
				}
			}
			errs <- err
		}()
	}
	for i := 0; i < len(rows); i += 50 {
		batches <- rows[i:min(i+50, len(rows))]
	}
	close(batches)
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if _, err := b.pool.Exec(ctx, "ANALYZE chunks"); err != nil {
		t.Fatal(err)
	}
}

// hitKeys names each hit by what is the same in every database: its
// document's URL and its text.
func hitKeys(hits []Hit) []string {
	keys := make([]string, len(hits))
	for i, h := range hits {
		keys[i] = hitKey(h)
	}
	return keys
}

func hitKey(h Hit) string {
	sum := sha256.Sum256([]byte(h.Text))
	return fmt.Sprintf("%s@%x", h.DocumentURL, sum[:4])
}

// listKeys returns the hits found by one list, in that list's order.
func listKeys(hits []Hit, vector bool) []string {
	byRank := map[int]string{}
	maxRank := 0
	for _, h := range hits {
		r := h.TextRank
		if vector {
			r = h.VectorRank
		}
		if r > 0 {
			byRank[r] = hitKey(h)
			maxRank = max(maxRank, r)
		}
	}
	var keys []string
	for r := 1; r <= maxRank; r++ {
		if k, ok := byRank[r]; ok {
			keys = append(keys, k)
		}
	}
	return keys
}

// TestSearchSameInEveryDatabase ingests the same two documents, which
// share a chunk's text, into two databases under different source ids,
// as two runs of the pipeline would, and checks that both answer with the
// same hits in the same order. Ids derive from the random source id, so an
// order that falls back on ids differs between the two; the source ids are
// chosen so that the chunk ids of the two documents compare one way in the
// first database and the other way in the second.
func TestSearchSameInEveryDatabase(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const (
		shared = "Cargo caches downloaded crates in the registry directory of your home."
		urlA   = "https://docs.example/a"
		urlB   = "https://docs.example/b"
	)
	chunkID := func(sourceID uuid.UUID, url string) uuid.UUID {
		return content.ChunkID(content.DocumentID(sourceID, url), 0, shared)
	}
	aFirst := func(sourceID uuid.UUID) bool {
		a, b := chunkID(sourceID, urlA), chunkID(sourceID, urlB)
		return bytes.Compare(a[:], b[:]) < 0
	}
	var sources []uuid.UUID
	for i := 0; len(sources) < 2; i++ {
		id := uuid.NewSHA1(uuid.Nil, []byte(strconv.Itoa(i)))
		if aFirst(id) == (len(sources) == 0) {
			sources = append(sources, id)
		}
	}

	var answers [][]string
	for _, sourceID := range sources {
		b := setup(t)
		if _, err := store.New(b.pool).CreateSource(ctx, store.CreateSourceParams{ID: sourceID, UserID: "alice", Kind: "inline", Options: []byte("{}")}); err != nil {
			t.Fatal(err)
		}
		vectors, err := b.embedder.Embed(ctx, []string{shared, "Rust has no garbage collector.", "Ownership moves values."})
		if err != nil {
			t.Fatal(err)
		}
		var rows [][]any
		for _, url := range []string{urlB, urlA} {
			documentID := content.DocumentID(sourceID, url)
			hash := sha256.Sum256([]byte(url))
			var upsertErr error
			store.New(b.pool).UpsertDocument(ctx, []store.UpsertDocumentParams{{
				ID: documentID, SourceID: sourceID, URL: url, Title: url, Content: shared,
				ContentHash: hash[:], Metadata: []byte("{}"),
			}}).Exec(func(_ int, err error) { upsertErr = err })
			if upsertErr != nil {
				t.Fatal(upsertErr)
			}
			for ordinal, text := range []string{shared, "Rust has no garbage collector.", "Ownership moves values."} {
				v := pgvector.NewVector(vectors[ordinal])
				rows = append(rows, []any{content.ChunkID(documentID, ordinal, text), documentID, sourceID, "alice", int32(ordinal), []string{}, text, int32(10), &v, new(b.embedder.Model()), "", []string{}, ""})
			}
		}
		copyChunks(ctx, t, b.pool, rows)
		hits, err := b.hits(ctx, Query{UserID: "alice", Text: "where does cargo cache downloaded crates"})
		if err != nil {
			t.Fatal(err)
		}
		var answer []string
		for _, h := range hits {
			answer = append(answer, fmt.Sprintf("%s %q (vector %d, text %d)", h.DocumentURL, h.Text, h.VectorRank, h.TextRank))
		}
		answers = append(answers, answer)
	}
	if !slices.Equal(answers[0], answers[1]) {
		t.Fatalf("two databases holding the same documents answer differently:\n%s\nvs\n%s",
			strings.Join(answers[0], "\n"), strings.Join(answers[1], "\n"))
	}
	if len(answers[0]) < 2 || !strings.HasPrefix(answers[0][0], urlA+" ") || !strings.HasPrefix(answers[0][1], urlB+" ") {
		t.Fatalf("hits:\n%s\nwant the shared chunk of %s, then that of %s (equal distances ordered by URL)", strings.Join(answers[0], "\n"), urlA, urlB)
	}
}

// TestFuseTiesIgnoreIDs checks that equal fused scores are ordered by rank,
// not by chunk id: swapping the ids of the hits must not change which list
// position comes first.
func TestFuseTiesIgnoreIDs(t *testing.T) {
	t.Parallel()
	low, high := uuid.MustParse("00000000-0000-0000-0000-000000000001"), uuid.MustParse("ffffffff-0000-0000-0000-000000000001")
	for _, ids := range [][2]uuid.UUID{{low, high}, {high, low}} {
		vectorOnly, textOnly := ids[0], ids[1]
		// The vector list's first and the text list's first each appear in
		// one list only: equal scores of 1/61.
		hits := fuse([]store.NearestChunk{{ID: vectorOnly, Distance: 0.1}}, []store.RankedChunk{{ID: textOnly, Rank: 0.5}}, nil, fusionQuery(10))
		if len(hits) != 2 || hits[0].Score != hits[1].Score {
			t.Fatalf("hits %+v, want two with equal scores", hits)
		}
		if hits[0].ChunkID != vectorOnly || hits[1].ChunkID != textOnly {
			t.Errorf("ids %v: order %v, %v; want the vector list's hit first whatever the ids", ids, hits[0].ChunkID, hits[1].ChunkID)
		}
		// Vector rank 2 and text rank 5 against vector rank 5 and text
		// rank 2: the same sum.
		a, b := ids[0], ids[1]
		nearest := []store.NearestChunk{{ID: uuid.New()}, {ID: a}, {ID: uuid.New()}, {ID: uuid.New()}, {ID: b}}
		matches := []store.RankedChunk{{ID: uuid.New()}, {ID: b}, {ID: uuid.New()}, {ID: uuid.New()}, {ID: a}}
		hits = fuse(nearest, matches, nil, fusionQuery(20))
		var ia, ib int
		for i, h := range hits {
			switch h.ChunkID {
			case a:
				ia = i
			case b:
				ib = i
			}
		}
		if hits[ia].Score != hits[ib].Score || ia > ib {
			t.Errorf("ids %v: vector 2 + text 5 at %d, vector 5 + text 2 at %d (scores %v, %v); want equal scores, the better vector rank first",
				ids, ia, ib, hits[ia].Score, hits[ib].Score)
		}
	}
}

// fusionQuery is a query of k hits with the default fusion settings.
func fusionQuery(k int) Query {
	return Query{K: k, RRFK: DefaultRRFK, VectorWeight: 1, TextWeight: 1}
}
