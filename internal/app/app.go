// Package app wires a Kollektiv process together: it builds the database
// pool and the store from one Config, and starts and stops them in order.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kollektiv/kollektiv/internal/config"
	"github.com/kollektiv/kollektiv/internal/store"
)

// ErrSchemaNotCurrent is returned by New when migrations are pending.
var ErrSchemaNotCurrent = errors.New("database schema is not current")

// App is one Kollektiv process's set of services.
type App struct {
	// Pool is the process's database pool, pgvector types registered.
	Pool *pgxpool.Pool
	// Queries runs the generated queries on Pool.
	Queries *store.Queries

	config   *config.Config
	logger   *slog.Logger
	stopOnce sync.Once
}

// New creates the database when it does not exist, checks that both
// migration sets are applied, and opens the pool. It does not migrate:
// schema changes are an explicit step (`kollektiv migrate up`).
func New(ctx context.Context, cfg *config.Config, logger *slog.Logger) (*App, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	created, err := store.EnsureDatabase(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	if created {
		logger.InfoContext(ctx, "created database")
	}
	status, err := store.NewMigrator(cfg.DatabaseURL, logger).Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("error reading migration status: %w", err)
	}
	if !status.Current() {
		return nil, fmt.Errorf("%w: %s", ErrSchemaNotCurrent, strings.Join(status.Problems(), "; "))
	}
	pool, err := store.Connect(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, err
	}
	return &App{
		Pool:    pool,
		Queries: store.New(pool),
		config:  cfg,
		logger:  logger,
	}, nil
}

// Start starts the process's background services.
func (a *App) Start(ctx context.Context) error {
	a.logger.InfoContext(ctx, "started")
	return nil
}

// Stop stops every service in reverse order of start and closes the pool
// last. It is safe to call more than once.
func (a *App) Stop(ctx context.Context) error {
	a.stopOnce.Do(func() {
		a.Pool.Close()
		a.logger.InfoContext(ctx, "stopped")
	})
	return nil
}
