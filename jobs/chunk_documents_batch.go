package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/kollektiv/kollektiv/internal/content"
	"github.com/kollektiv/kollektiv/internal/lifecycle"
	"github.com/kollektiv/kollektiv/internal/store"
)

// maxBatchDocumentIDs bounds a chunking job's payload.
const maxBatchDocumentIDs = 10_000

// ChunkDocumentsBatchArgs chunks one batch of a source's documents.
type ChunkDocumentsBatchArgs struct {
	SourceGeneration
	DocumentIDs []uuid.UUID `json:"document_ids"`
	// FanInShard is the job's fan-in shard (see Committer.fanIn); absent in jobs
	// inserted by a version without shards, which count in shard 0.
	FanInShard int32 `json:"fan_in_shard,omitempty"`
}

// Kind is the job kind.
func (ChunkDocumentsBatchArgs) Kind() string { return string(lifecycle.KindChunkDocumentsBatch) }

// InsertOpts puts the job on the CPU-bound chunking queue.
func (ChunkDocumentsBatchArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueChunking}
}

// Validate checks the args before any work.
func (a ChunkDocumentsBatchArgs) Validate() error {
	if err := a.SourceGeneration.Validate(); err != nil {
		return err
	}
	if len(a.DocumentIDs) == 0 || len(a.DocumentIDs) > maxBatchDocumentIDs {
		return fmt.Errorf("document_ids: want 1 to %d ids, got %d", maxBatchDocumentIDs, len(a.DocumentIDs))
	}
	return nil
}

// ChunkDocumentsBatchWorker chunks its documents outside any transaction,
// then writes the documents' status and the embedding jobs, which carry the
// chunks, in one.
type ChunkDocumentsBatchWorker struct {
	river.WorkerDefaults[ChunkDocumentsBatchArgs]
	p *pipeline
}

// Timeout bounds one attempt.
func (w *ChunkDocumentsBatchWorker) Timeout(*river.Job[ChunkDocumentsBatchArgs]) time.Duration {
	return w.p.Settings.ChunkTimeout
}

// chunkedDocument is one document's outcome.
type chunkedDocument struct {
	id       uuid.UUID
	chunks   []content.Chunk
	language string
	err      error
}

// Work chunks the batch.
func (w *ChunkDocumentsBatchWorker) Work(ctx context.Context, job *river.Job[ChunkDocumentsBatchArgs]) error {
	args := job.Args
	_, ok, err := jobSource(ctx, w.p, job, lifecycle.StageProcessingScheduled)
	if !ok {
		return err
	}
	docs, err := w.p.queries.GetDocumentsByIDs(ctx, args.DocumentIDs)
	if err != nil {
		return fmt.Errorf("error loading documents: %w", err)
	}

	// CPU work, outside the transaction. One bad document fails alone.
	results := make([]chunkedDocument, 0, len(docs))
	var chunks []PersistChunk
	var tokens []int
	for _, d := range docs {
		if err := ctx.Err(); err != nil {
			return err
		}
		if lifecycle.DocumentStatus(d.Status) != lifecycle.DocumentPending {
			continue
		}
		cut, err := w.chunk(d)
		var language string
		if err == nil {
			language = documentLanguage(d)
		}
		results = append(results, chunkedDocument{id: d.ID, chunks: cut, language: language, err: err})
		for _, c := range cut {
			chunks = append(chunks, PersistChunk{
				ID: c.ID, DocumentID: d.ID, Ordinal: int32(c.Ordinal), Headers: c.Headers, Headings: c.Headings, Anchor: c.Anchor,
				Text: c.Text, TokenCount: int32(c.Tokens), Language: language,
			})
			tokens = append(tokens, c.Tokens)
		}
	}
	// The chunks travel to the embedding jobs in their args, which write
	// each row once, with its vector (see PersistChunksArgs).
	var persist []river.InsertManyParams
	for _, span := range content.BatchBySize(tokens, w.p.Settings.EmbedBatchChunks, w.p.Settings.EmbedBatchTokens) {
		persist = append(persist, river.InsertManyParams{
			Args:       PersistChunksArgs{SourceGeneration: args.SourceGeneration, Chunks: chunks[span.Start:span.End], FanInShard: args.FanInShard},
			InsertOpts: inheritedInsertOpts(job.JobRow),
		})
	}

	write := func(ctx context.Context, tx pgx.Tx) error {
		q := store.New(tx)
		// A changed document's old chunks have other ids: remove them all
		// now. Its new chunks appear as its embedding jobs commit.
		ids := make([]uuid.UUID, len(results))
		for i, r := range results {
			ids[i] = r.id
		}
		if _, err := q.DeleteChunksOfDocuments(ctx, ids); err != nil {
			return fmt.Errorf("error deleting old chunks: %w", err)
		}
		statuses := make([]store.SetDocumentStatusParams, len(results))
		for i, r := range results {
			statuses[i] = store.SetDocumentStatusParams{ID: r.id, Status: string(lifecycle.DocumentChunked), ChunkCount: int32(len(r.chunks)), Language: &r.language}
			if r.err != nil {
				msg := r.err.Error()
				statuses[i] = store.SetDocumentStatusParams{ID: r.id, Status: string(lifecycle.DocumentFailed), Error: &msg}
			}
		}
		return setDocumentStatuses(ctx, q, statuses)
	}
	_, err = w.p.commits.Commit(ctx, BatchCommit{
		Job: job.JobRow, Gen: args.SourceGeneration, Write: write, Insert: persist,
		Work: BatchJobWork{Shard: args.FanInShard, Documents: len(results), ChunksWritten: len(chunks)},
	})
	return err
}

// chunk chunks one document; a panic in the chunker fails that document
// only, with the reason, instead of the whole batch.
func (w *ChunkDocumentsBatchWorker) chunk(d store.Document) (chunks []content.Chunk, err error) {
	defer func() {
		if r := recover(); r != nil {
			chunks, err = nil, fmt.Errorf("internal error chunking %s: %v\n%s", d.URL, r, debug.Stack())
		}
	}()
	chunks, err = w.p.Chunker.Chunk(d.ID, d.Content)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", d.URL, err)
	}
	if len(chunks) == 0 {
		return nil, fmt.Errorf("%s: %w", d.URL, errors.New("no text to index after cleaning"))
	}
	return chunks, nil
}

// documentLanguage returns the language of d: its front matter's "lang" or
// "language" when a valid code, else the one detected in its content. The
// chunking job is where every document passes, whether it came from files,
// an API request or a crawl.
func documentLanguage(d store.Document) string {
	var meta map[string]any
	// Decoding the metadata only when it can hold the field keeps the
	// common case to a byte search.
	if bytes.Contains(d.Metadata, []byte(`"lang`)) {
		var fields struct {
			Lang     any `json:"lang"`
			Language any `json:"language"`
		}
		if err := json.Unmarshal(d.Metadata, &fields); err == nil {
			meta = map[string]any{"lang": fields.Lang, "language": fields.Language}
		}
	}
	return content.DocumentLanguage(meta, d.Content)
}
