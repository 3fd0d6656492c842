// Package documents shows a user what a source holds: its documents, each
// with its status, the reason it failed, its chunk count, language and
// metadata, and one document's chunks as search sees them. The API and the
// CLI both answer with its types, so `--json` prints what the API returns.
//
// Every read is scoped to the owner in SQL: another user's source or
// document is not found, exactly like one that does not exist.
package documents

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/kollektiv/kollektiv/internal/content"
	"github.com/kollektiv/kollektiv/internal/derr"
	"github.com/kollektiv/kollektiv/internal/store"
)

// Page sizes.
const (
	// DefaultLimit is the documents of a page when ListQuery.Limit is zero.
	DefaultLimit = 100
	// MaxLimit is the largest ListQuery.Limit accepted.
	MaxLimit = 1000
	// DefaultChunkLimit is the chunks of a page when GetQuery.ChunkLimit is
	// zero.
	DefaultChunkLimit = 50
	// MaxChunkLimit is the largest GetQuery.ChunkLimit accepted.
	MaxChunkLimit = 500
)

// Statuses are the statuses a document can have, in pipeline order.
var Statuses = []string{"pending", "chunked", "embedded", "failed"}

// The not-found errors. Their message names no id, so another user's id
// and a random one get the same answer.
var (
	ErrSourceNotFound   = derr.New(derr.NotFound, "no such source")
	ErrDocumentNotFound = derr.New(derr.NotFound, "no such document")
)

// Document is a document as the API and `--json` show it: everything but
// its content.
type Document struct {
	ID       uuid.UUID `json:"id"`
	SourceID uuid.UUID `json:"source_id"`
	// URL is the document's page URL, or its path in a files source.
	URL   string `json:"url"`
	Title string `json:"title"`
	// Status is pending, chunked, embedded or failed.
	Status string `json:"status"`
	// Error is why a failed document failed; absent otherwise.
	Error      string `json:"error,omitempty"`
	ChunkCount int32  `json:"chunk_count"`
	// Language is the ISO 639-1 code detected for the document, "" when
	// it could not be told.
	Language string `json:"language"`
	// Metadata is the document's front matter and loader facts, a JSON
	// object ({} when there are none).
	Metadata json.RawMessage `json:"metadata"`
	// SizeBytes is the size of the document's markdown, in bytes.
	SizeBytes int64     `json:"size_bytes"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// List is a page of a source's documents, in URL order.
type List struct {
	SourceID uuid.UUID `json:"source_id"`
	// Status is the filter the page was listed with, absent for none.
	Status    string     `json:"status,omitempty"`
	Documents []Document `json:"documents"`
	// NextCursor continues the listing; absent on the last page.
	NextCursor string `json:"next_cursor,omitempty"`
	// Next is the API path of the next page, absent on the last page.
	Next string `json:"next,omitempty"`
}

// Detail is one document with a page of its chunks.
type Detail struct {
	Document
	// Content is the document's markdown, present only when asked for.
	Content *string `json:"content,omitempty"`
	Chunks  []Chunk `json:"chunks"`
	// NextChunkCursor continues the chunks; absent on the last page.
	NextChunkCursor string `json:"next_chunk_cursor,omitempty"`
	// NextChunks is the API path of the next page of chunks, absent on the
	// last page.
	NextChunks string `json:"next_chunks,omitempty"`
}

// Chunk is one chunk of a document as search sees it.
type Chunk struct {
	ID      uuid.UUID `json:"id"`
	Ordinal int32     `json:"ordinal"`
	// Headers is the breadcrumb: the headings above the chunk's start,
	// outermost first. Empty, never null.
	Headers []string `json:"headers"`
	// Headings are the other headings inside the chunk, in order, when
	// small sections were merged into it. Empty, never null.
	Headings []string `json:"headings"`
	// Anchor is the URL fragment of the chunk's first section, "" above
	// the first heading.
	Anchor string `json:"anchor"`
	// URL is the document's URL with the anchor as its fragment.
	URL        string `json:"url"`
	Text       string `json:"text"`
	TokenCount int32  `json:"token_count"`
	// Embedded says whether the chunk has its vector.
	Embedded bool `json:"embedded"`
	// EmbeddingModel is the model of the vector, absent when not embedded.
	EmbeddingModel string `json:"embedding_model,omitempty"`
}

// Reader reads documents and chunks for their owners.
type Reader struct {
	queries *store.Queries
}

// NewReader returns a Reader running its queries with queries.
func NewReader(queries *store.Queries) *Reader { return &Reader{queries: queries} }

// ListQuery asks for a page of a source's documents.
type ListQuery struct {
	// UserID is the owner; another user's source is not found. Required.
	UserID   string
	SourceID uuid.UUID
	// Status keeps only the documents of one status; "" keeps all.
	Status string
	// Limit is the documents of a page. Default DefaultLimit, at most
	// MaxLimit.
	Limit int
	// Cursor is a List's NextCursor for the same source; "" starts at the
	// first document.
	Cursor string
}

// List returns a page of a source's documents. An invalid query is an
// error of kind derr.Invalid naming the parameter; a source the user does
// not own is ErrSourceNotFound.
func (r *Reader) List(ctx context.Context, q ListQuery) (List, error) {
	out := List{SourceID: q.SourceID, Status: q.Status, Documents: []Document{}}
	limit, err := pageSize("limit", q.Limit, DefaultLimit, MaxLimit)
	if err != nil {
		return out, err
	}
	params := store.ListSourceDocumentsParams{SourceID: q.SourceID, UserID: q.UserID, MaxRows: int32(limit + 1)}
	if q.Status != "" {
		if !isStatus(q.Status) {
			return out, derr.New(derr.Invalid, fmt.Sprintf("status: want one of %s, got %q", strings.Join(Statuses, ", "), q.Status))
		}
		params.Status = &q.Status
	}
	if q.Cursor != "" {
		after, err := decodeDocumentCursor(q.Cursor, q.SourceID)
		if err != nil {
			return out, err
		}
		params.AfterURL = &after
	}
	// The source first: a source of no documents (or none of that status)
	// lists empty, another user's is not found.
	if _, err := r.queries.GetSource(ctx, store.GetSourceParams{ID: q.SourceID, UserID: q.UserID}); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return out, ErrSourceNotFound
		}
		return out, fmt.Errorf("error reading source: %w", err)
	}
	rows, err := r.queries.ListSourceDocuments(ctx, params)
	if err != nil {
		return out, fmt.Errorf("error listing documents: %w", err)
	}
	for i, row := range rows {
		if i == limit {
			out.NextCursor = encodeDocumentCursor(q.SourceID, rows[limit-1].URL)
			v := url.Values{"cursor": {out.NextCursor}, "limit": {strconv.Itoa(limit)}}
			if q.Status != "" {
				v.Set("status", q.Status)
			}
			out.Next = "/v1/sources/" + q.SourceID.String() + "/documents?" + v.Encode()
			break
		}
		out.Documents = append(out.Documents, listedDocument(row))
	}
	return out, nil
}

// GetQuery asks for one document and a page of its chunks.
type GetQuery struct {
	// UserID is the owner; another user's document is not found. Required.
	UserID     string
	DocumentID uuid.UUID
	// Content includes the document's markdown.
	Content bool
	// ChunkLimit is the chunks of a page. Default DefaultChunkLimit, at
	// most MaxChunkLimit.
	ChunkLimit int
	// ChunkCursor is a Detail's NextChunkCursor for the same document; ""
	// starts at the first chunk.
	ChunkCursor string
}

// Get returns a document and a page of its chunks. An invalid query is an
// error of kind derr.Invalid naming the parameter; a document the user does
// not own is ErrDocumentNotFound.
func (r *Reader) Get(ctx context.Context, q GetQuery) (Detail, error) {
	out := Detail{Chunks: []Chunk{}}
	limit, err := pageSize("chunk_limit", q.ChunkLimit, DefaultChunkLimit, MaxChunkLimit)
	if err != nil {
		return out, err
	}
	params := store.ListDocumentChunksParams{DocumentID: q.DocumentID, UserID: q.UserID, MaxRows: int32(limit + 1)}
	if q.ChunkCursor != "" {
		ordinal, id, err := decodeChunkCursor(q.ChunkCursor, q.DocumentID)
		if err != nil {
			return out, err
		}
		params.AfterOrdinal = pgtype.Int4{Int32: ordinal, Valid: true}
		params.AfterID = uuid.NullUUID{UUID: id, Valid: true}
	}
	row, err := r.queries.GetUserDocument(ctx, store.GetUserDocumentParams{ID: q.DocumentID, UserID: q.UserID, WithContent: q.Content})
	if errors.Is(err, pgx.ErrNoRows) {
		return out, ErrDocumentNotFound
	}
	if err != nil {
		return out, fmt.Errorf("error reading document: %w", err)
	}
	out.Document = documentOf(row)
	if q.Content {
		out.Content = &row.Content
	}
	chunks, err := r.queries.ListDocumentChunks(ctx, params)
	if err != nil {
		return out, fmt.Errorf("error listing chunks: %w", err)
	}
	for i, c := range chunks {
		if i == limit {
			last := chunks[limit-1]
			out.NextChunkCursor = encodeChunkCursor(q.DocumentID, last.Ordinal, last.ID)
			v := url.Values{"chunk_cursor": {out.NextChunkCursor}, "chunk_limit": {strconv.Itoa(limit)}}
			if q.Content {
				v.Set("content", "true")
			}
			out.NextChunks = "/v1/documents/" + q.DocumentID.String() + "?" + v.Encode()
			break
		}
		chunk := Chunk{
			ID: c.ID, Ordinal: c.Ordinal, Headers: c.Headers, Headings: c.Headings, Anchor: c.Anchor,
			URL: content.SectionURL(row.URL, c.Anchor), Text: c.Text, TokenCount: c.TokenCount, Embedded: c.Embedded,
		}
		if c.EmbeddingModel != nil {
			chunk.EmbeddingModel = *c.EmbeddingModel
		}
		out.Chunks = append(out.Chunks, chunk)
	}
	return out, nil
}

// ResolveID returns the id of the user's document that text names: a whole
// id, or a prefix of at least 8 hex digits (dashes optional) that only one
// of the user's documents has, as `sources docs` shows it.
func (r *Reader) ResolveID(ctx context.Context, userID, text string) (uuid.UUID, error) {
	return ResolveShortID(text, "document", func(low, high uuid.UUID) ([]uuid.UUID, error) {
		return r.queries.FindUserDocumentIDs(ctx, store.FindUserDocumentIDsParams{Low: low, High: high, UserID: userID})
	})
}

// ResolveShortID returns the id text names: a whole id, or a prefix of at
// least 8 hex digits (dashes optional) that only one id has. find returns
// up to two of the owner's ids in [low, high]; what names the kind of id in
// errors ("document", "source"): none is derr.NotFound, two derr.Invalid.
func ResolveShortID(text, what string, find func(low, high uuid.UUID) ([]uuid.UUID, error)) (uuid.UUID, error) {
	if id, err := uuid.Parse(text); err == nil {
		return id, nil
	}
	low, high, err := prefixRange(text, what)
	if err != nil {
		return uuid.Nil, err
	}
	ids, err := find(low, high)
	if err != nil {
		return uuid.Nil, fmt.Errorf("error finding %s %s: %w", what, text, err)
	}
	switch len(ids) {
	case 0:
		return uuid.Nil, derr.New(derr.NotFound, fmt.Sprintf("no %s %s for this user", what, text))
	case 1:
		return ids[0], nil
	default:
		return uuid.Nil, derr.New(derr.Invalid, fmt.Sprintf("%s is the start of more than one %s's id: give more of it", text, what))
	}
}

// prefixRange returns the lowest and highest ids that start with the hex
// digits of prefix; what names the kind of id in the error.
func prefixRange(prefix, what string) (uuid.UUID, uuid.UUID, error) {
	hex := strings.ToLower(strings.ReplaceAll(prefix, "-", ""))
	bad := len(hex) < 8 || len(hex) > 32
	for _, c := range hex {
		bad = bad || !strings.ContainsRune("0123456789abcdef", c)
	}
	if bad {
		return uuid.Nil, uuid.Nil, derr.New(derr.Invalid, fmt.Sprintf("%q is not a %s id: want a UUID or its first 8 or more hex digits", prefix, what))
	}
	low, err := uuid.Parse(hex + strings.Repeat("0", 32-len(hex)))
	if err != nil {
		return uuid.Nil, uuid.Nil, derr.Wrap(derr.Invalid, err)
	}
	high, err := uuid.Parse(hex + strings.Repeat("f", 32-len(hex)))
	if err != nil {
		return uuid.Nil, uuid.Nil, derr.Wrap(derr.Invalid, err)
	}
	return low, high, nil
}

func documentOf(row store.GetUserDocumentRow) Document {
	d := Document{
		ID: row.ID, SourceID: row.SourceID, URL: row.URL, Title: row.Title, Status: row.Status,
		ChunkCount: row.ChunkCount, Language: row.Language, Metadata: json.RawMessage(row.Metadata),
		SizeBytes: row.Size, CreatedAt: row.CreatedAt, UpdatedAt: row.UpdatedAt,
	}
	if row.Error != nil {
		d.Error = *row.Error
	}
	if len(d.Metadata) == 0 {
		d.Metadata = json.RawMessage("{}")
	}
	return d
}

func listedDocument(row store.ListSourceDocumentsRow) Document {
	return documentOf(store.GetUserDocumentRow{
		ID: row.ID, SourceID: row.SourceID, URL: row.URL, Title: row.Title, Status: row.Status, Error: row.Error,
		ChunkCount: row.ChunkCount, Language: row.Language, Metadata: row.Metadata, Size: row.Size,
		CreatedAt: row.CreatedAt, UpdatedAt: row.UpdatedAt,
	})
}

func isStatus(s string) bool {
	for _, st := range Statuses {
		if s == st {
			return true
		}
	}
	return false
}

// pageSize is n, or def when n is zero, refused outside 1..maximum.
func pageSize(name string, n, def, maximum int) (int, error) {
	if n == 0 {
		return def, nil
	}
	if n < 1 || n > maximum {
		return 0, derr.New(derr.Invalid, fmt.Sprintf("%s: want a whole number from 1 to %d, got %d", name, maximum, n))
	}
	return n, nil
}

// Cursors are opaque to clients: base64url of a kind letter, the id of
// what is being paged (a source or a document) and the last key seen. The
// id binds a cursor to its listing, so one taken from another source's
// listing (or made up) is refused rather than read as a position there;
// the owner check of the listing itself stands regardless.
const (
	documentCursorKind = 'd'
	chunkCursorKind    = 'c'
)

var errBadCursor = derr.New(derr.Invalid, "cursor: not a cursor this API returned for these documents")

var errBadChunkCursor = derr.New(derr.Invalid, "chunk_cursor: not a cursor this API returned for this document's chunks")

func encodeDocumentCursor(sourceID uuid.UUID, lastURL string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(string(documentCursorKind) + sourceID.String() + lastURL))
}

func decodeDocumentCursor(cursor string, sourceID uuid.UUID) (string, error) {
	lastURL, ok := decodeCursor(cursor, documentCursorKind, sourceID)
	// PostgreSQL text holds no NUL and only valid UTF-8: such a cursor was
	// not ours, and must be a 400, not a 500.
	if !ok || lastURL == "" || !utf8.ValidString(lastURL) || strings.ContainsRune(lastURL, 0) {
		return "", errBadCursor
	}
	return lastURL, nil
}

func encodeChunkCursor(documentID uuid.UUID, ordinal int32, id uuid.UUID) string {
	return base64.RawURLEncoding.EncodeToString([]byte(string(chunkCursorKind) + documentID.String() + strconv.Itoa(int(ordinal)) + ":" + id.String()))
}

func decodeChunkCursor(cursor string, documentID uuid.UUID) (int32, uuid.UUID, error) {
	rest, ok := decodeCursor(cursor, chunkCursorKind, documentID)
	if !ok {
		return 0, uuid.Nil, errBadChunkCursor
	}
	ordinalText, idText, ok := strings.Cut(rest, ":")
	ordinal, err := strconv.ParseInt(ordinalText, 10, 32)
	if !ok || err != nil || ordinal < 0 {
		return 0, uuid.Nil, errBadChunkCursor
	}
	id, err := uuid.Parse(idText)
	if err != nil || len(idText) != 36 {
		return 0, uuid.Nil, errBadChunkCursor
	}
	return int32(ordinal), id, nil
}

// decodeCursor returns what follows the kind and the id in cursor, and
// whether cursor is of that kind and for that id.
func decodeCursor(cursor string, kind byte, id uuid.UUID) (string, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(cursor)
	prefix := string(kind) + id.String()
	if err != nil || !strings.HasPrefix(string(raw), prefix) {
		return "", false
	}
	return string(raw[len(prefix):]), true
}
