package jobs_test

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/kollektiv/kollektiv/internal/apikeys"
	"github.com/kollektiv/kollektiv/internal/dbtest"
	"github.com/kollektiv/kollektiv/internal/events"
	"github.com/kollektiv/kollektiv/internal/ingest"
	"github.com/kollektiv/kollektiv/internal/lifecycle"
	"github.com/kollektiv/kollektiv/internal/store"
	"github.com/kollektiv/kollektiv/internal/testbin"
	"github.com/kollektiv/kollektiv/internal/wait"
)

// testAppName marks the test's own database connections, which
// pg_terminate_backend spares.
const testAppName = "kollektiv_fault_test"

// faultCorpusEnv names what the SSE fault tests ingest, a directory or a
// file of the test corpus. Default: the Rust book (113 files, 1.2 MB). One
// file (rust-book/src/ch03-04-comments.md) ingests within a second, as the
// whole book does on a fast machine: the faults must still land before the
// source completes.
const faultCorpusEnv = "KOLLEKTIV_FAULT_CORPUS"

// sseClients is how many clients follow the source's events.
const sseClients = 4

// sseFaultBundle runs `kollektiv api` and two `kollektiv worker` processes
// on a fresh database, with clients following one source's events over SSE
// the way a browser's EventSource does.
type sseFaultBundle struct {
	*testBundle
	rng     *rand.Rand
	seed    uint64
	baseURL string
	key     string
	api     *processes
	workers *processes
	source  corpusSource
	release func() int // lets the source complete (holdCompletion)
	http    *http.Client
	results chan sseClientResult
}

// setupSSEFaults starts the API, adds a source, connects the clients and
// then starts the workers, so the clients follow the ingest live.
func setupSSEFaults(t *testing.T) *sseFaultBundle {
	t.Helper()
	ctx := context.Background()
	seed := crashEnv(t, crashSeedEnv, rand.Uint64()) //nolint:gosec // a seed, logged for replay
	t.Logf("%s=%d", crashSeedEnv, seed)
	binary := testbin.Build(t)
	url := dbtest.DatabaseURL(t)
	pool, err := store.Connect(ctx, url+"&application_name="+testAppName)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := apikeys.Create(ctx, pool, apikeys.CreateParams{UserID: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	f := &sseFaultBundle{
		testBundle: &testBundle{pool: pool},
		rng:        rand.New(rand.NewPCG(seed, 7)), //nolint:gosec // a seeded, repeatable schedule
		seed:       seed,
		key:        key,
		http:       &http.Client{Transport: &http.Transport{}},
		results:    make(chan sseClientResult, sseClients),
	}
	t.Cleanup(f.http.CloseIdleConnections)

	// A fixed port, so a restarted API is found where the clients look.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	f.baseURL = "http://" + addr
	apiEnv := append(workerEnv(url), "KOLLEKTIV_HTTP_ADDR="+addr,
		"KOLLEKTIV_API_RATE_LIMIT=10000", "KOLLEKTIV_API_RATE_BURST=10000", "KOLLEKTIV_SOFT_STOP_TIMEOUT=2s")
	f.api = startProcesses(t, binary, apiEnv, 1, "api")
	f.waitHealthy(t)

	f.source = addCorpus(t, &ingest.Service{Pool: pool, River: rc}, "alice", cmp.Or(os.Getenv(faultCorpusEnv), "rust-book"))
	connected := make(chan struct{}, sseClients)
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	t.Cleanup(cancel)
	for range sseClients {
		go func() { f.results <- f.follow(ctx, connected) }()
	}
	for range sseClients {
		select {
		case <-connected:
		case <-time.After(time.Minute):
			t.Fatalf("clients not connected within a minute; API logs:\n%s", f.api.logTail())
		}
	}
	// Faults start once the workers run: one that loses its connection
	// while starting exits, for its supervisor to start it again. The source
	// completes only once the test lets it, after its last fault.
	f.release = holdCompletion(t, pool)
	f.workers = startProcesses(t, binary, append(workerEnv(url), "KOLLEKTIV_LOG_LEVEL=info"), 2, "worker")
	f.workers.waitLogged(`msg="worker started"`, 2)
	return f
}

// waitHealthy waits until the API answers /healthz.
func (f *sseFaultBundle) waitHealthy(t *testing.T) {
	t.Helper()
	wait.For(t, time.Minute, func() (bool, string) {
		resp, err := f.http.Get(f.baseURL + "/healthz")
		if err != nil {
			return false, fmt.Sprintf("API not healthy: %v", err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK, fmt.Sprintf("API answers /healthz with %d", resp.StatusCode)
	})
}

// sseEvent is one event as a client received it.
type sseEvent struct {
	id    int64
	event string
}

// sseClientResult is what one client saw: every event with an id, in
// order of arrival, and how many times it connected.
type sseClientResult struct {
	events    []sseEvent
	streams   int // responses with status 200
	attempts  int // connection attempts, failed ones included
	status5xx int // responses with a 5xx status
	err       error
}

// follow reads the source's event stream until its terminal event,
// reconnecting after every failure with Last-Event-ID set to the last id
// it received, as an EventSource does. It signals connected after its first
// snapshot.
func (f *sseFaultBundle) follow(ctx context.Context, connected chan<- struct{}) (res sseClientResult) {
	var lastID int64
	signalled := false
	for {
		if ctx.Err() != nil {
			res.err = fmt.Errorf("gave up after %d attempts: %w", res.attempts, ctx.Err())
			return res
		}
		res.attempts++
		done, err := f.stream(ctx, &res, &lastID, func() {
			if !signalled {
				signalled = true
				connected <- struct{}{}
			}
		})
		if done || errors.Is(err, errClientGaveUp) {
			res.err = err
			return res
		}
		// Connection refused, cut, or a 5xx: try again shortly.
		time.Sleep(time.Duration(50+rand.IntN(150)) * time.Millisecond) //nolint:gosec // jitter
	}
}

var errClientGaveUp = errors.New("unexpected response")

// stream makes one request and reads it until it ends; done reports the
// terminal event.
func (f *sseFaultBundle) stream(ctx context.Context, res *sseClientResult, lastID *int64, snapshot func()) (done bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.baseURL+"/v1/sources/"+f.source.id.String()+"/events", nil)
	if err != nil {
		return false, fmt.Errorf("%w: %w", errClientGaveUp, err)
	}
	req.Header.Set("Authorization", "Bearer "+f.key)
	req.Header.Set("Accept", "text/event-stream")
	if *lastID > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(*lastID, 10))
	}
	resp, err := f.http.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 500:
		res.status5xx++
		_, _ = io.Copy(io.Discard, resp.Body)
		return false, fmt.Errorf("status %d", resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		// 204 after the terminal event: this client never asks then.
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return false, fmt.Errorf("%w: status %d: %s", errClientGaveUp, resp.StatusCode, body)
	}
	res.streams++
	r := bufio.NewReader(resp.Body)
	var cur sseEvent
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return false, err // cut: reconnect
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "":
			switch {
			case cur.event == "snapshot":
				snapshot()
			case cur.id > 0:
				res.events = append(res.events, cur)
				*lastID = cur.id
				if lifecycle.Stage(cur.event).Terminal() {
					return true, nil
				}
			}
			cur = sseEvent{}
		case strings.HasPrefix(line, "id: "):
			cur.id, _ = strconv.ParseInt(strings.TrimPrefix(line, "id: "), 10, 64)
		case strings.HasPrefix(line, "event: "):
			cur.event = strings.TrimPrefix(line, "event: ")
		}
	}
}

// runFaults calls fault(k) for each of n faults as the ingest progresses,
// each at a seeded point of its own slice of the progress (see
// faultFractions), then lets the source complete and waits for its
// terminal event.
func (f *sseFaultBundle) runFaults(t *testing.T, n int, fault func(k int)) {
	t.Helper()
	sources := []corpusSource{f.source}
	seen := runFaults(t, f.testBundle, sources, faultFractions(f.rng, n, 0.05, 1), fault)
	waiting := f.release()
	progress, _, _ := progressOf(t, f.testBundle, sources)
	t.Logf("%d faults at progress %s; %d summaries waited for the last fault (progress %.2f)", len(seen), fractions(seen), waiting, progress)
	waitSourcesFinished(t, f.testBundle, sources, 4*time.Minute)
}

// assertClientsSawStoredEvents checks that the source completed exactly and
// that each client received the stored events, each once, in order.
func (f *sseFaultBundle) assertClientsSawStoredEvents(t *testing.T) {
	t.Helper()
	assertCompletedExactly(t, f.testBundle, f.source)
	stored, err := events.After(context.Background(), f.pool, f.source.id, 0, 100_000)
	if err != nil {
		t.Fatal(err)
	}
	streams, attempts, status5xx := 0, 0, 0
	for i := range sseClients {
		var res sseClientResult
		select {
		case res = <-f.results:
		case <-time.After(time.Minute):
			t.Fatalf("client %d still reading a minute after the source finished", i)
		}
		if res.err != nil {
			t.Fatalf("client %d: %v", i, res.err)
		}
		if len(res.events) != len(stored) {
			t.Fatalf("client %d received %d events over %d streams, stored %d", i, len(res.events), res.streams, len(stored))
		}
		for j, e := range stored {
			if got := res.events[j]; got.id != e.ID || got.event != string(e.Stage) {
				t.Fatalf("client %d: event %d is %d %s, stored %d %s", i, j, got.id, got.event, e.ID, e.Stage)
			}
		}
		streams += res.streams
		attempts += res.attempts
		status5xx += res.status5xx
	}
	assertNoJobUnfinished(t, f.testBundle)
	f.workers.assertRunning()
	f.api.assertRunning()
	t.Logf("%d events; %d clients reconnected %d times (%d attempts, %d answered 5xx)", len(stored), sseClients, streams-sseClients, attempts, status5xx)
	// A browser's EventSource gives up on a 5xx: a reconnect must get its
	// stream (or a refused connection while the API restarts), never one.
	if status5xx > 0 {
		t.Fatalf("%d reconnects answered 5xx", status5xx)
	}
}

// TestTerminateBackendsDuringIngestAndStreams kills every database
// connection but the test's own with pg_terminate_backend, five times while
// workers ingest and clients follow the events through `kollektiv api`:
// the workers' job connections, River's, and the API's (the event hub's
// LISTEN included). Each round fires when the ingest's progress crosses a
// point seeded by KOLLEKTIV_CRASH_SEED, and the source cannot complete
// before the last. The source completes exactly, and every client, resuming
// with Last-Event-ID after each cut, sees each stored event once.
func TestTerminateBackendsDuringIngestAndStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("starts API and worker processes")
	}
	t.Parallel()
	f := setupSSEFaults(t)
	ctx := context.Background()
	terminated, listeners := 0, 0
	f.runFaults(t, 5, func(int) {
		var n, listening int
		if err := f.pool.QueryRow(ctx, `
			SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)),
			       count(*) FILTER (WHERE query LIKE 'LISTEN %')
			FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name <> $1`,
			testAppName).Scan(&n, &listening); err != nil {
			t.Fatal(err)
		}
		terminated += n
		listeners += listening
	})
	t.Logf("terminated %d connections (%d of them last ran LISTEN) in 5 rounds", terminated, listeners)
	f.assertClientsSawStoredEvents(t)
}

// TestAPIRestartsDuringStreams kills (SIGKILL) and stops (SIGTERM) the
// `kollektiv api` process while clients follow a source's events and
// workers in their own processes ingest it, each restart when the ingest's
// progress crosses a seeded point (as above); every client, reconnecting to
// the new process with Last-Event-ID, sees each stored event once.
func TestAPIRestartsDuringStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("starts API and worker processes")
	}
	t.Parallel()
	f := setupSSEFaults(t)
	signals := []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM, syscall.SIGKILL, syscall.SIGTERM}
	f.runFaults(t, len(signals), func(k int) {
		f.api.restart(0, signals[k])
		f.waitHealthy(t)
	})
	t.Logf("restarted the API %d times (%v)", len(signals), signals)
	f.assertClientsSawStoredEvents(t)
}
