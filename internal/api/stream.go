package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/kollektiv/kollektiv/internal/search"
)

// Searcher runs a hybrid search for one user (q.UserID): search.Searcher's
// Search. Errors wrapping ErrInvalidQuery are the client's fault.
type Searcher func(ctx context.Context, q search.Query) ([]search.Hit, error)

// ErrInvalidQuery marks a search the client must change.
var ErrInvalidQuery = errors.New("invalid search")

// ErrInvalidRequest marks an error of an EventStreamer or Searcher that is
// the client's fault.
var ErrInvalidRequest = errors.New("invalid request")

// EventStreamer streams a source's events over SSE: the snapshot first,
// then stored events after Last-Event-ID, then live ones, until the
// generation's terminal event.
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
			return errorf(CodeInvalid, "Last-Event-ID: want an event id")
		}
	}
	view, err := s.fullView(r.Context(), source)
	if err != nil {
		return err
	}
	err = s.Events(w, r, source.ID, source.Generation, view)
	if errors.Is(err, ErrInvalidRequest) {
		return errorf(CodeInvalid, clientMessage(err, ErrInvalidRequest))
	}
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
		return errorf(CodeInvalid, "q: want the text to search for")
	}
	k := 10
	if v := q.Get("k"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			return errorf(CodeInvalid, "k: want a whole number from 1 to 100")
		}
		k = n
	}
	var sourceID uuid.NullUUID
	if v := q.Get("source_id"); v != "" {
		id, err := uuid.Parse(v)
		if err != nil {
			return errorf(CodeInvalid, "source_id: not a source id")
		}
		// Another user's source is not found, as everywhere.
		if _, err := s.ownedSource(r.Context(), id); err != nil {
			return err
		}
		sourceID = uuid.NullUUID{UUID: id, Valid: true}
	}
	hits, err := s.Search(r.Context(), search.Query{UserID: keyFrom(r.Context()).UserID, Text: text, K: k, SourceID: sourceID})
	if errors.Is(err, ErrInvalidQuery) {
		return errorf(CodeInvalid, clientMessage(err, ErrInvalidQuery))
	}
	if err != nil {
		return fmt.Errorf("error searching: %w", err)
	}
	writeJSON(w, http.StatusOK, map[string]any{"query": text, "k": k, "hits": hits})
	return nil
}

// clientMessage is the message of err, which wraps marker as "marker: cause"
// to say whose fault it is: the cause alone, since it says what is wrong
// already (issue 13 found "invalid search: invalid search query: ...").
func clientMessage(err, marker error) string {
	return strings.TrimPrefix(err.Error(), marker.Error()+": ")
}
