package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"

	"github.com/google/uuid"

	"github.com/kollektiv/kollektiv/internal/derr"
	"github.com/kollektiv/kollektiv/internal/search"
)

// Searcher runs a hybrid search for one user (q.UserID): search.Searcher's
// Search. An error of kind derr.Invalid is the client's fault (400).
type Searcher func(ctx context.Context, q search.Query) ([]search.Hit, error)

// EventStreamer streams a source's events over SSE: the snapshot first,
// then stored events after Last-Event-ID, then live ones, until the
// generation's terminal event. An error of a domain kind (derr) returned
// before anything is written answers the request with its status.
type EventStreamer func(w http.ResponseWriter, r *http.Request, sourceID uuid.UUID, generation int32, snapshot any) error

func (s *Server) sourceEvents(w http.ResponseWriter, r *http.Request) error {
	id, err := s.sourceID(r)
	if err != nil {
		return err
	}
	source, err := s.ownedSource(r.Context(), id)
	if err != nil {
		return err
	}
	if v := r.Header.Get("Last-Event-ID"); v != "" {
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			return errorf(derr.Invalid, "Last-Event-ID: want an event id")
		}
	}
	view, err := s.fullView(r.Context(), source)
	if err != nil {
		return err
	}
	err = s.Events(w, r, source.ID, source.Generation, view)
	if err != nil && !started(w) {
		return err
	}
	if err != nil {
		// The stream has started: log, do not write an error body.
		s.logger.WarnContext(r.Context(), "event stream failed", slog.String("source_id", source.ID.String()), slog.String("error", err.Error()))
	}
	return nil
}

func (s *Server) search(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	text := q.Get("q")
	if text == "" {
		return errorf(derr.Invalid, "q: want the text to search for")
	}
	k := 10
	if v := q.Get("k"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return errorf(derr.Invalid, "k: want a whole number from 1 to 100")
		}
		k = n
	}
	var sourceID uuid.NullUUID
	if v := q.Get("source_id"); v != "" {
		id, err := uuid.Parse(v)
		if err != nil {
			return errorf(derr.Invalid, "source_id: not a source id")
		}
		// Another user's source is not found, as everywhere.
		if _, err := s.ownedSource(r.Context(), id); err != nil {
			return err
		}
		sourceID = uuid.NullUUID{UUID: id, Valid: true}
	}
	hits, err := s.Search(r.Context(), search.Query{UserID: keyFrom(r.Context()).UserID, Text: text, K: k, SourceID: sourceID})
	if err != nil {
		if derr.KindOf(err) != derr.Internal {
			return err // the client's to fix: its own message
		}
		return fmt.Errorf("error searching: %w", err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"query": text, "k": k, "hits": hits})
	return nil
}
