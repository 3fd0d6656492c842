package api

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/kollektiv/kollektiv/internal/derr"
	"github.com/kollektiv/kollektiv/internal/search"
)

// Searcher runs a search for one user (q.UserID): search.Searcher's Search.
// An error of kind derr.Invalid is the client's fault (400).
type Searcher func(ctx context.Context, q search.Query) (search.Result, error)

// EventStreamer streams a source's events over SSE: the snapshot first,
// then stored events after Last-Event-ID, then live ones, until the
// generation's terminal event. An error of a domain kind (derr) returned
// before anything is written answers the request with its status.
type EventStreamer func(w http.ResponseWriter, r *http.Request, sourceID uuid.UUID, generation int32, snapshot any) error

func (s *Server) sourceEvents(w http.ResponseWriter, r *http.Request) error {
	source, err := s.requestedSource(r)
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

// searchParams are the query parameters GET /v1/search takes; any other is
// refused, so that a misspelt filter is not silently ignored.
var searchParams = map[string]bool{
	"q": true, "k": true, "mode": true, "rrf_k": true, "vector_weight": true, "text_weight": true,
	"source_id": true, "path_prefix": true, "lang": true, "metadata": true,
}

func (s *Server) search(w http.ResponseWriter, r *http.Request) error {
	q, err := s.searchQuery(r)
	if err != nil {
		return err
	}
	result, err := s.Search(r.Context(), q)
	if err != nil {
		if derr.KindOf(err) != derr.Internal {
			return err // the client's to fix: its own message
		}
		return fmt.Errorf("error searching: %w", err)
	}
	writeJSON(w, http.StatusOK, result.Response())
	return nil
}

// searchQuery reads the query parameters of a search. Each error names its
// parameter; the searcher checks the values' ranges and shapes.
func (s *Server) searchQuery(r *http.Request) (search.Query, error) {
	params := r.URL.Query()
	for name := range params {
		if !searchParams[name] {
			return search.Query{}, errorf(derr.Invalid, fmt.Sprintf("%s: unknown parameter; search takes q, k, mode, rrf_k, vector_weight, text_weight, source_id, path_prefix, lang and metadata", name))
		}
	}
	for name, values := range params {
		if len(values) > 1 && name != "source_id" && name != "lang" {
			return search.Query{}, errorf(derr.Invalid, name+": give it once")
		}
	}
	q := search.Query{
		UserID:     keyFrom(r.Context()).UserID,
		Text:       params.Get("q"),
		Mode:       search.Mode(params.Get("mode")),
		PathPrefix: params.Get("path_prefix"),
		Languages:  splitList(params["lang"]),
	}
	if strings.TrimSpace(q.Text) == "" {
		return q, errorf(derr.Invalid, "q: want the text to search for")
	}
	var err error
	if q.K, err = intParam(params, "k", 1, search.MaxK); err != nil {
		return q, err
	}
	if q.RRFK, err = intParam(params, "rrf_k", 1, search.MaxRRFK); err != nil {
		return q, err
	}
	if q.VectorWeight, err = weightParam(params, "vector_weight"); err != nil {
		return q, err
	}
	if q.TextWeight, err = weightParam(params, "text_weight"); err != nil {
		return q, err
	}
	if v := params.Get("metadata"); v != "" {
		q.Metadata = json.RawMessage(v)
	}
	for _, v := range splitList(params["source_id"]) {
		id, err := uuid.Parse(v)
		if err != nil {
			return q, errorf(derr.Invalid, fmt.Sprintf("source_id: %q is not a source id", v))
		}
		q.SourceIDs = append(q.SourceIDs, id)
	}
	if len(q.SourceIDs) > search.MaxSourceIDs {
		return q, errorf(derr.Invalid, fmt.Sprintf("source_id: at most %d sources, got %d", search.MaxSourceIDs, len(q.SourceIDs)))
	}
	// Another user's source is not found, as everywhere.
	if err := s.docs.CheckSources(r.Context(), q.UserID, q.SourceIDs); err != nil {
		return q, err
	}
	return q, nil
}

// splitList returns the values of a repeatable parameter, each of which
// may also be a comma-separated list, without empty entries.
func splitList(values []string) []string {
	var out []string
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, part)
			}
		}
	}
	return out
}

// intParam returns the whole number in parameter name, from lo to hi; 0
// when it is absent (the searcher's default).
func intParam(params url.Values, name string, lo, hi int) (int, error) {
	v := params.Get(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, errorf(derr.Invalid, fmt.Sprintf("%s: want a whole number from %d to %d, got %q", name, lo, hi, v))
	}
	return n, nil
}

// weightParam returns the list weight in parameter name; 0 when it is
// absent (the searcher's default of 1). An explicit 0 is refused: a list
// is left out by choosing a mode.
func weightParam(params url.Values, name string) (float64, error) {
	v := params.Get(name)
	if v == "" {
		return 0, nil
	}
	w, err := strconv.ParseFloat(v, 64)
	if err != nil || !(w > 0 && w <= search.MaxWeight) {
		return 0, errorf(derr.Invalid, fmt.Sprintf("%s: want a number above 0 and at most %d, got %q (mode=vector or mode=text leaves a list out)", name, search.MaxWeight, v))
	}
	return w, nil
}
