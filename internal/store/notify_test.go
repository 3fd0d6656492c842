package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/kollektiv/kollektiv/internal/dbtest"
	"github.com/kollektiv/kollektiv/internal/store"
)

type notifyArgs struct{}

func (notifyArgs) Kind() string { return "notify_probe" }

// listenForInserts returns a pool on a test database and a connection
// listening there to River's insert notifications.
func listenForInserts(ctx context.Context, t *testing.T) (*pgxpool.Pool, *pgx.Conn) {
	t.Helper()
	url := dbtest.DatabaseURL(t)
	pool, err := store.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	listener, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = listener.Close(context.Background()) })
	if _, err := listener.Exec(ctx, `LISTEN "public.river_insert"`); err != nil {
		t.Fatal(err)
	}
	return pool, listener
}

// TestNotifyJobsAvailableMatchesRiver checks that the notification the
// fan-in sends with JobRetryTx is the one River sends when it inserts a job:
// same channel, same payload. A River upgrade that changes it fails here.
func TestNotifyJobsAvailableMatchesRiver(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, listener := listenForInserts(ctx, t)
	next := func() *pgconn.Notification {
		t.Helper()
		n, err := listener.WaitForNotification(ctx)
		if err != nil {
			t.Fatalf("no notification on public.river_insert: %v", err)
		}
		return n
	}

	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rc.Insert(ctx, notifyArgs{}, &river.InsertOpts{Queue: "default"}); err != nil {
		t.Fatal(err)
	}
	fromRiver := next()
	if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return store.NotifyJobsAvailable(ctx, tx, "default") }); err != nil {
		t.Fatal(err)
	}
	ours := next()
	if ours.Channel != fromRiver.Channel || ours.Payload != fromRiver.Payload {
		t.Fatalf("ours: %s %s; River's insert: %s %s", ours.Channel, ours.Payload, fromRiver.Channel, fromRiver.Payload)
	}
}

// TestEndBatchJobsNotifiesQueues checks that EndBatchJobs sends River's
// insert notification of each queue it is given, at the commit.
func TestEndBatchJobsNotifiesQueues(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, listener := listenForInserts(ctx, t)
	err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		_, _, err := store.EndBatchJobs(ctx, tx, nil, store.AddFanInShardsParams{}, []string{"embedding", "chunking"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var payloads []string
	for range 2 {
		n, err := listener.WaitForNotification(ctx)
		if err != nil {
			t.Fatalf("notifications %v, then: %v", payloads, err)
		}
		payloads = append(payloads, n.Payload)
	}
	if want := []string{`{"queue": "embedding"}`, `{"queue": "chunking"}`}; !slices.Equal(payloads, want) {
		t.Fatalf("notified %q, want %q", payloads, want)
	}
}
