package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/pgvector/pgvector-go"
	"github.com/riverqueue/river"

	"github.com/kollektiv/kollektiv/internal/content"
	"github.com/kollektiv/kollektiv/internal/lifecycle"
	"github.com/kollektiv/kollektiv/internal/provider"
	"github.com/kollektiv/kollektiv/internal/store"
)

// maxPersistChunks bounds an embedding job's payload: the chunks it
// carries, or the ids it names. The chunking job cuts its batches far
// smaller (EmbedBatchChunks, 256 by default, and EmbedBatchTokens).
const maxPersistChunks = 10_000

// PersistChunksArgs embeds one batch of chunks and writes them, each with
// its vector.
//
// The chunking job puts the chunks themselves in the args, so that a chunk
// row is written once, complete, by the embedding job, instead of written
// by the chunking job and rewritten with its vector. An embedding job
// queued by a binary from before that change names chunk rows its chunking
// job wrote without vectors (ChunkIDs); it still completes, by giving those
// rows their vectors.
type PersistChunksArgs struct {
	SourceGeneration
	// Chunks are the chunks to embed and write.
	Chunks []PersistChunk `json:"chunks,omitempty"`
	// ChunkIDs name chunk rows already written without vectors, in the
	// args of jobs queued by an older binary; unset with Chunks.
	ChunkIDs []uuid.UUID `json:"chunk_ids,omitempty"`
	// FanInShard is the fan-in shard of the chunking job that inserted
	// this one (see Committer.fanIn).
	FanInShard int32 `json:"fan_in_shard,omitempty"`
}

// PersistChunk is one chunk as the chunking job cut it: the columns of its
// row but the vector and what the source gives (source, user, bulk index).
type PersistChunk struct {
	ID         uuid.UUID `json:"id"`
	DocumentID uuid.UUID `json:"document_id"`
	Ordinal    int32     `json:"ordinal"`
	Headers    []string  `json:"headers,omitempty"`
	Headings   []string  `json:"headings,omitempty"`
	Anchor     string    `json:"anchor,omitempty"`
	Text       string    `json:"text"`
	TokenCount int32     `json:"token_count"`
	Language   string    `json:"language,omitempty"`
}

// Kind is the job kind.
func (PersistChunksArgs) Kind() string { return string(lifecycle.KindPersistChunks) }

// InsertOpts puts the job on the embedding queue.
func (PersistChunksArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueEmbedding}
}

// Validate checks the args before any work.
func (a PersistChunksArgs) Validate() error {
	if err := a.SourceGeneration.Validate(); err != nil {
		return err
	}
	switch {
	case len(a.Chunks) > 0 && len(a.ChunkIDs) > 0:
		return fmt.Errorf("chunks and chunk_ids: want one of them, got %d chunks and %d ids", len(a.Chunks), len(a.ChunkIDs))
	case len(a.Chunks) > maxPersistChunks:
		return fmt.Errorf("chunks: want 1 to %d chunks, got %d", maxPersistChunks, len(a.Chunks))
	case len(a.Chunks) > 0:
		for i, c := range a.Chunks {
			if c.ID == uuid.Nil || c.DocumentID == uuid.Nil {
				return fmt.Errorf("chunks[%d]: id and document_id must be set", i)
			}
		}
		return nil
	case len(a.ChunkIDs) == 0 || len(a.ChunkIDs) > maxPersistChunks:
		return fmt.Errorf("chunks or chunk_ids: want 1 to %d chunks, got %d chunk_ids", maxPersistChunks, len(a.ChunkIDs))
	}
	return nil
}

// PersistChunksWorker embeds outside the transaction, then writes the
// chunks with their vectors, completes itself and runs the fan-in in one
// transaction.
type PersistChunksWorker struct {
	river.WorkerDefaults[PersistChunksArgs]
	p *pipeline
}

// Timeout bounds one attempt.
func (w *PersistChunksWorker) Timeout(*river.Job[PersistChunksArgs]) time.Duration {
	return w.p.Settings.EmbedTimeout
}

// Work embeds the batch and writes its chunks.
//
// The rows go in with COPY after a delete of their ids, so whatever wrote
// them before is replaced and each chunk is stored once. Only chunks whose
// document is still stored are written, under a lock that keeps the
// source from being deleted before the commit; a source deleted or moved
// on meanwhile gets nothing written, and the job completes.
func (w *PersistChunksWorker) Work(ctx context.Context, job *river.Job[PersistChunksArgs]) error {
	args := job.Args
	source, ok, err := jobSource(ctx, w.p, job, lifecycle.StageProcessingScheduled)
	if !ok {
		return err
	}
	if len(args.Chunks) == 0 {
		return w.embedWritten(ctx, job, source)
	}
	texts := make([]string, len(args.Chunks))
	documents := make([]uuid.UUID, len(args.Chunks))
	for i, c := range args.Chunks {
		texts[i] = content.Chunk{Headers: c.Headers, Text: c.Text}.EmbedText()
		documents[i] = c.DocumentID
	}
	vecs, ok, err := w.embed(ctx, job, source, texts, documents)
	if !ok {
		return err
	}
	write := func(ctx context.Context, tx pgx.Tx) error {
		q := store.New(tx)
		stored, err := q.LockSourceForChunks(ctx, store.LockSourceForChunksParams{
			DocumentIds: documents, ID: source.ID, Generation: args.Generation,
		})
		if errors.Is(err, pgx.ErrNoRows) {
			return errSourceMovedOn
		}
		if err != nil {
			return fmt.Errorf("error locking the source for its chunks: %w", err)
		}
		rows := make([]store.ChunkRow, 0, len(args.Chunks))
		ids := make([]uuid.UUID, 0, len(args.Chunks))
		for i, c := range args.Chunks {
			if !slices.Contains(stored, c.DocumentID) {
				continue // the document was removed meanwhile
			}
			rows = append(rows, store.ChunkRow{
				ID: c.ID, DocumentID: c.DocumentID, Ordinal: c.Ordinal, Headers: c.Headers, Text: c.Text, TokenCount: c.TokenCount,
				Anchor: c.Anchor, Headings: c.Headings, Language: c.Language, Embedding: &vecs[i],
			})
			ids = append(ids, c.ID)
		}
		if _, err := q.DeleteChunksByIDs(ctx, ids); err != nil {
			return fmt.Errorf("error deleting chunks written before: %w", err)
		}
		_, err = store.CopyChunks(ctx, tx, source, w.p.Embedder.Model(), rows)
		return err
	}
	return w.commit(ctx, job, write, len(args.Chunks))
}

// commit ends the job with write, which writes embedded chunks, and its
// fan-in. A source deleted or moved on meanwhile gets nothing written
// (write returns errSourceMovedOn), and the job completes without effect.
func (w *PersistChunksWorker) commit(ctx context.Context, job *river.Job[PersistChunksArgs], write func(context.Context, pgx.Tx) error, embedded int) error {
	_, err := w.p.commits.Commit(ctx, BatchCommit{
		Job: job.JobRow, Gen: job.Args.SourceGeneration, Write: write,
		Work: BatchJobWork{Shard: job.Args.FanInShard, ChunksEmbedded: embedded},
	})
	return completeIfMovedOn(ctx, w.p, job, err)
}

// embedWritten embeds the chunks that a job queued by an older binary
// names, which its chunking job wrote without vectors, and gives them their
// vectors. Chunks deleted meanwhile are skipped.
func (w *PersistChunksWorker) embedWritten(ctx context.Context, job *river.Job[PersistChunksArgs], source store.Source) error {
	args := job.Args
	chunks, err := w.p.queries.GetChunksByIDs(ctx, args.ChunkIDs)
	if err != nil {
		return fmt.Errorf("error loading chunks: %w", err)
	}
	texts := make([]string, len(chunks))
	documents := make([]uuid.UUID, len(chunks))
	ids := make([]uuid.UUID, len(chunks))
	for i, c := range chunks {
		texts[i] = content.Chunk{Headers: c.Headers, Text: c.Text}.EmbedText()
		documents[i], ids[i] = c.DocumentID, c.ID
	}
	vecs, ok, err := w.embed(ctx, job, source, texts, documents)
	if !ok {
		return err
	}
	return w.commit(ctx, job, func(ctx context.Context, tx pgx.Tx) error {
		_, err := store.SetEmbeddings(ctx, tx, w.p.Embedder.Model(), ids, vecs)
		return err
	}, len(ids))
}

// embed embeds texts, the chunks of documents (parallel), and checks the
// vectors. ok is false when the job ends here, err then being what Work
// returns: nil when a permanent failure completed the job (embedFailed).
func (w *PersistChunksWorker) embed(ctx context.Context, job *river.Job[PersistChunksArgs], source store.Source, texts []string, documents []uuid.UUID) (vecs []pgvector.Vector, ok bool, err error) {
	vectors, err := w.p.Embedder.Embed(ctx, texts)
	if err != nil {
		return nil, false, w.embedFailed(ctx, job, source, documents, err)
	}
	vecs, err = w.checkVectors(vectors, len(texts))
	return vecs, err == nil, err
}

// checkVectors checks that the embedder gave one vector of its dimensions
// for each of n texts.
func (w *PersistChunksWorker) checkVectors(vectors [][]float32, n int) ([]pgvector.Vector, error) {
	if len(vectors) != n {
		return nil, fmt.Errorf("embedder returned %d vectors for %d chunks", len(vectors), n)
	}
	vecs := make([]pgvector.Vector, n)
	for i, v := range vectors {
		if len(v) != w.p.Embedder.Dimensions() {
			return nil, fmt.Errorf("embedder returned a vector of %d dimensions, want %d", len(v), w.p.Embedder.Dimensions())
		}
		vecs[i] = pgvector.NewVector(v)
	}
	return vecs, nil
}

// embedFailed decides what an embedding error means. A permanent one (a
// rejected key, a bad request) fails the batch's documents with the
// provider's message and completes the job, so the source fails fast and
// says why, instead of retrying in vain. A long Retry-After snoozes the job;
// anything else is retried with backoff.
func (w *PersistChunksWorker) embedFailed(ctx context.Context, job *river.Job[PersistChunksArgs], source store.Source, documents []uuid.UUID, err error) error {
	if !provider.IsPermanent(err) {
		if wait := provider.RetryAfter(err); wait > 0 {
			w.p.Logger.WarnContext(ctx, "embedding provider asks to wait", slog.String("source_id", source.ID.String()), slog.Duration("retry_after", wait))
			return river.JobSnooze(wait)
		}
		return fmt.Errorf("error embedding: %w", err)
	}
	w.p.Logger.ErrorContext(ctx, "embedding failed permanently", slog.String("source_id", source.ID.String()), slog.String("error", err.Error()))
	seen := map[uuid.UUID]bool{}
	var statuses []store.SetDocumentStatusParams
	msg := "embedding failed: " + err.Error()
	for _, id := range documents {
		if !seen[id] {
			seen[id] = true
			statuses = append(statuses, store.SetDocumentStatusParams{ID: id, Status: string(lifecycle.DocumentFailed), Error: &msg})
		}
	}
	return w.commit(ctx, job, func(ctx context.Context, tx pgx.Tx) error {
		return setDocumentStatuses(ctx, store.New(tx), statuses)
	}, 0)
}
