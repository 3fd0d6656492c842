package api

import (
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/kollektiv/kollektiv/internal/derr"
)

// Error is what a client sees of a failed request: a code (a derr.Kind:
// invalid, not_found, conflict, ...) and a plain message. Which status
// answers which code is derr's table, not the handlers' choice.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// errorf returns an error of kind with a message for the client.
func errorf(kind derr.Kind, message string) error { return derr.New(kind, message) }

// writeError answers with err: its kind's status and code with its message;
// an error of no kind as an internal error whose cause goes to the log, not
// to the client.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	kind := derr.KindOf(err)
	if kind == derr.Internal {
		s.logger.ErrorContext(r.Context(), "request failed", slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("request_id", requestIDFrom(r.Context())), slog.String("error", err.Error()))
	}
	writeJSON(w, derr.HTTPStatus(err), map[string]Error{"error": {Code: string(kind), Message: derr.Message(err)}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
