package api

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/kollektiv/kollektiv/internal/apikeys"
	"github.com/kollektiv/kollektiv/internal/derr"
)

type keyContextKey struct{}

func withKey(ctx context.Context, key apikeys.Key) context.Context {
	return context.WithValue(ctx, keyContextKey{}, key)
}

// keyFrom returns the authenticated key of a request.
func keyFrom(ctx context.Context) apikeys.Key {
	key, _ := ctx.Value(keyContextKey{}).(apikeys.Key)
	return key
}

// authenticate finds the request's key. allowBasic also takes it as a Basic
// password, or from the console's session: only for River UI, which a
// browser opens (the console links to it for admins).
func (s *Server) authenticate(r *http.Request, allowBasic bool) (apikeys.Key, error) {
	secret := bearer(r)
	if secret == "" && allowBasic {
		if _, password, ok := r.BasicAuth(); ok {
			secret = password
		} else if sess, ok, err := s.currentSession(r); ok || err != nil {
			return sess.key, err
		}
	}
	if secret == "" {
		return apikeys.Key{}, errorf(derr.Unauthorized, "missing API key: send Authorization: Bearer <key> (create one with `kollektiv keys create`)")
	}
	var key apikeys.Key
	err := s.onceMoreIfLost(r, nil, func() (err error) {
		key, err = apikeys.Authenticate(r.Context(), s.Pool, secret, s.Now())
		return err
	})
	if errors.Is(err, apikeys.ErrUnauthorized) {
		return key, errorf(derr.Unauthorized, err.Error())
	}
	if err != nil {
		return key, err
	}
	// Best effort: a failed touch must not fail the request. A minute's
	// precision is enough for `keys ls`, and saves a write per request.
	if key.LastUsedAt == nil || s.Now().Sub(*key.LastUsedAt) > time.Minute {
		_ = s.queries.TouchAPIKey(r.Context(), key.ID)
	}
	return key, nil
}

// rateLimiter is a token bucket per key, in process memory: each API
// process limits on its own.
type rateLimiter struct {
	mu      sync.Mutex
	rate    float64
	burst   float64
	now     func() time.Time
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newRateLimiter(rate, burst int, now func() time.Time) *rateLimiter {
	return &rateLimiter{rate: float64(rate), burst: float64(burst), now: now, buckets: map[string]*bucket{}}
}

// allow takes a token for key, or says how long until one is free.
func (l *rateLimiter) allow(key string) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b, ok := l.buckets[key]
	if !ok {
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return 0, true
	}
	return time.Duration((1 - b.tokens) / l.rate * float64(time.Second)), false
}
