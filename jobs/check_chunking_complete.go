package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/kollektiv/kollektiv/internal/events"
	"github.com/kollektiv/kollektiv/internal/store"
)

// maxFailedInEvent caps the documents a failed event names.
const maxFailedInEvent = 100

// CheckChunkingCompleteArgs decides what follows a generation's batch jobs.
type CheckChunkingCompleteArgs struct {
	SourceGeneration
}

// Kind is the job kind.
func (CheckChunkingCompleteArgs) Kind() string { return store.KindCheckChunkingComplete }

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

// Work runs the check.
func (w *CheckChunkingCompleteWorker) Work(ctx context.Context, job *river.Job[CheckChunkingCompleteArgs]) error {
	args := job.Args
	if err := validateArgs(args); err != nil {
		return err
	}
	source, ok, err := w.p.currentSource(ctx, args.SourceGeneration, events.StageProcessingScheduled)
	if err != nil {
		return err
	}
	if !ok {
		return completeNow(ctx, w.p.Pool, job)
	}
	counts, err := store.CountBatchJobs(ctx, w.p.Pool, source.ID, args.Generation)
	if err != nil {
		return err
	}
	if counts.Unfinished > 0 {
		return river.JobSnooze(w.p.Settings.FanInSafetyInterval)
	}

	logger := w.p.Logger.With(slog.String("source_id", source.ID.String()), slog.Int("generation", int(args.Generation)))
	// A bulk-indexed source's vectors become searchable here: its index is
	// built in one go over its rows, outside the transaction (a concurrent
	// build cannot run in one), before the events that say it is ready.
	dims := w.p.Embedder.Dimensions()
	if source.BulkIndex {
		start := time.Now()
		built, err := store.EnsureSourceVectorIndex(ctx, w.p.Pool, source.ID, dims, w.p.Settings.IndexBuild)
		if err != nil {
			return fmt.Errorf("error building the source's vector index: %w", err)
		}
		if built {
			logger.InfoContext(ctx, "vector index built", slog.String("index", store.SourceVectorIndexName(source.ID, dims)),
				slog.Duration("elapsed", time.Since(start)))
		}
	}

	rc := client(ctx)
	return inTx(ctx, w.p.Pool, func(tx pgx.Tx) error {
		q := store.New(tx)
		if source.BulkIndex {
			if err := q.RegisterSourceVectorIndex(ctx, store.RegisterSourceVectorIndexParams{
				SourceID: source.ID, Dims: int32(dims), UserID: source.UserID, IndexName: store.SourceVectorIndexName(source.ID, dims),
			}); err != nil {
				return fmt.Errorf("error registering the source's vector index: %w", err)
			}
		}
		if counts.Failed > 0 {
			reason := fmt.Sprintf("%d job(s) failed after their last attempt: %s", counts.Failed, counts.FirstError)
			if _, err := q.FailUnprocessedDocuments(ctx, store.FailUnprocessedDocumentsParams{SourceID: source.ID, Error: &reason}); err != nil {
				return fmt.Errorf("error failing unprocessed documents: %w", err)
			}
		}
		if _, err := q.DeleteChunksOfFailedDocuments(ctx, source.ID); err != nil {
			return fmt.Errorf("error deleting chunks of failed documents: %w", err)
		}
		if _, err := q.MarkDocumentsEmbedded(ctx, source.ID); err != nil {
			return fmt.Errorf("error marking documents embedded: %w", err)
		}
		source, err := q.RefreshSourceCounts(ctx, source.ID)
		if err != nil {
			return fmt.Errorf("error counting: %w", err)
		}

		// The generation fails when jobs were lost, or when documents were
		// given and none of them could be processed; a few bad documents
		// among good ones do not fail the source.
		allFailed := source.DocumentCount > 0 && source.FailedDocumentCount == source.DocumentCount
		if counts.Failed > 0 || allFailed {
			failed, err := q.ListFailedDocuments(ctx, source.ID)
			if err != nil {
				return fmt.Errorf("error listing failed documents: %w", err)
			}
			msg := fmt.Sprintf("%d of %d documents were not processed", len(failed), source.DocumentCount)
			if len(failed) > 0 && failed[0].Error != nil {
				msg += ": " + *failed[0].Error
			}
			if _, err := q.SetSourceStage(ctx, store.SetSourceStageParams{ID: source.ID, Stage: events.StageFailed, Error: &msg}); err != nil {
				return fmt.Errorf("error setting stage: %w", err)
			}
			if err := ScheduleEvent(ctx, rc, tx, source.ID, args.Generation, events.StageFailed, "", map[string]any{
				"error":            msg,
				"documents":        source.DocumentCount,
				"chunks":           source.ChunkCount,
				"failed_documents": failedDocumentsPayload(failed),
			}); err != nil {
				return err
			}
			logger.WarnContext(ctx, "source failed", slog.String("error", msg))
			return completeTx(ctx, tx, job)
		}

		if _, err := q.SetSourceStage(ctx, store.SetSourceStageParams{ID: source.ID, Stage: events.StageChunksGenerated}); err != nil {
			return fmt.Errorf("error setting stage: %w", err)
		}
		if err := ScheduleEvent(ctx, rc, tx, source.ID, args.Generation, events.StageChunksGenerated, "", map[string]any{
			"documents":        source.DocumentCount,
			"chunks":           source.ChunkCount,
			"failed_documents": source.FailedDocumentCount,
		}); err != nil {
			return err
		}
		if _, err := rc.InsertTx(ctx, tx, GenerateSummaryArgs{SourceGeneration: args.SourceGeneration}, nil); err != nil {
			return fmt.Errorf("error inserting summary job: %w", err)
		}
		logger.InfoContext(ctx, "chunks generated", slog.Int("documents", int(source.DocumentCount)), slog.Int("chunks", int(source.ChunkCount)))
		return completeTx(ctx, tx, job)
	})
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
