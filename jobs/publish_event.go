package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/kollektiv/kollektiv/internal/events"
	"github.com/kollektiv/kollektiv/internal/store"
)

// PublishEventArgs delivers one event of a source to the bus.
type PublishEventArgs struct {
	SourceID   uuid.UUID       `json:"source_id"`
	Generation int32           `json:"generation"`
	Stage      string          `json:"stage"`
	Key        string          `json:"key"`
	Payload    json.RawMessage `json:"payload,omitempty"`
}

// Kind is the job kind.
func (PublishEventArgs) Kind() string { return store.KindPublishEvent }

// InsertOpts puts events on the default queue.
func (PublishEventArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueDefault}
}

// Validate checks the args before any work.
func (a PublishEventArgs) Validate() error {
	switch {
	case a.SourceID == uuid.Nil:
		return errors.New("source_id: must be set")
	case a.Generation < 1:
		return errors.New("generation: must be at least 1")
	case !validStage(a.Stage):
		return fmt.Errorf("stage: %q is not a known stage", a.Stage)
	case a.Key == "":
		return errors.New("key: must be set")
	case len(a.Payload) > 0 && !json.Valid(a.Payload):
		return errors.New("payload: not valid JSON")
	}
	return nil
}

func validStage(stage string) bool {
	switch stage {
	case events.StageCreated, events.StageProcessingScheduled, events.StageChunksGenerated,
		events.StageSummaryGenerated, events.StageCompleted, events.StageFailed, events.StageProgress:
		return true
	}
	return false
}

// PublishEventWorker writes the event row and notifies listeners, in one
// transaction with its own completion: an event is stored exactly once.
type PublishEventWorker struct {
	river.WorkerDefaults[PublishEventArgs]
	p *pipeline
}

// Timeout bounds one attempt.
func (w *PublishEventWorker) Timeout(*river.Job[PublishEventArgs]) time.Duration {
	return w.p.Settings.JobTimeout
}

// terminalEventWait is how long a terminal event waits for the events
// scheduled before it.
const terminalEventWait = 100 * time.Millisecond

// Work publishes the event.
func (w *PublishEventWorker) Work(ctx context.Context, job *river.Job[PublishEventArgs]) error {
	args := job.Args
	if err := validateArgs(args); err != nil {
		return err
	}
	// A stream ends at completed or failed: those must come after every
	// event scheduled before them, even one whose job was delayed.
	if events.Terminal(args.Stage) {
		pending, err := store.EarlierEventsPending(ctx, w.p.Pool, args.SourceID, job.ID)
		if err != nil {
			return err
		}
		if pending {
			return river.JobSnooze(terminalEventWait)
		}
	}
	return inTx(ctx, w.p.Pool, func(tx pgx.Tx) error {
		if _, err := store.New(tx).GetSourceByID(ctx, args.SourceID); errors.Is(err, pgx.ErrNoRows) {
			w.p.Logger.InfoContext(ctx, "source deleted: event dropped", slog.String("source_id", args.SourceID.String()), slog.String("stage", args.Stage))
			return completeTx(ctx, tx, job)
		} else if err != nil {
			return fmt.Errorf("error loading source: %w", err)
		}
		if _, err := events.Write(ctx, tx, args.SourceID, args.Generation, args.Stage, args.Key, args.Payload); err != nil {
			return err
		}
		return completeTx(ctx, tx, job)
	})
}

// ScheduleEvent inserts the publish_event job of an event in tx, so the
// event is published if and only if tx commits. An empty key means the
// stage event's key (one per stage and generation).
func ScheduleEvent(ctx context.Context, rc *river.Client[pgx.Tx], tx pgx.Tx, sourceID uuid.UUID, generation int32, stage, key string, payload any) error {
	raw, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("error encoding %s event: %w", stage, err)
	}
	if key == "" {
		key = events.StageKey(generation, stage)
	}
	_, err = rc.InsertTx(ctx, tx, PublishEventArgs{
		SourceID: sourceID, Generation: generation, Stage: stage, Key: key, Payload: raw,
	}, nil)
	if err != nil {
		return fmt.Errorf("error scheduling %s event: %w", stage, err)
	}
	return nil
}
