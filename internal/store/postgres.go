package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	pgxvec "github.com/pgvector/pgvector-go/pgx"
)

// Postgres error codes this package reacts to.
const (
	codeInvalidCatalogName = "3D000" // database does not exist
	codeDuplicateDatabase  = "42P04"
	codeUniqueViolation    = "23505" // a concurrent CREATE DATABASE of the same name
	codeUndefinedTable     = "42P01"
	codeDeadlockDetected   = "40P01"
)

// Connect opens a pool to databaseURL with pgvector's types registered on
// every connection. The vector extension must exist already (it is created
// by the first migration): run MigrateUp before Connect on a new database.
// maxConns sizes the pool; 0 keeps pgx's default (pool_max_conns in the
// URL, else the larger of 4 and the number of CPUs).
func Connect(ctx context.Context, databaseURL string, maxConns ...int32) (*pgxpool.Pool, error) {
	config, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("error parsing database URL: %w", err)
	}
	if len(maxConns) > 0 && maxConns[0] > 0 && !strings.Contains(databaseURL, "pool_max_conns") {
		config.MaxConns = maxConns[0]
	}
	config.AfterConnect = func(ctx context.Context, conn *pgx.Conn) error {
		err := pgxvec.RegisterTypes(ctx, conn)
		var pgErr *pgconn.PgError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &pgErr) || conn.IsClosed() || ctx.Err() != nil:
			// The query failed (a terminated connection, a server going
			// down): migrations are not the problem.
			return fmt.Errorf("error registering pgvector types: %w", err)
		}
		return fmt.Errorf("error registering pgvector types (is the database migrated? run `kollektiv migrate up`): %w", err)
	}
	config.PrepareConn = prepareConn
	pool, err := pgxpool.NewWithConfig(ctx, config)
	if err != nil {
		return nil, fmt.Errorf("error creating pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("error connecting to the database: %w", err)
	}
	return pool, nil
}

// prepareConn refuses a pooled connection the server has closed, so the
// pool opens another instead of failing the query. pgxpool pings only
// connections idle for over a second; one whose backend was terminated
// (pg_terminate_backend, a server restart) a moment earlier would fail the
// next query with SQLSTATE 57P01, an event stream's reconnect with a 500.
// The check peeks at the socket: no round trip.
func prepareConn(_ context.Context, conn *pgx.Conn) (bool, error) {
	if conn.IsClosed() || connLost(conn.PgConn().Conn()) {
		return false, nil // destroyed; pgxpool acquires another
	}
	return true, nil
}

// connectPlain opens a pool without type registration, for work that must
// run before the vector extension exists (migrations, status checks).
func connectPlain(ctx context.Context, databaseURL string) (*pgxpool.Pool, error) {
	config, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("error parsing database URL: %w", err)
	}
	config.MaxConns = 4
	pool, err := pgxpool.NewWithConfig(ctx, config)
	if err != nil {
		return nil, fmt.Errorf("error creating pool: %w", err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("error connecting to the database: %w", err)
	}
	return pool, nil
}

// EnsureDatabase creates the database named in databaseURL when it does not
// exist, connecting to the server's maintenance database to do so. It reports
// whether it created the database. Two processes may call it at once.
func EnsureDatabase(ctx context.Context, databaseURL string) (bool, error) {
	config, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return false, fmt.Errorf("error parsing database URL: %w", err)
	}
	conn, err := pgx.ConnectConfig(ctx, config)
	if err == nil {
		return false, conn.Close(ctx)
	}
	if !isCode(err, codeInvalidCatalogName) {
		return false, fmt.Errorf("error connecting to the database: %w", err)
	}

	name := config.Database
	var lastErr error
	for _, maintenance := range []string{"postgres", "template1"} {
		admin := config.Copy()
		admin.Database = maintenance
		conn, err := pgx.ConnectConfig(ctx, admin)
		if err != nil {
			lastErr = err
			continue
		}
		_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
		closeErr := conn.Close(ctx)
		switch {
		case err == nil:
			return true, closeErr
		case isCode(err, codeDuplicateDatabase), isCode(err, codeUniqueViolation):
			return false, closeErr
		default:
			return false, fmt.Errorf("error creating database %q: %w", name, err)
		}
	}
	return false, fmt.Errorf("error connecting to a maintenance database to create %q: %w", name, lastErr)
}

// IsConnectionLost reports whether err means the database connection was
// lost or could not be made (a terminated backend, a server restarting or
// shutting down, a refused or cut connection) rather than that the
// statement failed: a read-only query that failed so can run again, on
// another connection, and a client can reconnect.
func IsConnectionLost(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	// Whatever the server said while connecting (starting up, not
	// accepting connections), no connection was made.
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		// Class 57P: admin_shutdown (pg_terminate_backend), crash_shutdown,
		// cannot_connect_now (starting up or shutting down); class 08:
		// connection exceptions.
		return strings.HasPrefix(pgErr.Code, "57P") || strings.HasPrefix(pgErr.Code, "08")
	}
	var netErr net.Error
	return errors.As(err, &netErr) || pgconn.SafeToRetry(err) ||
		errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}

// IsDeadlock reports whether err is PostgreSQL aborting a transaction to
// break a deadlock: the transaction changed nothing and can be run again.
func IsDeadlock(err error) bool { return isCode(err, codeDeadlockDetected) }

func isCode(err error, code string) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == code
}
