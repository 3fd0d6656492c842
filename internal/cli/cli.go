// Package cli implements the kollektiv command line: one file per
// subcommand, all dispatched from Main.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/kollektiv/kollektiv/internal/config"
	"github.com/kollektiv/kollektiv/internal/derr"
)

// Env is what a command sees of its process: its streams and environment.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
}

// command is one subcommand.
type command struct {
	name    string
	args    string // argument synopsis after the flags
	summary string // one line for the command list
	help    string // paragraph for `kollektiv CMD --help`
	example string
	// settings are the names of the config settings the command takes as
	// flags; nil means all of them.
	settings []string
	// usesDatabase commands may switch to the private PostgreSQL server
	// (see resolveDatabase) before they run.
	usesDatabase bool
	// flags registers the command's own flags and returns its run function.
	flags func(fs *flag.FlagSet, cfg *config.Config) func(ctx context.Context, env Env, args []string) error
}

// errUsage marks an error in how the command was called: Main prints it on
// one line with a pointer to the command's --help, and exits with status 2.
var errUsage = errors.New("usage error")

// exitError carries an exit status other than 1 without printing anything.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

func commands() []command {
	return []command{
		serveCommand(),
		workerCommand(),
		apiCommand(),
		ingestCommand(),
		searchCommand(),
		evalCommand(),
		sourcesCommand(),
		docsCommand(),
		mcpCommand(),
		keysCommand(),
		migrateCommand(),
		checkCommand(),
		benchCommand(),
		configCommand(),
		versionCommand(),
	}
}

// Main runs the command line args (without the program name) and returns the
// process exit status: 0 success, 1 failure, 2 usage error or invalid input,
// and for a domain error the status derr.ExitCode gives (3 not found, 4
// conflict, ...; README lists them).
func Main(ctx context.Context, args []string, env Env) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" || args[0] == "-help" {
		if len(args) > 1 {
			return Main(ctx, []string{args[1], "--help"}, env)
		}
		printCommands(env.Stdout)
		return 0
	}
	if args[0] == "--version" || args[0] == "-v" || args[0] == "-version" {
		fmt.Fprintf(env.Stdout, "kollektiv %s\n", Version())
		return 0
	}
	var cmd *command
	for _, c := range commands() {
		if c.name == args[0] {
			cmd = &c
			break
		}
	}
	if cmd == nil {
		fmt.Fprintf(env.Stderr, "kollektiv: unknown command %q\n\n", args[0])
		printCommands(env.Stderr)
		return 2
	}

	cfg, err := config.Load(env.Getenv)
	if err != nil {
		fmt.Fprintf(env.Stderr, "kollektiv %s: %v\n", cmd.name, err)
		return 1
	}
	fs := flag.NewFlagSet("kollektiv "+cmd.name, flag.ContinueOnError)
	if cmd.settings == nil {
		cfg.BindFlags(fs)
	} else if len(cmd.settings) > 0 {
		cfg.BindFlags(fs, cmd.settings...)
	}
	run := cmd.flags(fs, cfg)
	// Parse quietly: help goes to stdout, errors to stderr, each once.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	positional, err := parseInterspersed(fs, args[1:])
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			printUsage(env.Stdout, cmd, fs)
			return 0
		}
		fmt.Fprintf(env.Stderr, "kollektiv %s: %s; see `kollektiv %s --help`\n", cmd.name, describeFlagError(err), cmd.name)
		return 2
	}

	if cmd.usesDatabase {
		if err := resolveDatabase(ctx, env, cfg); err != nil {
			fmt.Fprintf(env.Stderr, "kollektiv %s: %v\n", cmd.name, err)
			return 1
		}
	}
	err = run(ctx, env, positional)
	var exit exitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		return exit.code
	case errors.Is(err, errUsage):
		fmt.Fprintf(env.Stderr, "kollektiv %s: %v; see `kollektiv %s --help`\n", cmd.name, strings.TrimPrefix(err.Error(), errUsage.Error()+": "), cmd.name)
		return 2
	default:
		// The exit status of a domain error (not found, conflict, ...) is
		// derr's table; anything else is 1.
		fmt.Fprintf(env.Stderr, "kollektiv %s: %v\n", cmd.name, err)
		return derr.ExitCode(err)
	}
}

func printCommands(w io.Writer) {
	fmt.Fprint(w, `kollektiv turns documentation into a searchable knowledge base for RAG:
documents are chunked along their markdown structure, embedded, stored in
PostgreSQL with pgvector and summarised, as jobs on River.

Usage:
  kollektiv COMMAND [flags] [args]

Commands:
`)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, c := range commands() {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	_ = tw.Flush()
	fmt.Fprint(w, "\nRun `kollektiv COMMAND --help` for a command's flags and an example.\n")
}

func printUsage(w io.Writer, cmd *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: kollektiv %s [flags]", cmd.name)
	if cmd.args != "" {
		fmt.Fprintf(w, " %s", cmd.args)
	}
	fmt.Fprintf(w, "\n\n%s\n", strings.TrimSpace(cmd.help))
	if cmd.example != "" {
		fmt.Fprintf(w, "\nExample:\n")
		for _, line := range strings.Split(strings.TrimSpace(cmd.example), "\n") {
			fmt.Fprintf(w, "  %s\n", line)
		}
	}
	hasFlags := false
	fs.VisitAll(func(*flag.Flag) { hasFlags = true })
	if hasFlags {
		fmt.Fprintf(w, "\nFlags:\n")
		out := fs.Output()
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(out)
	}
}

// parseInterspersed parses flags wherever they stand among the arguments,
// so `kollektiv ingest ./docs --wait` works as well as `--wait ./docs`. A
// "--" ends the flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		// flag stops at the first non-flag argument, or after "--".
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// describeFlagError says what is wrong with a flag as the help spells
// flags, --name: the flag package's errors name them -name.
func describeFlagError(err error) string {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		return "unknown flag --" + name
	}
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return "flag --" + name + " needs a value"
	}
	// invalid value "x" for flag -k: parse error; invalid boolean value
	// "x" for -wait: parse error.
	msg = strings.TrimSuffix(msg, ": parse error")
	msg = strings.Replace(msg, " for flag -", " for flag --", 1)
	return strings.Replace(msg, " for -", " for flag --", 1)
}

// checkSubcommand returns a usage error unless args start with one of the
// command's subcommands, naming them.
func checkSubcommand(args []string, subcommands ...string) error {
	want := subcommands[0]
	if n := len(subcommands); n > 1 {
		want = strings.Join(subcommands[:n-1], ", ") + " or " + subcommands[n-1]
	}
	if len(args) == 0 {
		return fmt.Errorf("%w: want a subcommand: %s", errUsage, want)
	}
	if !slices.Contains(subcommands, args[0]) {
		return fmt.Errorf("%w: unknown subcommand %q: want %s", errUsage, args[0], want)
	}
	return nil
}
