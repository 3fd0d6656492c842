package api_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kollektiv/kollektiv/internal/config"
	"github.com/kollektiv/kollektiv/internal/events"
	"github.com/kollektiv/kollektiv/internal/lifecycle"
	"github.com/kollektiv/kollektiv/internal/wait"
)

type sseEvent struct {
	id    int64
	event string
	data  string
}

// readSSE reads events from the stream of source id, resuming after
// lastID, until max events with ids were read (then it disconnects) or the
// server ends the stream.
func (b *testBundle) readSSE(t *testing.T, key, id string, lastID int64, maxEvents int) (got []sseEvent, ended bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.baseURL+"/v1/sources/"+id+"/events", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	if lastID > 0 {
		req.Header.Set("Last-Event-ID", strconv.FormatInt(lastID, 10))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("events: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var cur sseEvent
	sawSnapshot := false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.event == "snapshot" {
				sawSnapshot = true
			} else if cur.id > 0 {
				got = append(got, cur)
				if len(got) == maxEvents {
					return got, false
				}
			}
			cur = sseEvent{}
		case strings.HasPrefix(line, "id: "):
			cur.id, _ = strconv.ParseInt(strings.TrimPrefix(line, "id: "), 10, 64)
		case strings.HasPrefix(line, "event: "):
			cur.event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			cur.data += strings.TrimPrefix(line, "data: ")
		}
	}
	if !sawSnapshot {
		t.Fatal("stream did not start with a snapshot")
	}
	return got, true
}

// TestEventsResumeWithoutGapOrDuplicate follows a real ingest, disconnects
// after a few events, resumes with Last-Event-ID, and checks that the two
// reads together are exactly the stored events, in order, ending at
// completed.
func TestEventsResumeWithoutGapOrDuplicate(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *config.Config) {
		c.BatchDocuments = 1
		c.EmbedBatchChunks = 2
		c.ProgressInterval = time.Millisecond
	})
	var docs []map[string]string
	for i := range 8 {
		docs = append(docs, map[string]string{"url": "d" + strconv.Itoa(i) + ".md", "content": guide("topic" + strconv.Itoa(i))})
	}
	r := b.do(t, b.alice, "POST", "/v1/sources", jsonBody(t, map[string]any{"documents": docs}))
	if r.status != 202 {
		t.Fatal(r.status)
	}
	id := r.json(t)["id"].(string)

	first, ended := b.readSSE(t, b.alice, id, 0, 3)
	if ended || len(first) != 3 {
		t.Fatalf("first read: %d events, ended %v", len(first), ended)
	}
	rest, ended := b.readSSE(t, b.alice, id, first[len(first)-1].id, 0)
	if !ended {
		t.Fatal("the stream did not end")
	}
	all := append(append([]sseEvent{}, first...), rest...)
	if last := all[len(all)-1]; last.event != string(lifecycle.StageCompleted) {
		t.Fatalf("stream ended with %s, want completed", last.event)
	}
	stored, err := events.After(context.Background(), b.app.Pool, uuid.MustParse(id), 0, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != len(stored) {
		t.Fatalf("received %d events, stored %d", len(all), len(stored))
	}
	for i, e := range stored {
		if all[i].id != e.ID || all[i].event != string(e.Stage) {
			t.Fatalf("event %d: received %d %s, stored %d %s", i, all[i].id, all[i].event, e.ID, e.Stage)
		}
	}
	// A finished source's stream replays and ends at once.
	replay, ended := b.readSSE(t, b.alice, id, 0, 0)
	if !ended || len(replay) != len(stored) {
		t.Fatalf("replay of a finished source: %d events, ended %v", len(replay), ended)
	}
}

// TestEventsLastEventIDNotOfTheStream: a Last-Event-ID beyond the stream's
// end (or another source's event) is refused with 400, naming the source's
// last event, instead of a stream that sends only heartbeats forever (issue
// 13); resuming after the terminal event still gives 204.
func TestEventsLastEventIDNotOfTheStream(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	a := b.createInline(t, b.alice, map[string]string{"url": "a.md", "content": guide("alpha")})["id"].(string)
	other := b.createInline(t, b.alice, map[string]string{"url": "b.md", "content": guide("beta")})["id"].(string)
	// The last event of a finished source: its terminal event, which the
	// publish_event job stores after the source row says completed.
	lastOf := func(id string) int64 {
		t.Helper()
		var last events.Event
		wait.For(t, time.Minute, func() (bool, string) {
			evs, err := events.After(context.Background(), b.app.Pool, uuid.MustParse(id), 0, 10_000)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) == 0 {
				return false, "no event of " + id + " yet"
			}
			last = evs[len(evs)-1]
			return last.Stage.Terminal(), fmt.Sprintf("last event of %s: %d %s", id, last.ID, last.Stage)
		})
		return last.ID
	}
	last, otherLast := lastOf(a), lastOf(other)

	connect := func(lastEventID int64) (int, string) {
		t.Helper()
		// A stream that stays open would not end this test: read the
		// status, and the body only when it is an error.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.baseURL+"/v1/sources/"+a+"/events", nil)
		req.Header.Set("Authorization", "Bearer "+b.alice)
		req.Header.Set("Last-Event-ID", strconv.FormatInt(lastEventID, 10))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return resp.StatusCode, resp.Header.Get("Content-Type")
		}
		var body strings.Builder
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			body.WriteString(sc.Text())
		}
		return resp.StatusCode, body.String()
	}
	for _, tc := range []struct {
		name   string
		lastID int64
	}{{"beyond the end", last + 1000}, {"another source's event", otherLast}} {
		status, body := connect(tc.lastID)
		want := `{"error":{"code":"invalid","message":"invalid Last-Event-ID: ` + strconv.FormatInt(tc.lastID, 10) +
			` is not an event of this source (its last event is ` + strconv.FormatInt(last, 10) + `); reconnect without Last-Event-ID to replay its events from the start"}}`
		if status != http.StatusBadRequest || body != want {
			t.Errorf("%s: %d %s\nwant 400 %s", tc.name, status, body, want)
		}
	}
	if status, body := connect(last); status != http.StatusNoContent {
		t.Errorf("after the terminal event: %d %s, want 204", status, body)
	}
}
