package cli

import (
	"context"
	"flag"
	"fmt"
	"runtime/debug"

	"github.com/kollektiv/kollektiv/internal/config"
)

func versionCommand() command {
	return command{
		name:     "version",
		summary:  "print the version of this binary",
		settings: []string{},
		help:     `Prints the module version (or VCS revision) this binary was built from, and its Go version.`,
		example:  `kollektiv version`,
		flags: func(_ *flag.FlagSet, _ *config.Config) func(context.Context, Env, []string) error {
			return func(_ context.Context, env Env, _ []string) error {
				fmt.Fprintf(env.Stdout, "kollektiv %s\n", Version())
				return nil
			}
		},
	}
}

// Version returns the module version or VCS revision of this binary.
func Version() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "(unknown)"
	}
	version := info.Main.Version
	for _, s := range info.Settings {
		if s.Key == "vcs.revision" && len(s.Value) >= 12 {
			version = s.Value[:12]
		}
	}
	return fmt.Sprintf("%s (%s)", version, info.GoVersion)
}
