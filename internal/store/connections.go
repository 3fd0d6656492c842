package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// ServerConnections are the server's connection slots, as a process sees
// them when it starts.
type ServerConnections struct {
	// Max is max_connections.
	Max int
	// Reserved are the slots kept for superusers
	// (superuser_reserved_connections) and, from PostgreSQL 16, for roles
	// with pg_use_reserved_connections (reserved_connections).
	Reserved int
	// InUse are the client connections open, other than the one that read
	// these figures.
	InUse int
}

// Free is how many more client connections the server accepts.
func (s ServerConnections) Free() int { return max(0, s.Max-s.Reserved-s.InUse) }

// ReadServerConnections reads the server's connection slots over one
// connection of its own, opened and closed here: it runs before the pool
// exists, to size it.
func ReadServerConnections(ctx context.Context, databaseURL string) (ServerConnections, error) {
	conn, err := pgx.Connect(ctx, databaseURL)
	if err != nil {
		return ServerConnections{}, fmt.Errorf("error connecting to the database: %w", err)
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	var s ServerConnections
	// pg_stat_activity lists every client connection to any database
	// (only their details are hidden from other roles); background
	// processes have slots of their own.
	err = conn.QueryRow(ctx, `SELECT current_setting('max_connections')::int,
       current_setting('superuser_reserved_connections')::int
         + coalesce(current_setting('reserved_connections', true), '0')::int,
       (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int - 1`).Scan(&s.Max, &s.Reserved, &s.InUse)
	if err != nil {
		return s, fmt.Errorf("error reading the server's connection limits: %w", err)
	}
	return s, nil
}
