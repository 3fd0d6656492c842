package jobs

import (
	"context"
	"fmt"
	"log/slog"
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

// maxPersistChunkIDs bounds an embedding job's payload.
const maxPersistChunkIDs = 10_000

// PersistChunksArgs embeds one batch of chunks and stores their vectors.
type PersistChunksArgs struct {
	SourceGeneration
	ChunkIDs []uuid.UUID `json:"chunk_ids"`
	// FanInShard is the fan-in shard of the chunking job that inserted
	// this one (see FanIn).
	FanInShard int32 `json:"fan_in_shard,omitempty"`
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
	if len(a.ChunkIDs) == 0 || len(a.ChunkIDs) > maxPersistChunkIDs {
		return fmt.Errorf("chunk_ids: want 1 to %d ids, got %d", maxPersistChunkIDs, len(a.ChunkIDs))
	}
	return nil
}

// PersistChunksWorker embeds outside the transaction, then writes the
// vectors, completes itself and runs the fan-in in one transaction.
type PersistChunksWorker struct {
	river.WorkerDefaults[PersistChunksArgs]
	p *pipeline
}

// Timeout bounds one attempt.
func (w *PersistChunksWorker) Timeout(*river.Job[PersistChunksArgs]) time.Duration {
	return w.p.Settings.EmbedTimeout
}

// Work embeds the batch.
func (w *PersistChunksWorker) Work(ctx context.Context, job *river.Job[PersistChunksArgs]) error {
	args := job.Args
	source, ok, err := jobSource(ctx, w.p, job, lifecycle.StageProcessingScheduled)
	if !ok {
		return err
	}
	chunks, err := w.p.queries.GetChunksByIDs(ctx, args.ChunkIDs)
	if err != nil {
		return fmt.Errorf("error loading chunks: %w", err)
	}
	texts := make([]string, len(chunks))
	for i, c := range chunks {
		texts[i] = content.Chunk{Headers: c.Headers, Text: c.Text}.EmbedText()
	}

	vectors, err := w.p.Embedder.Embed(ctx, texts)
	if err != nil {
		return w.embedFailed(ctx, job, source, chunks, err)
	}
	if len(vectors) != len(chunks) {
		return fmt.Errorf("embedder returned %d vectors for %d chunks", len(vectors), len(chunks))
	}
	ids := make([]uuid.UUID, len(chunks))
	vecs := make([]pgvector.Vector, len(chunks))
	for i, c := range chunks {
		if len(vectors[i]) != w.p.Embedder.Dimensions() {
			return fmt.Errorf("embedder returned a vector of %d dimensions, want %d", len(vectors[i]), w.p.Embedder.Dimensions())
		}
		ids[i], vecs[i] = c.ID, pgvector.NewVector(vectors[i])
	}

	rc := client(ctx)
	return inTx(ctx, w.p.Pool, func(tx pgx.Tx) error {
		if _, err := store.SetEmbeddings(ctx, tx, w.p.Embedder.Model(), ids, vecs); err != nil {
			return err
		}
		_, err := completeAndFanIn(ctx, w.p, rc, tx, job, args.SourceGeneration, BatchJobWork{Shard: args.FanInShard, ChunksEmbedded: len(ids)})
		return err
	})
}

// embedFailed decides what an embedding error means. A permanent one (a
// rejected key, a bad request) fails the batch's documents with the
// provider's message and completes the job, so the source fails fast and
// says why, instead of retrying in vain. A long Retry-After snoozes the job;
// anything else is retried with backoff.
func (w *PersistChunksWorker) embedFailed(ctx context.Context, job *river.Job[PersistChunksArgs], source store.Source, chunks []store.GetChunksByIDsRow, err error) error {
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
	for _, c := range chunks {
		if !seen[c.DocumentID] {
			seen[c.DocumentID] = true
			statuses = append(statuses, store.SetDocumentStatusParams{ID: c.DocumentID, Status: string(lifecycle.DocumentFailed), Error: &msg})
		}
	}
	return inTx(ctx, w.p.Pool, func(tx pgx.Tx) error {
		if err := setDocumentStatuses(ctx, store.New(tx), statuses); err != nil {
			return err
		}
		_, err := completeAndFanIn(ctx, w.p, client(ctx), tx, job, job.Args.SourceGeneration, BatchJobWork{Shard: job.Args.FanInShard})
		return err
	})
}
