// Package events stores a source's events as rows and announces each with
// NOTIFY, so they can be replayed from any point and followed live. An
// event is named by the stage it announces (internal/lifecycle).
package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kollektiv/kollektiv/internal/lifecycle"
	"github.com/kollektiv/kollektiv/internal/store"
)

// Channel is the NOTIFY channel of new events; the payload is a
// Notification as JSON.
const Channel = "kollektiv_source_events"

// StageKey is the idempotency key of a stage event: one per stage and
// generation.
func StageKey(generation int32, stage lifecycle.Stage) string {
	return fmt.Sprintf("%d:%s", generation, stage)
}

// Notification is what NOTIFY carries: enough to fetch the event.
type Notification struct {
	SourceID uuid.UUID `json:"source_id"`
	ID       int64     `json:"id"`
}

// Event is one stored event.
type Event struct {
	ID         int64           `json:"id"`
	SourceID   uuid.UUID       `json:"source_id"`
	Generation int32           `json:"generation"`
	Stage      lifecycle.Stage `json:"stage"`
	Payload    json.RawMessage `json:"payload"`
	CreatedAt  time.Time       `json:"created_at"`
}

// Write stores an event in tx unless an event with the same key exists, and
// notifies listeners at commit. It takes a per-source lock until commit, so
// the ids of one source's events follow commit order: a reader resuming
// after id N never misses a smaller id committed later. It reports whether
// the event was new.
func Write(ctx context.Context, tx pgx.Tx, sourceID uuid.UUID, generation int32, stage lifecycle.Stage, key string, payload json.RawMessage) (*Event, error) {
	q := store.New(tx)
	if err := q.LockSourceEvents(ctx, sourceID.String()); err != nil {
		return nil, fmt.Errorf("error locking source events: %w", err)
	}
	if len(payload) == 0 {
		payload = json.RawMessage("{}")
	}
	row, err := q.InsertEvent(ctx, store.InsertEventParams{
		SourceID: sourceID, Generation: generation, Stage: string(stage), Key: key, Payload: payload,
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil // published before
	}
	if err != nil {
		return nil, fmt.Errorf("error inserting event: %w", err)
	}
	note, _ := json.Marshal(Notification{SourceID: sourceID, ID: row.ID})
	if err := q.NotifyEvent(ctx, store.NotifyEventParams{Channel: Channel, Payload: string(note)}); err != nil {
		return nil, fmt.Errorf("error notifying event: %w", err)
	}
	e := fromRow(row)
	return &e, nil
}

// After returns up to limit events of a source with ids above afterID.
func After(ctx context.Context, db store.DBTX, sourceID uuid.UUID, afterID int64, limit int32) ([]Event, error) {
	rows, err := store.New(db).ListEventsAfter(ctx, store.ListEventsAfterParams{SourceID: sourceID, AfterID: afterID, MaxRows: limit})
	if err != nil {
		return nil, fmt.Errorf("error listing events: %w", err)
	}
	out := make([]Event, len(rows))
	for i, r := range rows {
		out[i] = fromRow(r)
	}
	return out, nil
}

// Follow calls fn with every event of the source after afterID, in order,
// as they are stored, until fn returns done, an error, or ctx ends. It
// follows notifications through a Hub of its own and also polls every
// pollInterval, so a missed notification (a dropped connection) delays an
// event, never loses it.
func Follow(ctx context.Context, pool *pgxpool.Pool, sourceID uuid.UUID, afterID int64, pollInterval time.Duration, fn func(Event) (done bool, err error)) error {
	if pollInterval <= 0 {
		pollInterval = time.Second
	}
	var wake <-chan Notification
	var dropped <-chan struct{}
	hub := NewHub(pool, nil, HubOptions{})
	if err := hub.Start(ctx); err == nil {
		defer hub.Stop()
		sub := hub.Subscribe(sourceID)
		defer sub.Close()
		wake, dropped = sub.C(), sub.Done()
	}

	ticker := time.NewTicker(pollInterval)
	defer ticker.Stop()
	for {
		evs, err := After(ctx, pool, sourceID, afterID, 1000)
		if err != nil {
			return err
		}
		for _, e := range evs {
			afterID = e.ID
			done, err := fn(e)
			if err != nil || done {
				return err
			}
		}
		if len(evs) == 1000 {
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-dropped:
			// Dropped or stopped: polling alone carries on.
			wake, dropped = nil, nil
		case <-wake:
		case <-ticker.C:
		}
	}
}

func fromRow(r store.SourceEvent) Event {
	return Event{ID: r.ID, SourceID: r.SourceID, Generation: r.Generation, Stage: lifecycle.Stage(r.Stage), Payload: r.Payload, CreatedAt: r.CreatedAt}
}
