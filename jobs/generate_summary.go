package jobs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/kollektiv/kollektiv/internal/content"
	"github.com/kollektiv/kollektiv/internal/lifecycle"
	"github.com/kollektiv/kollektiv/internal/provider"
	"github.com/kollektiv/kollektiv/internal/store"
	"github.com/kollektiv/kollektiv/internal/summarize"
)

// The bounded sample a summary is built from, whatever the source's size.
const (
	summaryMaxTitles = 1_000
	summaryMaxChunks = 2_000
)

// GenerateSummaryArgs summarises a source generation and completes it.
type GenerateSummaryArgs struct {
	SourceGeneration
}

// Kind is the job kind.
func (GenerateSummaryArgs) Kind() string { return string(lifecycle.KindGenerateSummary) }

// InsertOpts makes the job unique per source generation.
func (GenerateSummaryArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueDefault, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// GenerateSummaryWorker summarises outside the transaction, then stores the
// summary, completes the source and publishes its last events in one.
type GenerateSummaryWorker struct {
	river.WorkerDefaults[GenerateSummaryArgs]
	p *pipeline
}

// Timeout bounds one attempt.
func (w *GenerateSummaryWorker) Timeout(*river.Job[GenerateSummaryArgs]) time.Duration {
	return w.p.Settings.SummaryTimeout
}

// Work summarises the source.
func (w *GenerateSummaryWorker) Work(ctx context.Context, job *river.Job[GenerateSummaryArgs]) error {
	args := job.Args
	source, ok, err := jobSource(ctx, w.p, job, lifecycle.StageChunksGenerated)
	if !ok {
		return err
	}

	summary, err := w.summarize(ctx, source)
	if err != nil {
		final := provider.IsPermanent(err) || job.Attempt >= job.MaxAttempts
		if !final {
			if wait := provider.RetryAfter(err); wait > 0 {
				return river.JobSnooze(wait)
			}
			return fmt.Errorf("error summarising: %w", err)
		}
		// No retry can help (or none is left): fail the source with the
		// reason rather than leave it waiting at chunks_generated.
		return w.fail(ctx, job, source, "summary failed: "+err.Error())
	}

	rc := client(ctx)
	return inJobTx(ctx, w.p, job, func(tx pgx.Tx) error {
		q := store.New(tx)
		if _, err := q.UpsertSummary(ctx, store.UpsertSummaryParams{
			SourceID: source.ID, Summary: summary.Summary, Keywords: summary.Keywords, Model: w.p.Summarizer.Model(),
		}); err != nil {
			return fmt.Errorf("error storing summary: %w", err)
		}
		if err := ScheduleEvent(ctx, rc, tx, source.ID, args.Generation, lifecycle.StageSummaryGenerated, "", map[string]any{
			"summary": summary.Summary, "keywords": summary.Keywords,
		}); err != nil {
			return err
		}
		if _, ok, err := lifecycle.Complete(ctx, tx, source.ID, args.Generation); err != nil || !ok {
			return cmp.Or(err, errSourceMovedOn)
		}
		source, err := q.RefreshSourceCounts(ctx, source.ID)
		if err != nil {
			return fmt.Errorf("error counting: %w", err)
		}
		failed, err := q.ListFailedDocuments(ctx, source.ID)
		if err != nil {
			return fmt.Errorf("error listing failed documents: %w", err)
		}
		if err := ScheduleEvent(ctx, rc, tx, source.ID, args.Generation, lifecycle.StageCompleted, "", map[string]any{
			"documents": source.DocumentCount, "chunks": source.ChunkCount, "failed_documents": source.FailedDocumentCount,
			"failed": failedDocumentsPayload(failed),
		}); err != nil {
			return err
		}
		w.p.Logger.InfoContext(ctx, "source completed", slog.String("source_id", source.ID.String()),
			slog.Int("documents", int(source.DocumentCount)), slog.Int("chunks", int(source.ChunkCount)))
		return completeTx(ctx, tx, job)
	})
}

// summarize builds a bounded digest of the source and summarises it. A
// source without text gets an empty summary.
func (w *GenerateSummaryWorker) summarize(ctx context.Context, source store.Source) (summarize.Summary, error) {
	titles, err := w.p.queries.ListDocumentTitles(ctx, store.ListDocumentTitlesParams{SourceID: source.ID, MaxRows: summaryMaxTitles})
	if err != nil {
		return summarize.Summary{}, fmt.Errorf("error loading titles: %w", err)
	}
	sample, err := w.p.queries.SampleChunks(ctx, store.SampleChunksParams{SourceID: source.ID, MaxRows: summaryMaxChunks})
	if err != nil {
		return summarize.Summary{}, fmt.Errorf("error loading chunks: %w", err)
	}
	in := summarize.DigestInput{Source: source.URI, TotalDocuments: int(source.DocumentCount)}
	for _, t := range titles {
		in.Documents = append(in.Documents, summarize.Document{Title: t.Title, URL: t.URL})
	}
	for _, c := range sample {
		chunk := summarize.Chunk{Text: content.Chunk{Headers: c.Headers, Text: c.Text}.EmbedText()}
		if c.Embedding != nil {
			chunk.Embedding = c.Embedding.Slice()
		}
		in.Chunks = append(in.Chunks, chunk)
	}
	digest, err := summarize.BuildDigest(ctx, in, summarize.DigestConfig{Embedder: w.p.Embedder})
	if err != nil {
		return summarize.Summary{}, fmt.Errorf("error building digest: %w", err)
	}
	summary, err := w.p.Summarizer.Summarize(ctx, digest)
	if errors.Is(err, summarize.ErrEmptyDigest) {
		return summarize.Summary{Keywords: []string{}}, nil
	}
	if summary.Keywords == nil {
		summary.Keywords = []string{}
	}
	return summary, err
}

func (w *GenerateSummaryWorker) fail(ctx context.Context, job *river.Job[GenerateSummaryArgs], source store.Source, reason string) error {
	w.p.Logger.ErrorContext(ctx, "summary failed", slog.String("source_id", source.ID.String()), slog.String("error", reason))
	return inJobTx(ctx, w.p, job, func(tx pgx.Tx) error {
		return failSource(ctx, w.p, tx, job, source, reason, nil)
	})
}
