package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/kollektiv/kollektiv/internal/lifecycle"
	"github.com/kollektiv/kollektiv/internal/store"
)

// completeAndFanIn completes a batch job in tx and runs FanIn for it. It
// reports whether it woke the check.
func completeAndFanIn[T river.JobArgs](ctx context.Context, p *pipeline, rc *river.Client[pgx.Tx], tx pgx.Tx, job *river.Job[T], gen SourceGeneration, inserted int) (bool, error) {
	if err := completeTx(ctx, tx, job); err != nil {
		return false, err
	}
	woken, err := FanIn(ctx, rc, tx, gen, inserted)
	if woken {
		p.Logger.DebugContext(ctx, "last batch job: completion check woken", slog.String("source_id", gen.SourceID.String()))
	}
	return woken, err
}

// FanIn is the end of a batch job's transaction tx, after the job completed
// itself in it: when the job is the last of its generation, it wakes the
// waiting check_chunking_complete job. inserted is the number of batch jobs
// the job inserted in tx. It reports whether it woke the check. Exported
// for `kollektiv bench queue`, whose pipeline-shaped jobs run it as the
// pipeline does.
//
// The generation's counter of unfinished batch jobs is set by
// process_documents to its batches and adjusted by each batch job's
// transaction, under the source row's lock: jobs committing at once take
// turns, and exactly one of them brings it to zero. That costs the same for
// the thousandth batch of a source as for the first, where counting the
// jobs themselves would grow with the source. A job that ends without
// running its code (discarded after its last attempt, cancelled) never
// brings the counter to zero: the check's own count, on its safety
// interval, notices it.
func FanIn(ctx context.Context, rc *river.Client[pgx.Tx], tx pgx.Tx, gen SourceGeneration, inserted int) (bool, error) {
	unfinished, err := store.New(tx).AddBatchJobsUnfinished(ctx, store.AddBatchJobsUnfinishedParams{
		ID: gen.SourceID, Generation: gen.Generation, Delta: int32(inserted - 1),
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil // the source was deleted or moved on
	}
	if err != nil {
		return false, fmt.Errorf("error counting unfinished batch jobs: %w", err)
	}
	if unfinished > 0 {
		return false, nil
	}
	checkID, err := store.WaitingCheckJob(ctx, tx, string(lifecycle.KindCheckChunkingComplete), gen.SourceID, gen.Generation)
	if err != nil {
		return false, err
	}
	if checkID == 0 {
		// Already running or finished: it ran its own count.
		return false, nil
	}
	if _, err := rc.JobRetryTx(ctx, tx, checkID); err != nil {
		return false, fmt.Errorf("error waking completion check: %w", err)
	}
	if err := store.NotifyJobsAvailable(ctx, tx, QueueDefault); err != nil {
		return false, err
	}
	return true, nil
}

// addProgress adds a job's work to its source's counters in tx and, at most
// every ProgressInterval, schedules a progress event.
func addProgress(ctx context.Context, p *pipeline, rc *river.Client[pgx.Tx], tx pgx.Tx, gen SourceGeneration, jobID int64, documents, chunksWritten, chunksEmbedded int) error {
	row, err := store.New(tx).AddSourceProgress(ctx, store.AddSourceProgressParams{
		ID: gen.SourceID, Generation: gen.Generation,
		Documents: int32(documents), ChunksWritten: int32(chunksWritten), ChunksEmbedded: int32(chunksEmbedded),
		ThrottleSeconds: p.Settings.ProgressInterval.Seconds(),
	})
	if err != nil {
		return fmt.Errorf("error recording progress: %w", err)
	}
	if !row.ProgressDue {
		return nil
	}
	return ScheduleEvent(ctx, rc, tx, gen.SourceID, gen.Generation, lifecycle.StageProgress,
		fmt.Sprintf("%d:progress:%d", gen.Generation, jobID), map[string]any{
			"documents_processed": row.DocumentsProcessed,
			"documents_total":     row.DocumentsScheduled,
			"chunks_written":      row.ChunksWritten,
			"chunks_embedded":     row.ChunksEmbedded,
		})
}
