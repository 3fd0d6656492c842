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
		name:         "worker",
		usesDatabase: true,
		summary:      "run the pipeline's job workers until SIGINT or SIGTERM",
		help: `
Runs River workers for the seven job kinds on four queues: default
(orchestration and events), crawling (URL sources' crawl_source jobs, 2 at a
time), chunking (CPU bound, one worker per core by default) and embedding
(provider bound). Run as many worker processes, on as
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
		name:         "serve",
		usesDatabase: true,
		summary:      "run the HTTP API and the workers in one process",
		help: `
Runs everything Kollektiv needs in one process: the HTTP API on --http-addr
(as ` + "`kollektiv api`" + `) and the pipeline's workers (as ` + "`kollektiv worker`" + `).
On SIGINT or SIGTERM it stops taking requests, ends event streams, lets
running jobs finish within --soft-stop-timeout, and closes the pool last.`,
		example: `
kollektiv serve
KOLLEKTIV_HTTP_ADDR=127.0.0.1:9000 kollektiv serve`,
		flags: func(_ *flag.FlagSet, cfg *config.Config) func(context.Context, Env, []string) error {
			return func(ctx context.Context, env Env, args []string) error {
				if len(args) != 0 {
					return fmt.Errorf("%w: serve takes no arguments", errUsage)
				}
				return runProcess(ctx, env, cfg, app.Options{Worker: true, API: true})
			}
		},
	}
}

func apiCommand() command {
	return command{
		name:         "api",
		usesDatabase: true,
		summary:      "run the HTTP API alone (workers run elsewhere)",
		help: `
Serves the HTTP API on --http-addr: sources (/v1/sources...), their events
over Server-Sent Events, hybrid search (/v1/search), /healthz, /readyz,
/metrics, /v1/openapi.json, and River UI at /riverui/ for admin keys. Every
request but the health checks needs Authorization: Bearer <key>; create keys
with ` + "`kollektiv keys create`" + `. Jobs are inserted here and worked by
` + "`kollektiv worker`" + ` processes.`,
		example: `
kollektiv api --http-addr :8080
curl -H "Authorization: Bearer $KEY" localhost:8080/v1/sources`,
		flags: func(_ *flag.FlagSet, cfg *config.Config) func(context.Context, Env, []string) error {
			return func(ctx context.Context, env Env, args []string) error {
				if len(args) != 0 {
					return fmt.Errorf("%w: api takes no arguments", errUsage)
				}
				return runProcess(ctx, env, cfg, app.Options{API: true})
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
