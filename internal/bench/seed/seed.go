// Package seed writes the collection that search is measured on, for
// BenchmarkSearch100k and `kollektiv bench search` alike: the documentation
// corpus chunked by the production chunker and repeated, each copy with a
// share of its words replaced (like several versions of the same docs), so
// that every chunk has a vector of its own.
package seed

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pgvector/pgvector-go"

	"github.com/kollektiv/kollektiv/internal/content"
	"github.com/kollektiv/kollektiv/internal/embed"
	"github.com/kollektiv/kollektiv/internal/lifecycle"
	"github.com/kollektiv/kollektiv/internal/store"
)

// Options say what to seed.
type Options struct {
	// Corpus is the directory of documents to chunk. Required.
	Corpus string
	// Chunks is the size of the collection. Required.
	Chunks int
	// UserID owns the chunks. Default "bench".
	UserID string
	// Queries is how many queries to return. Default 1000.
	Queries int
	// Logf, when set, is told how long each step took.
	Logf func(format string, args ...any)
}

// Collection is what Chunks wrote.
type Collection struct {
	SourceID  uuid.UUID
	Documents int
	Chunks    int
	// Queries are as users type them: a header, or a few words of a chunk.
	Queries []string
}

// Chunks writes opts.Chunks chunks with their hashing vectors into one
// source of opts.UserID, in a database migrated with Kollektiv's
// migrations. Incremental HNSW inserts of many rows take minutes, so it
// loads without the vector index and builds it once, as the migration
// defines it, then analyzes.
func Chunks(ctx context.Context, pool *pgxpool.Pool, embedder *embed.Hashing, opts Options) (*Collection, error) {
	if opts.Corpus == "" || opts.Chunks <= 0 {
		return nil, fmt.Errorf("seed: a corpus and a positive number of chunks are required, got %q and %d", opts.Corpus, opts.Chunks)
	}
	opts.UserID = cmp.Or(opts.UserID, "bench")
	opts.Queries = cmp.Or(opts.Queries, 1000)
	logf := opts.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	start := time.Now()
	docs, _, err := content.LoadPath(ctx, opts.Corpus, content.LoadOptions{})
	if err != nil {
		return nil, fmt.Errorf("error loading corpus %s: %w", opts.Corpus, err)
	}
	chunker, err := content.NewChunker(content.ChunkerOptions{})
	if err != nil {
		return nil, err
	}
	type original struct {
		doc    int
		chunks []content.Chunk
	}
	var (
		originals []original
		count     int
		vocab     []string
		seen      = map[string]bool{}
	)
	for i, doc := range docs {
		chunks, err := chunker.Chunk(uuid.Nil, doc.Content)
		if err != nil || len(chunks) == 0 {
			continue // empty documents
		}
		originals = append(originals, original{doc: i, chunks: chunks})
		count += len(chunks)
		for _, w := range strings.FieldsFunc(doc.Content, notWord) {
			if w = strings.ToLower(w); len(w) > 3 && !seen[w] {
				seen[w] = true
				vocab = append(vocab, w)
			}
		}
	}
	if len(originals) == 0 {
		return nil, fmt.Errorf("seed: no chunks in corpus %s", opts.Corpus)
	}
	logf("corpus: %d documents, %d chunks, %d words, chunked in %v", len(originals), count, len(vocab), time.Since(start).Round(time.Millisecond))

	// The copies: copy 0 is the corpus, copy c replaces c*3% of the words
	// (at most 30%), so every chunk has its own vector.
	sourceID := uuid.New()
	if _, err := lifecycle.Create(ctx, pool, store.CreateSourceParams{ID: sourceID, UserID: opts.UserID, Kind: "inline", Options: []byte("{}")}); err != nil {
		return nil, fmt.Errorf("error creating source: %w", err)
	}
	rng := rand.New(rand.NewPCG(1, 2)) //nolint:gosec // a reproducible collection, not a secret
	var (
		docRows   [][]any
		chunkRows [][]any
		texts     []string
	)
	for copyNo := 0; len(chunkRows) < opts.Chunks; copyNo++ {
		for _, o := range originals {
			if len(chunkRows) == opts.Chunks {
				break
			}
			doc := docs[o.doc]
			documentID := uuid.New()
			url := doc.URL
			if copyNo > 0 {
				url = fmt.Sprintf("%s?version=%d", doc.URL, copyNo)
			}
			docRows = append(docRows, []any{documentID, sourceID, url, doc.Title, "", make([]byte, 32), string(lifecycle.DocumentEmbedded), len(o.chunks)})
			for _, ch := range o.chunks {
				if len(chunkRows) == opts.Chunks {
					break
				}
				text := ch.Text
				if copyNo > 0 {
					text = vary(rng, text, vocab, min(copyNo*3, 30))
				}
				texts = append(texts, content.Chunk{Headers: ch.Headers, Text: text}.EmbedText())
				headers, headings := ch.Headers, ch.Headings
				if headers == nil {
					headers = []string{}
				}
				if headings == nil {
					headings = []string{}
				}
				chunkRows = append(chunkRows, []any{uuid.New(), documentID, sourceID, opts.UserID, int32(ch.Ordinal), headers, text, int32(ch.Tokens), nil, embedder.Model(), ch.Anchor, headings})
			}
		}
	}
	vectors, err := embedder.Embed(ctx, texts)
	if err != nil {
		return nil, err
	}
	for i := range chunkRows {
		chunkRows[i][8] = pgvector.NewVector(vectors[i])
	}
	logf("seed: %d documents, %d chunks, embedded in %v", len(docRows), len(chunkRows), time.Since(start).Round(time.Millisecond))

	indexName := store.VectorIndexName(embedder.Dimensions())
	var indexDef string
	if err := pool.QueryRow(ctx, "SELECT indexdef FROM pg_indexes WHERE indexname = $1", indexName).Scan(&indexDef); err != nil {
		return nil, fmt.Errorf("error reading the definition of %s: %w", indexName, err)
	}
	if _, err := pool.Exec(ctx, "DROP INDEX "+pgx.Identifier{indexName}.Sanitize()); err != nil {
		return nil, fmt.Errorf("error dropping %s: %w", indexName, err)
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"documents"},
		[]string{"id", "source_id", "url", "title", "content", "content_hash", "status", "chunk_count"}, pgx.CopyFromRows(docRows)); err != nil {
		return nil, fmt.Errorf("error copying documents: %w", err)
	}
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"chunks"},
		[]string{"id", "document_id", "source_id", "user_id", "ordinal", "headers", "text", "token_count", "embedding", "embedding_model", "anchor", "headings"},
		pgx.CopyFromRows(chunkRows)); err != nil {
		return nil, fmt.Errorf("error copying chunks: %w", err)
	}
	logf("copied in %v", time.Since(start).Round(time.Millisecond))

	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("error acquiring connection: %w", err)
	}
	defer conn.Release()
	for _, stmt := range []string{"SET maintenance_work_mem = '1GB'", "SET max_parallel_maintenance_workers = 2", indexDef,
		"RESET maintenance_work_mem", "RESET max_parallel_maintenance_workers", "VACUUM ANALYZE chunks", "ANALYZE documents"} {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return nil, fmt.Errorf("%s: %w", stmt, err)
		}
	}
	logf("indexed in %v", time.Since(start).Round(time.Millisecond))

	queries := make([]string, 0, opts.Queries)
	for tries := 0; len(queries) < cap(queries); tries++ {
		if tries > 100*opts.Queries {
			return nil, errors.New("seed: the corpus has too few words to make queries of")
		}
		o := originals[rng.IntN(len(originals))]
		ch := o.chunks[rng.IntN(len(o.chunks))]
		if len(ch.Headers) > 0 && rng.IntN(2) == 0 {
			queries = append(queries, ch.Headers[len(ch.Headers)-1])
			continue
		}
		words := strings.FieldsFunc(ch.Text, notWord)
		if len(words) < 4 {
			continue
		}
		n := 2 + rng.IntN(3)
		at := rng.IntN(len(words) - n + 1)
		queries = append(queries, strings.Join(words[at:at+n], " "))
	}
	return &Collection{SourceID: sourceID, Documents: len(docRows), Chunks: len(chunkRows), Queries: queries}, nil
}

// vary replaces percent% of the words of text with words of vocab.
func vary(rng *rand.Rand, text string, vocab []string, percent int) string {
	fields := strings.Fields(text)
	for i := range fields {
		if rng.IntN(100) < percent {
			fields[i] = vocab[rng.IntN(len(vocab))]
		}
	}
	return strings.Join(fields, " ")
}

func notWord(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }
