// Package ingest is the one way a source enters Kollektiv, shared by the CLI
// and the API: the source's rows, its documents and its first job are
// written in one transaction, so a source is never accepted and then
// forgotten.
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
	"github.com/kollektiv/kollektiv/internal/events"
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
// with a request other than the one that first used it.
var ErrIdempotencyKeyReused = errors.New("idempotency key already used with different parameters")

// ErrSourceBusy is returned when a source is ingested again while its
// previous run has not finished.
var ErrSourceBusy = errors.New("source is still being processed")

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
	case p.Crawl != nil && len(p.Documents)+len(p.Problems) > 0:
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

		source, refreshed, err := s.createOrRefresh(ctx, q, p, options)
		if err != nil {
			return err
		}
		if p.Crawl != nil {
			source, err = s.scheduleCrawl(ctx, tx, source, options, *p.Crawl, refreshed)
			added = Added{Source: source, Refreshed: refreshed}
			return err
		}
		keep, err := jobs.StoreDocuments(ctx, q, source.ID, p.Documents, p.Problems)
		if err != nil {
			return err
		}
		if refreshed {
			if _, err := q.DeleteDocumentsNotIn(ctx, store.DeleteDocumentsNotInParams{SourceID: source.ID, Keep: keep}); err != nil {
				return fmt.Errorf("error removing vanished documents: %w", err)
			}
		}
		if source, err = q.RefreshSourceCounts(ctx, source.ID); err != nil {
			return fmt.Errorf("error counting documents: %w", err)
		}
		if err := s.schedule(ctx, tx, source, map[string]any{
			"documents": source.DocumentCount, "failed_documents": source.FailedDocumentCount, "refresh": refreshed,
		}); err != nil {
			return err
		}
		added = Added{Source: source, Refreshed: refreshed}
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
			slog.String("kind", p.Kind), slog.Int("documents", len(p.Documents)), slog.Int("problems", len(p.Problems)),
			slog.Bool("refresh", added.Refreshed))
	}
	return added, nil
}

// SameRequest checks that requestHash is the request that created source
// with its idempotency key: ErrIdempotencyKeyReused if not. A source stored
// without a hash (before hashes were kept) or a nil requestHash passes.
func SameRequest(source store.Source, requestHash []byte) error {
	if source.IdempotencyRequestHash == nil || requestHash == nil || bytes.Equal(source.IdempotencyRequestHash, requestHash) {
		return nil
	}
	return fmt.Errorf("%w: the key was first used for source %s", ErrIdempotencyKeyReused, source.ID)
}

func (s *Service) createOrRefresh(ctx context.Context, q *store.Queries, p AddParams, options []byte) (store.Source, bool, error) {
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
			if !events.Terminal(existing.Stage) {
				return existing, false, fmt.Errorf("%w: %s is at stage %s; wait for it to finish", ErrSourceBusy, existing.ID, existing.Stage)
			}
			source, err := q.StartSourceGeneration(ctx, existing.ID)
			if err != nil {
				return source, false, fmt.Errorf("error starting a new run: %w", err)
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
	source, err := q.CreateSource(ctx, store.CreateSourceParams{
		ID: uuid.New(), UserID: p.UserID, Kind: p.Kind, URI: p.URI, Options: options, IdempotencyKey: key,
		IdempotencyRequestHash: p.RequestHash,
	})
	if err != nil {
		return source, false, fmt.Errorf("error creating source: %w", err)
	}
	return source, false, nil
}

// ErrNotFound is returned for a source that does not exist for the user.
var ErrNotFound = errors.New("source not found")

// Retry processes a finished source's failed documents again, in a new
// generation. It reports how many documents were sent back.
func (s *Service) Retry(ctx context.Context, userID string, sourceID uuid.UUID) (store.Source, int64, error) {
	var source store.Source
	var n int64
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		q := store.New(tx)
		var err error
		if source, err = lockOwnedSource(ctx, tx, userID, sourceID); err != nil {
			return err
		}
		if !events.Terminal(source.Stage) {
			return fmt.Errorf("%w: %s is at stage %s", ErrSourceBusy, source.ID, source.Stage)
		}
		if n, err = q.ResetFailedDocuments(ctx, source.ID); err != nil {
			return fmt.Errorf("error resetting failed documents: %w", err)
		}
		if source, err = q.StartSourceGeneration(ctx, source.ID); err != nil {
			return fmt.Errorf("error starting a new run: %w", err)
		}
		if source, err = q.RefreshSourceCounts(ctx, source.ID); err != nil {
			return fmt.Errorf("error counting documents: %w", err)
		}
		return s.schedule(ctx, tx, source, map[string]any{"documents": source.DocumentCount, "retry": n})
	})
	return source, n, err
}

// Delete cancels a source's waiting jobs and removes it with its documents,
// chunks, vectors, summary and events, in one transaction. Jobs already
// running find the source gone and do nothing.
//
// A bulk-built vector index of the source is dropped after the commit, when
// that can be done within a few seconds (another index build holds the
// table's lock meanwhile); otherwise the next worker to start drops it.
func (s *Service) Delete(ctx context.Context, userID string, sourceID uuid.UUID) error {
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		if _, err := lockOwnedSource(ctx, tx, userID, sourceID); err != nil {
			return err
		}
		if _, err := store.CancelSourceJobs(ctx, tx, sourceID); err != nil {
			return err
		}
		if _, err := store.New(tx).DeleteSource(ctx, store.DeleteSourceParams{ID: sourceID, UserID: userID}); err != nil {
			return fmt.Errorf("error deleting source: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if _, err := store.DropSourceVectorIndexes(ctx, s.Pool, 3*time.Second); err != nil && s.Logger != nil {
		s.Logger.WarnContext(ctx, "vector index of a deleted source left for the next worker start",
			slog.String("source_id", sourceID.String()), slog.String("error", err.Error()))
	}
	return nil
}

func lockOwnedSource(ctx context.Context, tx pgx.Tx, userID string, sourceID uuid.UUID) (store.Source, error) {
	source, err := store.New(tx).GetSource(ctx, store.GetSourceParams{ID: sourceID, UserID: userID})
	if errors.Is(err, pgx.ErrNoRows) {
		return source, ErrNotFound
	}
	if err != nil {
		return source, fmt.Errorf("error loading source: %w", err)
	}
	if _, err := tx.Exec(ctx, "SELECT 1 FROM sources WHERE id = $1 FOR UPDATE", sourceID); err != nil {
		return source, fmt.Errorf("error locking source: %w", err)
	}
	return source, nil
}

// scheduleCrawl moves a URL source's new generation to crawling and
// inserts its crawl_source job, with the crawling event.
func (s *Service) scheduleCrawl(ctx context.Context, tx pgx.Tx, source store.Source, options []byte, crawl jobs.CrawlSettings, refreshed bool) (store.Source, error) {
	crawling, err := store.New(tx).StartSourceCrawl(ctx, store.StartSourceCrawlParams{ID: source.ID, Generation: source.Generation, Options: options})
	if errors.Is(err, pgx.ErrNoRows) {
		return source, fmt.Errorf("%w: %s is at stage %s", ErrSourceBusy, source.ID, source.Stage)
	}
	if err != nil {
		return source, fmt.Errorf("error starting crawl: %w", err)
	}
	if err := jobs.ScheduleEvent(ctx, s.River, tx, source.ID, source.Generation, events.StageCrawling, "", map[string]any{
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
	if err := jobs.ScheduleEvent(ctx, s.River, tx, source.ID, source.Generation, events.StageCreated, "", payload); err != nil {
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
	ErrNothingToRefresh = errors.New("this source was sent inline or uploaded: there is nothing to re-read; send its documents again")
	// ErrCannotReRead: a files source's path cannot be read here.
	ErrCannotReRead = errors.New("cannot re-read the source's path")
	// ErrCrawlTooLarge: the stored page limit is above the caller's ceiling.
	ErrCrawlTooLarge = errors.New("the source's crawl is above the page limit")
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
		return Added{}, ErrNotFound
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
		add.Documents, add.Problems, err = content.LoadPath(ctx, source.URI, p.Load)
		if err != nil {
			return Added{}, fmt.Errorf("%w %s: %w", ErrCannotReRead, source.URI, err)
		}
	default:
		return Added{}, ErrNothingToRefresh
	}
	return s.Add(ctx, add)
}
