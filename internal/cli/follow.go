package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/signal"
	"sync"
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

// followTick is how often the status line is redrawn (its times move on)
// and the worker notice looks at the time.
const followTick = 250 * time.Millisecond

// followSource follows the source generation's events until a terminal
// one, as a status line redrawn in place on a terminal, as lines
// otherwise, or silently (quiet), and returns the source as it ended.
//
// The workers survive a database restart, and so does this: a lost
// connection (a restart, a terminated backend) is said once on stderr; the
// command reconnects with capped, jittered backoff and resumes after the
// last event it saw, so no event is shown twice or missed.
//
// When nothing happens for cfg.NoWorkerNotice and no worker has sent a
// heartbeat within cfg.CheckWorkerWithin, it says so once on stderr, with
// how to start one, and goes on waiting; it says when a worker appears.
func followSource(ctx context.Context, env Env, a *app.App, cfg *config.Config, cmd string, sourceID uuid.UUID, generation int32, quiet bool) (store.Source, error) {
	var view *progressView
	say := func(msg string) { fmt.Fprintln(env.Stderr, msg) }
	if !quiet {
		cols := 0
		if isTerminal(env.Stdout) {
			cols = cmp.Or(terminalColumns(env.Stdout), defaultColumns)
		}
		view = newProgressView(env.Stdout, env.Stderr, cols, time.Now)
		say = view.note
		defer view.close()
	}
	notice := &workerNotice{
		cmd: cmd, after: cfg.NoWorkerNotice, within: cfg.CheckWorkerWithin, say: say,
		count: func(ctx context.Context) (int64, error) {
			return a.Queries.CountLiveWorkers(ctx, cfg.CheckWorkerWithin.Seconds())
		},
	}
	notice.moved(time.Now())
	stop := startFollowBackground(ctx, env, view, notice)
	defer stop()

	r := &reconnector{cmd: cmd, say: say, ping: a.Pool.Ping}
	var lastID int64
	for {
		err := events.Follow(ctx, a.Pool, sourceID, lastID, 500*time.Millisecond, func(e events.Event) (bool, error) {
			lastID = e.ID
			if e.Generation != generation {
				return false, nil
			}
			notice.moved(time.Now())
			if view != nil {
				view.event(e)
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

// startFollowBackground runs what goes on beside the events until the
// returned stop is called: the view's ticks, its redraw when the terminal
// is resized (SIGWINCH), and the worker notice.
func startFollowBackground(ctx context.Context, env Env, view *progressView, notice *workerNotice) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	resized := make(chan os.Signal, 1)
	if view != nil && view.term {
		notifyResize(resized)
	}
	go func() {
		defer close(done)
		defer signal.Stop(resized)
		ticker := time.NewTicker(followTick)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-resized:
				view.resize(terminalColumns(env.Stdout))
			case now := <-ticker.C:
				if view != nil {
					view.tick()
				}
				notice.check(ctx, now)
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// workerNotice tells a user waiting on a source that no worker is alive to
// process it: after `after` without an event, it counts the workers that
// sent a heartbeat within `within` (as `kollektiv check` does), says once
// when there is none and how to start one, and says when one appears.
type workerNotice struct {
	cmd           string
	after, within time.Duration
	count         func(context.Context) (int64, error)
	say           func(string)

	mu        sync.Mutex
	movedAt   time.Time // the last event
	checkedAt time.Time
	absent    bool // the user was told that no worker is alive
}

// moved records that an event arrived at now: a worker is alive.
func (w *workerNotice) moved(now time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.movedAt = now
	w.appeared()
}

// appeared says that a worker is alive, after the user was told none was.
func (w *workerNotice) appeared() {
	if w.absent {
		w.absent = false
		w.say(fmt.Sprintf("kollektiv %s: a worker is alive now; following the source.", w.cmd))
	}
}

// check counts the live workers when it is time to, and says what changed.
// While a worker is awaited it looks every second; else once per `after`
// of silence.
func (w *workerNotice) check(ctx context.Context, now time.Time) {
	w.mu.Lock()
	due := now.Sub(w.checkedAt) >= time.Second
	if !w.absent {
		due = now.Sub(w.movedAt) >= w.after && now.Sub(w.checkedAt) >= w.after
	}
	w.mu.Unlock()
	if !due {
		return
	}
	live, err := w.count(ctx)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.checkedAt = now
	if err != nil {
		return // a lost database is the event loop's to report
	}
	switch {
	case live == 0 && !w.absent:
		w.absent = true
		w.say(fmt.Sprintf("kollektiv %s: no worker has sent a heartbeat in the last %s, so nothing is processing the source.\n"+
			"Start one with `kollektiv worker` (or `kollektiv serve`: the API and workers in one process). Still waiting.",
			w.cmd, config.FormatDuration(w.within)))
	case live > 0:
		w.appeared()
	}
}

// reconnector waits out a lost database connection.
type reconnector struct {
	cmd  string
	say  func(string) // to the user, on stderr
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
	r.say(fmt.Sprintf("kollektiv %s: lost the database connection (%v); reconnecting, then resuming after event %d", r.cmd, err, lastID))
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
			r.say(fmt.Sprintf("kollektiv %s: reconnected after %s", r.cmd, config.FormatDuration(time.Since(began).Round(100*time.Millisecond))))
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
	fmt.Fprintf(env.Stderr, "kollektiv %s: stopped following; the source goes on processing.\nFollow it again with:\n  kollektiv sources watch %s\n", cmd, sourceID)
	return exitError{code: 130}
}
