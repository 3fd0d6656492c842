package cli

import (
	"context"
	"flag"
	"fmt"

	"github.com/kollektiv/kollektiv/internal/app"
	"github.com/kollektiv/kollektiv/internal/config"
)

func checkCommand() command {
	return command{
		name:     "check",
		summary:  "health check: exit 0 when the database, migrations and workers are fine",
		settings: []string{"database-url", "check-worker-within"},
		help: `
Checks that the database answers, that River's and Kollektiv's migrations are
current, and that at least one worker has sent a heartbeat within
--check-worker-within (workers send one every 15 s). Exits 0 and prints "ok"
when all is well; otherwise exits 1 and prints one line per problem. Made for
container health checks, like ` + "`arq --check`" + `. It never changes the database.`,
		example: `
kollektiv check
kollektiv check --require-worker=false   # database and migrations only`,
		flags: func(fs *flag.FlagSet, cfg *config.Config) func(context.Context, Env, []string) error {
			requireWorker := fs.Bool("require-worker", true, "fail when no worker is alive")
			return func(ctx context.Context, env Env, args []string) error {
				if len(args) != 0 {
					return fmt.Errorf("%w: check takes no arguments", errUsage)
				}
				problems := app.Check(ctx, cfg, app.CheckOpts{RequireWorker: *requireWorker})
				if len(problems) == 0 {
					fmt.Fprintln(env.Stdout, "ok")
					return nil
				}
				for _, p := range problems {
					fmt.Fprintln(env.Stdout, p)
				}
				return exitError{code: 1}
			}
		},
	}
}
