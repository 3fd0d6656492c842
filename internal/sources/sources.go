// Package sources shows a user their sources: stage, counts, progress,
// summary and failed documents. The API and the CLI both answer with its
// types, so `kollektiv sources ls|show --json` prints what GET /v1/sources
// and GET /v1/sources/{id} return.
//
// Every read is scoped to the owner in SQL: another user's source is not
// found, exactly like one that does not exist.
package sources

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/kollektiv/kollektiv/internal/derr"
	"github.com/kollektiv/kollektiv/internal/documents"
	"github.com/kollektiv/kollektiv/internal/lifecycle"
	"github.com/kollektiv/kollektiv/internal/store"
)

// Page sizes of List.
const (
	// DefaultLimit is the sources of a page when ListQuery.Limit is zero.
	DefaultLimit = 20
	// MaxLimit is the largest ListQuery.Limit accepted.
	MaxLimit = 100
)

// ErrNotFound is the answer for a source that does not exist or that
// another user owns. Its message names no id, so both get the same answer.
var ErrNotFound = derr.New(derr.NotFound, "no such source")

// Source is a source as the API and `--json` show it.
type Source struct {
	ID   uuid.UUID `json:"id"`
	Kind string    `json:"kind"`
	// URI is the path or URL the source was read from; absent for inline
	// documents.
	URI   string `json:"uri,omitempty"`
	Stage string `json:"stage"`
	// Generation counts the source's refreshes and retries, from 1.
	Generation      int32    `json:"generation"`
	Documents       int32    `json:"documents"`
	Chunks          int32    `json:"chunks"`
	FailedDocuments int32    `json:"failed_documents"`
	Progress        Progress `json:"progress"`
	// Error is why a failed source failed.
	Error *string `json:"error,omitempty"`
	// Summary is present once the source is summarised, and only in one
	// source's view (Get), not in a list.
	Summary *Summary `json:"summary,omitempty"`
	// Failed are the documents that failed, with their reasons (Get only).
	Failed      []FailedDocument `json:"failed,omitempty"`
	CreatedAt   time.Time        `json:"created_at"`
	UpdatedAt   time.Time        `json:"updated_at"`
	CompletedAt *time.Time       `json:"completed_at,omitempty"`
	// EventsURL and StatusURL are the API paths of the source's events and
	// of this view.
	EventsURL string `json:"events_url"`
	StatusURL string `json:"status_url"`
}

// Progress is how far the current generation got.
type Progress struct {
	DocumentsProcessed int32 `json:"documents_processed"`
	DocumentsTotal     int32 `json:"documents_total"`
	ChunksWritten      int32 `json:"chunks_written"`
	ChunksEmbedded     int32 `json:"chunks_embedded"`
	// PagesFetched is set while a URL source is crawling (Get only).
	PagesFetched *int32 `json:"pages_fetched,omitempty"`
}

// Summary is a source's summary and keywords, and the model that wrote
// them.
type Summary struct {
	Summary  string   `json:"summary"`
	Keywords []string `json:"keywords"`
	Model    string   `json:"model"`
}

// FailedDocument is a document that failed, and why.
type FailedDocument struct {
	URL   string `json:"url"`
	Title string `json:"title"`
	Error string `json:"error"`
}

// List is a page of a user's sources, newest first.
type List struct {
	Sources []Source `json:"sources"`
	// NextCursor continues the listing; absent on the last page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// View is the row of a source as the API shows it, without what Get adds
// (summary, failed documents, pages fetched).
func View(s store.Source) Source {
	return Source{
		ID: s.ID, Kind: s.Kind, URI: s.URI, Stage: s.Stage, Generation: s.Generation,
		Documents: s.DocumentCount, Chunks: s.ChunkCount, FailedDocuments: s.FailedDocumentCount,
		Progress: Progress{
			DocumentsProcessed: s.DocumentsProcessed, DocumentsTotal: s.DocumentsScheduled,
			ChunksWritten: s.ChunksWritten, ChunksEmbedded: s.ChunksEmbedded,
		},
		Error: s.Error, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt, CompletedAt: s.CompletedAt,
		EventsURL: "/v1/sources/" + s.ID.String() + "/events",
		StatusURL: "/v1/sources/" + s.ID.String(),
	}
}

// Reader reads sources for their owners.
type Reader struct {
	queries *store.Queries
}

// NewReader returns a Reader running its queries with queries.
func NewReader(queries *store.Queries) *Reader { return &Reader{queries: queries} }

// Get returns one source of userID with its summary, failed documents and,
// while it crawls, the pages fetched. A source the user does not own is
// ErrNotFound.
func (r *Reader) Get(ctx context.Context, userID string, id uuid.UUID) (Source, error) {
	row, err := r.queries.GetSource(ctx, store.GetSourceParams{ID: id, UserID: userID})
	if errors.Is(err, pgx.ErrNoRows) {
		return Source{}, ErrNotFound
	}
	if err != nil {
		return Source{}, fmt.Errorf("error reading source: %w", err)
	}
	return r.Detail(ctx, row)
}

// Detail is View with what one source's view adds: the pages fetched while
// it crawls, its summary and its failed documents with their reasons.
func (r *Reader) Detail(ctx context.Context, row store.Source) (Source, error) {
	view := View(row)
	if lifecycle.StageOf(row) == lifecycle.StageCrawling {
		crawl, err := r.queries.GetCrawlCheckpoint(ctx, store.GetCrawlCheckpointParams{SourceID: row.ID, Generation: row.Generation})
		switch {
		case err == nil:
			view.Progress.PagesFetched = &crawl.PagesFetched
		case errors.Is(err, pgx.ErrNoRows):
			view.Progress.PagesFetched = new(int32) // before the first batch
		default:
			return view, fmt.Errorf("error reading crawl progress: %w", err)
		}
	}
	summary, err := r.queries.GetSummary(ctx, row.ID)
	switch {
	case err == nil:
		view.Summary = &Summary{Summary: summary.Summary, Keywords: summary.Keywords, Model: summary.Model}
	case !errors.Is(err, pgx.ErrNoRows):
		return view, fmt.Errorf("error reading summary: %w", err)
	}
	failed, err := r.queries.ListFailedDocuments(ctx, row.ID)
	if err != nil {
		return view, fmt.Errorf("error listing failed documents: %w", err)
	}
	for _, f := range failed {
		d := FailedDocument{URL: f.URL, Title: f.Title}
		if f.Error != nil {
			d.Error = *f.Error
		}
		view.Failed = append(view.Failed, d)
	}
	return view, nil
}

// ResolveID returns the id of the user's source that text names: a whole
// id, or a prefix of at least 8 hex digits (dashes optional) that only one
// of the user's sources has, as `kollektiv sources ls` shows it.
func (r *Reader) ResolveID(ctx context.Context, userID, text string) (uuid.UUID, error) {
	return documents.ResolveShortID(text, "source", func(low, high uuid.UUID) ([]uuid.UUID, error) {
		return r.queries.FindUserSourceIDs(ctx, store.FindUserSourceIDsParams{Low: low, High: high, UserID: userID})
	})
}

// ListQuery asks for a page of a user's sources.
type ListQuery struct {
	// UserID is the owner. Required.
	UserID string
	// Limit is the sources of a page. Default DefaultLimit, at most
	// MaxLimit.
	Limit int
	// Cursor is a List's NextCursor; "" starts at the newest source.
	Cursor string
}

// List returns a page of a user's sources, newest first. An invalid limit
// or cursor is an error of kind derr.Invalid naming it.
func (r *Reader) List(ctx context.Context, q ListQuery) (List, error) {
	out := List{Sources: []Source{}}
	limit := q.Limit
	if limit == 0 {
		limit = DefaultLimit
	}
	if limit < 1 || limit > MaxLimit {
		return out, derr.New(derr.Invalid, fmt.Sprintf("limit: want a whole number from 1 to %d", MaxLimit))
	}
	params := store.ListSourcesParams{UserID: q.UserID, MaxRows: int32(limit + 1)}
	if q.Cursor != "" {
		at, id, err := decodeCursor(q.Cursor)
		if err != nil {
			return out, derr.New(derr.Invalid, "cursor: not a cursor this API returned")
		}
		params.BeforeCreatedAt, params.BeforeID = &at, uuid.NullUUID{UUID: id, Valid: true}
	}
	rows, err := r.queries.ListSources(ctx, params)
	if err != nil {
		return out, fmt.Errorf("error listing sources: %w", err)
	}
	for i, row := range rows {
		if i == limit {
			last := rows[limit-1]
			out.NextCursor = encodeCursor(last.CreatedAt, last.ID)
			break
		}
		out.Sources = append(out.Sources, View(row))
	}
	return out, nil
}

func encodeCursor(at time.Time, id uuid.UUID) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(at.UnixMicro(), 10) + ":" + id.String()))
}

func decodeCursor(c string) (time.Time, uuid.UUID, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, uuid.Nil, err
	}
	micros, idText, ok := strings.Cut(string(raw), ":")
	if !ok {
		return time.Time{}, uuid.Nil, errors.New("malformed cursor")
	}
	n, err := strconv.ParseInt(micros, 10, 64)
	if err != nil {
		return time.Time{}, uuid.Nil, err
	}
	id, err := uuid.Parse(idText)
	return time.UnixMicro(n), id, err
}
