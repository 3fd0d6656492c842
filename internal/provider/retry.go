package provider

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Retry is a bounded retry policy with exponential backoff and full jitter
// that honours a server's Retry-After. The zero value is usable.
type Retry struct {
	// MaxRetries is the number of retries after the first attempt. Default 3;
	// a negative value disables retries.
	MaxRetries int
	// MinBackoff is the ceiling of the first backoff; each retry doubles it.
	// Default 500ms.
	MinBackoff time.Duration
	// MaxBackoff caps the backoff ceiling. Default 30s.
	MaxBackoff time.Duration
	// MaxRetryAfter is the longest Retry-After this policy waits for in
	// process. A longer one ends the retries and returns the error, whose
	// RetryAfter the job can use to snooze instead of holding a worker.
	// Default 60s.
	MaxRetryAfter time.Duration
	// Sleep waits for d or until ctx is done. Nil means a real timer; tests
	// set it to record the waits instead of sleeping.
	Sleep func(ctx context.Context, d time.Duration) error
}

func (r Retry) withDefaults() Retry {
	if r.MaxRetries == 0 {
		r.MaxRetries = 3
	}
	r.MinBackoff = cmp.Or(r.MinBackoff, 500*time.Millisecond)
	r.MaxBackoff = cmp.Or(r.MaxBackoff, 30*time.Second)
	r.MaxRetryAfter = cmp.Or(r.MaxRetryAfter, 60*time.Second)
	if r.Sleep == nil {
		r.Sleep = sleep
	}
	return r
}

// Validate reports a negative duration or a MinBackoff above MaxBackoff.
func (r Retry) Validate() error {
	if r.MinBackoff < 0 || r.MaxBackoff < 0 || r.MaxRetryAfter < 0 {
		return fmt.Errorf("%w: negative backoff duration", ErrInvalidConfig)
	}
	d := r.withDefaults()
	if d.MinBackoff > d.MaxBackoff {
		return fmt.Errorf("%w: MinBackoff %s above MaxBackoff %s", ErrInvalidConfig, d.MinBackoff, d.MaxBackoff)
	}
	return nil
}

// Do calls fn until it succeeds, returns an error that is not retryable, the
// attempts are used up, or ctx is done. Only a transient *Error is retried;
// any other error (including a permanent *Error) is returned at once.
func (r Retry) Do(ctx context.Context, logger *slog.Logger, fn func(ctx context.Context) error) error {
	r = r.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	for attempt := 0; ; attempt++ {
		err := fn(ctx)
		if err == nil {
			return nil
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return fmt.Errorf("%w (%w)", ctxErr, err)
		}
		var pe *Error
		if !errors.As(err, &pe) || pe.Permanent || attempt >= r.MaxRetries {
			return err
		}
		wait := r.backoff(attempt)
		if pe.RetryAfter > 0 {
			if pe.RetryAfter > r.MaxRetryAfter {
				return err
			}
			wait = pe.RetryAfter
		}
		logger.WarnContext(ctx, "provider request failed, retrying",
			slog.String("provider", pe.Provider),
			slog.String("op", pe.Op),
			slog.Int("attempt", attempt+1),
			slog.Int("status", pe.StatusCode),
			slog.Duration("wait", wait),
			slog.String("error", err.Error()))
		if err := r.Sleep(ctx, wait); err != nil {
			return fmt.Errorf("%w (%w)", err, pe)
		}
	}
}

// backoff is full jitter: uniform in [0, min(MaxBackoff, MinBackoff·2^attempt)).
func (r Retry) backoff(attempt int) time.Duration {
	ceiling := r.MaxBackoff
	if attempt < 32 {
		if c := r.MinBackoff << attempt; c > 0 && c < ceiling {
			ceiling = c
		}
	}
	if ceiling <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(ceiling)))
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// ParseRetryAfter reads the delay a server asked for: OpenAI's
// retry-after-ms (milliseconds) first, then Retry-After as delay-seconds or
// as an HTTP-date relative to now. It returns 0 when there is none or it
// cannot be read, and never a negative delay.
func ParseRetryAfter(h http.Header, now time.Time) time.Duration {
	if v := strings.TrimSpace(h.Get("retry-after-ms")); v != "" {
		if ms, err := strconv.ParseFloat(v, 64); err == nil && ms > 0 {
			return time.Duration(ms * float64(time.Millisecond))
		}
	}
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.ParseFloat(v, 64); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(secs * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d
		}
	}
	return 0
}
