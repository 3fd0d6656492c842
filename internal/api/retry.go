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
	err := rt.handler(w, r)
	if err == nil || w.wrote || r.Context().Err() != nil || !readOnly(r) || !store.IsConnectionLost(err) {
		return err
	}
	s.logger.InfoContext(r.Context(), "retrying a read after a lost database connection",
		slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("error", err.Error()))
	return rt.handler(w, r)
}

func readOnly(r *http.Request) bool { return r.Method == http.MethodGet || r.Method == http.MethodHead }
