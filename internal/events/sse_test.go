package events_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kollektiv/kollektiv/internal/events"
	"github.com/kollektiv/kollektiv/internal/lifecycle"
	"github.com/kollektiv/kollektiv/internal/wait"
)

// sseEvent is one parsed event of a stream; comment holds a comment line.
type sseEvent struct {
	id, name, data, comment string
}

// sseStream reads events from a response body.
type sseStream struct {
	resp *http.Response
	r    *bufio.Reader
}

// next returns the next event or comment, or io.EOF when the server ended
// the stream.
func (s *sseStream) next() (sseEvent, error) {
	var e sseEvent
	var data []string
	seen := false
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			if errors.Is(err, io.EOF) && (seen || line != "") {
				return e, io.ErrUnexpectedEOF
			}
			return e, err
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			if !seen {
				continue
			}
			e.data = strings.Join(data, "\n")
			return e, nil
		case strings.HasPrefix(line, ":"):
			e.comment = strings.TrimSpace(strings.TrimPrefix(line, ":"))
		case strings.HasPrefix(line, "id: "):
			e.id = strings.TrimPrefix(line, "id: ")
		case strings.HasPrefix(line, "event: "):
			e.name = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = append(data, strings.TrimPrefix(line, "data: "))
		default:
			return e, errors.New("unexpected line " + strconv.Quote(line))
		}
		seen = true
	}
}

// nextEvent skips comments.
func (s *sseStream) nextEvent(t *testing.T) (sseEvent, error) {
	t.Helper()
	for {
		e, err := s.next()
		if err != nil || e.comment == "" {
			return e, err
		}
	}
}

// stored decodes a stream event into the stored event it carries, checking
// that its id and name agree with it.
func (e sseEvent) stored(t *testing.T) events.Event {
	t.Helper()
	var ev events.Event
	if err := json.Unmarshal([]byte(e.data), &ev); err != nil {
		t.Fatalf("event data %q: %v", e.data, err)
	}
	if e.id != strconv.FormatInt(ev.ID, 10) || e.name != string(ev.Stage) {
		t.Fatalf("event id %q name %q carry event %d %s", e.id, e.name, ev.ID, ev.Stage)
	}
	return ev
}

// sseServer serves ServeSSE for one source; opts.Pool, Hub and SourceID
// are filled in. Errors of ServeSSE are sent to errs.
type sseServer struct {
	*httptest.Server
	errs chan error
}

func newSSEServer(t *testing.T, b *hubBundle, opts events.SSEOptions) *sseServer {
	t.Helper()
	opts.Pool, opts.Hub = b.pool, b.hub
	s := &sseServer{errs: make(chan error, 100)}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := events.ServeSSE(w, r, opts)
		if errors.Is(err, events.ErrInvalidLastEventID) {
			http.Error(w, err.Error(), http.StatusBadRequest)
		}
		s.errs <- err
	}))
	t.Cleanup(s.Close)
	return s
}

// connect opens a stream, resuming after lastEventID when it is not empty.
// The stream is closed when t ends, or earlier by cancel.
func (s *sseServer) connect(t *testing.T, lastEventID string) (*sseStream, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return &sseStream{resp: resp, r: bufio.NewReader(resp.Body)}, cancel
}

func (s *sseServer) served(t *testing.T) error {
	t.Helper()
	select {
	case err := <-s.errs:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("handler did not return")
		return nil
	}
}

func TestSSEReplaysThenFollowsUntilTerminal(t *testing.T) {
	t.Parallel()
	b := setupHub(t, events.HubOptions{})
	src := createSource(t, b.pool)
	other := createSource(t, b.pool)
	// The failed event of generation 1 is history: the client connects
	// during generation 2.
	var want []events.Event
	for _, stage := range []lifecycle.Stage{lifecycle.StageCreated, lifecycle.StageFailed, lifecycle.StageCreated} {
		gen := int32(1)
		if len(want) == 2 {
			gen = 2
		}
		want = append(want, writeEvent(t, b.pool, src, gen, stage))
	}
	writeEvent(t, b.pool, other, 2, lifecycle.StageCreated)

	server := newSSEServer(t, b, events.SSEOptions{SourceID: src, Generation: 2, Snapshot: map[string]string{"stage": "created"}})
	stream, _ := server.connect(t, "")
	header := stream.resp.Header
	if stream.resp.StatusCode != http.StatusOK || header.Get("Content-Type") != "text/event-stream" ||
		header.Get("Cache-Control") != "no-cache" || header.Get("X-Accel-Buffering") != "no" {
		t.Fatalf("response %s with headers %v", stream.resp.Status, header)
	}
	snapshot, err := stream.nextEvent(t)
	if err != nil || snapshot.name != "snapshot" || snapshot.id != "" || snapshot.data != `{"stage":"created"}` {
		t.Fatalf("first event %+v, %v; want the snapshot without id", snapshot, err)
	}
	var got []events.Event
	for range want {
		e, err := stream.nextEvent(t)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e.stored(t))
	}

	// Live, after the replay: the other source's events are not sent.
	writeEvent(t, b.pool, other, 2, lifecycle.StageCompleted)
	want = append(want,
		writeEvent(t, b.pool, src, 2, lifecycle.StageProgress),
		writeEvent(t, b.pool, src, 2, lifecycle.StageCompleted))
	for {
		e, err := stream.nextEvent(t)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e.stored(t))
	}
	assertSameEvents(t, got, want)
	if err := server.served(t); err != nil {
		t.Fatalf("ServeSSE: %v", err)
	}
	if n := b.hub.Subscribers(); n != 0 {
		t.Fatalf("%d subscribers left after the stream ended", n)
	}
}

func TestSSEResumesAfterLastEventID(t *testing.T) {
	t.Parallel()
	b := setupHub(t, events.HubOptions{})
	src := createSource(t, b.pool)
	created := writeEvent(t, b.pool, src, 1, lifecycle.StageCreated)
	progress := writeEvent(t, b.pool, src, 1, lifecycle.StageProgress)
	completed := writeEvent(t, b.pool, src, 1, lifecycle.StageCompleted)
	server := newSSEServer(t, b, events.SSEOptions{SourceID: src, Generation: 1})

	stream, _ := server.connect(t, strconv.FormatInt(created.ID, 10))
	var got []events.Event
	for {
		e, err := stream.nextEvent(t)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e.stored(t))
	}
	assertSameEvents(t, got, []events.Event{progress, completed})
	if err := server.served(t); err != nil {
		t.Fatal(err)
	}

	// Resuming after the end: 204 tells an EventSource to stop.
	stream, _ = server.connect(t, strconv.FormatInt(completed.ID, 10))
	if stream.resp.StatusCode != http.StatusNoContent {
		t.Fatalf("resume after the terminal event: %s, want 204", stream.resp.Status)
	}
	if err := server.served(t); err != nil {
		t.Fatal(err)
	}

	stream, _ = server.connect(t, "seven")
	if stream.resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("invalid Last-Event-ID: %s, want 400", stream.resp.Status)
	}
	if err := server.served(t); !errors.Is(err, events.ErrInvalidLastEventID) {
		t.Fatalf("invalid Last-Event-ID: %v", err)
	}
}

func TestSSEHeartbeatAndDisconnect(t *testing.T) {
	t.Parallel()
	b := setupHub(t, events.HubOptions{})
	src := createSource(t, b.pool)
	server := newSSEServer(t, b, events.SSEOptions{SourceID: src, Heartbeat: 20 * time.Millisecond})

	stream, disconnect := server.connect(t, "")
	for {
		e, err := stream.next()
		if err != nil {
			t.Fatal(err)
		}
		if e.comment != "" {
			if e.comment != "heartbeat" || e.name != "" || e.id != "" {
				t.Fatalf("comment event %+v", e)
			}
			break
		}
	}
	disconnect()
	if err := server.served(t); err != nil {
		t.Fatalf("a client going away is no error: %v", err)
	}
	wait.For(t, 10*time.Second, func() (bool, string) {
		n := b.hub.Subscribers()
		return n == 0, fmt.Sprintf("%d subscriptions outlived the stream", n)
	})
}

func TestSSEValidatesOptions(t *testing.T) {
	t.Parallel()
	rec := httptest.NewRecorder()
	err := events.ServeSSE(rec, httptest.NewRequest(http.MethodGet, "/", nil), events.SSEOptions{SourceID: uuid.New()})
	if err == nil || rec.Body.Len() != 0 {
		t.Fatalf("ServeSSE without Pool and Hub: %v, wrote %q", err, rec.Body.String())
	}
}

// assertSameEvents compares ids, stages and generations in order.
func assertSameEvents(t *testing.T, got, want []events.Event) {
	t.Helper()
	ok := len(got) == len(want)
	for i := 0; ok && i < len(got); i++ {
		ok = got[i].ID == want[i].ID && got[i].Stage == want[i].Stage && got[i].Generation == want[i].Generation &&
			got[i].SourceID == want[i].SourceID
	}
	if !ok {
		t.Fatalf("events\n got %v\nwant %v", summary(got), summary(want))
	}
}

func summary(evs []events.Event) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = strconv.FormatInt(e.ID, 10) + ":" + strconv.Itoa(int(e.Generation)) + ":" + string(e.Stage)
	}
	return out
}

func TestSSEEndsWhenHubStops(t *testing.T) {
	t.Parallel()
	b := setupHub(t, events.HubOptions{})
	src := createSource(t, b.pool)
	server := newSSEServer(t, b, events.SSEOptions{SourceID: src, Snapshot: "s"})
	stream, _ := server.connect(t, "")
	if e, err := stream.nextEvent(t); err != nil || e.name != "snapshot" {
		t.Fatalf("first event %+v, %v", e, err)
	}
	b.hub.Stop()
	if err := server.served(t); !errors.Is(err, events.ErrHubStopped) {
		t.Fatalf("ServeSSE after the hub stopped: %v, want ErrHubStopped", err)
	}
	if _, err := stream.nextEvent(t); !errors.Is(err, io.EOF) {
		t.Fatalf("stream after the hub stopped: %v, want EOF", err)
	}
}

// TestSSEDeliversAcrossHubReconnect writes events while the hub's LISTEN
// connection is down: the wake-up after reconnecting makes the stream read
// them from the database.
func TestSSEDeliversAcrossHubReconnect(t *testing.T) {
	t.Parallel()
	b := setupHub(t, events.HubOptions{ReconnectDelay: 200 * time.Millisecond})
	src := createSource(t, b.pool)
	server := newSSEServer(t, b, events.SSEOptions{SourceID: src, Generation: 1})
	stream, _ := server.connect(t, "")
	created := writeEvent(t, b.pool, src, 1, lifecycle.StageCreated)
	if e, err := stream.nextEvent(t); err != nil || e.stored(t).ID != created.ID {
		t.Fatalf("first event %+v, %v", e, err)
	}

	ctx := context.Background()
	_, err := b.pool.Exec(ctx, `
		SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'LISTEN %'`)
	if err != nil {
		t.Fatal(err)
	}
	// Within the reconnect delay: nobody listens, the notification is lost.
	want := []events.Event{
		writeEvent(t, b.pool, src, 1, lifecycle.StageProgress),
		writeEvent(t, b.pool, src, 1, lifecycle.StageCompleted),
	}
	var got []events.Event
	for {
		e, err := stream.nextEvent(t)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e.stored(t))
	}
	assertSameEvents(t, got, want)
	if err := server.served(t); err != nil {
		t.Fatal(err)
	}
}
