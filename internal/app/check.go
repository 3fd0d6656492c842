package app

import (
	"context"
	"fmt"
	"time"

	"github.com/kollektiv/kollektiv/internal/config"
	"github.com/kollektiv/kollektiv/internal/store"
)

// CheckOpts says what Check requires beyond a reachable, migrated database.
type CheckOpts struct {
	// RequireWorker makes Check fail unless a worker sent a heartbeat within
	// cfg.CheckWorkerWithin.
	RequireWorker bool
}

// Check reports, one line each, the problems that keep this deployment from
// working: an unreachable database, pending migrations, no live worker. An
// empty result means healthy. It never creates or changes anything.
func Check(ctx context.Context, cfg *config.Config, opts CheckOpts) []string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()

	status, err := store.NewMigrator(cfg.DatabaseURL, nil).Status(ctx)
	if err != nil {
		return []string{fmt.Sprintf("database: %v", err)}
	}
	problems := status.Problems()
	if !opts.RequireWorker {
		return problems
	}
	if !status.Current() {
		return append(problems, "workers: not checked while migrations are pending")
	}
	pool, err := store.Connect(ctx, cfg.DatabaseURL)
	if err != nil {
		return append(problems, fmt.Sprintf("database: %v", err))
	}
	defer pool.Close()
	live, err := store.New(pool).CountLiveWorkers(ctx, cfg.CheckWorkerWithin.Seconds())
	switch {
	case err != nil:
		problems = append(problems, fmt.Sprintf("workers: error counting live workers: %v", err))
	case live == 0:
		problems = append(problems, fmt.Sprintf("workers: no worker has sent a heartbeat in the last %s (start one with `kollektiv worker`)", cfg.CheckWorkerWithin))
	}
	return problems
}
