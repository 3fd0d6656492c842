package store_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/kollektiv/kollektiv/internal/dbtest"
	"github.com/kollektiv/kollektiv/internal/store"
)

func TestMigrator(t *testing.T) {
	t.Parallel()

	type testBundle struct {
		url      string
		migrator *store.Migrator
	}
	setup := func(t *testing.T) (*testBundle, context.Context) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		t.Cleanup(cancel)
		url := dbtest.EmptyDatabaseURL(t)
		return &testBundle{url: url, migrator: store.NewMigrator(url, nil)}, ctx
	}

	t.Run("ConnectBeforeMigrationsNamesTheFix", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)
		pool, err := store.Connect(ctx, bundle.url)
		if err == nil {
			pool.Close()
			t.Fatal("Connect succeeded on a database without the vector extension")
		}
		if !strings.Contains(err.Error(), "kollektiv migrate up") {
			t.Fatalf("Connect before migrations: %v, want the hint to run kollektiv migrate up", err)
		}
	})

	t.Run("UpOnEmptyDatabaseThenNoOp", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)

		status, err := bundle.migrator.Status(ctx)
		requireNoError(t, err)
		if status.Current() || status.RiverCurrent != 0 || status.AppCurrent != 0 {
			t.Fatalf("empty database reported as %+v", status)
		}
		if len(status.Problems()) != 2 {
			t.Fatalf("want a problem line for each set, got %q", status.Problems())
		}

		requireNoError(t, bundle.migrator.Up(ctx))
		first := schemaSnapshot(ctx, t, bundle.url)
		status, err = bundle.migrator.Status(ctx)
		requireNoError(t, err)
		if !status.Current() || status.AppCurrent == 0 || status.RiverCurrent == 0 {
			t.Fatalf("after up: %+v", status)
		}

		requireNoError(t, bundle.migrator.Up(ctx))
		if second := schemaSnapshot(ctx, t, bundle.url); second != first {
			t.Fatalf("second up changed the schema:\nbefore: %s\nafter:  %s", first, second)
		}
	})

	t.Run("DownThenUpRoundTrips", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)

		requireNoError(t, bundle.migrator.Up(ctx))
		migrated := schemaSnapshot(ctx, t, bundle.url)

		requireNoError(t, bundle.migrator.Down(ctx, store.MigrateDownOpts{Steps: 1}))
		status, err := bundle.migrator.Status(ctx)
		requireNoError(t, err)
		if status.AppCurrent != status.AppLatest-1 || status.RiverCurrent != status.RiverLatest {
			t.Fatalf("one step down: %+v", status)
		}

		requireNoError(t, bundle.migrator.Down(ctx, store.MigrateDownOpts{All: true}))
		if tables := schemaSnapshot(ctx, t, bundle.url); tables != "" {
			t.Fatalf("down --all left tables behind: %s", tables)
		}

		requireNoError(t, bundle.migrator.Up(ctx))
		if again := schemaSnapshot(ctx, t, bundle.url); again != migrated {
			t.Fatalf("round trip changed the schema:\nbefore: %s\nafter:  %s", migrated, again)
		}
	})

	t.Run("FanInShardsTakeInFlightCounters", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)

		// A source in processing under migration 000015, with its counters
		// on its row, as jobs queued by the version before left it.
		requireNoError(t, bundle.migrator.Up(ctx))
		status, err := bundle.migrator.Status(ctx)
		requireNoError(t, err)
		toBeforeShards := store.MigrateDownOpts{Steps: int(status.AppLatest) - 15}
		requireNoError(t, bundle.migrator.Down(ctx, toBeforeShards))
		id := uuid.New()
		requireNoError(t, exec(ctx, t, bundle.url, `INSERT INTO sources (id, user_id, kind, stage, generation, batch_jobs_unfinished,
			documents_scheduled, documents_processed, chunks_written, chunks_embedded)
			VALUES ($1, 'u', 'inline', 'processing_scheduled', 2, 7, 9, 3, 10, 4)`, id))

		requireNoError(t, bundle.migrator.Up(ctx))
		var shard, unfinished, processed, written, embedded, shards int
		requireNoError(t, queryRow(ctx, t, bundle.url, `SELECT f.shard, f.batch_jobs_unfinished, f.documents_processed, f.chunks_written,
			f.chunks_embedded, s.fan_in_shards_unfinished
			FROM source_fan_in_shards f JOIN sources s ON s.id = f.source_id AND s.generation = f.generation`,
			&shard, &unfinished, &processed, &written, &embedded, &shards))
		if shard != 0 || unfinished != 7 || processed != 3 || written != 10 || embedded != 4 || shards != 1 {
			t.Fatalf("after up: shard %d with %d unfinished, progress %d/%d/%d; source counts %d shards; want shard 0 with 7, 3/10/4, 1 shard",
				shard, unfinished, processed, written, embedded, shards)
		}

		requireNoError(t, bundle.migrator.Down(ctx, toBeforeShards))
		requireNoError(t, queryRow(ctx, t, bundle.url, `SELECT batch_jobs_unfinished, documents_processed, chunks_written, chunks_embedded FROM sources`,
			&unfinished, &processed, &written, &embedded))
		if unfinished != 7 || processed != 3 || written != 10 || embedded != 4 {
			t.Fatalf("after down: %d unfinished, progress %d/%d/%d; want 7, 3/10/4", unfinished, processed, written, embedded)
		}
	})

	t.Run("ConcurrentUpsLeaveOneSchema", func(t *testing.T) {
		t.Parallel()
		bundle, ctx := setup(t)

		const n = 3
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Go(func() {
				// Separate migrators, as two processes would have.
				errs[i] = store.NewMigrator(bundle.url, nil).Up(ctx)
			})
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("up %d: %v", i, err)
			}
		}
		status, err := bundle.migrator.Status(ctx)
		requireNoError(t, err)
		if !status.Current() {
			t.Fatalf("after concurrent ups: %+v", status)
		}
		var riverRows int
		requireNoError(t, queryRow(ctx, t, bundle.url, "SELECT count(*) FROM river_migration", &riverRows))
		if riverRows != status.RiverLatest {
			t.Fatalf("river_migration has %d rows, want %d", riverRows, status.RiverLatest)
		}
	})

	t.Run("CreatesMissingDatabaseOnce", func(t *testing.T) {
		t.Parallel()
		_, ctx := setup(t)

		// A name no other test uses; dropped before and after.
		url := dbtest.EmptyDatabaseURL(t)
		config, err := pgx.ParseConfig(url)
		requireNoError(t, err)
		name := config.Database + "_created"
		url = dbtest.URLWithDatabase(url, name)
		drop := func() {
			conn, err := pgx.Connect(ctx, dbtest.ServerURL(t))
			requireNoError(t, err)
			defer conn.Close(ctx)
			_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
			requireNoError(t, err)
		}
		drop()
		t.Cleanup(drop)

		var wg sync.WaitGroup
		created := make([]bool, 2)
		errs := make([]error, 2)
		for i := range created {
			wg.Go(func() { created[i], errs[i] = store.EnsureDatabase(ctx, url) })
		}
		wg.Wait()
		requireNoError(t, errs[0])
		requireNoError(t, errs[1])
		if created[0] == created[1] {
			t.Fatalf("exactly one of two concurrent calls should create the database, got %v", created)
		}
		again, err := store.EnsureDatabase(ctx, url)
		requireNoError(t, err)
		if again {
			t.Fatal("EnsureDatabase created an existing database")
		}
	})
}

// schemaSnapshot lists the public tables and indexes with their columns, so
// two snapshots are equal exactly when the schema is.
func schemaSnapshot(ctx context.Context, t *testing.T, url string) string {
	t.Helper()
	var snapshot string
	requireNoError(t, queryRow(ctx, t, url, `
		SELECT coalesce(string_agg(item, ' | ' ORDER BY item), '') FROM (
			SELECT c.relname || '(' || string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum) || ')' AS item
			FROM pg_class c
			JOIN pg_namespace n ON n.oid = c.relnamespace
			JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
			WHERE n.nspname = 'public' AND c.relkind IN ('r', 'i', 'S')
			GROUP BY c.relname
		) s`, &snapshot))
	return snapshot
}

func queryRow(ctx context.Context, t *testing.T, url, sql string, dest ...any) error {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	return conn.QueryRow(ctx, sql).Scan(dest...)
}

func exec(ctx context.Context, t *testing.T, url, sql string, args ...any) error {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql, args...)
	return err
}

func requireNoError(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
