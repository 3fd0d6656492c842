package api

import (
	"context"
	"net/http"

	"github.com/google/uuid"
)

// requestIDHeader carries a request's id: taken from the client (or a proxy
// in front) when it sends a usable one, else made here; answered on every
// response and written in the access log line, so that a client's report
// finds its log lines.
const requestIDHeader = "X-Request-Id"

// maxRequestIDLength bounds an id taken from a client.
const maxRequestIDLength = 128

type requestIDContextKey struct{}

func withRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDContextKey{}, id)
}

// requestIDFrom returns the id of the request ctx belongs to.
func requestIDFrom(ctx context.Context) string {
	id, _ := ctx.Value(requestIDContextKey{}).(string)
	return id
}

// requestID returns the client's X-Request-Id when it is 1 to 128 letters,
// digits and "-_.:", safe to log and echo; otherwise a new random id.
func requestID(r *http.Request) string {
	if id := r.Header.Get(requestIDHeader); id != "" && len(id) <= maxRequestIDLength && plainID(id) {
		return id
	}
	return uuid.NewString()
}

func plainID(id string) bool {
	for _, c := range id {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == ':'
		if !ok {
			return false
		}
	}
	return true
}
