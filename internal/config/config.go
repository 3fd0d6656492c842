// Package config holds every Kollektiv setting in one table: its environment
// variable, its flag, its default, and whether it is a secret. A setting is
// taken from its flag when given, else from its environment variable, else
// from its default.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// DefaultDatabaseURL is the local server as a fresh machine has it.
const DefaultDatabaseURL = "postgres://postgres@127.0.0.1:5432/kollektiv?sslmode=disable"

// Config is the effective configuration of one Kollektiv process. Its zero
// value is not meant to be used: start from Load.
type Config struct {
	// DatabaseURL is the PostgreSQL connection string. Default
	// DefaultDatabaseURL; the database is created when it does not exist.
	DatabaseURL string
	// LogLevel is the minimum level logged: debug, info, warn or error.
	// Default info.
	LogLevel slog.Level
	// LogFormat is text (for people) or json (for log pipelines). Default text.
	LogFormat string
	// CheckWorkerWithin is how recently a worker must have sent a heartbeat
	// for `kollektiv check` to count it as alive. Default 1m.
	CheckWorkerWithin time.Duration

	// origin records where each setting's value came from: default, env or
	// flag, keyed by setting name.
	origin map[string]string
}

// Setting is one row of the configuration table.
type Setting struct {
	// Name is the flag name, without dashes.
	Name string
	// Env is the environment variable.
	Env string
	// Default is the value used when neither flag nor variable is set.
	Default string
	// Secret settings are redacted when printed.
	Secret bool
	// Usage says what the setting does, for --help and README.
	Usage string

	set func(c *Config, value string) error
	get func(c *Config) string
}

// Settings returns the configuration table, in the order it is printed.
func Settings() []Setting {
	return []Setting{
		{
			Name: "database-url", Env: "DATABASE_URL", Default: DefaultDatabaseURL, Secret: true,
			Usage: "PostgreSQL connection string; the database is created when missing",
			set: func(c *Config, v string) error {
				if strings.TrimSpace(v) == "" {
					return errors.New("must not be empty")
				}
				c.DatabaseURL = v
				return nil
			},
			get: func(c *Config) string { return c.DatabaseURL },
		},
		{
			Name: "log-level", Env: "KOLLEKTIV_LOG_LEVEL", Default: "info",
			Usage: "minimum level logged: debug, info, warn or error",
			set: func(c *Config, v string) error {
				return c.LogLevel.UnmarshalText([]byte(v))
			},
			get: func(c *Config) string { return strings.ToLower(c.LogLevel.String()) },
		},
		{
			Name: "log-format", Env: "KOLLEKTIV_LOG_FORMAT", Default: "text",
			Usage: "log format: text or json",
			set: func(c *Config, v string) error {
				if v != "text" && v != "json" {
					return fmt.Errorf("%q is not text or json", v)
				}
				c.LogFormat = v
				return nil
			},
			get: func(c *Config) string { return c.LogFormat },
		},
		{
			Name: "check-worker-within", Env: "KOLLEKTIV_CHECK_WORKER_WITHIN", Default: "1m",
			Usage: "how recent a worker heartbeat must be for the check command to count the worker alive",
			set:   durationSetter(func(c *Config) *time.Duration { return &c.CheckWorkerWithin }),
			get:   func(c *Config) string { return c.CheckWorkerWithin.String() },
		},
	}
}

func durationSetter(field func(*Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%q is not a duration (examples: 30s, 5m, 1h)", v)
		}
		if d <= 0 {
			return fmt.Errorf("%q must be positive", v)
		}
		*field(c) = d
		return nil
	}
}

// Load builds a Config from the defaults and the environment (getenv is
// os.Getenv outside tests). Flags bound with BindFlags override it later.
func Load(getenv func(string) string) (*Config, error) {
	c := &Config{origin: map[string]string{}}
	var errs []error
	for _, s := range Settings() {
		value, origin := s.Default, "default"
		if v := getenv(s.Env); v != "" {
			value, origin = v, "env"
		}
		if err := s.set(c, value); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.Env, err))
			continue
		}
		c.origin[s.Name] = origin
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("invalid configuration: %w", errors.Join(errs...))
	}
	return c, nil
}

// MustLoadDefaults returns the configuration with every setting at its
// default, ignoring the environment. For tests.
func MustLoadDefaults() *Config {
	c, err := Load(func(string) string { return "" })
	if err != nil {
		panic(err)
	}
	return c
}

// BindFlags registers the named settings as flags on fs (all settings when
// names is empty); a flag given on the command line overrides the
// environment.
func (c *Config) BindFlags(fs *flag.FlagSet, names ...string) {
	for _, s := range Settings() {
		if len(names) > 0 && !slices.Contains(names, s.Name) {
			continue
		}
		usage := fmt.Sprintf("%s (env %s, default %q)", s.Usage, s.Env, s.Default)
		if s.Secret {
			usage = fmt.Sprintf("%s (env %s)", s.Usage, s.Env)
		}
		fs.Func(s.Name, usage, func(v string) error {
			if err := s.set(c, v); err != nil {
				return err
			}
			c.origin[s.Name] = "flag"
			return nil
		})
	}
}

// Dump writes the effective settings as a table, secrets redacted.
func (c *Config) Dump(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SETTING\tENV\tVALUE\tFROM")
	for _, s := range Settings() {
		value := s.get(c)
		if s.Secret {
			value = redact(s.Name, value)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Name, s.Env, value, c.origin[s.Name])
	}
	return tw.Flush()
}

// Logger builds the process's logger from LogLevel and LogFormat.
func (c *Config) Logger(w io.Writer) *slog.Logger {
	if w == nil {
		w = os.Stderr
	}
	opts := &slog.HandlerOptions{Level: c.LogLevel}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
