// Package dbtest gives each test a database of its own, migrated with the
// same migrations as production.
//
// The server comes from TEST_DATABASE_URL (default: the local server,
// postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable). A template
// database is migrated once for each version of the migrations and cloned
// for every test, then dropped when the test ends, so tests can run in
// parallel without seeing each other's rows. When no server answers, a
// pgvector container is started if Docker is available; otherwise the test
// is skipped with a message saying how to provide a database, except under
// CI=true, where an unreachable database fails the run.
package dbtest

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/kollektiv/kollektiv/db/migrations"
	"github.com/kollektiv/kollektiv/internal/store"
)

// DefaultServerURL is used when TEST_DATABASE_URL is not set.
const DefaultServerURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// templateLockKey serialises template creation across test processes.
const templateLockKey int64 = 0x6b6f6c2d74706c31

// server is resolved once per test process: go test runs packages in
// separate processes, which share templates through the server itself.
var server struct {
	once     sync.Once
	url      string // connection URL of a database to administer from
	template string // name of the migrated template database
	skip     string // set when tests must be skipped
	err      error  // set when tests must fail
}

// DatabaseURL returns the connection URL of a new, fully migrated database
// that is dropped when t ends.
func DatabaseURL(t testing.TB) string {
	t.Helper()
	return newDatabase(t, true)
}

// EmptyDatabaseURL returns the URL of a new database with no schema at all,
// for tests of migrations themselves. It is dropped when t ends.
func EmptyDatabaseURL(t testing.TB) string {
	t.Helper()
	return newDatabase(t, false)
}

// Pool returns a pool on a new, fully migrated database, with pgvector's
// types registered. Pool and database are closed and dropped when t ends.
func Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	url := DatabaseURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pool, err := store.Connect(ctx, url)
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// ServerURL returns a URL of the test server's administrative database,
// for tests that manage databases themselves.
func ServerURL(t testing.TB) string {
	t.Helper()
	resolveServer(t)
	return server.url
}

func newDatabase(t testing.TB, migrated bool) string {
	t.Helper()
	resolveServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	name := "kollektiv_test_" + randomSuffix()
	stmt := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize()
	if migrated {
		stmt += " TEMPLATE " + pgx.Identifier{server.template}.Sanitize()
	}
	err := adminExec(ctx, server.url, stmt)
	var pgErr *pgconn.PgError
	if migrated && errors.As(err, &pgErr) && pgErr.Code == "3D000" {
		// The template went away: another checkout with other migrations
		// dropped it as stale. Build it again.
		if _, err = ensureTemplate(ctx, server.url); err == nil {
			err = adminExec(ctx, server.url, stmt)
		}
	}
	if err != nil {
		t.Fatalf("dbtest: error creating database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// FORCE: a test that leaked a connection must not leak its database.
		if err := adminExec(ctx, server.url, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("dbtest: error dropping database %s: %v", name, err)
		}
	})
	return URLWithDatabase(server.url, name)
}

func resolveServer(t testing.TB) {
	t.Helper()
	server.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()

		url := cmp.Or(os.Getenv("TEST_DATABASE_URL"), DefaultServerURL)
		if pingErr := ping(ctx, url); pingErr != nil {
			containerURL, err := startContainer(ctx)
			switch {
			case err == nil:
				url = containerURL
			case os.Getenv("CI") == "true":
				server.err = fmt.Errorf("no PostgreSQL reachable at %s (%w), and no container could be started (%w); CI=true, so this is a failure", redact(url), pingErr, err)
				return
			default:
				server.skip = fmt.Sprintf("no PostgreSQL reachable at %s (%v), and no container could be started (%v): start PostgreSQL with pgvector (scripts/install-pgvector.sh) or set TEST_DATABASE_URL", redact(url), pingErr, err)
				return
			}
		}
		server.url = url
		server.template, server.err = ensureTemplate(ctx, url)
	})
	if server.err != nil {
		t.Fatalf("dbtest: %v", server.err)
	}
	if server.skip != "" {
		t.Skip("dbtest: " + server.skip)
	}
}

// ensureTemplate returns the name of a template database migrated with the
// current migrations, creating it when no test process has yet. Its name
// carries a hash of the migrations, so a changed migration gets a new one.
func ensureTemplate(ctx context.Context, url string) (string, error) {
	version, err := migrationsVersion()
	if err != nil {
		return "", err
	}
	name := "kollektiv_tpl_" + version

	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return "", fmt.Errorf("error connecting to test server: %w", err)
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", templateLockKey); err != nil {
		return "", fmt.Errorf("error taking template lock: %w", err)
	}
	defer func() { _, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", templateLockKey) }()

	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return "", fmt.Errorf("error looking for template: %w", err)
	}
	if exists {
		return name, nil
	}

	// Build under a temporary name and rename when complete, so a process
	// killed half-way never leaves a half-migrated template behind.
	building := name + "_building"
	if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{building}.Sanitize()+" WITH (FORCE)"); err != nil {
		return "", fmt.Errorf("error dropping stale template: %w", err)
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{building}.Sanitize()); err != nil {
		return "", fmt.Errorf("error creating template: %w", err)
	}
	if err := store.NewMigrator(URLWithDatabase(url, building), nil).Up(ctx); err != nil {
		return "", fmt.Errorf("error migrating template (is pgvector installed? run scripts/install-pgvector.sh): %w", err)
	}
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{building}.Sanitize()+" RENAME TO "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("error renaming template: %w", err)
	}
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{name}.Sanitize()+" IS_TEMPLATE true"); err != nil {
		return "", fmt.Errorf("error marking template: %w", err)
	}
	dropStaleDatabases(ctx, conn, name)
	return name, nil
}

// dropStaleDatabases removes templates of other migrations and test
// databases left by killed test runs, made more than an hour ago: a
// template of other migrations may still serve another checkout's tests
// (which build it again if it goes away).
func dropStaleDatabases(ctx context.Context, conn *pgx.Conn, current string) {
	rows, err := conn.Query(ctx, `
		SELECT datname FROM pg_database
		WHERE ((datname LIKE 'kollektiv\_tpl\_%' AND datname <> $1) OR datname LIKE 'kollektiv\_test\_%')
		  AND (pg_stat_file('base/' || oid || '/PG_VERSION')).modification < now() - interval '1 hour'`, current)
	if err != nil {
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	for _, n := range names {
		_, _ = conn.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{n}.Sanitize()+" IS_TEMPLATE false")
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{n}.Sanitize()+" WITH (FORCE)")
	}
}

// migrationsVersion hashes the app's migration files and River's migration
// count: a change to either needs a new template.
func migrationsVersion() (string, error) {
	h := sha256.New()
	err := fs.WalkDir(migrations.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(migrations.FS, path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\n%d\n", path, len(b))
		h.Write(b)
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("error reading migrations: %w", err)
	}
	river, err := rivermigrate.New(riverpgxv5.New(nil), nil)
	if err != nil {
		return "", fmt.Errorf("error creating River migrator: %w", err)
	}
	for _, v := range river.AllVersions() {
		fmt.Fprintf(h, "river %d %s\n", v.Version, v.SQLUp)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func adminExec(ctx context.Context, url, stmt string) error {
	var err error
	for attempt := range 5 {
		err = func() error {
			conn, err := pgx.Connect(ctx, url)
			if err != nil {
				return err
			}
			defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
			_, err = conn.Exec(ctx, stmt)
			return err
		}()
		// 55006: the template is briefly in use (another process cloning or
		// building it); retrying is the documented remedy.
		var pgErr *pgconn.PgError
		if err == nil || !errors.As(err, &pgErr) || pgErr.Code != "55006" {
			return err
		}
		time.Sleep(time.Duration(attempt+1) * 100 * time.Millisecond)
	}
	return err
}

func ping(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

// URLWithDatabase returns url with its database name replaced.
func URLWithDatabase(url, name string) string {
	config, err := pgx.ParseConfig(url)
	if err != nil {
		panic(fmt.Sprintf("dbtest: unparseable URL: %v", err))
	}
	u := fmt.Sprintf("postgres://%s@%s:%d/%s", config.User, config.Host, config.Port, name)
	if config.Password != "" {
		u = fmt.Sprintf("postgres://%s:%s@%s:%d/%s", config.User, config.Password, config.Host, config.Port, name)
	}
	if config.TLSConfig == nil {
		u += "?sslmode=disable"
	}
	return u
}

func redact(url string) string {
	config, err := pgx.ParseConfig(url)
	if err != nil {
		return "(unparseable URL)"
	}
	return fmt.Sprintf("%s@%s:%d/%s", config.User, config.Host, config.Port, config.Database)
}

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return strings.ToLower(hex.EncodeToString(b))
}
