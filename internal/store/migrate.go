package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"

	"github.com/golang-migrate/migrate/v4"
	migratepgx "github.com/golang-migrate/migrate/v4/database/pgx/v5"
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/kollektiv/kollektiv/db/migrations"
)

// migrateLockKey is the advisory lock that serialises every Kollektiv
// migration run on a database, River's and the app's together, so that two
// processes migrating at once cannot interleave ("kollektiv" in ASCII).
const migrateLockKey int64 = 0x6b6f6c6c656b7469

// MigrationStatus describes both migration sets of a database.
type MigrationStatus struct {
	// RiverCurrent and RiverLatest are River's schema versions: applied and
	// known to this binary.
	RiverCurrent, RiverLatest int
	// AppCurrent and AppLatest are Kollektiv's schema versions (the numbers
	// of db/migrations); AppDirty is set when a migration failed half-way.
	AppCurrent, AppLatest uint
	AppDirty              bool
}

// Current reports whether both migration sets are fully applied.
func (s MigrationStatus) Current() bool {
	return s.RiverCurrent == s.RiverLatest && s.AppCurrent == s.AppLatest && !s.AppDirty
}

// Problems lists, one line each, what keeps the schema from being current.
func (s MigrationStatus) Problems() []string {
	var problems []string
	if s.RiverCurrent != s.RiverLatest {
		problems = append(problems, fmt.Sprintf("River migrations pending: at version %d of %d (run `kollektiv migrate up`)", s.RiverCurrent, s.RiverLatest))
	}
	if s.AppDirty {
		problems = append(problems, fmt.Sprintf("app migration %d failed half-way (dirty): fix the schema by hand, then force the version with golang-migrate", s.AppCurrent))
	} else if s.AppCurrent != s.AppLatest {
		problems = append(problems, fmt.Sprintf("app migrations pending: at version %d of %d (run `kollektiv migrate up`)", s.AppCurrent, s.AppLatest))
	}
	return problems
}

// MigrateDownOpts says how far MigrateDown goes.
type MigrateDownOpts struct {
	// Steps is the number of app migrations to revert. Default 1.
	Steps int
	// All reverts every app migration and then removes River's schema too.
	All bool
}

// Migrator runs River's migrations (through rivermigrate) and Kollektiv's own
// (through golang-migrate over the embedded db/migrations) on one database.
type Migrator struct {
	databaseURL string
	logger      *slog.Logger
}

// NewMigrator returns a Migrator for databaseURL. A nil logger discards.
func NewMigrator(databaseURL string, logger *slog.Logger) *Migrator {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Migrator{databaseURL: databaseURL, logger: logger}
}

// Up applies every pending migration, River's first. It is a no-op when the
// schema is current, and safe to run from several processes at once.
func (m *Migrator) Up(ctx context.Context) error {
	return m.withLock(ctx, func(pool *pgxpool.Pool) error {
		river, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Logger: m.logger})
		if err != nil {
			return fmt.Errorf("error creating River migrator: %w", err)
		}
		// rivermigrate logs each migration it applies.
		if _, err := river.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
			return fmt.Errorf("error applying River migrations: %w", err)
		}

		return m.withAppMigrate(pool, func(app *migrate.Migrate) error {
			before, _, _ := app.Version()
			if err := app.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
				return fmt.Errorf("error applying app migrations: %w", err)
			}
			after, _, _ := app.Version()
			if after != before {
				m.logger.InfoContext(ctx, "applied app migrations", slog.Uint64("from_version", uint64(before)), slog.Uint64("to_version", uint64(after)))
			}
			return nil
		})
	})
}

// Down reverts app migrations as opts says; with All, River's schema goes
// too. Data in the reverted tables is lost.
func (m *Migrator) Down(ctx context.Context, opts MigrateDownOpts) error {
	return m.withLock(ctx, func(pool *pgxpool.Pool) error {
		err := m.withAppMigrate(pool, func(app *migrate.Migrate) error {
			var err error
			if opts.All {
				err = app.Down()
			} else {
				err = app.Steps(-max(opts.Steps, 1))
			}
			if err != nil && !errors.Is(err, migrate.ErrNoChange) && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("error reverting app migrations: %w", err)
			}
			return nil
		})
		if err != nil || !opts.All {
			return err
		}
		river, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Logger: m.logger})
		if err != nil {
			return fmt.Errorf("error creating River migrator: %w", err)
		}
		if _, err := river.Migrate(ctx, rivermigrate.DirectionDown, &rivermigrate.MigrateOpts{TargetVersion: -1}); err != nil {
			return fmt.Errorf("error reverting River migrations: %w", err)
		}
		// golang-migrate's version table is the last thing Kollektiv created.
		if _, err := pool.Exec(ctx, "DROP TABLE IF EXISTS schema_migrations"); err != nil {
			return fmt.Errorf("error dropping schema_migrations: %w", err)
		}
		return nil
	})
}

// Status reads the applied versions of both migration sets.
func (m *Migrator) Status(ctx context.Context) (MigrationStatus, error) {
	pool, err := connectPlain(ctx, m.databaseURL)
	if err != nil {
		return MigrationStatus{}, err
	}
	defer pool.Close()
	return migrationStatus(ctx, pool)
}

// MigrationStatusOf reads the applied versions of both migration sets
// through an open pool (for readiness checks, which must not open
// connections of their own on every call).
func MigrationStatusOf(ctx context.Context, pool *pgxpool.Pool) (MigrationStatus, error) {
	return migrationStatus(ctx, pool)
}

func migrationStatus(ctx context.Context, pool *pgxpool.Pool) (MigrationStatus, error) {
	var status MigrationStatus

	river, err := rivermigrate.New(riverpgxv5.New(pool), nil)
	if err != nil {
		return status, fmt.Errorf("error creating River migrator: %w", err)
	}
	all := river.AllVersions()
	status.RiverLatest = all[len(all)-1].Version
	existing, err := river.ExistingVersions(ctx)
	if err != nil {
		return status, fmt.Errorf("error reading River migrations: %w", err)
	}
	if len(existing) > 0 {
		status.RiverCurrent = existing[len(existing)-1].Version
	}

	status.AppLatest, err = latestAppVersion()
	if err != nil {
		return status, err
	}
	// Read schema_migrations directly: golang-migrate would create the table.
	var version int64
	var dirty bool
	err = pool.QueryRow(ctx, "SELECT version, dirty FROM schema_migrations LIMIT 1").Scan(&version, &dirty)
	switch {
	case err == nil:
		status.AppCurrent, status.AppDirty = uint(version), dirty
	case errors.Is(err, pgx.ErrNoRows), isCode(err, codeUndefinedTable):
	default:
		return status, fmt.Errorf("error reading app migration version: %w", err)
	}
	return status, nil
}

func latestAppVersion() (uint, error) {
	src, err := iofs.New(migrations.FS, ".")
	if err != nil {
		return 0, fmt.Errorf("error reading embedded migrations: %w", err)
	}
	defer func() { _ = src.Close() }()
	v, err := src.First()
	if err != nil {
		return 0, fmt.Errorf("error reading embedded migrations: %w", err)
	}
	for {
		next, err := src.Next(v)
		if errors.Is(err, fs.ErrNotExist) {
			return v, nil
		}
		if err != nil {
			return 0, fmt.Errorf("error reading embedded migrations: %w", err)
		}
		v = next
	}
}

// withLock creates the database if needed, then runs fn holding the
// migration advisory lock on a connection of its own.
func (m *Migrator) withLock(ctx context.Context, fn func(pool *pgxpool.Pool) error) error {
	created, err := EnsureDatabase(ctx, m.databaseURL)
	if err != nil {
		return err
	}
	if created {
		m.logger.InfoContext(ctx, "created database")
	}
	pool, err := connectPlain(ctx, m.databaseURL)
	if err != nil {
		return err
	}
	defer pool.Close()

	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("error acquiring connection: %w", err)
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrateLockKey); err != nil {
		return fmt.Errorf("error taking migration lock: %w", err)
	}
	defer func() {
		// A fresh context: the lock must be released even when ctx is done.
		_, _ = conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrateLockKey)
	}()
	return fn(pool)
}

func (m *Migrator) withAppMigrate(pool *pgxpool.Pool, fn func(*migrate.Migrate) error) error {
	src, err := iofs.New(migrations.FS, ".")
	if err != nil {
		return fmt.Errorf("error reading embedded migrations: %w", err)
	}
	// Closing this *sql.DB leaves the pool open.
	db := stdlib.OpenDBFromPool(pool)
	defer func() { _ = db.Close() }()
	driver, err := migratepgx.WithInstance(db, &migratepgx.Config{})
	if err != nil {
		return fmt.Errorf("error creating migration driver: %w", err)
	}
	app, err := migrate.NewWithInstance("iofs", src, "pgx5", driver)
	if err != nil {
		return fmt.Errorf("error creating app migrator: %w", err)
	}
	app.Log = migrateLogger{logger: m.logger}
	defer func() { _, _ = app.Close() }()
	return fn(app)
}

// migrateLogger adapts slog to golang-migrate's logger.
type migrateLogger struct{ logger *slog.Logger }

func (l migrateLogger) Printf(format string, v ...any) {
	l.logger.Debug("golang-migrate", slog.String("message", fmt.Sprintf(format, v...)))
}

func (l migrateLogger) Verbose() bool { return false }
