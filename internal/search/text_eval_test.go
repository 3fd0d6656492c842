package search

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/kollektiv/kollektiv/internal/content"
	"github.com/kollektiv/kollektiv/internal/store"
	"github.com/kollektiv/kollektiv/internal/testcorpus"
)

// TestTextListEval measures the full-text list alone, before (every word
// required, English only: SearchChunksText) and after (rankText), on a
// file of labelled questions (JSONL: query, document path relative to the
// corpus, optional heading) named by KOLLEKTIV_TEXT_EVAL, over the whole
// corpus chunked by the production chunker. It logs Recall@1, Recall@5 and
// MRR@10 and asserts nothing; kollektiv eval measures whole searches.
//
//	KOLLEKTIV_TEXT_EVAL=/work/wt/eval/docs/eval/corpus-dev.jsonl go test -run TestTextListEval -v ./internal/search/
func TestTextListEval(t *testing.T) {
	path := os.Getenv("KOLLEKTIV_TEXT_EVAL")
	if path == "" {
		t.Skip("set KOLLEKTIV_TEXT_EVAL to a JSONL file of labelled questions")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	type question struct {
		Query, Document, Heading string
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var questions []question
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		var q question
		if err := json.Unmarshal(scanner.Bytes(), &q); err != nil {
			t.Fatal(err)
		}
		questions = append(questions, q)
	}

	b := setup(t)
	docs, _, err := content.LoadPath(ctx, testcorpus.Dir(t), content.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	chunker, err := content.NewChunker(content.ChunkerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sourceID := createSource(ctx, t, b.pool, "alice")
	type chunkInfo struct {
		url     string
		headers []string
	}
	info := map[uuid.UUID]chunkInfo{}
	var docRows, chunkRows [][]any
	for _, d := range docs {
		chunks, err := chunker.Chunk(uuid.Nil, d.Content)
		if err != nil || len(chunks) == 0 {
			continue
		}
		documentID := uuid.New()
		language := content.DocumentLanguage(d.Metadata, d.Content)
		docRows = append(docRows, []any{documentID, sourceID, d.URL, d.Title, "", make([]byte, 32), language})
		for _, c := range chunks {
			id := uuid.New()
			info[id] = chunkInfo{url: d.URL, headers: c.Headers}
			chunkRows = append(chunkRows, []any{id, documentID, sourceID, "alice", int32(c.Ordinal), append([]string{}, c.Headers...), c.Text, int32(c.Tokens), language})
		}
	}
	if _, err := b.pool.CopyFrom(ctx, pgx.Identifier{"documents"}, []string{"id", "source_id", "url", "title", "content", "content_hash", "language"}, pgx.CopyFromRows(docRows)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.pool.CopyFrom(ctx, pgx.Identifier{"chunks"}, []string{"id", "document_id", "source_id", "user_id", "ordinal", "headers", "text", "token_count", "language"}, pgx.CopyFromRows(chunkRows)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.pool.Exec(ctx, "ANALYZE chunks"); err != nil {
		t.Fatal(err)
	}

	isHit := func(q question, id uuid.UUID) bool {
		c := info[id]
		if c.url != q.Document && !strings.HasSuffix(c.url, "/"+q.Document) {
			return false
		}
		if q.Heading == "" {
			return true
		}
		for _, h := range c.headers {
			if h, _, _ = strings.Cut(h, " { #"); strings.TrimSpace(h) == q.Heading {
				return true
			}
		}
		return false
	}
	score := func(name string, list func(q question) []uuid.UUID) {
		var r1, r5, mrr float64
		empty := 0
		for _, q := range questions {
			ids := list(q)
			if len(ids) == 0 {
				empty++
			}
			for rank, id := range ids[:min(10, len(ids))] {
				if isHit(q, id) {
					mrr += 1 / float64(rank+1)
					if rank < 5 {
						r5++
					}
					if rank == 0 {
						r1++
					}
					break
				}
			}
		}
		n := float64(len(questions))
		t.Logf("%-28s %d questions: Recall@1 %.2f  Recall@5 %.2f  MRR@10 %.2f  no text hit %d", name, len(questions), r1/n, r5/n, mrr/n, empty)
	}
	queries := store.New(b.pool)
	score("before (all words, english)", func(q question) []uuid.UUID {
		rows, err := queries.SearchChunksText(ctx, store.SearchChunksTextParams{Query: q.Query, UserID: "alice", MaxRows: 40})
		if err != nil {
			t.Fatal(err)
		}
		ids := make([]uuid.UUID, len(rows))
		for i, r := range rows {
			ids[i] = r.ID
		}
		return ids
	})
	score("after (any word, languages)", func(q question) []uuid.UUID {
		tx, err := b.pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback(ctx) }()
		rows, err := b.searcher.rankText(ctx, tx, Query{UserID: "alice", Text: q.Query}, 40)
		if err != nil {
			t.Fatal(err)
		}
		ids := make([]uuid.UUID, len(rows))
		for i, r := range rows {
			ids[i] = r.ID
		}
		return ids
	})
}
