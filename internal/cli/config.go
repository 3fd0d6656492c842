package cli

import (
	"context"
	"flag"
	"fmt"

	"github.com/kollektiv/kollektiv/internal/config"
)

func configCommand() command {
	return command{
		name:    "config",
		summary: "print the effective settings, secrets redacted",
		help: `
Prints every setting with its environment variable, its effective value and
where the value came from (default, env or flag). Secrets are redacted; a
database URL keeps everything but its password. Settings that contradict
each other (a rescue-after at or below a job timeout, which ` + "`serve`" + ` and
` + "`worker`" + ` refuse) are warned about on stderr.`,
		example: `
kollektiv config
KOLLEKTIV_LOG_LEVEL=debug kollektiv config
kollektiv config --markdown   # the table of README.md`,
		flags: func(fs *flag.FlagSet, cfg *config.Config) func(context.Context, Env, []string) error {
			markdown := fs.Bool("markdown", false, "print the table of all settings and defaults as markdown")
			return func(_ context.Context, env Env, args []string) error {
				if len(args) != 0 {
					return fmt.Errorf("%w: config takes no arguments", errUsage)
				}
				if *markdown {
					return config.MarkdownTable(env.Stdout)
				}
				if err := cfg.Dump(env.Stdout); err != nil {
					return err
				}
				// Clients run with any job settings; workers refuse
				// these, so say so before a worker is started with them.
				for _, check := range []func() error{cfg.Validate, cfg.ValidateWorker} {
					if err := check(); err != nil {
						fmt.Fprintf(env.Stderr, "warning: %v\n", err)
					}
				}
				return nil
			}
		},
	}
}
