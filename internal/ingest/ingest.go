// Package ingest is the one way a source enters Kollektiv, shared by the CLI
// and the API: the source's rows, its documents and its first job are
// written in one transaction, so a source is never accepted and then
// forgotten. Its stage and generation change only through internal/lifecycle's
// guarded transitions.
package ingest

import (
	"context"
	"encoding/hex"
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
	// Options are kept with the source (crawl settings, for example).
	Options any
	// IdempotencyKey, when set, makes a repeated Add return the first
	// source.
	IdempotencyKey string
	Documents      []content.Document
	// Problems are documents that could not be loaded; they are recorded
	// as failed documents with their reason.
	Problems []*content.DocumentError
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
	options, err := json.Marshal(p.Options)
	if err != nil || p.Options == nil {
		options = []byte("{}")
	}

	var added Added
	err = pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		q := store.New(tx)
		if p.IdempotencyKey != "" {
			existing, err := q.GetSourceByIdempotencyKey(ctx, store.GetSourceByIdempotencyKeyParams{UserID: p.UserID, IdempotencyKey: &p.IdempotencyKey})
			if err == nil {
				added = Added{Source: existing, Replayed: true}
				return nil
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return fmt.Errorf("error looking up idempotency key: %w", err)
			}
		}

		source, refreshed, err := s.createOrRefresh(ctx, tx, p, options)
		if err != nil {
			return err
		}
		keep := make([]uuid.UUID, 0, len(p.Documents)+len(p.Problems))
		docs := make([]store.UpsertDocumentParams, 0, len(p.Documents))
		for _, d := range p.Documents {
			hash, err := hex.DecodeString(d.ContentHash())
			if err != nil {
				return fmt.Errorf("error decoding content hash: %w", err)
			}
			metadata, err := json.Marshal(d.Metadata)
			if err != nil || d.Metadata == nil {
				metadata = []byte("{}")
			}
			id := content.DocumentID(source.ID, d.URL)
			keep = append(keep, id)
			docs = append(docs, store.UpsertDocumentParams{
				ID: id, SourceID: source.ID, URL: d.URL, Title: d.Title, Content: d.Content, ContentHash: hash, Metadata: metadata,
			})
		}
		var batchErr error
		q.UpsertDocument(ctx, docs).Exec(func(_ int, err error) { batchErr = errors.Join(batchErr, err) })
		if batchErr != nil {
			return fmt.Errorf("error storing documents: %w", batchErr)
		}
		for _, prob := range p.Problems {
			id := content.DocumentID(source.ID, prob.URL)
			keep = append(keep, id)
			msg := prob.Error()
			if err := q.InsertFailedDocument(ctx, store.InsertFailedDocumentParams{ID: id, SourceID: source.ID, URL: prob.URL, Title: prob.URL, Error: &msg}); err != nil {
				return fmt.Errorf("error recording failed document %s: %w", prob.URL, err)
			}
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
			return Added{Source: existing, Replayed: true}, nil
		}
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

func (s *Service) createOrRefresh(ctx context.Context, tx pgx.Tx, p AddParams, options []byte) (store.Source, bool, error) {
	q := store.New(tx)
	if p.Kind != KindInline && p.URI != "" {
		existing, err := q.FindSourceByURI(ctx, store.FindSourceByURIParams{UserID: p.UserID, Kind: p.Kind, URI: p.URI})
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

// Delete cancels a source's waiting jobs and removes it with its documents,
// chunks, vectors, summary and events, in one transaction. Jobs already
// running find the source gone and do nothing. An unknown source gives
// lifecycle.ErrNotFound.
//
// A bulk-built vector index of the source is dropped after the commit, when
// that can be done within a few seconds (another index build holds the
// table's lock meanwhile); otherwise the next worker to start drops it.
func (s *Service) Delete(ctx context.Context, userID string, sourceID uuid.UUID) error {
	err := pgx.BeginFunc(ctx, s.Pool, func(tx pgx.Tx) error {
		// The delete takes the row's lock first: a job committing its own
		// transition of the source waits, then finds no row.
		if err := lifecycle.Delete(ctx, tx, userID, sourceID); err != nil {
			return err
		}
		_, err := store.CancelSourceJobs(ctx, tx, sourceID)
		return err
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
