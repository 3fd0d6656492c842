package jobs

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/kollektiv/kollektiv/internal/lifecycle"
	"github.com/kollektiv/kollektiv/internal/store"
)

// maxFailedInEvent caps the documents a failed event names.
const maxFailedInEvent = 100

// CheckChunkingCompleteArgs decides what follows a generation's batch jobs.
type CheckChunkingCompleteArgs struct {
	SourceGeneration
}

// Kind is the job kind.
func (CheckChunkingCompleteArgs) Kind() string { return string(lifecycle.KindCheckChunkingComplete) }

// InsertOpts makes the check unique per source generation.
func (CheckChunkingCompleteArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueDefault, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// CheckChunkingCompleteWorker counts the generation's batch jobs by state.
// The last batch job wakes it; it also wakes itself every safety interval
// while work is unfinished, so a batch job that River discarded after its
// last attempt, or a crash, can never leave the source waiting forever.
type CheckChunkingCompleteWorker struct {
	river.WorkerDefaults[CheckChunkingCompleteArgs]
	p *pipeline
}

// Timeout bounds one attempt, which may build a bulk index.
func (w *CheckChunkingCompleteWorker) Timeout(*river.Job[CheckChunkingCompleteArgs]) time.Duration {
	return max(w.p.Settings.JobTimeout, w.p.Settings.IndexBuildTimeout)
}

// Work runs the check: it loads the generation's job counts, waits while
// batch jobs are unfinished, builds a bulk index when the source has one,
// then settles the documents and moves the source on in one transaction.
func (w *CheckChunkingCompleteWorker) Work(ctx context.Context, job *river.Job[CheckChunkingCompleteArgs]) error {
	source, ok, err := jobSource(ctx, w.p, job, lifecycle.StageProcessingScheduled)
	if !ok {
		return err
	}
	counts, err := store.CountBatchJobs(ctx, w.p.Pool, lifecycle.BatchJobKinds(), source.ID, source.Generation)
	if err != nil {
		return err
	}
	if counts.Unfinished > 0 {
		return river.JobSnooze(w.p.Settings.FanInSafetyInterval)
	}
	if err := w.buildIndex(ctx, source); err != nil {
		return err
	}
	err = inJobTx(ctx, w.p, job, func(tx pgx.Tx) error {
		source, err := w.settleDocuments(ctx, tx, source, counts)
		if err != nil {
			return err
		}
		// The generation fails when jobs were lost, or when documents were
		// given and none of them could be processed; a few bad documents
		// among good ones do not fail the source.
		allFailed := source.DocumentCount > 0 && source.FailedDocumentCount == source.DocumentCount
		if counts.Failed == 0 && !allFailed {
			return w.chunksGenerated(ctx, tx, job, source)
		}
		failed, err := store.New(tx).ListFailedDocuments(ctx, source.ID)
		if err != nil {
			return fmt.Errorf("error listing failed documents: %w", err)
		}
		reason := fmt.Sprintf("%d of %d documents were not processed", len(failed), source.DocumentCount)
		if len(failed) > 0 && failed[0].Error != nil {
			reason += ": " + *failed[0].Error
		}
		return failSource(ctx, w.p, tx, job, source, reason, failed)
	})
	if err == nil && source.BulkIndex {
		w.dropReplacedIndex(ctx, source)
	}
	return err
}

// dropReplacedIndex drops the source's index that the one just registered
// replaces (built before indexes cast to halfvec), once no search reads
// it. A failure leaves it for the next worker start: searches no longer
// use it.
func (w *CheckChunkingCompleteWorker) dropReplacedIndex(ctx context.Context, source store.Source) {
	dropped, err := store.DropSourceVectorIndexes(ctx, w.p.Pool, 3*time.Second)
	switch {
	case err != nil:
		w.p.Logger.WarnContext(ctx, "replaced vector index left for the next worker start",
			slog.String("source_id", source.ID.String()), slog.String("error", err.Error()))
	case dropped > 0:
		w.p.Logger.InfoContext(ctx, "dropped replaced vector indexes", slog.String("source_id", source.ID.String()), slog.Int("indexes", dropped))
	}
}

// buildIndex makes a bulk-indexed source's vectors searchable: its index is
// built in one go over its rows, outside any transaction (a concurrent
// build cannot run in one), before the events that say it is ready.
//
// The build can take minutes on a large source, during which no batch job
// reports progress: a progress event with "building_index": true says it
// has begun, so a client shows the index build rather than a frozen count.
// Its key makes it once per generation, however often the check retries.
func (w *CheckChunkingCompleteWorker) buildIndex(ctx context.Context, source store.Source) error {
	if !source.BulkIndex {
		return nil
	}
	if err := inTx(ctx, w.p.Pool, func(tx pgx.Tx) error {
		counted, err := store.New(tx).SourceProgress(ctx, source.ID)
		if err != nil {
			return fmt.Errorf("error loading source's progress: %w", err)
		}
		return ScheduleEvent(ctx, client(ctx), tx, source.ID, source.Generation, lifecycle.StageProgress,
			fmt.Sprintf("%d:progress:building_index", source.Generation), map[string]any{
				"documents_processed": counted.DocumentsProcessed,
				"documents_total":     source.DocumentsScheduled,
				"chunks_written":      counted.ChunksWritten,
				"chunks_embedded":     counted.ChunksEmbedded,
				"building_index":      true,
			})
	}); err != nil {
		return err
	}
	dims := w.p.Embedder.Dimensions()
	start := time.Now()
	built, err := store.EnsureSourceVectorIndex(ctx, w.p.Pool, source.ID, dims, w.p.Settings.IndexBuild)
	if err != nil {
		return fmt.Errorf("error building the source's vector index: %w", err)
	}
	if built {
		w.p.Logger.InfoContext(ctx, "vector index built", slog.String("source_id", source.ID.String()),
			slog.String("index", store.SourceVectorIndexName(source.ID, dims)), slog.Duration("elapsed", time.Since(start)))
	}
	return nil
}

// settleDocuments ends the generation's documents in tx: a bulk index is
// registered, documents that lost their jobs fail, failed documents lose
// their chunks, chunked ones are embedded. It returns the source recounted.
func (w *CheckChunkingCompleteWorker) settleDocuments(ctx context.Context, tx pgx.Tx, source store.Source, counts store.BatchJobCounts) (store.Source, error) {
	q := store.New(tx)
	if source.BulkIndex {
		dims := w.p.Embedder.Dimensions()
		if err := q.RegisterSourceVectorIndex(ctx, store.RegisterSourceVectorIndexParams{
			SourceID: source.ID, Dims: int32(dims), UserID: source.UserID, IndexName: store.SourceVectorIndexName(source.ID, dims),
		}); err != nil {
			return source, fmt.Errorf("error registering the source's vector index: %w", err)
		}
	}
	if counts.Failed > 0 {
		reason := fmt.Sprintf("%d job(s) failed after their last attempt: %s", counts.Failed, counts.FirstError)
		if _, err := q.FailUnprocessedDocuments(ctx, store.FailUnprocessedDocumentsParams{SourceID: source.ID, Error: &reason}); err != nil {
			return source, fmt.Errorf("error failing unprocessed documents: %w", err)
		}
	}
	if _, err := q.DeleteChunksOfFailedDocuments(ctx, source.ID); err != nil {
		return source, fmt.Errorf("error deleting chunks of failed documents: %w", err)
	}
	if _, err := q.MarkDocumentsEmbedded(ctx, source.ID); err != nil {
		return source, fmt.Errorf("error marking documents embedded: %w", err)
	}
	source, err := q.RefreshSourceCounts(ctx, source.ID)
	if err != nil {
		return source, fmt.Errorf("error counting: %w", err)
	}
	return source, nil
}

// chunksGenerated moves the source to chunks_generated in tx, announces it
// and schedules the summary.
func (w *CheckChunkingCompleteWorker) chunksGenerated(ctx context.Context, tx pgx.Tx, job *river.Job[CheckChunkingCompleteArgs], source store.Source) error {
	rc := client(ctx)
	gen := job.Args.SourceGeneration
	if _, ok, err := lifecycle.MarkChunksGenerated(ctx, tx, source.ID, gen.Generation); err != nil || !ok {
		return cmp.Or(err, errSourceMovedOn)
	}
	if err := ScheduleEvent(ctx, rc, tx, source.ID, gen.Generation, lifecycle.StageChunksGenerated, "", map[string]any{
		"documents":        source.DocumentCount,
		"chunks":           source.ChunkCount,
		"failed_documents": source.FailedDocumentCount,
	}); err != nil {
		return err
	}
	if _, err := rc.InsertTx(ctx, tx, GenerateSummaryArgs{SourceGeneration: gen}, nil); err != nil {
		return fmt.Errorf("error inserting summary job: %w", err)
	}
	w.p.Logger.InfoContext(ctx, "chunks generated", slog.String("source_id", source.ID.String()), slog.Int("generation", int(gen.Generation)),
		slog.Int("documents", int(source.DocumentCount)), slog.Int("chunks", int(source.ChunkCount)))
	return completeTx(ctx, tx, job)
}

// failSource ends the job's generation as failed with reason in tx: the
// guarded transition, the failed event naming the failed documents, and
// the job's completion. The completion check and the summary job share it.
func failSource[T sourceJobArgs](ctx context.Context, p *pipeline, tx pgx.Tx, job *river.Job[T], source store.Source, reason string, failed []store.ListFailedDocumentsRow) error {
	gen := job.Args.sourceGeneration()
	if _, ok, err := lifecycle.Fail(ctx, tx, gen.SourceID, gen.Generation, reason); err != nil || !ok {
		return cmp.Or(err, errSourceMovedOn)
	}
	if err := ScheduleEvent(ctx, client(ctx), tx, gen.SourceID, gen.Generation, lifecycle.StageFailed, "", map[string]any{
		"error":            reason,
		"documents":        source.DocumentCount,
		"chunks":           source.ChunkCount,
		"failed_documents": failedDocumentsPayload(failed),
	}); err != nil {
		return err
	}
	p.Logger.WarnContext(ctx, "source failed", slog.String("source_id", gen.SourceID.String()),
		slog.Int("generation", int(gen.Generation)), slog.String("error", reason))
	return completeTx(ctx, tx, job)
}

// failedDocument is how an event names a failed document.
type failedDocument struct {
	URL   string `json:"url"`
	Error string `json:"error"`
}

func failedDocumentsPayload(rows []store.ListFailedDocumentsRow) []failedDocument {
	out := make([]failedDocument, 0, min(len(rows), maxFailedInEvent))
	for _, r := range rows[:min(len(rows), maxFailedInEvent)] {
		d := failedDocument{URL: r.URL}
		if r.Error != nil {
			d.Error = *r.Error
		}
		out = append(out, d)
	}
	return out
}
