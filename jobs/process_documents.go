package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/kollektiv/kollektiv/internal/content"
	"github.com/kollektiv/kollektiv/internal/lifecycle"
	"github.com/kollektiv/kollektiv/internal/store"
)

// ProcessDocumentsArgs starts the processing of a source generation.
type ProcessDocumentsArgs struct {
	SourceGeneration
}

// Kind is the job kind.
func (ProcessDocumentsArgs) Kind() string { return string(lifecycle.KindProcessDocuments) }

// InsertOpts makes the job unique per source generation.
func (ProcessDocumentsArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueDefault, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// ProcessDocumentsWorker splits a source's pending documents into batches
// and schedules their chunking, and the check that follows them. It never
// waits for anything.
type ProcessDocumentsWorker struct {
	river.WorkerDefaults[ProcessDocumentsArgs]
	p *pipeline
}

// Timeout bounds one attempt.
func (w *ProcessDocumentsWorker) Timeout(*river.Job[ProcessDocumentsArgs]) time.Duration {
	return w.p.Settings.JobTimeout
}

// Work schedules the generation's batches.
func (w *ProcessDocumentsWorker) Work(ctx context.Context, job *river.Job[ProcessDocumentsArgs]) error {
	args := job.Args
	source, ok, err := jobSource(ctx, w.p, job, lifecycle.StageCreated)
	if !ok {
		return err
	}

	rc := client(ctx)
	return inJobTx(ctx, w.p, job, func(tx pgx.Tx) error {
		q := store.New(tx)
		// First, so that a job that must wait for the user's queue snoozes
		// before doing anything.
		queued, err := userQueuedDocuments(ctx, q, source.UserID)
		if err != nil {
			return err
		}
		// Unchanged documents embedded by another model (the embedder was
		// switched) are embedded again, or vector search could not see them.
		if _, err := q.ResetDocumentsOfOtherModel(ctx, store.ResetDocumentsOfOtherModelParams{
			SourceID: source.ID, EmbeddingModel: w.p.Embedder.Model(),
		}); err != nil {
			return fmt.Errorf("error finding documents of another model: %w", err)
		}
		docs, err := q.ListDocumentSizes(ctx, source.ID)
		if err != nil {
			return fmt.Errorf("error listing documents: %w", err)
		}
		sizes := make([]int, len(docs))
		total := 0
		for i, d := range docs {
			sizes[i] = int(d.Size)
			total += sizes[i]
		}
		spans := content.BatchBySize(sizes, w.p.Settings.BatchDocuments, w.p.Settings.BatchBytes)
		batches := make([]river.InsertManyParams, len(spans))
		for i, span := range spans {
			batch := ChunkDocumentsBatchArgs{SourceGeneration: args.SourceGeneration, FanInShard: FanInShard(i, len(spans))}
			for _, d := range docs[span.Start:span.End] {
				batch.DocumentIDs = append(batch.DocumentIDs, d.ID)
			}
			batches[i] = river.InsertManyParams{Args: batch, InsertOpts: w.p.batchInsertOpts(queued + span.Start)}
		}
		bulk := w.p.Settings.BulkIndexMinBytes > 0 && total >= w.p.Settings.BulkIndexMinBytes
		scheduled, ok, err := lifecycle.ScheduleProcessing(ctx, tx, store.ScheduleSourceProcessingParams{
			ID: source.ID, Generation: args.Generation, DocumentsScheduled: int32(len(docs)),
			BulkIndex: bulk,
		})
		if err != nil {
			return err
		}
		if !ok {
			return errSourceMovedOn
		}
		if err := StartFanIn(ctx, tx, args.SourceGeneration, len(batches)); err != nil {
			return err
		}
		if len(batches) > 0 {
			// COPY: none of them is unique, and nothing is read back.
			if _, err := rc.InsertManyFastTx(ctx, tx, batches); err != nil {
				return fmt.Errorf("error inserting chunking jobs: %w", err)
			}
		}
		// The check waits, scheduled, for the last batch job to wake it;
		// until then it wakes itself every safety interval, to notice batch
		// jobs that ended without running their code (discarded, rescued).
		// With nothing to chunk it runs at once.
		check := &river.InsertOpts{ScheduledAt: time.Now().Add(w.p.Settings.FanInSafetyInterval)}
		if len(batches) == 0 {
			check = nil
		}
		if _, err := rc.InsertTx(ctx, tx, CheckChunkingCompleteArgs{SourceGeneration: args.SourceGeneration}, check); err != nil {
			return fmt.Errorf("error inserting completion check: %w", err)
		}
		if err := ScheduleEvent(ctx, rc, tx, source.ID, args.Generation, lifecycle.StageProcessingScheduled, "", map[string]any{
			"documents": len(docs), "batches": len(batches),
		}); err != nil {
			return err
		}
		w.p.Logger.InfoContext(ctx, "processing scheduled", slog.String("source_id", source.ID.String()),
			slog.Int("documents", len(docs)), slog.Int("bytes", total), slog.Int("batches", len(batches)),
			slog.Bool("bulk_index", scheduled.BulkIndex))
		return completeTx(ctx, tx, job)
	})
}
