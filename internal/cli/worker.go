package cli

import (
	"context"
	"flag"
	"fmt"
	"log/slog"

	"github.com/kollektiv/kollektiv/internal/app"
	"github.com/kollektiv/kollektiv/internal/config"
)

func workerCommand() command {
	return command{
		name:    "worker",
		summary: "run the pipeline's job workers until SIGINT or SIGTERM",
		help: `
Runs River workers for the six pipeline jobs on three queues: default
(orchestration and events), chunking (CPU bound, one worker per core by
default) and embedding (provider bound). Run as many worker processes, on as
many hosts, as you like: they share the work through PostgreSQL.

On SIGINT or SIGTERM the worker stops fetching jobs, gives running jobs
--soft-stop-timeout to finish, cancels the rest (they go back to the queue),
and closes its database pool last. A worker records a heartbeat every 15 s
that ` + "`kollektiv check --require-worker`" + ` looks for.`,
		example: `
kollektiv worker
KOLLEKTIV_EMBEDDING_WORKERS=8 kollektiv worker --chunking-workers 2`,
		flags: func(_ *flag.FlagSet, cfg *config.Config) func(context.Context, Env, []string) error {
			return func(ctx context.Context, env Env, args []string) error {
				if len(args) != 0 {
					return fmt.Errorf("%w: worker takes no arguments", errUsage)
				}
				return runProcess(ctx, env, cfg, app.Options{Worker: true})
			}
		},
	}
}

func serveCommand() command {
	return command{
		name:    "serve",
		summary: "run workers (and, once it exists, the HTTP API) in one process",
		help: `
Runs everything Kollektiv needs in one process: the pipeline's workers, as
` + "`kollektiv worker`" + ` does. The HTTP API joins this process when it lands.
Stops gracefully on SIGINT or SIGTERM.`,
		example: `kollektiv serve`,
		flags: func(_ *flag.FlagSet, cfg *config.Config) func(context.Context, Env, []string) error {
			return func(ctx context.Context, env Env, args []string) error {
				if len(args) != 0 {
					return fmt.Errorf("%w: serve takes no arguments", errUsage)
				}
				return runProcess(ctx, env, cfg, app.Options{Worker: true})
			}
		},
	}
}

// runProcess starts an app and stops it when ctx ends (a signal).
func runProcess(ctx context.Context, env Env, cfg *config.Config, opts app.Options) error {
	logger := cfg.Logger(env.Stderr)
	opts.Version = Version()
	a, err := app.New(ctx, cfg, logger, opts)
	if err != nil {
		return err
	}
	if err := a.Start(ctx); err != nil {
		_ = a.Stop(context.WithoutCancel(ctx))
		return err
	}
	<-ctx.Done()
	logger.Info("stopping: signal received", slog.Duration("soft_stop_timeout", cfg.SoftStopTimeout))
	// ctx is done: stopping needs a context of its own, bounded by the soft
	// stop timeout plus time to hand jobs back.
	stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.SoftStopTimeout+cfg.JobTimeout)
	defer cancel()
	return a.Stop(stopCtx)
}
