package documents

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/kollektiv/kollektiv/internal/derr"
	"github.com/kollektiv/kollektiv/internal/lifecycle"
	"github.com/kollektiv/kollektiv/internal/store"
)

// Source is a source as the API and the MCP server show it.
type Source struct {
	ID              uuid.UUID        `json:"id"`
	Kind            string           `json:"kind"`
	URI             string           `json:"uri,omitempty"`
	Stage           string           `json:"stage"`
	Generation      int32            `json:"generation"`
	Documents       int32            `json:"documents"`
	Chunks          int32            `json:"chunks"`
	FailedDocuments int32            `json:"failed_documents"`
	Progress        Progress         `json:"progress"`
	Error           *string          `json:"error,omitempty"`
	Summary         *Summary         `json:"summary,omitempty"`
	Failed          []FailedDocument `json:"failed,omitempty"`
	CreatedAt       time.Time        `json:"created_at"`
	UpdatedAt       time.Time        `json:"updated_at"`
	CompletedAt     *time.Time       `json:"completed_at,omitempty"`
	EventsURL       string           `json:"events_url"`
	StatusURL       string           `json:"status_url"`
}

// Progress is how far a source's current generation has come.
type Progress struct {
	DocumentsProcessed int32 `json:"documents_processed"`
	DocumentsTotal     int32 `json:"documents_total"`
	// ChunksWritten counts the chunks the processed documents were cut
	// into; ChunksEmbedded those of them stored with their vector (a
	// chunk's row is written once, with its vector).
	ChunksWritten  int32 `json:"chunks_written"`
	ChunksEmbedded int32 `json:"chunks_embedded"`
	// PagesFetched is set while a URL source is crawling.
	PagesFetched *int32 `json:"pages_fetched,omitempty"`
}

// Summary is a source's summary and keywords.
type Summary struct {
	Summary string `json:"summary"`
	// Keywords is empty, never null.
	Keywords []string `json:"keywords"`
	Model    string   `json:"model"`
}

// FailedDocument names a document that failed and why.
type FailedDocument struct {
	URL   string `json:"url"`
	Title string `json:"title"`
	Error string `json:"error"`
}

// SourceOf is the view of a source row and its generation's progress
// counters (store.ListSourceProgress), without what needs more queries
// (summary, failed documents, crawl progress: see Reader.SourceDetail).
func SourceOf(s store.Source, counted store.ListSourceProgressRow) Source {
	return Source{
		ID: s.ID, Kind: s.Kind, URI: s.URI, Stage: s.Stage, Generation: s.Generation,
		Documents: s.DocumentCount, Chunks: s.ChunkCount, FailedDocuments: s.FailedDocumentCount,
		Progress: Progress{
			DocumentsProcessed: counted.DocumentsProcessed, DocumentsTotal: s.DocumentsScheduled,
			ChunksWritten: counted.ChunksWritten, ChunksEmbedded: counted.ChunksEmbedded,
		},
		Error: s.Error, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt, CompletedAt: s.CompletedAt,
		EventsURL: "/v1/sources/" + s.ID.String() + "/events",
		StatusURL: "/v1/sources/" + s.ID.String(),
	}
}

// View returns the view of a source row with its progress, which its
// generation's fan-in shards count (see jobs.Committer).
func (r *Reader) View(ctx context.Context, source store.Source) (Source, error) {
	counted, err := r.queries.SourceProgress(ctx, source.ID)
	if err != nil {
		return Source{}, fmt.Errorf("error reading source's progress: %w", err)
	}
	return SourceOf(source, counted), nil
}

// OwnedSource returns the user's source id; another user's is
// ErrSourceNotFound, as a missing one is.
func (r *Reader) OwnedSource(ctx context.Context, userID string, id uuid.UUID) (store.Source, error) {
	source, err := r.queries.GetSource(ctx, store.GetSourceParams{ID: id, UserID: userID})
	if errors.Is(err, pgx.ErrNoRows) {
		return source, ErrSourceNotFound
	}
	if err != nil {
		return source, fmt.Errorf("error reading source: %w", err)
	}
	return source, nil
}

// Source returns the user's source id with its summary and failed
// documents; another user's is ErrSourceNotFound.
func (r *Reader) Source(ctx context.Context, userID string, id uuid.UUID) (Source, error) {
	source, err := r.OwnedSource(ctx, userID, id)
	if err != nil {
		return Source{}, err
	}
	return r.SourceDetail(ctx, source)
}

// SourceDetail adds to an owned source's view its summary, its failed
// documents with their reasons and, while it crawls, the pages fetched.
func (r *Reader) SourceDetail(ctx context.Context, source store.Source) (Source, error) {
	view, err := r.View(ctx, source)
	if err != nil {
		return view, err
	}
	if lifecycle.StageOf(source) == lifecycle.StageCrawling {
		crawl, err := r.queries.GetCrawlCheckpoint(ctx, store.GetCrawlCheckpointParams{SourceID: source.ID, Generation: source.Generation})
		switch {
		case err == nil:
			view.Progress.PagesFetched = &crawl.PagesFetched
		case errors.Is(err, pgx.ErrNoRows):
			view.Progress.PagesFetched = new(int32) // before the first batch
		default:
			return view, fmt.Errorf("error reading crawl progress: %w", err)
		}
	}
	summary, err := r.queries.GetSummary(ctx, source.ID)
	switch {
	case err == nil:
		view.Summary = &Summary{Summary: summary.Summary, Keywords: summary.Keywords, Model: summary.Model}
		if view.Summary.Keywords == nil {
			view.Summary.Keywords = []string{}
		}
	case !errors.Is(err, pgx.ErrNoRows):
		return view, fmt.Errorf("error reading summary: %w", err)
	}
	failed, err := r.queries.ListFailedDocuments(ctx, source.ID)
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

// Source page sizes.
const (
	// DefaultSourceLimit is the sources of a page when SourcesQuery.Limit
	// is zero.
	DefaultSourceLimit = 20
	// MaxSourceLimit is the largest SourcesQuery.Limit accepted.
	MaxSourceLimit = 100
)

// SourcesQuery asks for a page of a user's sources, newest first.
type SourcesQuery struct {
	// UserID is the owner. Required.
	UserID string
	// Limit is the sources of a page. Default DefaultSourceLimit, at most
	// MaxSourceLimit.
	Limit int
	// Cursor is a SourceList's NextCursor; "" starts at the newest.
	Cursor string
}

// SourceList is a page of a user's sources, newest first.
type SourceList struct {
	Sources []Source `json:"sources"`
	// NextCursor continues the listing; absent on the last page.
	NextCursor string `json:"next_cursor,omitempty"`
}

// Sources returns a page of the user's sources. An invalid query is an
// error of kind derr.Invalid naming the parameter.
func (r *Reader) Sources(ctx context.Context, q SourcesQuery) (SourceList, error) {
	out := SourceList{Sources: []Source{}}
	limit, err := pageSize("limit", q.Limit, DefaultSourceLimit, MaxSourceLimit)
	if err != nil {
		return out, err
	}
	params := store.ListSourcesParams{UserID: q.UserID, MaxRows: int32(limit + 1)}
	if q.Cursor != "" {
		at, id, err := decodeSourceCursor(q.Cursor)
		if err != nil {
			return out, derr.New(derr.Invalid, "cursor: not a cursor this API returned")
		}
		params.BeforeCreatedAt, params.BeforeID = &at, uuid.NullUUID{UUID: id, Valid: true}
	}
	rows, err := r.queries.ListSources(ctx, params)
	if err != nil {
		return out, fmt.Errorf("error listing sources: %w", err)
	}
	if len(rows) > limit {
		last := rows[limit-1]
		out.NextCursor = encodeSourceCursor(last.CreatedAt, last.ID)
		rows = rows[:limit]
	}
	ids := make([]uuid.UUID, len(rows))
	for i, row := range rows {
		ids[i] = row.ID
	}
	progress, err := r.queries.ListSourceProgress(ctx, ids)
	if err != nil {
		return out, fmt.Errorf("error reading sources' progress: %w", err)
	}
	counted := make(map[uuid.UUID]store.ListSourceProgressRow, len(progress))
	for _, p := range progress {
		counted[p.SourceID] = p
	}
	for _, row := range rows {
		out.Sources = append(out.Sources, SourceOf(row, counted[row.ID]))
	}
	return out, nil
}

// CheckSources returns ErrSourceNotFound unless the user owns every one of
// ids: a search filtered on another user's source is refused as one on a
// missing source, never answered empty.
func (r *Reader) CheckSources(ctx context.Context, userID string, ids []uuid.UUID) error {
	if len(ids) == 0 {
		return nil
	}
	owned, err := r.queries.ListOwnedSourceIDs(ctx, store.ListOwnedSourceIDsParams{UserID: userID, Ids: ids})
	if err != nil {
		return fmt.Errorf("error checking the sources searched: %w", err)
	}
	for _, id := range ids {
		if !slices.Contains(owned, id) {
			// No id in the message: bob's answer for alice's source is the
			// same as for a random one.
			return ErrSourceNotFound
		}
	}
	return nil
}

func encodeSourceCursor(at time.Time, id uuid.UUID) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(at.UnixMicro(), 10) + ":" + id.String()))
}

func decodeSourceCursor(c string) (time.Time, uuid.UUID, error) {
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

// ResolveSourceID returns the id of the user's source that text names: a
// whole id, or a prefix of at least 8 hex digits (dashes optional) that
// only one of the user's sources has, as `kollektiv sources ls` shows it.
func (r *Reader) ResolveSourceID(ctx context.Context, userID, text string) (uuid.UUID, error) {
	return ResolveShortID(text, "source", func(low, high uuid.UUID) ([]uuid.UUID, error) {
		return r.queries.FindUserSourceIDs(ctx, store.FindUserSourceIDsParams{Low: low, High: high, UserID: userID})
	})
}
