package api

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/google/uuid"

	"github.com/kollektiv/kollektiv/internal/derr"
	"github.com/kollektiv/kollektiv/internal/documents"
)

// listDocuments answers GET /v1/sources/{id}/documents: a page of the
// source's documents, without their content.
func (s *Server) listDocuments(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "source")
	if err != nil {
		return err
	}
	limit, err := pageParam(r, "limit", documents.MaxLimit)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	list, err := s.docs.List(r.Context(), documents.ListQuery{
		UserID: keyFrom(r.Context()).UserID, SourceID: id,
		Status: q.Get("status"), Limit: limit, Cursor: q.Get("cursor"),
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

// getDocument answers GET /v1/documents/{id}: the document and a page of
// its chunks, with its markdown when content=true.
func (s *Server) getDocument(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "document")
	if err != nil {
		return err
	}
	limit, err := pageParam(r, "chunk_limit", documents.MaxChunkLimit)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	withContent := false
	if v := q.Get("content"); v != "" {
		if withContent, err = strconv.ParseBool(v); err != nil {
			return errorf(derr.Invalid, fmt.Sprintf("content: want true or false, got %q", v))
		}
	}
	doc, err := s.docs.Get(r.Context(), documents.GetQuery{
		UserID: keyFrom(r.Context()).UserID, DocumentID: id,
		Content: withContent, ChunkLimit: limit, ChunkCursor: q.Get("chunk_cursor"),
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, doc)
	return nil
}

// pathID parses the {id} of a route whose id names a thing: a malformed
// one is the client's mistake (400 naming the parameter), and answers the
// same whoever asks.
func pathID(r *http.Request, thing string) (uuid.UUID, error) {
	v := r.PathValue("id")
	id, err := uuid.Parse(v)
	if err != nil || len(v) != 36 {
		return id, errorf(derr.Invalid, fmt.Sprintf("id: %.60q is not a %s id (want a UUID such as %s)", v, thing, uuid.Nil))
	}
	return id, nil
}

// pageParam reads a page size from the query: 0 when absent, else a whole
// number from 1 to maximum.
func pageParam(r *http.Request, name string, maximum int) (int, error) {
	v := r.URL.Query().Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > maximum {
		return 0, errorf(derr.Invalid, fmt.Sprintf("%s: want a whole number from 1 to %d", name, maximum))
	}
	return n, nil
}
