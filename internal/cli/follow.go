package cli

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/google/uuid"

	"github.com/kollektiv/kollektiv/internal/app"
	"github.com/kollektiv/kollektiv/internal/config"
	"github.com/kollektiv/kollektiv/internal/events"
	"github.com/kollektiv/kollektiv/internal/store"
)

// Reconnecting to the database while following a source: the delay starts
// at reconnectMin, doubles after each failed attempt up to reconnectMax,
// each delay jittered; a database unreachable for reconnectGiveUp ends the
// command.
const (
	reconnectMin    = 100 * time.Millisecond
	reconnectMax    = 5 * time.Second
	reconnectGiveUp = 10 * time.Minute
)

// followSource follows the source generation's events until a terminal
// one, as redrawn progress bars on a terminal, as one line per event
// otherwise, or silently (quiet), and returns the source as it ended.
//
// The workers survive a database restart, and so does this: a lost
// connection (a restart, a terminated backend) is said once on stderr; the
// command reconnects with capped, jittered backoff and resumes after the
// last event it saw, so no event is shown twice or missed.
func followSource(ctx context.Context, env Env, a *app.App, cmd string, sourceID uuid.UUID, generation int32, quiet bool) (store.Source, error) {
	start := time.Now()
	var view *progressView
	if !quiet && isTerminal(env.Stdout) {
		view = newProgressView(env.Stdout, time.Now)
	}
	r := &reconnector{env: env, cmd: cmd, ping: a.Pool.Ping}
	var lastID int64
	for {
		err := events.Follow(ctx, a.Pool, sourceID, lastID, 500*time.Millisecond, func(e events.Event) (bool, error) {
			lastID = e.ID
			if e.Generation != generation {
				return false, nil
			}
			switch {
			case view != nil:
				view.event(e)
			case !quiet:
				fmt.Fprintf(env.Stdout, "%6.1fs  %-20s %s\n", time.Since(start).Seconds(), e.Stage, describeEvent(e))
			}
			return e.Stage.Terminal(), nil
		})
		if err == nil {
			break
		}
		if err := r.wait(ctx, err, lastID); err != nil {
			return store.Source{}, err
		}
	}
	for {
		source, err := a.Queries.GetSourceByID(ctx, sourceID)
		if err == nil {
			return source, nil
		}
		if err := r.wait(ctx, err, lastID); err != nil {
			return store.Source{}, fmt.Errorf("error reading source: %w", err)
		}
	}
}

// reconnector waits out a lost database connection.
type reconnector struct {
	env  Env
	cmd  string
	ping func(context.Context) error
}

// wait returns err unless it is a lost connection; then it tells the user
// (once per outage), and pings with backoff until the database answers
// (nil), ctx ends or reconnectGiveUp passes (an error).
func (r *reconnector) wait(ctx context.Context, err error, lastID int64) error {
	if ctx.Err() != nil || !store.IsConnectionLost(err) {
		return err
	}
	began := time.Now()
	fmt.Fprintf(r.env.Stderr, "kollektiv %s: lost the database connection (%v); reconnecting, then resuming after event %d\n", r.cmd, err, lastID)
	delay := reconnectMin
	for {
		// Full jitter over the upper half: many clients cut by one
		// restart do not come back in step.
		wait := delay/2 + rand.N(delay/2+1) //nolint:gosec // jitter, not a secret
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		pingErr := r.ping(ctx)
		if pingErr == nil {
			fmt.Fprintf(r.env.Stderr, "kollektiv %s: reconnected after %s\n", r.cmd, config.FormatDuration(time.Since(began).Round(100*time.Millisecond)))
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !store.IsConnectionLost(pingErr) {
			return pingErr
		}
		if time.Since(began) > reconnectGiveUp {
			return fmt.Errorf("database unreachable for %s, giving up: %w", config.FormatDuration(reconnectGiveUp), errors.Join(err, pingErr))
		}
		delay = min(2*delay, reconnectMax)
	}
}

// stoppedFollowing turns an interrupt (Ctrl-C) while following a source
// into exit status 130 and a hint: the source goes on processing without
// the command, and `sources watch` follows it again.
func stoppedFollowing(ctx context.Context, env Env, cmd string, sourceID uuid.UUID, err error) error {
	if ctx.Err() == nil || !errors.Is(err, ctx.Err()) {
		return err
	}
	fmt.Fprintf(env.Stderr, "kollektiv %s: stopped following source %s; it goes on processing. Follow it again with:\n  kollektiv sources watch %s\n", cmd, sourceID, sourceID)
	return exitError{code: 130}
}
