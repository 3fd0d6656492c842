package derr_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/kollektiv/kollektiv/internal/derr"
)

// TestTable pins the one mapping from kind to HTTP status, CLI exit status
// and MCP tool error, and checks that a kind is found through wrapping.
func TestTable(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		kind   derr.Kind
		status int
		exit   int
		caller bool
	}{
		{derr.Invalid, http.StatusBadRequest, 2, true},
		{derr.Unauthorized, http.StatusUnauthorized, 5, true},
		{derr.Forbidden, http.StatusForbidden, 5, true},
		{derr.NotFound, http.StatusNotFound, 3, true},
		{derr.Conflict, http.StatusConflict, 4, true},
		{derr.IdempotencyKeyReused, http.StatusUnprocessableEntity, 4, true},
		{derr.TooLarge, http.StatusRequestEntityTooLarge, 6, true},
		{derr.RateLimited, http.StatusTooManyRequests, 7, true},
		{derr.Unavailable, http.StatusServiceUnavailable, 8, false},
		{derr.Internal, http.StatusInternalServerError, 1, false},
	} {
		for _, err := range []error{
			derr.New(tt.kind, "the message"),
			fmt.Errorf("error doing x: %w", derr.New(tt.kind, "the message")),
			derr.Wrap(tt.kind, errors.New("the message")),
			fmt.Errorf("%w: the message", tt.kind),
		} {
			if got := derr.KindOf(err); got != tt.kind {
				t.Errorf("KindOf(%v) = %s, want %s", err, got, tt.kind)
			}
			if got := derr.HTTPStatus(err); got != tt.status {
				t.Errorf("%s: HTTPStatus %d, want %d", tt.kind, got, tt.status)
			}
			if got := derr.ExitCode(err); got != tt.exit {
				t.Errorf("%s: ExitCode %d, want %d", tt.kind, got, tt.exit)
			}
			if got := derr.CallerError(err); got != tt.caller {
				t.Errorf("%s: CallerError %v, want %v", tt.kind, got, tt.caller)
			}
			if !errors.Is(err, tt.kind) {
				t.Errorf("errors.Is(%v, %s) is false", err, tt.kind)
			}
		}
	}
	if n := len(derr.Kinds()); n != 10 {
		t.Errorf("%d kinds, the table above has 10", n)
	}
}

// TestNoKind: an error without a kind is internal, and its message stays in
// the log.
func TestNoKind(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("error loading source: %w", errors.New("connection refused to 10.0.0.3"))
	if derr.KindOf(err) != derr.Internal || derr.HTTPStatus(err) != 500 || derr.ExitCode(err) != 1 || derr.Message(err) != "internal error" {
		t.Fatalf("kind %s, status %d, exit %d, message %q", derr.KindOf(err), derr.HTTPStatus(err), derr.ExitCode(err), derr.Message(err))
	}
	if derr.HTTPStatus(nil) != 200 || derr.ExitCode(nil) != 0 || derr.CallerError(nil) {
		t.Fatal("nil is not an error")
	}
	if derr.KindOf(context.Canceled) != derr.Internal {
		t.Fatal("context.Canceled has no kind")
	}
}

// TestMessage: the user sees a kind's whole message; a request body over
// its limit is too large wherever it surfaces.
func TestMessage(t *testing.T) {
	t.Parallel()
	err := fmt.Errorf("%w: source x is at stage created", derr.New(derr.Conflict, "source is still being processed"))
	if got := derr.Message(err); got != "source is still being processed: source x is at stage created" {
		t.Fatalf("message %q", got)
	}
	tooLarge := fmt.Errorf("error reading body: %w", &http.MaxBytesError{Limit: 10})
	if derr.KindOf(tooLarge) != derr.TooLarge || derr.HTTPStatus(tooLarge) != http.StatusRequestEntityTooLarge {
		t.Fatalf("MaxBytesError: %s", derr.KindOf(tooLarge))
	}
}
