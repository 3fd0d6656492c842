package events

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Reasons a subscription ends, as Subscription.Err reports them.
var (
	// ErrSubscriptionDropped: the subscriber fell behind by a full buffer and
	// was dropped rather than waited on. It should re-read from the database
	// (a client reconnects with Last-Event-ID).
	ErrSubscriptionDropped = errors.New("subscription dropped: subscriber too slow")
	// ErrHubStopped: the hub stopped.
	ErrHubStopped = errors.New("event hub stopped")
	// ErrSubscriptionClosed: the subscriber closed it.
	ErrSubscriptionClosed = errors.New("subscription closed")
)

// HubOptions configures a Hub. The zero value is the default.
type HubOptions struct {
	// Buffer is how many signals a subscriber may leave unread before it is
	// dropped. Default 64.
	Buffer int
	// ReconnectDelay is the wait before the first attempt to listen again
	// after the connection is lost; it doubles after each failed attempt
	// up to MaxReconnectDelay. Default 100ms.
	ReconnectDelay time.Duration
	// MaxReconnectDelay caps ReconnectDelay's doubling. Default 5s.
	MaxReconnectDelay time.Duration
	// PingInterval is how long the listener waits for a notification before
	// it pings the server, so a connection that died silently is noticed.
	// Default 30s.
	PingInterval time.Duration
}

func (o HubOptions) withDefaults() HubOptions {
	o.Buffer = cmp.Or(o.Buffer, 64)
	o.ReconnectDelay = cmp.Or(o.ReconnectDelay, 100*time.Millisecond)
	o.MaxReconnectDelay = cmp.Or(o.MaxReconnectDelay, 5*time.Second)
	o.PingInterval = cmp.Or(o.PingInterval, 30*time.Second)
	return o
}

// Hub holds one LISTEN connection per process on Channel and fans its
// notifications out to subscribers of each source. A subscriber that falls
// a full buffer behind is dropped, never waited on: the listener must keep
// up for everyone else. After the connection is lost and re-established,
// notifications may have been missed, so every subscriber is woken to
// re-read from the database.
type Hub struct {
	pool   *pgxpool.Pool
	logger *slog.Logger
	opts   HubOptions

	// lifecycle serialises Start and Stop; cancel and done are set by Start.
	lifecycle sync.Mutex
	started   bool
	cancel    context.CancelFunc
	done      chan struct{} // closed when the listener goroutine returns

	mu      sync.Mutex
	subs    map[uuid.UUID]map[*Subscription]struct{}
	count   int
	stopped bool // no new subscriptions
}

// NewHub returns a hub that listens through a connection configured like
// pool's. A nil logger discards.
func NewHub(pool *pgxpool.Pool, logger *slog.Logger, opts HubOptions) *Hub {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Hub{
		pool:   pool,
		logger: logger,
		opts:   opts.withDefaults(),
		subs:   map[uuid.UUID]map[*Subscription]struct{}{},
	}
}

// Start connects, LISTENs, and then follows notifications in a goroutine
// until ctx ends or Stop is called. It returns once the first LISTEN is in
// place, so a subscriber that subscribes after Start misses nothing; an
// error means the hub could not listen at all and did not start.
func (h *Hub) Start(ctx context.Context) error {
	h.lifecycle.Lock()
	defer h.lifecycle.Unlock()
	h.mu.Lock()
	stopped := h.stopped
	h.mu.Unlock()
	switch {
	case stopped:
		return ErrHubStopped
	case h.started:
		return errors.New("event hub already started")
	}
	conn, err := h.connect(ctx)
	if err != nil {
		return err
	}
	// Whoever subscribed before Start may have missed notifications.
	h.wakeAll()
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stopOnDone := context.AfterFunc(ctx, cancel)
	h.started, h.cancel, h.done = true, cancel, make(chan struct{})
	go func() {
		defer close(h.done)
		defer h.endAll()
		defer stopOnDone()
		h.run(runCtx, conn)
	}()
	return nil
}

// Stop stops listening, waits for the listener to return, and ends every
// subscription with ErrHubStopped. It is safe to call more than once, and
// without Start.
func (h *Hub) Stop() {
	h.lifecycle.Lock()
	defer h.lifecycle.Unlock()
	if h.cancel != nil {
		h.cancel()
		<-h.done
	}
	h.endAll()
}

// endAll ends every subscription and refuses new ones: nothing would
// signal them any more.
func (h *Hub) endAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopped = true
	for _, set := range h.subs {
		for s := range set {
			h.endLocked(s, ErrHubStopped)
		}
	}
}

// Subscribe returns a subscription to the notifications of one source. On
// a stopped hub it returns a subscription that has already ended.
func (h *Hub) Subscribe(sourceID uuid.UUID) *Subscription {
	s := &Subscription{
		hub:      h,
		sourceID: sourceID,
		c:        make(chan Notification, h.opts.Buffer),
		done:     make(chan struct{}),
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stopped {
		s.err = ErrHubStopped
		close(s.done)
		return s
	}
	set := h.subs[sourceID]
	if set == nil {
		set = map[*Subscription]struct{}{}
		h.subs[sourceID] = set
	}
	set[s] = struct{}{}
	h.count++
	return s
}

// Subscribers returns how many subscriptions are live.
func (h *Hub) Subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.count
}

// run follows notifications on conn, then on each new connection after it
// is lost, until ctx ends.
func (h *Hub) run(ctx context.Context, conn *pgx.Conn) {
	for {
		err := h.follow(ctx, conn)
		_ = conn.Close(context.WithoutCancel(ctx))
		if ctx.Err() != nil {
			return
		}
		h.logger.WarnContext(ctx, "event listener lost its connection", slog.String("error", err.Error()))
		if conn = h.reconnect(ctx); conn == nil {
			return
		}
		h.logger.InfoContext(ctx, "event listener reconnected")
		// Notifications sent while no connection listened are lost: every
		// subscriber re-reads from the database instead.
		h.wakeAll()
	}
}

// reconnect listens again, retrying with backoff; it returns nil when ctx
// ends first.
func (h *Hub) reconnect(ctx context.Context) *pgx.Conn {
	delay := h.opts.ReconnectDelay
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(delay):
		}
		conn, err := h.connect(ctx)
		if err == nil {
			return conn
		}
		if ctx.Err() != nil {
			return nil
		}
		delay = min(2*delay, h.opts.MaxReconnectDelay)
		h.logger.WarnContext(ctx, "event listener cannot reconnect", slog.String("error", err.Error()), slog.Duration("retry_in", delay))
	}
}

// connect opens a connection of its own, outside the pool: it stays in
// LISTEN for its whole life and must never be handed to anyone else.
func (h *Hub) connect(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, h.pool.Config().ConnConfig)
	if err != nil {
		return nil, fmt.Errorf("error connecting event listener: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{Channel}.Sanitize()); err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, fmt.Errorf("error listening on %s: %w", Channel, err)
	}
	return conn, nil
}

// follow dispatches notifications from conn until it fails or ctx ends.
func (h *Hub) follow(ctx context.Context, conn *pgx.Conn) error {
	for {
		waitCtx, cancel := context.WithTimeout(ctx, h.opts.PingInterval)
		n, err := conn.WaitForNotification(waitCtx)
		cancel()
		switch {
		case err == nil:
			h.dispatch(ctx, n.Payload)
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded):
			// Quiet for a while: make sure the server is still there. A
			// deadline leaves a pgx connection usable.
			pingCtx, cancel := context.WithTimeout(ctx, h.opts.PingInterval)
			err := conn.Ping(pingCtx)
			cancel()
			if err != nil {
				return fmt.Errorf("error pinging: %w", err)
			}
		default:
			return fmt.Errorf("error waiting for notification: %w", err)
		}
	}
}

// dispatch signals the subscribers of the notified source, dropping any
// whose buffer is full.
func (h *Hub) dispatch(ctx context.Context, payload string) {
	var note Notification
	if err := json.Unmarshal([]byte(payload), &note); err != nil {
		h.logger.WarnContext(ctx, "unreadable event notification", slog.String("payload", payload), slog.String("error", err.Error()))
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs[note.SourceID] {
		h.signalLocked(s, note)
	}
}

// wakeAll sends every subscriber a notification with ID 0: re-read.
func (h *Hub) wakeAll() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for sourceID, set := range h.subs {
		for s := range set {
			h.signalLocked(s, Notification{SourceID: sourceID})
		}
	}
}

func (h *Hub) signalLocked(s *Subscription, note Notification) {
	select {
	case s.c <- note:
	default:
		h.endLocked(s, ErrSubscriptionDropped)
	}
}

// endLocked removes s and closes its Done channel, once.
func (h *Hub) endLocked(s *Subscription, reason error) {
	if s.err != nil {
		return
	}
	s.err = reason
	close(s.done)
	set := h.subs[s.sourceID]
	delete(set, s)
	if len(set) == 0 {
		delete(h.subs, s.sourceID)
	}
	h.count--
}

// Subscription receives a signal for each new event of one source.
type Subscription struct {
	hub      *Hub
	sourceID uuid.UUID
	c        chan Notification
	done     chan struct{}
	err      error // guarded by hub.mu; set once, when done is closed
}

// C delivers a notification for each event stored for the source. One with
// ID 0 carries no event: notifications may have been missed (the hub
// reconnected), so the subscriber should re-read from the database. C is
// never closed; watch Done.
func (s *Subscription) C() <-chan Notification { return s.c }

// Done is closed when the subscription ends: closed by its owner, dropped
// for being slow, or the hub stopped. Err says which.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Err returns nil while the subscription is live, and then
// ErrSubscriptionClosed, ErrSubscriptionDropped or ErrHubStopped.
func (s *Subscription) Err() error {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	return s.err
}

// Close unsubscribes. It is safe to call more than once, and after the hub
// ended the subscription.
func (s *Subscription) Close() {
	s.hub.mu.Lock()
	defer s.hub.mu.Unlock()
	s.hub.endLocked(s, ErrSubscriptionClosed)
}
