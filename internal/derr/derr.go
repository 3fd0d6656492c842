// Package derr holds the few kinds of domain error a user must tell apart
// (invalid, not found, conflict, ...) and, in one table, what each kind
// becomes on every surface: an HTTP status and code, a CLI exit status, and
// whether an MCP tool reports it as the caller's error. Code anywhere marks
// an error with its kind (New, Wrap, or a sentinel made with New); the
// surfaces ask this package, never choose for themselves. Modelled on
// pkgsite's derrors.ToStatus.
//
// An error of no kind is internal: its cause is logged, and the user sees
// a plain "internal error".
package derr

import (
	"errors"
	"net/http"
)

// Kind is a kind of domain error. A Kind is itself an error, so that
// errors.Is(err, derr.NotFound) answers whether err is of that kind.
type Kind string

// The kinds. Their string is the code the HTTP API puts in its error body.
const (
	// Invalid: the request or its input is wrong; change it before trying
	// again.
	Invalid Kind = "invalid"
	// Unauthorized: no credentials, or credentials that are not valid.
	Unauthorized Kind = "unauthorized"
	// Forbidden: valid credentials without the right to do this.
	Forbidden Kind = "forbidden"
	// NotFound: no such thing for this user.
	NotFound Kind = "not_found"
	// Conflict: the thing's current state does not allow this (a source
	// still being processed, another request that won a race).
	Conflict Kind = "conflict"
	// IdempotencyKeyReused: an Idempotency-Key came back with a request
	// other than the one that first used it (422, as payment APIs answer).
	IdempotencyKeyReused Kind = "idempotency_key_reused"
	// TooLarge: the input is over a configured limit.
	TooLarge Kind = "too_large"
	// RateLimited: too many requests; retry later.
	RateLimited Kind = "rate_limited"
	// Unavailable: a dependency is down or not ready; retry later.
	Unavailable Kind = "unavailable"
	// Internal: anything else. Its message never reaches the user.
	Internal Kind = "internal"
)

// Error implements error.
func (k Kind) Error() string { return string(k) }

// How one kind shows on each surface.
type surfaces struct {
	status int  // HTTP status
	exit   int  // CLI exit status
	caller bool // an MCP tool error the caller can act on (isError), not a protocol failure
}

// table is the one mapping from kind to surface. CLI exit statuses: 0 is
// success, 1 is a failure of no other kind (and a source that failed), 2 is
// a usage error or invalid input; the others name the kind.
var table = map[Kind]surfaces{
	Invalid:              {status: http.StatusBadRequest, exit: 2, caller: true},
	Unauthorized:         {status: http.StatusUnauthorized, exit: 5, caller: true},
	Forbidden:            {status: http.StatusForbidden, exit: 5, caller: true},
	NotFound:             {status: http.StatusNotFound, exit: 3, caller: true},
	Conflict:             {status: http.StatusConflict, exit: 4, caller: true},
	IdempotencyKeyReused: {status: http.StatusUnprocessableEntity, exit: 4, caller: true},
	TooLarge:             {status: http.StatusRequestEntityTooLarge, exit: 6, caller: true},
	RateLimited:          {status: http.StatusTooManyRequests, exit: 7, caller: true},
	Unavailable:          {status: http.StatusServiceUnavailable, exit: 8, caller: false},
	Internal:             {status: http.StatusInternalServerError, exit: 1, caller: false},
}

// Kinds lists every kind, for tests and documentation.
func Kinds() []Kind {
	return []Kind{Invalid, Unauthorized, Forbidden, NotFound, Conflict, IdempotencyKeyReused, TooLarge, RateLimited, Unavailable, Internal}
}

// Error is a domain error: a kind and a message the user may read. Cause,
// when set, is for the log and for errors.Is/As.
type Error struct {
	Kind    Kind
	Message string
	Cause   error
}

// Error returns the message.
func (e *Error) Error() string { return e.Message }

// Unwrap lets errors.Is find the kind and the cause.
func (e *Error) Unwrap() []error {
	if e.Cause == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Cause}
}

// New returns an error of kind with a message for the user.
func New(kind Kind, message string) error { return &Error{Kind: kind, Message: message} }

// Wrap marks err with kind; its message is err's. A nil err stays nil.
func Wrap(kind Kind, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Kind: kind, Message: err.Error(), Cause: err}
}

// KindOf returns the kind of err: the kind nearest the top of its chain,
// or Internal when it has none. A request body over its limit
// (*http.MaxBytesError) is TooLarge wherever it surfaces.
func KindOf(err error) Kind {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	var k Kind
	if errors.As(err, &k) {
		return k
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return TooLarge
	}
	return Internal
}

// Message is what the user sees of err: the whole message when err has a
// kind, "internal error" when it has none (the cause goes to the log).
func Message(err error) string {
	if KindOf(err) == Internal {
		return "internal error"
	}
	return err.Error()
}

// HTTPStatus is the HTTP status that answers err; 200 for nil.
func HTTPStatus(err error) int {
	if err == nil {
		return http.StatusOK
	}
	return table[KindOf(err)].status
}

// ExitCode is the CLI exit status for err; 0 for nil.
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	return table[KindOf(err)].exit
}

// CallerError reports whether an MCP tool answers err as a tool result
// with isError set (the calling model can act on it: fix the input, pick
// another source, wait) rather than as a protocol error.
func CallerError(err error) bool {
	return err != nil && table[KindOf(err)].caller
}
