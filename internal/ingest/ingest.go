// Package ingest is the one way a source enters Kollektiv, shared by the CLI
// and the API: the source's rows, its documents and its first job are
// written in one transaction, so a source is never accepted and then
// forgotten. Its stage and generation change only through internal/lifecycle's
// guarded transitions.
package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"

	"github.com/kollektiv/kollektiv/internal/content"
	"github.com/kollektiv/kollektiv/internal/derr"
	"github.com/kollektiv/kollektiv/internal/lifecycle"
	"github.com/kollektiv/kollektiv/internal/store"
	"github.com/kollektiv/kollektiv/jobs"
)

// Source kinds.
const (
	KindFiles  = "files"
	KindURL    = "url"
	KindInline = "inline"
)

// ErrIdempotencyKeyReused is returned when an idempotency key comes back
// with a request other than the one that first used it (422).
var ErrIdempotencyKeyReused = derr.New(derr.IdempotencyKeyReused, "idempotency key already used with different parameters")

// Service adds sources.
type Service struct {
	Pool   *pgxpool.Pool
	River  *river.Client[pgx.Tx]
	Logger *slog.Logger
}

// AddParams describes a source and its loaded documents.
type AddParams struct {
	UserID string
	// Kind is files, url or inline.
	Kind string
	// URI is the path or URL; a files or url source with the same URI and
	// user is refreshed instead of created again.
	URI string
	// Crawl, required for a URL source and only for it, are its crawl
	// settings: the source is accepted at stage crawling and a crawl_source
	// job fetches its pages into documents, so Documents and Problems stay
	// empty. They are kept in the source's options (see Options).
	Crawl *jobs.CrawlSettings
	// IdempotencyKey, when set, makes a repeated Add return the first
	// source.
	IdempotencyKey string
	// RequestHash identifies the request that carries IdempotencyKey (a
	// hash of its canonical form): the key coming back with another hash
	// gives ErrIdempotencyKeyReused. Nil is not checked.
	RequestHash []byte
	Documents   []content.Document
	// Problems are documents that could not be loaded; they are recorded
	// as failed documents with their reason.
	Problems []*content.DocumentError
	// Stream, when set, loads more documents (and problems) after
	// Documents and Problems, inside Add's transaction: each is written
	// in a batch as soon as it is read, so that a directory of any size
	// is never held in memory. The source still appears with all its
	// documents and its first job at once, when the transaction commits;
	// an error of Stream's rolls it all back.
	Stream DocumentStream

	// refresh, when set, is the source to refresh, instead of the latest
	// one of the same URI.
	refresh uuid.UUID
}

// Added is the outcome of Add.
type Added struct {
	Source store.Source
	// Refreshed is true when an existing source was ingested again.
	Refreshed bool
	// Replayed is true when the idempotency key matched an earlier source.
	Replayed bool
	// Documents counts the documents this call stored; Problems are
	// those it stored failed because they could not be loaded, in the
	// order they came (their names and reasons only).
	Documents int
	Problems  []*content.DocumentError
}

// Add stores a source and its documents and schedules its processing, in
// one transaction. Ingesting the same path or URL again refreshes the
// source: unchanged documents are skipped, changed ones re-processed, and
// vanished ones removed with their chunks.
func (s *Service) Add(ctx context.Context, p AddParams) (Added, error) {
	if p.UserID == "" {
		return Added{}, errors.New("a source needs a user")
	}
	switch p.Kind {
	case KindFiles, KindURL, KindInline:
	default:
		return Added{}, fmt.Errorf("unknown source kind %q", p.Kind)
	}
	switch {
	case (p.Kind == KindURL) != (p.Crawl != nil):
		return Added{}, errors.New("a URL source needs crawl settings, and only a URL source has them")
	case p.Crawl != nil && (len(p.Documents)+len(p.Problems) > 0 || p.Stream != nil):
		return Added{}, errors.New("a URL source's documents come from its crawl, not with it")
	case p.Crawl != nil:
		if err := p.Crawl.Validate(); err != nil {
			return Added{}, fmt.Errorf("crawl: %w", err)
		}
	}
	options, err := json.Marshal(Options{Version: OptionsVersion, Crawl: p.Crawl})
	if err != nil {
		return Added{}, fmt.Errorf("error encoding options: %w", err)
	}

	var added Added
	var written *documentWriter
	err = pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		q := store.New(tx)
		if p.IdempotencyKey != "" {
			existing, err := q.GetSourceByIdempotencyKey(ctx, store.GetSourceByIdempotencyKeyParams{UserID: p.UserID, IdempotencyKey: &p.IdempotencyKey})
			if err == nil {
				added = Added{Source: existing, Replayed: true}
				return SameRequest(existing, p.RequestHash)
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("error looking up idempotency key: %w", err)
			}
		}

		source, refreshed, err := s.createOrRefresh(ctx, tx, p, options)
		if err != nil {
			return err
		}
		if p.Crawl != nil {
			source, err = s.scheduleCrawl(ctx, tx, source, options, *p.Crawl, refreshed)
			added = Added{Source: source, Refreshed: refreshed}
			return err
		}
		if written, err = storeDocuments(ctx, tx, source.ID, refreshed, p); err != nil {
			return err
		}
		// The source's documents are now exactly those written (a refresh
		// removed the others), and only the problems are failed: a
		// refreshed document is unchanged and not failed, or written again.
		if source, err = q.SetSourceCounts(ctx, store.SetSourceCountsParams{
			ID: source.ID, DocumentCount: int32(written.Documents + len(written.Problems)), FailedDocumentCount: int32(len(written.Problems)),
		}); err != nil {
			return fmt.Errorf("error counting documents: %w", err)
		}
		if err := s.schedule(ctx, tx, source, map[string]any{
			"documents": source.DocumentCount, "failed_documents": source.FailedDocumentCount, "refresh": refreshed,
		}); err != nil {
			return err
		}
		added = Added{Source: source, Refreshed: refreshed, Documents: written.Documents, Problems: written.Problems}
		return nil
	})
	var pgErr *pgconn.PgError
	if p.IdempotencyKey != "" && errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "sources_user_id_idempotency_key_idx" {
		// A concurrent request with the same key won: answer with its source.
		existing, getErr := store.New(s.Pool).GetSourceByIdempotencyKey(ctx, store.GetSourceByIdempotencyKeyParams{UserID: p.UserID, IdempotencyKey: &p.IdempotencyKey})
		if getErr == nil {
			return Added{Source: existing, Replayed: true}, SameRequest(existing, p.RequestHash)
		}
	}
	if errors.Is(err, ErrIdempotencyKeyReused) {
		return added, err
	}
	if err != nil {
		return Added{}, err
	}
	if s.Logger != nil && !added.Replayed {
		s.Logger.InfoContext(ctx, "source added", slog.String("source_id", added.Source.ID.String()),
			slog.String("kind", p.Kind), slog.Int("documents", added.Documents), slog.Int("problems", len(added.Problems)),
			slog.Bool("refresh", added.Refreshed))
	}
	return added, nil
}

// storeDocuments writes the documents of p, then those of its stream, to
// the source sourceID in tx: straight into its rows when it is new, through
// the staging table of a refresh when it existed (unchanged documents keep
// their status, vanished ones are removed).
func storeDocuments(ctx context.Context, tx pgx.Tx, sourceID uuid.UUID, refreshed bool, p AddParams) (*documentWriter, error) {
	w, err := newDocumentWriter(ctx, tx, sourceID, refreshed)
	if err != nil {
		return nil, err
	}
	defer w.close()
	for i := range p.Documents {
		if err := w.add(ctx, &p.Documents[i], nil); err != nil {
			return nil, err
		}
	}
	for _, prob := range p.Problems {
		if err := w.add(ctx, nil, prob); err != nil {
			return nil, err
		}
	}
	if p.Stream != nil {
		if err := p.Stream(ctx, func(doc *content.Document, problem *content.DocumentError) error {
			return w.add(ctx, doc, problem)
		}); err != nil {
			return nil, err
		}
	}
	return w, w.finish(ctx)
}

// SameRequest checks that requestHash is the request that created source
// with its idempotency key: ErrIdempotencyKeyReused if not. A source stored
// without a hash (before hashes were kept) or a nil requestHash passes.
func SameRequest(source store.Source, requestHash []byte) error {
	if source.IdempotencyRequestHash == nil || requestHash == nil || bytes.Equal(source.IdempotencyRequestHash, requestHash) {
		return nil
	}
	key := ""
	if source.IdempotencyKey != nil {
		key = *source.IdempotencyKey
	}
	return &derr.Error{Kind: derr.IdempotencyKeyReused, Cause: ErrIdempotencyKeyReused, Message: fmt.Sprintf(
		"Idempotency-Key %q was already used with different parameters (the key was first used for source %s); "+
			"send the same request to get that source again, or use a new key", key, source.ID)}
}

func (s *Service) createOrRefresh(ctx context.Context, tx pgx.Tx, p AddParams, options []byte) (store.Source, bool, error) {
	q := store.New(tx)
	if p.Kind != KindInline && p.URI != "" {
		var existing store.Source
		var err error
		if p.refresh != uuid.Nil {
			existing, err = q.GetSource(ctx, store.GetSourceParams{ID: p.refresh, UserID: p.UserID})
		} else {
			existing, err = q.FindSourceByURI(ctx, store.FindSourceByURIParams{UserID: p.UserID, Kind: p.Kind, URI: p.URI})
		}
		switch {
		case err == nil:
			// Guarded in SQL: a source still running, or refreshed by a
			// racing request meanwhile, gives lifecycle.ErrBusy.
			source, err := lifecycle.StartGeneration(ctx, tx, p.UserID, existing.ID)
			if err != nil {
				return source, false, err
			}
			return source, true, nil
		case !errors.Is(err, pgx.ErrNoRows):
			return store.Source{}, false, fmt.Errorf("error looking up source: %w", err)
		}
	}
	var key *string
	if p.IdempotencyKey != "" {
		key = &p.IdempotencyKey
	}
	source, err := lifecycle.Create(ctx, tx, store.CreateSourceParams{
		ID: uuid.New(), UserID: p.UserID, Kind: p.Kind, URI: p.URI, Options: options, IdempotencyKey: key,
		IdempotencyRequestHash: p.RequestHash,
	})
	return source, false, err
}

// Retry processes a finished source's failed documents again, in a new
// generation. It reports how many documents were sent back. The start of
// the generation is guarded in SQL (lifecycle.StartRetry): of two racing
// retries one wins and the other gets lifecycle.ErrBusy (a conflict); a
// completed source without a document to retry gets
// lifecycle.ErrNothingToRetry (a conflict too) and is left as it was; an
// unknown one lifecycle.ErrNotFound.
func (s *Service) Retry(ctx context.Context, userID string, sourceID uuid.UUID) (store.Source, int64, error) {
	var source store.Source
	var n int64
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		var err error
		if source, n, err = lifecycle.StartRetry(ctx, tx, userID, sourceID); err != nil {
			return err
		}
		return s.schedule(ctx, tx, source, map[string]any{"documents": source.DocumentCount, "retry": n})
	})
	return source, n, err
}

// maxDeleteAttempts bounds the tries of a delete that lost a deadlock.
const maxDeleteAttempts = 3

// Delete cancels a source's waiting jobs and removes it with its documents,
// chunks, vectors, summary and events, in one transaction. Jobs already
// running find the source gone and do nothing. An unknown source gives
// lifecycle.ErrNotFound.
//
// A bulk-built vector index of the source is dropped after the commit, when
// that can be done within a few seconds (another index build holds the
// table's lock meanwhile); otherwise the next worker to start drops it.
//
// A job committing at that moment may hold rows the delete must remove
// (its fan-in shard, the documents its chunks reference) while it waits
// for the source's row; PostgreSQL then aborts one side as a deadlock. The
// job retries on its own; the delete, which changed nothing, is tried
// again here.
func (s *Service) Delete(ctx context.Context, userID string, sourceID uuid.UUID) error {
	var err error
	for attempt := 1; ; attempt++ {
		err = pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
			// The delete takes the row's lock first: a job committing its own
			// transition of the source waits, then finds no row.
			if err := lifecycle.Delete(ctx, tx, userID, sourceID); err != nil {
				return err
			}
			_, err := store.CancelSourceJobs(ctx, tx, sourceID)
			return err
		})
		if attempt == maxDeleteAttempts || !store.IsDeadlock(err) {
			break
		}
	}
	if err != nil {
		return err
	}
	if _, err := store.DropSourceVectorIndexes(ctx, s.Pool, 3*time.Second); err != nil && s.Logger != nil {
		s.Logger.WarnContext(ctx, "vector index of a deleted source left for the next worker start",
			slog.String("source_id", sourceID.String()), slog.String("error", err.Error()))
	}
	return nil
}

// scheduleCrawl moves a URL source's new generation to crawling and
// inserts its crawl_source job, with the crawling event.
func (s *Service) scheduleCrawl(ctx context.Context, tx pgx.Tx, source store.Source, options []byte, crawl jobs.CrawlSettings, refreshed bool) (store.Source, error) {
	crawling, ok, err := lifecycle.StartCrawl(ctx, tx, source.ID, source.Generation, options)
	if err != nil {
		return source, err
	}
	if !ok {
		return source, fmt.Errorf("%w: %s is at stage %s", lifecycle.ErrBusy, source.ID, source.Stage)
	}
	if err := jobs.ScheduleEvent(ctx, s.River, tx, source.ID, source.Generation, lifecycle.StageCrawling, "", map[string]any{
		"url": source.URI, "pages_limit": crawl.MaxPages, "refresh": refreshed,
	}); err != nil {
		return source, err
	}
	gen := jobs.SourceGeneration{SourceID: source.ID, Generation: source.Generation}
	if _, err := s.River.InsertTx(ctx, tx, jobs.CrawlSourceArgs{SourceGeneration: gen, Crawl: crawl}, nil); err != nil {
		return source, fmt.Errorf("error scheduling crawl: %w", err)
	}
	return crawling, nil
}

// schedule writes the created event and the first job of a generation.
func (s *Service) schedule(ctx context.Context, tx pgx.Tx, source store.Source, payload map[string]any) error {
	if err := jobs.ScheduleEvent(ctx, s.River, tx, source.ID, source.Generation, lifecycle.StageCreated, "", payload); err != nil {
		return err
	}
	if _, err := s.River.InsertTx(ctx, tx, jobs.ProcessDocumentsArgs{SourceGeneration: jobs.SourceGeneration{
		SourceID: source.ID, Generation: source.Generation,
	}}, nil); err != nil {
		return fmt.Errorf("error scheduling processing: %w", err)
	}
	return nil
}

// Errors of Refresh.
var (
	// ErrNothingToRefresh: the source was sent inline or uploaded; only its
	// client has its documents.
	ErrNothingToRefresh = derr.New(derr.Conflict, "this source was sent inline or uploaded: there is nothing to re-read; send its documents again")
	// ErrCannotReRead: a files source's path cannot be read here.
	ErrCannotReRead = derr.New(derr.Conflict, "cannot re-read the source's path")
	// ErrCrawlTooLarge: the stored page limit is above the caller's ceiling.
	ErrCrawlTooLarge = derr.New(derr.TooLarge, "the source's crawl is above the page limit")
)

// RefreshParams name the source to refresh and how.
type RefreshParams struct {
	UserID   string
	SourceID uuid.UUID
	// Load reads a files source's path again, on the disk of the process
	// that calls Refresh: the CLI's, or the API server's (which can only
	// read a path that exists on its host, as with `kollektiv serve` on
	// the machine where the path was ingested).
	Load content.LoadOptions
	// AllowPrivate, when set, replaces the stored crawl setting: the API
	// applies its deployment's KOLLEKTIV_CRAWL_ALLOW_PRIVATE.
	AllowPrivate *bool
	// MaxCrawlPages, when positive, refuses a stored page limit above it.
	MaxCrawlPages int
}

// Refresh starts a new generation of a source from where it came from,
// with the options stored with it: a URL source is crawled again by a
// crawl_source job, a files source's path is read again now. Unchanged
// documents are skipped, changed ones processed again, vanished ones
// removed. Inline and uploaded sources cannot be refreshed.
func (s *Service) Refresh(ctx context.Context, p RefreshParams) (Added, error) {
	source, err := store.New(s.Pool).GetSource(ctx, store.GetSourceParams{ID: p.SourceID, UserID: p.UserID})
	if errors.Is(err, pgx.ErrNoRows) {
		return Added{}, lifecycle.ErrNotFound
	}
	if err != nil {
		return Added{}, fmt.Errorf("error loading source: %w", err)
	}
	opts, err := DecodeOptions(source.Kind, source.Options)
	if err != nil {
		return Added{}, fmt.Errorf("source %s: %w", source.ID, err)
	}
	add := AddParams{UserID: p.UserID, Kind: source.Kind, URI: source.URI, refresh: source.ID}
	switch {
	case source.Kind == KindURL:
		crawl := *opts.Crawl
		if p.AllowPrivate != nil {
			crawl.AllowPrivate = *p.AllowPrivate
		}
		if p.MaxCrawlPages > 0 && crawl.MaxPages > p.MaxCrawlPages {
			return Added{}, fmt.Errorf("%w: its page limit %d is above the limit of %d pages", ErrCrawlTooLarge, crawl.MaxPages, p.MaxCrawlPages)
		}
		add.Crawl = &crawl
	case source.Kind == KindFiles && source.URI != "":
		// Read as it is stored, in Add's transaction: a walk that fails
		// rolls the new generation back.
		add.Stream = func(ctx context.Context, emit content.Visit) error {
			var emitErr error
			_, err := content.Walk(ctx, source.URI, p.Load, func(doc *content.Document, problem *content.DocumentError) error {
				emitErr = emit(doc, problem)
				return emitErr
			})
			if err != nil && emitErr == nil {
				return fmt.Errorf("%w %s: %w", ErrCannotReRead, source.URI, err)
			}
			return err
		}
	default:
		return Added{}, ErrNothingToRefresh
	}
	return s.Add(ctx, add)
}
