package jobs

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/kollektiv/kollektiv/internal/events"
	"github.com/kollektiv/kollektiv/internal/lifecycle"
	"github.com/kollektiv/kollektiv/internal/store"
)

// PublishEventArgs delivers one event of a source: to the bus (the
// source_events table and NOTIFY), or, when WebhookURL is set, the stored
// event EventID to that webhook, as a job of its own that retries on its own
// and never holds up the bus.
type PublishEventArgs struct {
	SourceID   uuid.UUID       `json:"source_id"`
	Generation int32           `json:"generation"`
	Stage      lifecycle.Stage `json:"stage"`
	Key        string          `json:"key"`
	Payload    json.RawMessage `json:"payload,omitempty"`
	WebhookURL string          `json:"webhook_url,omitempty"`
	EventID    int64           `json:"event_id,omitempty"`
}

// Kind is the job kind.
func (PublishEventArgs) Kind() string { return string(lifecycle.KindPublishEvent) }

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
	case !a.Stage.Valid():
		return fmt.Errorf("stage: %q is not a known stage", a.Stage)
	case a.Key == "":
		return errors.New("key: must be set")
	case len(a.Payload) > 0 && !json.Valid(a.Payload):
		return errors.New("payload: not valid JSON")
	case a.WebhookURL != "" && a.EventID <= 0:
		return errors.New("event_id: must be set for a webhook delivery")
	case a.WebhookURL != "" && !strings.HasPrefix(a.WebhookURL, "http://") && !strings.HasPrefix(a.WebhookURL, "https://"):
		return fmt.Errorf("webhook_url: %q is not an http(s) URL", a.WebhookURL)
	}
	return nil
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

// stageEventWait is how long a stage event waits for the events scheduled
// before it.
const stageEventWait = 100 * time.Millisecond

// earlierPoll is how often a stage event looks again, for up to
// stageEventWait, at the events scheduled before it, before it snoozes.
const earlierPoll = 5 * time.Millisecond

// earlierEventsPending reports whether events of the source scheduled
// before job are still unpublished after up to stageEventWait. The
// earlier event is usually being published at that very moment, by a job
// fetched with this one (summary_generated and completed are scheduled in
// one transaction): looking again shortly publishes this one as soon as it
// is stored, where a snooze would hold it back a whole stageEventWait.
func (w *PublishEventWorker) earlierEventsPending(ctx context.Context, sourceID uuid.UUID, jobID int64) (bool, error) {
	deadline := time.Now().Add(stageEventWait)
	for {
		pending, err := store.EarlierEventsPending(ctx, w.p.Pool, string(lifecycle.KindPublishEvent), sourceID, jobID)
		if err != nil || !pending || time.Now().After(deadline) {
			return pending, err
		}
		if w.p.Settings.whileEarlierPending != nil {
			w.p.Settings.whileEarlierPending()
		}
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-time.After(earlierPoll):
		}
	}
}

// Work publishes the event.
func (w *PublishEventWorker) Work(ctx context.Context, job *river.Job[PublishEventArgs]) error {
	args := job.Args
	if err := validateArgs(args); err != nil {
		return err
	}
	if args.WebhookURL != "" {
		return w.deliver(ctx, args)
	}
	// Stage events are stored in pipeline order, after every event
	// scheduled before them, even one whose job was delayed (its worker
	// crashed and the job waits for the rescuer): a stream ends at
	// completed or failed, and a client shows the latest stage it saw.
	if args.Stage != lifecycle.StageProgress {
		pending, err := w.earlierEventsPending(ctx, args.SourceID, job.ID)
		if err != nil {
			return err
		}
		if pending {
			return river.JobSnooze(stageEventWait)
		}
	}
	return inTx(ctx, w.p.Pool, func(tx pgx.Tx) error {
		if _, err := store.New(tx).GetSourceByID(ctx, args.SourceID); errors.Is(err, pgx.ErrNoRows) {
			w.p.Logger.InfoContext(ctx, "source deleted: event dropped", slog.String("source_id", args.SourceID.String()), slog.String("stage", string(args.Stage)))
			return completeTx(ctx, tx, job)
		} else if err != nil {
			return fmt.Errorf("error loading source: %w", err)
		}
		event, err := events.Write(ctx, tx, args.SourceID, args.Generation, args.Stage, args.Key, args.Payload)
		if err != nil {
			return err
		}
		if event != nil && len(w.p.Settings.WebhookURLs) > 0 {
			deliveries := make([]river.InsertManyParams, len(w.p.Settings.WebhookURLs))
			for i, url := range w.p.Settings.WebhookURLs {
				delivery := args
				delivery.Payload, delivery.WebhookURL, delivery.EventID = nil, url, event.ID
				deliveries[i] = river.InsertManyParams{Args: delivery}
			}
			if _, err := client(ctx).InsertManyTx(ctx, tx, deliveries); err != nil {
				return fmt.Errorf("error scheduling webhook deliveries: %w", err)
			}
		}
		return completeTx(ctx, tx, job)
	})
}

// SignatureHeader carries "sha256=" and the hex HMAC-SHA256 of a webhook
// body under the configured secret.
const SignatureHeader = "X-Kollektiv-Signature"

// deliver POSTs a stored event to one webhook. A 2xx completes the job; a
// 4xx other than 408 and 429 cancels it (the receiver refuses it for good);
// anything else is retried with backoff.
func (w *PublishEventWorker) deliver(ctx context.Context, args PublishEventArgs) error {
	row, err := w.p.queries.GetEvent(ctx, args.EventID)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // the source was deleted with its events
	}
	if err != nil {
		return fmt.Errorf("error loading event: %w", err)
	}
	body, err := json.Marshal(events.Event{
		ID: row.ID, SourceID: row.SourceID, Generation: row.Generation, Stage: lifecycle.Stage(row.Stage), Payload: row.Payload, CreatedAt: row.CreatedAt,
	})
	if err != nil {
		return fmt.Errorf("error encoding event: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, args.WebhookURL, bytes.NewReader(body))
	if err != nil {
		return river.JobCancel(fmt.Errorf("webhook %s: %w", args.WebhookURL, err))
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Kollektiv-Event-Id", strconv.FormatInt(row.ID, 10))
	mac := hmac.New(sha256.New, []byte(w.p.Settings.WebhookSecret))
	mac.Write(body)
	req.Header.Set(SignatureHeader, "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := w.p.Settings.HTTPClient.Do(req)
	if err != nil {
		return fmt.Errorf("webhook %s: %w", args.WebhookURL, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode >= 200 && resp.StatusCode < 300:
		return nil
	case resp.StatusCode >= 400 && resp.StatusCode < 500 && resp.StatusCode != http.StatusRequestTimeout && resp.StatusCode != http.StatusTooManyRequests:
		return river.JobCancel(fmt.Errorf("webhook %s refused event %d: %s", args.WebhookURL, row.ID, resp.Status))
	default:
		return fmt.Errorf("webhook %s answered %s", args.WebhookURL, resp.Status)
	}
}

// ScheduleEvent inserts the publish_event job of an event in tx, so the
// event is published if and only if tx commits. An empty key means the
// stage event's key (one per stage and generation).
func ScheduleEvent(ctx context.Context, rc *river.Client[pgx.Tx], tx pgx.Tx, sourceID uuid.UUID, generation int32, stage lifecycle.Stage, key string, payload any) error {
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
