package dbtest_test

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.uber.org/goleak"

	"github.com/kollektiv/kollektiv/internal/dbtest"
	"github.com/kollektiv/kollektiv/internal/store"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// TestIsolation runs two tests in parallel that write a source each and wait
// for each other before reading: each must see only its own row.
func TestIsolation(t *testing.T) {
	t.Parallel()

	var written sync.WaitGroup
	written.Add(2)
	for _, user := range []string{"alice", "bob"} {
		t.Run(user, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()

			pool := dbtest.Pool(t)
			q := store.New(pool)
			id := uuid.New()
			_, err := q.CreateSource(ctx, store.CreateSourceParams{ID: id, UserID: user, Kind: "inline", Options: []byte("{}")})
			written.Done()
			if err != nil {
				t.Fatal(err)
			}
			written.Wait()

			var count int
			var onlyUser string
			if err := pool.QueryRow(ctx, "SELECT count(*), min(user_id) FROM sources").Scan(&count, &onlyUser); err != nil {
				t.Fatal(err)
			}
			if count != 1 || onlyUser != user {
				t.Fatalf("%s's database holds %d sources (first user %q): tests are not isolated", user, count, onlyUser)
			}
		})
	}
}

// TestDatabasesAreMigratedAndDropped checks that a test's database has the
// current schema and is gone once the test ends.
func TestDatabasesAreMigratedAndDropped(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	var url string
	t.Run("inner", func(t *testing.T) {
		url = dbtest.DatabaseURL(t)
		status, err := store.NewMigrator(url, nil).Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !status.Current() {
			t.Fatalf("test database is not migrated: %+v", status)
		}
	})
	if _, err := store.Connect(ctx, url); err == nil {
		t.Fatal("the inner test's database still exists after it ended")
	}
}

func TestUnreachableServerMessage(t *testing.T) {
	if os.Getenv("KOLLEKTIV_DBTEST_CHILD") != "" {
		return
	}
	t.Parallel()
	// The behaviour without a server is pinned by running this package's
	// tests in a child process pointed at a closed port: skipped normally,
	// failed under CI=true.
	for _, tc := range []struct {
		ci       string
		wantFail bool
	}{{"", false}, {"true", true}} {
		out, failed := runChild(t, map[string]string{
			"TEST_DATABASE_URL":        "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=2",
			"CI":                       tc.ci,
			"KOLLEKTIV_TEST_NO_DOCKER": "1",
		})
		if failed != tc.wantFail {
			t.Fatalf("CI=%q: failed=%v, want %v; output:\n%s", tc.ci, failed, tc.wantFail, out)
		}
		if !contains(out, "no PostgreSQL reachable at postgres@127.0.0.1:1/postgres") {
			t.Fatalf("CI=%q: output does not say which server was unreachable:\n%s", tc.ci, out)
		}
		if !tc.wantFail && (!contains(out, "--- SKIP") || !contains(out, "set TEST_DATABASE_URL")) {
			t.Fatalf("skip message does not say how to provide a database:\n%s", out)
		}
	}
}
