package cli

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kollektiv/kollektiv/internal/config"
	"github.com/kollektiv/kollektiv/internal/localpg"
)

// resolveDatabase switches to a private PostgreSQL server when the
// configuration asks for one: DATABASE_URL unset, and local-postgres always,
// or auto with nothing answering on the default address. It says so on
// stderr, since the data then lives somewhere the user did not name.
func resolveDatabase(ctx context.Context, env Env, cfg *config.Config) error {
	if !cfg.FromDefault("database-url") || cfg.LocalPostgres == "never" {
		return nil
	}
	if cfg.LocalPostgres == "auto" && answers(ctx, cfg.DatabaseURL) {
		return nil
	}
	dir := cfg.DataDir
	if dir == "" {
		dir = defaultDataDir()
	}
	server, err := localpg.Ensure(ctx, filepath.Join(dir, "postgres"))
	if err != nil {
		if cfg.LocalPostgres == "auto" {
			return fmt.Errorf("no PostgreSQL answers at the default address, and no private server could be started: %w (set DATABASE_URL)", err)
		}
		return err
	}
	state := "already running"
	if server.Started {
		state = "started now"
	}
	fmt.Fprintf(env.Stderr, "kollektiv: using a private PostgreSQL in %s on 127.0.0.1:%d (%s); stop it with: pg_ctl -D %s stop\n",
		server.Dir, server.Port, state, filepath.Join(server.Dir, "pgdata"))
	cfg.SetDatabaseURL(server.URL("kollektiv"), "private server")
	return nil
}

// answers reports whether something accepts TCP connections at the host
// and port of url.
func answers(ctx context.Context, url string) bool {
	c, err := pgx.ParseConfig(url)
	if err != nil {
		return false
	}
	d := net.Dialer{Timeout: 2 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort(c.Host, fmt.Sprint(c.Port)))
	if err != nil {
		return false
	}
	_ = conn.Close()
	return true
}

func defaultDataDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/kollektiv"
	}
	if xdg := os.Getenv("XDG_DATA_HOME"); xdg != "" {
		return filepath.Join(xdg, "kollektiv")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ".kollektiv"
	}
	return filepath.Join(home, ".local", "share", "kollektiv")
}
