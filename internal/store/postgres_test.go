package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kollektiv/kollektiv/internal/dbtest"
	"github.com/kollektiv/kollektiv/internal/store"
)

// TestPoolSurvivesTerminatedBackends terminates every connection of a warm
// pool with pg_terminate_backend, waiting until the backends are gone, and
// then at once runs a query on each of the pool's connections: each must
// succeed. pgxpool pings only connections idle for over a second, so
// without Connect's check on acquire the first queries fail with SQLSTATE
// 57P01 ("terminating connection due to administrator command"), which is
// how an event stream's reconnect got a 500 in the fault tests.
func TestPoolSurvivesTerminatedBackends(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const conns = 6
	url := dbtest.DatabaseURL(t)
	pool, err := store.Connect(ctx, url+"&application_name=kollektiv_terminate_probe", conns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = admin.Close(context.Background()) }()

	// useAll runs a query on each of the pool's connections at once, so
	// every pooled connection is used, killed or not.
	useAll := func(round int) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, conns)
		held := make(chan struct{})
		var ready sync.WaitGroup
		ready.Add(conns)
		for range conns {
			wg.Go(func() {
				c, err := pool.Acquire(ctx)
				ready.Done()
				if err != nil {
					errs <- err
					return
				}
				defer c.Release()
				<-held // hold it until all are acquired: each query gets its own
				var one int
				if err := c.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
					errs <- err
				}
			})
		}
		ready.Wait()
		close(held)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Errorf("round %d: query right after the backends were terminated: %v", round, err)
		}
	}
	useAll(0)
	for round := 1; round <= 3; round++ {
		var terminated int
		// The timeout argument waits until each backend has exited.
		if err := admin.QueryRow(ctx, `
			SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000))
			FROM pg_stat_activity WHERE application_name = 'kollektiv_terminate_probe'`).Scan(&terminated); err != nil {
			t.Fatal(err)
		}
		if terminated != conns {
			t.Fatalf("round %d: terminated %d connections, want %d", round, terminated, conns)
		}
		useAll(round)
	}
}

// TestIsConnectionLost tells a lost connection from a failed statement.
func TestIsConnectionLost(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url := dbtest.DatabaseURL(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	_, err = conn.Exec(ctx, "SELECT nonsense FROM nowhere")
	if err == nil || store.IsConnectionLost(err) {
		t.Fatalf("a failed statement: %v counted as a lost connection", err)
	}
	_, err = conn.Exec(ctx, "SELECT pg_terminate_backend(pg_backend_pid())")
	if !store.IsConnectionLost(err) {
		t.Fatalf("a terminated backend: %v not counted as a lost connection", err)
	}
	if err := conn.Ping(ctx); !store.IsConnectionLost(err) {
		t.Fatalf("a closed connection: %v not counted as lost", err)
	}
	_, err = pgx.Connect(ctx, "postgres://postgres@127.0.0.1:1/x?sslmode=disable&connect_timeout=2")
	if !store.IsConnectionLost(err) {
		t.Fatalf("a refused connection: %v not counted as lost", err)
	}
	if store.IsConnectionLost(context.Canceled) || store.IsConnectionLost(nil) {
		t.Fatal("cancellation counted as a lost connection")
	}
}
