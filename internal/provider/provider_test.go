package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		header map[string]string
		want   time.Duration
	}{
		{nil, 0},
		{map[string]string{"Retry-After": "5"}, 5 * time.Second},
		{map[string]string{"Retry-After": "0.5"}, 500 * time.Millisecond},
		{map[string]string{"Retry-After": "-3"}, 0},
		{map[string]string{"Retry-After": "Sat, 28 Nov 2026 12:00:30 GMT"}, 30 * time.Second},
		{map[string]string{"Retry-After": "Sat, 28 Nov 2026 11:59:00 GMT"}, 0},
		{map[string]string{"Retry-After": "soon"}, 0},
		{map[string]string{"Retry-After": "20", "retry-after-ms": "1500"}, 1500 * time.Millisecond},
	}
	for _, c := range cases {
		h := http.Header{}
		for k, v := range c.header {
			h.Set(k, v)
		}
		if got := ParseRetryAfter(h, now); got != c.want {
			t.Errorf("ParseRetryAfter(%v) = %v, want %v", c.header, got, c.want)
		}
	}
}

func TestStatusClassification(t *testing.T) {
	t.Parallel()
	permanent := []int{400, 401, 403, 404, 413, 422}
	transient := []int{408, 409, 429, 500, 502, 503, 504, 529}
	for _, code := range permanent {
		if !StatusError("openai", "embed", code, 0, "").Permanent {
			t.Errorf("%d should be permanent", code)
		}
	}
	for _, code := range transient {
		if StatusError("openai", "embed", code, 0, "").Permanent {
			t.Errorf("%d should be transient", code)
		}
	}
	e := StatusError("anthropic", "summarize", 401, 0, "invalid x-api-key (authentication_error)")
	if got, want := e.Error(), "anthropic summarize: the API key was rejected (401 Unauthorized); check the configured key: invalid x-api-key (authentication_error)"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestIsPermanent(t *testing.T) {
	t.Parallel()
	perm := &Error{Provider: "p", Permanent: true, Message: "m"}
	trans := &Error{Provider: "p", Message: "m", RetryAfter: time.Second}
	cases := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("plain"), false},
		{context.Canceled, false},
		{perm, true},
		{fmt.Errorf("wrapped: %w", perm), true},
		{fmt.Errorf("wrapped: %w", trans), false},
		{fmt.Errorf("%w: bad", ErrInvalidConfig), true},
	}
	for _, c := range cases {
		if got := IsPermanent(c.err); got != c.want {
			t.Errorf("IsPermanent(%v) = %v, want %v", c.err, got, c.want)
		}
	}
	if RetryAfter(fmt.Errorf("x: %w", trans)) != time.Second {
		t.Error("RetryAfter lost through wrapping")
	}
}

func TestRetryBackoffIsBoundedFullJitter(t *testing.T) {
	t.Parallel()
	r := Retry{MinBackoff: 100 * time.Millisecond, MaxBackoff: time.Second}.withDefaults()
	for attempt := range 10 {
		ceiling := min(time.Second, 100*time.Millisecond<<attempt)
		var top time.Duration
		for range 200 {
			d := r.backoff(attempt)
			if d < 0 || d >= ceiling {
				t.Fatalf("attempt %d: backoff %v outside [0, %v)", attempt, d, ceiling)
			}
			top = max(top, d)
		}
		if top < ceiling/2 {
			t.Fatalf("attempt %d: largest of 200 draws %v, want the range up to %v used", attempt, top, ceiling)
		}
	}
}

func TestRetryDo(t *testing.T) {
	t.Parallel()
	var waits []time.Duration
	r := Retry{MaxRetries: 2, MinBackoff: time.Millisecond, MaxBackoff: time.Millisecond,
		Sleep: func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }}
	calls := 0
	err := r.Do(context.Background(), nil, func(context.Context) error {
		calls++
		return &Error{Provider: "p", Message: "busy"}
	})
	if calls != 3 || len(waits) != 2 || IsPermanent(err) {
		t.Fatalf("calls %d waits %v err %v, want 3 calls, 2 waits, transient error", calls, waits, err)
	}
	calls = 0
	plain := errors.New("not a provider error")
	if err := r.Do(context.Background(), nil, func(context.Context) error { calls++; return plain }); !errors.Is(err, plain) || calls != 1 {
		t.Fatalf("plain error: calls %d err %v, want no retry", calls, err)
	}
	if err := (Retry{MinBackoff: time.Minute, MaxBackoff: time.Second}).Validate(); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Validate = %v, want ErrInvalidConfig", err)
	}
}
