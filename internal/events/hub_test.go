package events_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kollektiv/kollektiv/internal/dbtest"
	"github.com/kollektiv/kollektiv/internal/events"
	"github.com/kollektiv/kollektiv/internal/lifecycle"
	"github.com/kollektiv/kollektiv/internal/store"
)

type hubBundle struct {
	pool *pgxpool.Pool
	hub  *events.Hub
}

// setupHub starts a hub on a fresh database; it is stopped when t ends.
func setupHub(t *testing.T, opts events.HubOptions) *hubBundle {
	t.Helper()
	pool := dbtest.Pool(t)
	hub := events.NewHub(pool, nil, opts)
	if err := hub.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hub.Stop)
	return &hubBundle{pool: pool, hub: hub}
}

func createSource(t *testing.T, pool *pgxpool.Pool) uuid.UUID {
	t.Helper()
	id := uuid.New()
	_, err := store.New(pool).CreateSource(context.Background(), store.CreateSourceParams{
		ID: id, UserID: "alice", Kind: "inline", Options: []byte("{}"),
	})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// writeEvent stores and commits one event, as publish_event does.
func writeEvent(t *testing.T, pool *pgxpool.Pool, sourceID uuid.UUID, generation int32, stage lifecycle.Stage) events.Event {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	e, err := events.Write(ctx, tx, sourceID, generation, stage, uuid.NewString(), []byte(`{"n":1}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	return *e
}

func receive(t *testing.T, sub *events.Subscription) events.Notification {
	t.Helper()
	select {
	case n := <-sub.C():
		return n
	case <-sub.Done():
		t.Fatalf("subscription ended: %v", sub.Err())
	case <-time.After(10 * time.Second):
		t.Fatal("no notification within 10s")
	}
	return events.Notification{}
}

func TestHubDeliversToSubscribersOfTheSource(t *testing.T) {
	t.Parallel()
	b := setupHub(t, events.HubOptions{})
	srcA, srcB := createSource(t, b.pool), createSource(t, b.pool)

	subA1, subA2, subB := b.hub.Subscribe(srcA), b.hub.Subscribe(srcA), b.hub.Subscribe(srcB)
	defer subB.Close()
	if n := b.hub.Subscribers(); n != 3 {
		t.Fatalf("%d subscribers, want 3", n)
	}

	a := writeEvent(t, b.pool, srcA, 1, lifecycle.StageCreated)
	bEvent := writeEvent(t, b.pool, srcB, 1, lifecycle.StageCreated)
	for _, sub := range []*events.Subscription{subA1, subA2} {
		if n := receive(t, sub); n != (events.Notification{SourceID: srcA, ID: a.ID}) {
			t.Fatalf("A's subscriber got %+v, want event %d of %s", n, a.ID, srcA)
		}
	}
	// Notifications arrive in commit order on one connection: had A's
	// event reached B, it would come first.
	if n := receive(t, subB); n != (events.Notification{SourceID: srcB, ID: bEvent.ID}) {
		t.Fatalf("B's subscriber got %+v, want only event %d of %s", n, bEvent.ID, srcB)
	}

	subA1.Close()
	subA1.Close()
	if err := subA1.Err(); !errors.Is(err, events.ErrSubscriptionClosed) {
		t.Fatalf("closed subscription: Err %v", err)
	}
	subA2.Close()
	if n := b.hub.Subscribers(); n != 1 {
		t.Fatalf("%d subscribers after two closed, want 1", n)
	}
}

func TestHubDropsSlowSubscriber(t *testing.T) {
	t.Parallel()
	b := setupHub(t, events.HubOptions{Buffer: 2})
	src := createSource(t, b.pool)

	slow, fast := b.hub.Subscribe(src), b.hub.Subscribe(src)
	defer fast.Close()
	var want, got []int64
	for range 5 {
		e := writeEvent(t, b.pool, src, 1, lifecycle.StageProgress)
		want = append(want, e.ID)
		got = append(got, receive(t, fast).ID)
	}
	select {
	case <-slow.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("slow subscriber was not dropped")
	}
	if err := slow.Err(); !errors.Is(err, events.ErrSubscriptionDropped) {
		t.Fatalf("slow subscriber ended with %v, want ErrSubscriptionDropped", err)
	}
	slow.Close()
	if err := slow.Err(); !errors.Is(err, events.ErrSubscriptionDropped) {
		t.Fatalf("Close after drop changed Err to %v", err)
	}
	if len(slow.C()) != 2 {
		t.Fatalf("slow subscriber holds %d signals, want its full buffer of 2", len(slow.C()))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("fast subscriber got %v, want %v", got, want)
		}
	}
	if n := b.hub.Subscribers(); n != 1 {
		t.Fatalf("%d subscribers, want the fast one only", n)
	}
}

func TestHubReconnectsAfterConnectionLoss(t *testing.T) {
	t.Parallel()
	b := setupHub(t, events.HubOptions{ReconnectDelay: 10 * time.Millisecond})
	src := createSource(t, b.pool)
	sub := b.hub.Subscribe(src)
	defer sub.Close()
	ctx := context.Background()

	listener := func() int32 {
		t.Helper()
		var pid int32
		err := b.pool.QueryRow(ctx, `
			SELECT pid FROM pg_stat_activity
			WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'LISTEN %'`).Scan(&pid)
		if err != nil {
			t.Fatalf("finding the hub's connection: %v", err)
		}
		return pid
	}
	before := listener()
	var terminated bool
	if err := b.pool.QueryRow(ctx, "SELECT pg_terminate_backend($1)", before).Scan(&terminated); err != nil || !terminated {
		t.Fatalf("terminating the hub's connection: %v, %v", terminated, err)
	}

	// The hub wakes its subscribers once it listens again: anything in
	// between is to be re-read from the database.
	if n := receive(t, sub); n != (events.Notification{SourceID: src}) {
		t.Fatalf("got %+v after reconnect, want a wake-up with ID 0", n)
	}
	if after := listener(); after == before {
		t.Fatalf("hub still on terminated backend %d", before)
	}
	e := writeEvent(t, b.pool, src, 1, lifecycle.StageCreated)
	if n := receive(t, sub); n.ID != e.ID {
		t.Fatalf("got %+v, want event %d", n, e.ID)
	}
}

func TestHubStop(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	hub := events.NewHub(pool, nil, events.HubOptions{})
	early := hub.Subscribe(uuid.New())
	if err := hub.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Subscribed before Start: woken to read what it may have missed.
	if n := receive(t, early); n.ID != 0 {
		t.Fatalf("got %+v, want a wake-up", n)
	}
	if err := hub.Start(context.Background()); err == nil {
		t.Fatal("second Start succeeded")
	}

	hub.Stop()
	hub.Stop()
	<-early.Done()
	if err := early.Err(); !errors.Is(err, events.ErrHubStopped) {
		t.Fatalf("subscription ended with %v, want ErrHubStopped", err)
	}
	late := hub.Subscribe(uuid.New())
	<-late.Done()
	if err := late.Err(); !errors.Is(err, events.ErrHubStopped) {
		t.Fatalf("subscription after Stop: %v", err)
	}
	if n := hub.Subscribers(); n != 0 {
		t.Fatalf("%d subscribers after Stop", n)
	}
	if err := hub.Start(context.Background()); !errors.Is(err, events.ErrHubStopped) {
		t.Fatalf("Start after Stop: %v", err)
	}
}

func TestHubStopsWithStartContext(t *testing.T) {
	t.Parallel()
	pool := dbtest.Pool(t)
	hub := events.NewHub(pool, nil, events.HubOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	if err := hub.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer hub.Stop()
	sub := hub.Subscribe(uuid.New())
	cancel()
	select {
	case <-sub.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("subscription outlived the hub's context")
	}
}
