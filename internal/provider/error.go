// Package provider holds what the remote embedders and summarizers share:
// a typed error that tells a job whether to retry or give up, a retry policy
// with exponential backoff and full jitter that honours Retry-After, and a
// small JSON-over-HTTP client built on both.
package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// ErrInvalidConfig marks a configuration error found at construction. It is
// permanent: retrying with the same configuration cannot succeed.
var ErrInvalidConfig = errors.New("invalid provider configuration")

// Error is the error returned by a remote provider call. A job uses
// Permanent (through IsPermanent) to decide between cancelling and retrying,
// and RetryAfter to decide how long to snooze.
type Error struct {
	// Provider names the provider, for example "openai" or "anthropic".
	Provider string
	// Op names the operation, for example "embed" or "summarize".
	Op string
	// StatusCode is the HTTP status of the response, 0 when there was none
	// (connection error, timeout).
	StatusCode int
	// Permanent is true when retrying the same request cannot succeed:
	// a rejected key (401, 403), a bad request (400, 404, 413, 422) or a
	// response that contradicts the configuration.
	Permanent bool
	// RetryAfter is the delay the server asked for in a Retry-After header,
	// 0 when it gave none.
	RetryAfter time.Duration
	// Message is a plain description for users and logs, including the
	// server's own error message when it sent one.
	Message string
	// Err is the underlying cause, if any.
	Err error
}

// Error returns "provider op: message[: cause]".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Provider)
	if e.Op != "" {
		b.WriteString(" ")
		b.WriteString(e.Op)
	}
	b.WriteString(": ")
	b.WriteString(e.Message)
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// IsPermanent reports whether err should cancel a job rather than retry it:
// a permanent *Error or an ErrInvalidConfig anywhere in the chain. A
// cancelled or expired context is not permanent, since the work itself may
// succeed on another attempt.
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrInvalidConfig) {
		return true
	}
	var pe *Error
	if errors.As(err, &pe) {
		return pe.Permanent
	}
	return false
}

// RetryAfter returns the delay a server asked for in the chain of err, or 0.
func RetryAfter(err error) time.Duration {
	var pe *Error
	if errors.As(err, &pe) {
		return pe.RetryAfter
	}
	return 0
}

// PermanentStatus reports whether an HTTP status code means that retrying
// the same request cannot succeed. 408, 409, 425, 429 and every 5xx
// (including Anthropic's 529 overloaded) are transient; every other 4xx is
// permanent.
func PermanentStatus(code int) bool {
	switch code {
	case http.StatusRequestTimeout, http.StatusConflict, http.StatusTooEarly, http.StatusTooManyRequests:
		return false
	}
	return code >= 400 && code < 500
}

// StatusError builds the *Error for a non-2xx response. serverMessage is the
// message the server put in its error body ("" if none could be read).
func StatusError(provider, op string, code int, retryAfter time.Duration, serverMessage string) *Error {
	var msg string
	switch code {
	case http.StatusUnauthorized:
		msg = "the API key was rejected (401 Unauthorized); check the configured key"
	case http.StatusForbidden:
		msg = "the API key is not allowed to use this resource (403 Forbidden)"
	case http.StatusNotFound:
		msg = "not found (404); check the base URL and the model name"
	case http.StatusTooManyRequests:
		msg = "rate limited (429 Too Many Requests)"
	default:
		msg = fmt.Sprintf("unexpected status %d %s", code, http.StatusText(code))
	}
	if serverMessage != "" {
		msg += ": " + serverMessage
	}
	return &Error{
		Provider:   provider,
		Op:         op,
		StatusCode: code,
		Permanent:  PermanentStatus(code),
		RetryAfter: retryAfter,
		Message:    msg,
	}
}

// transportError wraps a failure to get a response at all: connection
// refused or reset, DNS, or the per-attempt timeout. These are transient.
func transportError(provider, op string, err error) *Error {
	msg := "request failed"
	if errors.Is(err, context.DeadlineExceeded) {
		msg = "request timed out"
	}
	return &Error{Provider: provider, Op: op, Message: msg, Err: err}
}
