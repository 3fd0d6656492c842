package api

import (
	"log/slog"
	"net/http"

	"github.com/kollektiv/kollektiv/internal/store"
)

// handle runs a route's handler, and runs it once more when a read (GET or
// HEAD) failed because its database connection was lost before anything
// was written: a backend terminated while the query ran, or a server
// restart. The pool's check on acquire catches connections lost while
// idle; this catches the rest, so a reconnecting event stream gets its
// stream, not a 500 (an EventSource gives up on a 500).
func (s *Server) handle(rt route, w *statusRecorder, r *http.Request) error {
	if !readOnly(r) {
		return rt.handler(w, r)
	}
	unanswered := func() bool { return !w.wrote }
	return s.onceMoreIfLost(r, unanswered, func() error { return rt.handler(w, r) })
}

// onceMoreIfLost runs read, a read of the database, and runs it once more
// when its connection was lost and again reports true (nil: always).
func (s *Server) onceMoreIfLost(r *http.Request, again func() bool, read func() error) error {
	err := read()
	if err == nil || r.Context().Err() != nil || !store.IsConnectionLost(err) || (again != nil && !again()) {
		return err
	}
	s.logger.InfoContext(r.Context(), "retrying a read after a lost database connection",
		slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("error", err.Error()))
	return read()
}

func readOnly(r *http.Request) bool { return r.Method == http.MethodGet || r.Method == http.MethodHead }
