package cli

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"

	"github.com/kollektiv/kollektiv/internal/config"
	"github.com/kollektiv/kollektiv/internal/store"
)

func migrateCommand() command {
	return command{
		name:         "migrate",
		usesDatabase: true,
		args:         "up|down|status",
		summary:      "create the database and apply, revert or show migrations",
		settings:     []string{"database-url", "log-level", "log-format"},
		help: `
Applies River's migrations (through rivermigrate) and Kollektiv's own
(db/migrations, through golang-migrate) to the database, creating the
database when it does not exist.

  up      apply every pending migration; a no-op when current, and safe to
          run from several processes at once
  down    revert the last app migration (--steps N for more); --all reverts
          every app migration and removes River's tables too (data is lost)
  status  print the applied and latest version of each migration set; exit 1
          when migrations are pending`,
		example: `
kollektiv migrate up
kollektiv migrate status
DATABASE_URL=postgres://postgres@db:5432/kollektiv kollektiv migrate up`,
		flags: func(fs *flag.FlagSet, cfg *config.Config) func(context.Context, Env, []string) error {
			steps := fs.Int("steps", 1, "down: number of app migrations to revert")
			all := fs.Bool("all", false, "down: revert every app migration and River's schema")
			return func(ctx context.Context, env Env, args []string) error {
				if err := checkSubcommand(args, "up", "down", "status"); err != nil {
					return err
				}
				if len(args) != 1 {
					return fmt.Errorf("%w: migrate %s takes no arguments", errUsage, args[0])
				}
				migrator := store.NewMigrator(cfg.DatabaseURL, cfg.Logger(env.Stderr))
				switch args[0] {
				case "up":
					if err := migrator.Up(ctx); err != nil {
						return err
					}
					return printMigrationStatus(ctx, env, migrator, true)
				case "down":
					if *steps < 1 {
						return fmt.Errorf("%w: --steps must be at least 1", errUsage)
					}
					if err := migrator.Down(ctx, store.MigrateDownOpts{Steps: *steps, All: *all}); err != nil {
						return err
					}
					return printMigrationStatus(ctx, env, migrator, false)
				case "status":
					return printMigrationStatus(ctx, env, migrator, true)
				}
				return nil
			}
		},
	}
}

// printMigrationStatus prints both migration sets; with failPending it fails
// when either is not current, so `migrate status` works in scripts.
func printMigrationStatus(ctx context.Context, env Env, migrator *store.Migrator, failPending bool) error {
	status, err := migrator.Status(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SET\tAPPLIED\tLATEST\tSTATE")
	fmt.Fprintf(tw, "river\t%d\t%d\t%s\n", status.RiverCurrent, status.RiverLatest, state(status.RiverCurrent == status.RiverLatest, false))
	fmt.Fprintf(tw, "app\t%d\t%d\t%s\n", status.AppCurrent, status.AppLatest, state(status.AppCurrent == status.AppLatest, status.AppDirty))
	if err := tw.Flush(); err != nil {
		return err
	}
	if failPending && !status.Current() {
		return exitError{code: 1}
	}
	return nil
}

func state(current, dirty bool) string {
	switch {
	case dirty:
		return "dirty"
	case current:
		return "current"
	default:
		return "pending"
	}
}
