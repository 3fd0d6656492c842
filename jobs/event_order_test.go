package jobs_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/kollektiv/kollektiv/internal/content"
	"github.com/kollektiv/kollektiv/internal/events"
	"github.com/kollektiv/kollektiv/internal/ingest"
	"github.com/kollektiv/kollektiv/internal/lifecycle"
	"github.com/kollektiv/kollektiv/internal/wait"
	"github.com/kollektiv/kollektiv/jobs"
)

// TestStageEventsKeepPipelineOrder delays the publish_event job of a stage
// event, as a crashed worker does until the rescuer gives its job back:
// the next stage event, whose job runs first, must still be stored after
// it, so a stream shows the stages in pipeline order.
func TestStageEventsKeepPipelineOrder(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{})
	ctx := context.Background()
	id := completedSource(t, b)

	// Generation 2's first event is held back; its second is not.
	delayed := heldEvent(t, b, id)
	next := laterEvent(t, b, id)
	// Let the second job be worked at least once before the first runs.
	wait.For(t, 30*time.Second, func() (bool, string) {
		job, err := b.client.JobGet(ctx, next.ID)
		if err != nil {
			t.Fatal(err)
		}
		return job.AttemptedAt != nil, fmt.Sprintf("the second event's job is %s, not worked yet", job.State)
	})
	if _, err := b.client.JobRetry(ctx, delayed.ID); err != nil {
		t.Fatal(err)
	}
	wantEventsInOrder(t, b, id)
}

// TestStageEventWaitsForAnEarlierOneBeingPublished holds a stage event's
// earlier event back until the later one has found it unpublished, then
// lets it go, as when both are scheduled in one transaction and fetched
// together (summary_generated and completed): the later one must look
// again and be stored in its first attempt, not snooze.
func TestStageEventWaitsForAnEarlierOneBeingPublished(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// The held event's job, once the test holds one; the ingest before it
	// goes its way.
	held := make(chan int64, 1)
	var b *testBundle
	settings := jobs.WithWhileEarlierPending(jobs.Settings{}, func() {
		select {
		case id := <-held:
			if _, err := b.client.JobRetry(ctx, id); err != nil {
				t.Error(err)
			}
		default:
		}
	})
	b = setup(t, testOpts{settings: settings})
	id := completedSource(t, b)

	held <- heldEvent(t, b, id).ID
	next := laterEvent(t, b, id)
	wantEventsInOrder(t, b, id)
	job, err := b.client.JobGet(ctx, next.ID)
	if err != nil {
		t.Fatal(err)
	}
	if snoozes := job.Metadata; job.Attempt != 1 || strings.Contains(string(snoozes), "snoozes") {
		t.Fatalf("the later event's job ran %d attempts, metadata %s: want one attempt, no snooze", job.Attempt, snoozes)
	}
}

// completedSource ingests a source of one document and waits until it is
// completed.
func completedSource(t *testing.T, b *testBundle) uuid.UUID {
	t.Helper()
	added, err := b.ingest.Add(context.Background(), ingest.AddParams{UserID: "alice", Kind: ingest.KindInline,
		Documents: []content.Document{doc(t, "a.md", guide("tokio", 1))}})
	if err != nil {
		t.Fatal(err)
	}
	waitTerminal(t, b, added.Source.ID)
	return added.Source.ID
}

// heldEvent inserts the publish_event job of source id's generation 2
// created event, scheduled an hour ahead: held back, as the job of a
// crashed worker is until the rescuer gives it back.
func heldEvent(t *testing.T, b *testBundle, id uuid.UUID) *rivertype.JobRow {
	t.Helper()
	res, err := b.client.Insert(context.Background(), jobs.PublishEventArgs{SourceID: id, Generation: 2, Stage: lifecycle.StageCreated, Key: events.StageKey(2, lifecycle.StageCreated)},
		&river.InsertOpts{ScheduledAt: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return res.Job
}

// laterEvent inserts the publish_event job of source id's generation 2
// processing_scheduled event, the one after heldEvent's.
func laterEvent(t *testing.T, b *testBundle, id uuid.UUID) *rivertype.JobRow {
	t.Helper()
	res, err := b.client.Insert(context.Background(), jobs.PublishEventArgs{SourceID: id, Generation: 2, Stage: lifecycle.StageProcessingScheduled, Key: events.StageKey(2, lifecycle.StageProcessingScheduled)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res.Job
}

// wantEventsInOrder waits for source id's generation 2 events of
// heldEvent and laterEvent to be stored, and fails unless they were
// stored in that order.
func wantEventsInOrder(t *testing.T, b *testBundle, id uuid.UUID) {
	t.Helper()
	var got []string
	wait.For(t, 30*time.Second, func() (bool, string) {
		got = stageEvents(t, b, id, 2)
		return len(got) == 2, fmt.Sprintf("stage events of generation 2: %v", got)
	})
	if want := []string{string(lifecycle.StageCreated), string(lifecycle.StageProcessingScheduled)}; !equal(got, want) {
		t.Fatalf("stage events of generation 2 stored as %v, want %v", got, want)
	}
}
