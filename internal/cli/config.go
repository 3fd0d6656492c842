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
database URL keeps everything but its password.`,
		example: `
kollektiv config
KOLLEKTIV_LOG_LEVEL=debug kollektiv config`,
		flags: func(_ *flag.FlagSet, cfg *config.Config) func(context.Context, Env, []string) error {
			return func(_ context.Context, env Env, args []string) error {
				if len(args) != 0 {
					return fmt.Errorf("%w: config takes no arguments", errUsage)
				}
				return cfg.Dump(env.Stdout)
			}
		},
	}
}
