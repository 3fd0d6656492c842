package search

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// seedParallel writes chunks that both the vector and the text lists find.
func seedParallel(ctx context.Context, t *testing.T, b *testBundle) {
	t.Helper()
	b.seedSource(ctx, t, "alice", []chunkSeed{
		{headers: []string{"Ownership"}, text: "The borrow checker tracks lifetimes of references in depth."},
		{headers: []string{"Misc"}, text: "Completely unrelated prose about gardening.", vectorOf: "borrow checker lifetimes"},
		{headers: []string{"Borrow checker lifetimes in short"}, text: "Borrow checker lifetimes.", noVector: true},
		{headers: []string{"Cargo"}, text: "Cargo downloads dependencies and checks lifetimes of builds."},
	})
}

// A hybrid search runs its two lists on two connections sharing one
// snapshot when the pool has a second one, and on one connection when it
// has not; the answer is the same either way.
func TestSearchListsAtOnce(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := setup(t)
	seedParallel(ctx, t, b)

	config := b.pool.Config()
	config.MaxConns = 1
	single, err := pgxpool.NewWithConfig(ctx, config)
	if err != nil {
		t.Fatal(err)
	}
	defer single.Close()
	sequential := New(single, b.embedder)
	// A search takes a second connection only if one is ready: open two.
	var conns []*pgxpool.Conn
	for range 2 {
		conn, err := b.pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, conn)
	}
	for _, conn := range conns {
		conn.Release()
	}

	for _, text := range []string{"borrow checker lifetimes", "Cargo", "gardening prose", "lifetimes -cargo"} {
		q := Query{UserID: "alice", Text: text}
		before := b.pool.Stat().AcquireCount()
		atOnce, err := b.searcher.Search(ctx, q)
		if err != nil {
			t.Fatalf("%q: %v", text, err)
		}
		if n := b.pool.Stat().AcquireCount() - before; n != 2 {
			t.Errorf("%q: the search acquired %d connections from a pool of %d, want 2 (one per list)", text, n, b.pool.Config().MaxConns)
		}
		before = single.Stat().AcquireCount()
		oneByOne, err := sequential.Search(ctx, q)
		if err != nil {
			t.Fatalf("%q on one connection: %v", text, err)
		}
		if n := single.Stat().AcquireCount() - before; n != 1 {
			t.Errorf("%q: the search acquired %d connections from a pool of 1, want 1", text, n)
		}
		if len(atOnce.Hits) == 0 || !reflect.DeepEqual(atOnce.Hits, oneByOne.Hits) {
			t.Errorf("%q: lists at once found\n%+v\none after the other\n%+v", text, atOnce.Hits, oneByOne.Hits)
		}
	}
}

// Searches that hold a connection never wait for a second one, so many at
// once over a small pool all finish.
func TestSearchSmallPoolManySearches(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := setup(t, func(c *pgxpool.Config) { c.MaxConns = 2 })
	seedParallel(ctx, t, b)

	var wg sync.WaitGroup
	errs := make(chan error, 16*4)
	for g := range 16 {
		wg.Go(func() {
			for i := range 4 {
				result, err := b.searcher.Search(ctx, Query{UserID: "alice", Text: "borrow checker lifetimes"})
				if err == nil && len(result.Hits) != 4 {
					err = fmt.Errorf("%d hits, want 4", len(result.Hits))
				}
				if err != nil {
					errs <- fmt.Errorf("search %d of goroutine %d: %w", i, g, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}
