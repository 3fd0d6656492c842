package jobs

import (
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/kollektiv/kollektiv/internal/content"
	"github.com/kollektiv/kollektiv/internal/lifecycle"
	"github.com/kollektiv/kollektiv/internal/store"
)

// CrawlSettings are a URL source's crawl settings: what the API and the CLI
// accept, kept in the source's options and carried by its crawl_source job.
type CrawlSettings struct {
	// MaxPages is the most pages requested, the start page included.
	MaxPages int `json:"max_pages"`
	// MaxDepth is how many links away from the start page the crawl goes;
	// 0 means content's default (3).
	MaxDepth int `json:"max_depth,omitempty"`
	// IncludePaths and ExcludePaths are path patterns (see
	// content.CrawlOptions).
	IncludePaths []string `json:"include_paths,omitempty"`
	ExcludePaths []string `json:"exclude_paths,omitempty"`
	// AllowPrivate lets the crawl reach loopback and private addresses. Only
	// the deployment decides it (KOLLEKTIV_CRAWL_ALLOW_PRIVATE for the API,
	// --allow-private for the CLI); API clients cannot set it.
	AllowPrivate bool `json:"allow_private,omitempty"`
}

// Validate checks the settings.
func (c CrawlSettings) Validate() error {
	switch {
	case c.MaxPages < 1:
		return fmt.Errorf("max_pages: %d, want at least 1", c.MaxPages)
	case c.MaxDepth < 0:
		return fmt.Errorf("max_depth: %d, want 0 or more", c.MaxDepth)
	}
	return nil
}

// ContentOptions are the crawler's options for these settings.
func (c CrawlSettings) ContentOptions() content.CrawlOptions {
	return content.CrawlOptions{
		MaxPages: c.MaxPages, MaxDepth: c.MaxDepth, Include: c.IncludePaths, Exclude: c.ExcludePaths,
		AllowPrivate: c.AllowPrivate,
	}
}

// CrawlSourceArgs crawls a URL source's site into its documents.
type CrawlSourceArgs struct {
	SourceGeneration
	Crawl CrawlSettings `json:"crawl"`
}

// Kind is the job kind.
func (CrawlSourceArgs) Kind() string { return string(lifecycle.KindCrawlSource) }

// crawlRiverMaxAttempts is River's attempt limit for crawl_source, a
// backstop far above the crawl's own budget (Settings.MaxAttempts). River
// discards a job whose last attempt was killed without running any of its
// code, which would leave the source at crawling for good; with this
// backstop the rescued job comes back once more, finds its budget spent
// and fails the source.
const crawlRiverMaxAttempts = 1000

// InsertOpts puts the job on the crawling queue, once per source
// generation: a long crawl waits on the network and must not hold a slot
// of the default queue, where events are published.
func (CrawlSourceArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueCrawling, MaxAttempts: crawlRiverMaxAttempts, UniqueOpts: river.UniqueOpts{ByArgs: true}}
}

// Validate checks the source generation and the settings.
func (a CrawlSourceArgs) Validate() error {
	if err := a.SourceGeneration.Validate(); err != nil {
		return err
	}
	if err := a.Crawl.Validate(); err != nil {
		return fmt.Errorf("crawl: %w", err)
	}
	return nil
}

// CrawlSourceWorker fetches a URL source's pages and stores them as
// documents batch by batch, each batch in one transaction with the crawl's
// checkpoint, so a crawl that is killed goes on where its last batch ended.
// When nothing is left to fetch it removes the documents that vanished,
// counts, schedules process_documents and completes, in one transaction.
type CrawlSourceWorker struct {
	river.WorkerDefaults[CrawlSourceArgs]
	p *pipeline
}

// Timeout bounds one attempt. An attempt that runs out keeps its stored
// batches; the next one goes on from there.
func (w *CrawlSourceWorker) Timeout(*river.Job[CrawlSourceArgs]) time.Duration {
	return w.p.Settings.CrawlTimeout
}

// errCrawlSuperseded stops a crawl whose source was deleted or moved on.
var errCrawlSuperseded = errors.New("the source is no longer crawling this generation")

// Work crawls, or goes on crawling from the checkpoint.
func (w *CrawlSourceWorker) Work(ctx context.Context, job *river.Job[CrawlSourceArgs]) error {
	args := job.Args
	source, ok, err := jobSource(ctx, w.p, job, lifecycle.StageCrawling)
	if err != nil || !ok {
		return err
	}
	budget := w.p.Settings.MaxAttempts
	if job.Attempt > budget {
		// The last attempt ended without a word: its worker was killed or
		// lost its database. Nothing will try again, so say so.
		return w.fail(ctx, job, source, fmt.Sprintf("crawl failed: attempt %d of %d did not finish (its worker stopped)", job.Attempt-1, budget))
	}
	logger := w.p.Logger.With(slog.String("source_id", source.ID.String()), slog.Int("generation", int(args.Generation)))
	opts := args.Crawl.ContentOptions()
	opts.BatchPages = w.p.Settings.CrawlBatchPages
	if err := content.ValidateCrawl(source.URI, opts); err != nil {
		return w.fail(ctx, job, source, "url: "+err.Error())
	}

	state, err := w.checkpoint(ctx, args.SourceGeneration)
	if err != nil {
		return err
	}
	if state != nil {
		logger.InfoContext(ctx, "crawl resumed", slog.Int("pages_fetched", state.Fetched), slog.Int("documents", len(state.Stored)))
	}
	rc := client(ctx)
	var lastProgress time.Time
	final, err := content.CrawlFrom(ctx, source.URI, opts, state, func(b content.CrawlBatch) error {
		err := inTx(ctx, w.p.Pool, func(tx pgx.Tx) error {
			q := store.New(tx)
			raw, err := json.Marshal(b.State)
			if err != nil {
				return fmt.Errorf("error encoding crawl checkpoint: %w", err)
			}
			_, err = q.SaveCrawlCheckpoint(ctx, store.SaveCrawlCheckpointParams{
				SourceID: source.ID, Generation: args.Generation, State: raw, PagesFetched: int32(b.State.Fetched),
			})
			if errors.Is(err, pgx.ErrNoRows) {
				return errCrawlSuperseded
			}
			if err != nil {
				return fmt.Errorf("error saving crawl checkpoint: %w", err)
			}
			if _, err := StoreDocuments(ctx, q, source.ID, b.Documents, b.Problems); err != nil {
				return err
			}
			if time.Since(lastProgress) < w.p.Settings.ProgressInterval && !b.State.Done() {
				return nil
			}
			lastProgress = time.Now()
			return ScheduleEvent(ctx, rc, tx, source.ID, args.Generation, lifecycle.StageProgress,
				fmt.Sprintf("%d:crawl:%d", args.Generation, b.State.Fetched), map[string]any{
					"pages_fetched": b.State.Fetched, "pages_limit": args.Crawl.MaxPages,
					"documents": len(b.State.Stored), "failed_documents": len(b.State.Failed),
				})
		})
		if err != nil {
			return err
		}
		if w.p.Settings.afterCrawlBatch != nil {
			return w.p.Settings.afterCrawlBatch(b.State.Fetched)
		}
		return nil
	})
	switch {
	case errors.Is(err, errCrawlSuperseded):
		logger.InfoContext(ctx, "source moved on during its crawl: nothing to do")
		return completeNow(ctx, w.p.Pool, job)
	case err != nil && job.Attempt < budget:
		return fmt.Errorf("error crawling %s: %w", source.URI, err)
	case err != nil:
		// The last attempt: fail the source rather than leave it crawling
		// for good. Its context may be what ran out, hence a fresh one.
		msg := fmt.Sprintf("crawl failed after %d attempts: %v", job.Attempt, err)
		failCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		return w.fail(failCtx, job, source, msg)
	}
	return w.finish(ctx, job, source, final, logger)
}

// checkpoint returns the generation's crawl state, nil to start afresh.
func (w *CrawlSourceWorker) checkpoint(ctx context.Context, gen SourceGeneration) (*content.CrawlState, error) {
	row, err := w.p.queries.GetCrawlCheckpoint(ctx, store.GetCrawlCheckpointParams{SourceID: gen.SourceID, Generation: gen.Generation})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("error loading crawl checkpoint: %w", err)
	}
	var state content.CrawlState
	if err := json.Unmarshal(row.State, &state); err != nil {
		// Written by this code in the same transaction as its documents, so
		// this is a bug or a manual edit: starting over is always correct,
		// only slower.
		w.p.Logger.ErrorContext(ctx, "unreadable crawl checkpoint: crawling again from the start",
			slog.String("source_id", gen.SourceID.String()), slog.String("error", err.Error()))
		return nil, nil
	}
	return &state, nil
}

// finish ends a crawl: its source's documents are those it stored, the
// source is created, and process_documents takes over; or, when no page
// could be stored, the source fails and keeps the documents it had.
func (w *CrawlSourceWorker) finish(ctx context.Context, job *river.Job[CrawlSourceArgs], source store.Source, state *content.CrawlState, logger *slog.Logger) error {
	if len(state.Stored) == 0 {
		failed, err := w.p.queries.ListFailedDocuments(ctx, source.ID)
		if err != nil {
			return fmt.Errorf("error listing failed documents: %w", err)
		}
		first := "none"
		for _, f := range failed {
			if f.Error != nil {
				first = *f.Error
				break
			}
		}
		return w.fail(ctx, job, source, fmt.Sprintf("url: no document could be fetched from %s (%d problems, first: %s)",
			source.URI, len(state.Failed), first))
	}
	rc := client(ctx)
	return inTx(ctx, w.p.Pool, func(tx pgx.Tx) error {
		q := store.New(tx)
		if _, ok, err := lifecycle.FinishCrawl(ctx, tx, source.ID, job.Args.Generation); err != nil || !ok {
			return cmp.Or(err, errSourceMovedOn)
		}
		keep := make([]uuid.UUID, 0, len(state.Stored)+len(state.Failed))
		for _, u := range slices.Concat(state.Stored, state.Failed) {
			keep = append(keep, content.DocumentID(source.ID, u))
		}
		removed, err := q.DeleteDocumentsNotIn(ctx, store.DeleteDocumentsNotInParams{SourceID: source.ID, Keep: keep})
		if err != nil {
			return fmt.Errorf("error removing vanished documents: %w", err)
		}
		if err := q.DeleteCrawlCheckpoint(ctx, source.ID); err != nil {
			return fmt.Errorf("error removing crawl checkpoint: %w", err)
		}
		counted, err := q.RefreshSourceCounts(ctx, source.ID)
		if err != nil {
			return fmt.Errorf("error counting documents: %w", err)
		}
		if err := ScheduleEvent(ctx, rc, tx, source.ID, job.Args.Generation, lifecycle.StageCreated, "", map[string]any{
			"documents": counted.DocumentCount, "failed_documents": counted.FailedDocumentCount,
			"pages_fetched": state.Fetched, "removed_documents": removed, "refresh": job.Args.Generation > 1,
		}); err != nil {
			return err
		}
		if _, err := rc.InsertTx(ctx, tx, ProcessDocumentsArgs{SourceGeneration: job.Args.SourceGeneration}, nil); err != nil {
			return fmt.Errorf("error scheduling processing: %w", err)
		}
		logger.InfoContext(ctx, "crawl finished", slog.Int("pages_fetched", state.Fetched),
			slog.Int("documents", int(counted.DocumentCount)), slog.Int64("removed_documents", removed))
		return completeTx(ctx, tx, job)
	})
}

// fail ends a crawl that cannot go on: the source fails with msg, through
// the same transition and event as a pipeline failure.
func (w *CrawlSourceWorker) fail(ctx context.Context, job *river.Job[CrawlSourceArgs], source store.Source, msg string) error {
	w.p.Logger.WarnContext(ctx, "crawl failed", slog.String("source_id", source.ID.String()), slog.String("error", msg))
	return inJobTx(ctx, w.p, job, func(tx pgx.Tx) error {
		q := store.New(tx)
		if err := q.DeleteCrawlCheckpoint(ctx, source.ID); err != nil {
			return fmt.Errorf("error removing crawl checkpoint: %w", err)
		}
		counted, err := q.RefreshSourceCounts(ctx, source.ID)
		if errors.Is(err, pgx.ErrNoRows) {
			return errSourceMovedOn // deleted
		}
		if err != nil {
			return fmt.Errorf("error counting documents: %w", err)
		}
		failed, err := q.ListFailedDocuments(ctx, source.ID)
		if err != nil {
			return fmt.Errorf("error listing failed documents: %w", err)
		}
		return failSource(ctx, w.p, tx, job, counted, msg, failed)
	})
}

// StoreDocuments writes a source's loaded documents, upserted by their
// deterministic id (an unchanged document keeps its status, so it is not
// processed again), and the documents that could not be loaded, as failed
// with their reason. It returns the ids written.
func StoreDocuments(ctx context.Context, q *store.Queries, sourceID uuid.UUID, docs []content.Document, problems []*content.DocumentError) ([]uuid.UUID, error) {
	ids := make([]uuid.UUID, 0, len(docs)+len(problems))
	rows := make([]store.UpsertDocumentParams, 0, len(docs))
	for _, d := range docs {
		hash, err := hex.DecodeString(d.ContentHash())
		if err != nil {
			return nil, fmt.Errorf("error decoding content hash: %w", err)
		}
		metadata, err := json.Marshal(d.Metadata)
		if err != nil || d.Metadata == nil {
			metadata = []byte("{}")
		}
		id := content.DocumentID(sourceID, d.URL)
		ids = append(ids, id)
		rows = append(rows, store.UpsertDocumentParams{
			ID: id, SourceID: sourceID, URL: d.URL, Title: d.Title, Content: d.Content, ContentHash: hash, Metadata: metadata,
		})
	}
	var batchErr error
	q.UpsertDocument(ctx, rows).Exec(func(_ int, err error) { batchErr = errors.Join(batchErr, err) })
	if batchErr != nil {
		return nil, fmt.Errorf("error storing documents: %w", batchErr)
	}
	for _, prob := range problems {
		id := content.DocumentID(sourceID, prob.URL)
		ids = append(ids, id)
		msg := prob.Error()
		if err := q.InsertFailedDocument(ctx, store.InsertFailedDocumentParams{ID: id, SourceID: sourceID, URL: prob.URL, Title: prob.URL, Error: &msg}); err != nil {
			return nil, fmt.Errorf("error recording failed document %s: %w", prob.URL, err)
		}
	}
	return ids, nil
}
