package events_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/kollektiv/kollektiv/internal/content"
	"github.com/kollektiv/kollektiv/internal/embed"
	"github.com/kollektiv/kollektiv/internal/events"
	"github.com/kollektiv/kollektiv/internal/ingest"
	"github.com/kollektiv/kollektiv/internal/lifecycle"
	"github.com/kollektiv/kollektiv/internal/store"
	"github.com/kollektiv/kollektiv/internal/summarize"
	"github.com/kollektiv/kollektiv/internal/wait"
	"github.com/kollektiv/kollektiv/jobs"
)

// startPipeline runs the pipeline's workers with River on b's database
// until t ends, and returns the service that adds sources.
func startPipeline(t *testing.T, b *hubBundle) *ingest.Service {
	t.Helper()
	hashing, err := embed.NewHashing(embed.HashingConfig{})
	if err != nil {
		t.Fatal(err)
	}
	summarizer, err := summarize.NewExtractive(summarize.ExtractiveConfig{Embedder: hashing})
	if err != nil {
		t.Fatal(err)
	}
	chunker, err := content.NewChunker(content.ChunkerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	workers := river.NewWorkers()
	err = jobs.Register(workers, jobs.Deps{
		Pool: b.pool, Chunker: chunker, Embedder: hashing, Summarizer: summarizer,
		Settings: jobs.Settings{
			BatchDocuments: 1, EmbedBatchChunks: 2,
			FanInSafetyInterval: 200 * time.Millisecond, ProgressInterval: time.Millisecond,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	client, err := river.NewClient(riverpgxv5.New(b.pool), &river.Config{
		Queues: map[string]river.QueueConfig{
			jobs.QueueDefault: {MaxWorkers: 2}, jobs.QueueChunking: {MaxWorkers: 2}, jobs.QueueEmbedding: {MaxWorkers: 2},
		},
		Workers:           workers,
		RetryPolicy:       &jobs.RetryPolicy{Base: 10 * time.Millisecond, Max: 50 * time.Millisecond},
		FetchPollInterval: 20 * time.Millisecond,
		FetchCooldown:     5 * time.Millisecond,
		TestOnly:          true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := client.Stop(ctx); err != nil {
			t.Errorf("error stopping River: %v", err)
		}
	})
	return &ingest.Service{Pool: b.pool, River: client}
}

func guide(topic string, sections int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s guide\n\n", topic)
	for i := range sections {
		fmt.Fprintf(&b, "## %s part %d\n\n", topic, i)
		for j := range 6 {
			fmt.Fprintf(&b, "The %s subsystem handles request %d of section %d with careful retries and clear errors. ", topic, j, i)
		}
		b.WriteString("\n\n")
	}
	return b.String()
}

// TestSSEResumeDuringIngest follows a real ingest, disconnects mid-stream,
// resumes with Last-Event-ID, and checks that the two streams together are
// exactly the stored sequence, ending at completed.
func TestSSEResumeDuringIngest(t *testing.T) {
	t.Parallel()
	b := setupHub(t, events.HubOptions{})
	svc := startPipeline(t, b)
	ctx := context.Background()

	var docs []content.Document
	for i := range 8 {
		d, err := content.PrepareDocument("", fmt.Sprintf("doc%d.md", i), guide(fmt.Sprintf("topic%d", i), 3), content.PrepareOptions{})
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, d)
	}
	added, err := svc.Add(ctx, ingest.AddParams{UserID: "alice", Kind: ingest.KindInline, Documents: docs})
	if err != nil {
		t.Fatal(err)
	}
	source := added.Source
	server := newSSEServer(t, b, events.SSEOptions{SourceID: source.ID, Generation: source.Generation, Snapshot: source})

	// First connection: the snapshot and two events, then away.
	stream, disconnect := server.connect(t, "")
	if e, err := stream.nextEvent(t); err != nil || e.name != "snapshot" {
		t.Fatalf("first event %+v, %v; want the snapshot", e, err)
	}
	var got []events.Event
	for range 2 {
		e, err := stream.nextEvent(t)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e.stored(t))
	}
	disconnect()
	if err := server.served(t); err != nil {
		t.Fatalf("first stream: %v", err)
	}
	last := got[len(got)-1]
	if last.Stage.Terminal() {
		t.Fatal("the ingest ended before the disconnect")
	}

	// Let the pipeline move on while nobody listens, so the second stream
	// has history to replay as well as live events to follow.
	waitForEventAfter(t, b, source.ID, last.ID)

	stream, _ = server.connect(t, fmt.Sprint(last.ID))
	if e, err := stream.nextEvent(t); err != nil || e.name != "snapshot" {
		t.Fatalf("first event after resuming %+v, %v; want the snapshot", e, err)
	}
	for {
		e, err := stream.nextEvent(t)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ev := e.stored(t)
		if len(got) > 0 && got[len(got)-1].Stage.Terminal() {
			t.Fatalf("event %d sent after the terminal event", ev.ID)
		}
		got = append(got, ev)
	}
	if err := server.served(t); err != nil {
		t.Fatalf("second stream: %v", err)
	}

	stored, err := events.After(ctx, b.pool, source.ID, 0, 100_000)
	if err != nil {
		t.Fatal(err)
	}
	assertSameEvents(t, got, stored)
	if end := got[len(got)-1]; end.Stage != lifecycle.StageCompleted {
		t.Fatalf("stream ended at %s, want completed", end.Stage)
	}
	final, err := store.New(b.pool).GetSourceByID(ctx, source.ID)
	if err != nil || lifecycle.StageOf(final) != lifecycle.StageCompleted {
		t.Fatalf("source %+v, %v", final, err)
	}
	t.Logf("%d events: %d before the disconnect", len(got), 2)
}

func waitForEventAfter(t *testing.T, b *hubBundle, sourceID uuid.UUID, afterID int64) {
	t.Helper()
	wait.For(t, 60*time.Second, func() (bool, string) {
		evs, err := events.After(context.Background(), b.pool, sourceID, afterID, 1)
		if err != nil {
			t.Fatal(err)
		}
		return len(evs) > 0, fmt.Sprintf("no event after %d", afterID)
	})
}
