package jobs

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/kollektiv/kollektiv/internal/events"
	"github.com/kollektiv/kollektiv/internal/store"
)

// completeAndFanIn completes a batch job in tx and, when it is the last of
// its generation, wakes the waiting check_chunking_complete job.
//
// The per-source lock makes batch jobs finishing at the same moment take
// turns: each completes itself, then counts under the lock. In READ
// COMMITTED each statement sees what committed before it began, so the
// second of two jobs finishing together counts after the first committed
// and sees it completed. Unfinished jobs are counted rather than completed
// ones, because River deletes completed jobs after their retention period.
// It reports whether it woke the check.
func completeAndFanIn[T river.JobArgs](ctx context.Context, p *pipeline, rc *river.Client[pgx.Tx], tx pgx.Tx, job *river.Job[T], gen SourceGeneration) (bool, error) {
	if err := store.LockSourceFanIn(ctx, tx, gen.SourceID); err != nil {
		return false, err
	}
	if err := completeTx(ctx, tx, job); err != nil {
		return false, err
	}
	counts, err := store.CountBatchJobs(ctx, tx, gen.SourceID, gen.Generation)
	if err != nil {
		return false, err
	}
	if counts.Unfinished > 0 {
		return false, nil
	}
	checkID, err := store.WaitingCheckJob(ctx, tx, gen.SourceID, gen.Generation)
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
	p.Logger.DebugContext(ctx, "last batch job: completion check woken", slog.String("source_id", gen.SourceID.String()), slog.Int64("check_job_id", checkID))
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
	return ScheduleEvent(ctx, rc, tx, gen.SourceID, gen.Generation, events.StageProgress,
		fmt.Sprintf("%d:progress:%d", gen.Generation, jobID), map[string]any{
			"documents_processed": row.DocumentsProcessed,
			"documents_total":     row.DocumentsScheduled,
			"chunks_written":      row.ChunksWritten,
			"chunks_embedded":     row.ChunksEmbedded,
		})
}
