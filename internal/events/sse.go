package events

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kollektiv/kollektiv/internal/derr"
	"github.com/kollektiv/kollektiv/internal/lifecycle"
	"github.com/kollektiv/kollektiv/internal/store"
)

// ErrInvalidLastEventID is returned, before anything is written, for a
// Last-Event-ID header that is not a non-negative integer, or that is not
// the id of one of the source's events (beyond the stream's end, or another
// source's): nothing after it could be streamed correctly.
var ErrInvalidLastEventID = derr.New(derr.Invalid, "invalid Last-Event-ID")

// SSEOptions configures one event stream.
type SSEOptions struct {
	// Pool reads the stored events. Required.
	Pool *pgxpool.Pool
	// Hub signals new events. Required.
	Hub *Hub
	// SourceID is the source whose events are streamed. Required; the
	// caller has checked that the client may see it.
	SourceID uuid.UUID
	// Generation is the source's generation at connect: the stream ends
	// after a completed or failed event of this generation or a later one.
	// Zero ends it at any terminal event.
	Generation int32
	// Snapshot is sent first as JSON, as the event "snapshot" without an
	// id. Nil sends none.
	Snapshot any
	// Heartbeat is the interval of ": heartbeat" comment lines, which keep
	// proxies from closing an idle stream. Default 15s.
	Heartbeat time.Duration
	// AfterID streams the events with greater ids, when the request has no
	// Last-Event-ID header. Default 0: from the start.
	AfterID int64
	// WriteTimeout bounds each write to the client, so a client that stops
	// reading ends its stream instead of holding it. It also lifts the
	// server's WriteTimeout for the stream. Default 30s.
	WriteTimeout time.Duration
}

// replayBatch is how many events one query reads.
const replayBatch = 500

// ServeSSE streams a source's events as Server-Sent Events: the snapshot,
// then every stored event after the request's Last-Event-ID (or
// opts.AfterID) in id order, then each new event as it is stored, each with
// its id and its stage as the event name. It returns after writing a
// terminal event of opts.Generation or later, when the client goes away
// (nil), or when the hub drops the subscription (ErrSubscriptionDropped:
// the client reconnects with Last-Event-ID and resumes).
//
// Live events are read from the database, after the last id sent, whenever
// the hub signals: so there is never a gap or a duplicate, whatever the
// notifications did.
//
// A client that resumes after the terminal event of the current generation
// gets 204 No Content, which tells an EventSource to stop reconnecting. A
// Last-Event-ID that is not an id of this source's events is refused with
// ErrInvalidLastEventID (the caller answers 400, which also stops an
// EventSource), naming the source's last event id.
//
// An error returned before anything was written (invalid options,
// ErrInvalidLastEventID, a failed query) leaves the response to the caller;
// after that, errors are for the log only.
func ServeSSE(w http.ResponseWriter, r *http.Request, opts SSEOptions) error {
	if opts.Pool == nil || opts.Hub == nil || opts.SourceID == uuid.Nil {
		return errors.New("sse: Pool, Hub and SourceID must be set")
	}
	opts.Heartbeat = cmp.Or(opts.Heartbeat, 15*time.Second)
	opts.WriteTimeout = cmp.Or(opts.WriteTimeout, 30*time.Second)
	ctx := r.Context()

	lastID := opts.AfterID
	if h := r.Header.Get("Last-Event-ID"); h != "" {
		id, err := strconv.ParseInt(strings.TrimSpace(h), 10, 64)
		if err != nil || id < 0 {
			return fmt.Errorf("%w: %q is not a non-negative integer", ErrInvalidLastEventID, h)
		}
		lastID = id
	}
	if lastID > 0 {
		ended, err := endedAt(ctx, opts, lastID)
		if err != nil {
			return err
		}
		if ended {
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
	}

	// Subscribe before the first read: an event committed after that read
	// is then signalled, so none falls between replay and live.
	sub := opts.Hub.Subscribe(opts.SourceID)
	defer sub.Close()

	s := &sseWriter{w: w, rc: http.NewResponseController(w), timeout: opts.WriteTimeout}
	header := w.Header()
	header.Set("Content-Type", "text/event-stream")
	header.Set("Cache-Control", "no-cache")
	header.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	if opts.Snapshot != nil {
		data, err := json.Marshal(opts.Snapshot)
		if err != nil {
			return fmt.Errorf("error encoding snapshot: %w", err)
		}
		if err := s.event("", "snapshot", data); err != nil {
			return err
		}
	}
	if err := s.flush(); err != nil {
		return err
	}

	heartbeat := time.NewTicker(opts.Heartbeat)
	defer heartbeat.Stop()
	for pending := true; ; {
		if pending {
			// One read answers every signal queued so far.
			for len(sub.C()) > 0 {
				<-sub.C()
			}
			done, err := sendAfter(ctx, s, opts, &lastID)
			if done || err != nil {
				return clientGone(ctx, err)
			}
			pending = false
		}
		select {
		case <-ctx.Done():
			return nil
		case <-sub.Done():
			return sub.Err()
		case <-sub.C():
			pending = true
		case <-heartbeat.C:
			if err := s.comment("heartbeat"); err != nil {
				return clientGone(ctx, err)
			}
		}
	}
}

// clientGone returns err unless the request's context ended: a client that
// went away ends its stream normally, whatever failed because of it.
func clientGone(ctx context.Context, err error) error {
	if ctx.Err() == nil {
		return err
	}
	return nil
}

// endedAt reports whether the event with id lastID is this source's
// terminal event of opts.Generation or later: the client saw the end. An id
// that is not one of the source's events gives ErrInvalidLastEventID: a
// stream resumed after an id beyond its end would skip every event to come
// (their ids are smaller) and only send heartbeats, forever.
func endedAt(ctx context.Context, opts SSEOptions, lastID int64) (bool, error) {
	q := store.New(opts.Pool)
	row, err := q.GetEvent(ctx, lastID)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return false, fmt.Errorf("error loading last event: %w", err)
	}
	if err != nil || row.SourceID != opts.SourceID {
		last, err := q.LastEventID(ctx, opts.SourceID)
		if err != nil {
			return false, fmt.Errorf("error loading the last event id: %w", err)
		}
		return false, fmt.Errorf("%w: %d is not an event of this source (its last event is %d); reconnect without Last-Event-ID to replay its events from the start", ErrInvalidLastEventID, lastID, last)
	}
	return lifecycle.Stage(row.Stage).Terminal() && row.Generation >= opts.Generation, nil
}

// sendAfter writes every stored event after *lastID and flushes, advancing
// *lastID. It reports done after a terminal event of opts.Generation or
// later.
func sendAfter(ctx context.Context, s *sseWriter, opts SSEOptions, lastID *int64) (done bool, err error) {
	for {
		evs, err := After(ctx, opts.Pool, opts.SourceID, *lastID, replayBatch)
		if err != nil {
			return false, err
		}
		for _, e := range evs {
			data, err := json.Marshal(e)
			if err != nil {
				return false, fmt.Errorf("error encoding event %d: %w", e.ID, err)
			}
			if err := s.event(strconv.FormatInt(e.ID, 10), string(e.Stage), data); err != nil {
				return false, err
			}
			*lastID = e.ID
			if e.Stage.Terminal() && e.Generation >= opts.Generation {
				return true, s.flush()
			}
		}
		if len(evs) < replayBatch {
			return false, s.flush()
		}
	}
}

// sseWriter writes the text/event-stream format.
type sseWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	buf     bytes.Buffer
}

// event writes one event; data may hold newlines, each line becomes a data
// field.
func (s *sseWriter) event(id, name string, data []byte) error {
	s.buf.Reset()
	if id != "" {
		s.buf.WriteString("id: " + id + "\n")
	}
	s.buf.WriteString("event: " + name + "\n")
	for line := range bytes.SplitSeq(data, []byte("\n")) {
		s.buf.WriteString("data: ")
		s.buf.Write(bytes.TrimSuffix(line, []byte("\r")))
		s.buf.WriteByte('\n')
	}
	s.buf.WriteByte('\n')
	return s.write()
}

func (s *sseWriter) comment(text string) error {
	s.buf.Reset()
	s.buf.WriteString(": " + text + "\n\n")
	if err := s.write(); err != nil {
		return err
	}
	return s.flush()
}

func (s *sseWriter) write() error {
	// A writer without deadlines (a test recorder) is still served.
	if err := s.rc.SetWriteDeadline(time.Now().Add(s.timeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return fmt.Errorf("error setting write deadline: %w", err)
	}
	if _, err := s.w.Write(s.buf.Bytes()); err != nil {
		return fmt.Errorf("error writing event stream: %w", err)
	}
	return nil
}

func (s *sseWriter) flush() error {
	if err := s.rc.Flush(); err != nil {
		return fmt.Errorf("error flushing event stream: %w", err)
	}
	return nil
}
