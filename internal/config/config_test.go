package config

import (
	"bytes"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLoadPrecedence(t *testing.T) {
	t.Parallel()

	env := map[string]string{"KOLLEKTIV_LOG_LEVEL": "warn", "KOLLEKTIV_LOG_FORMAT": "json"}
	c, err := Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if c.DatabaseURL != DefaultDatabaseURL || c.LogLevel != slog.LevelWarn || c.LogFormat != "json" || c.CheckWorkerWithin != time.Minute {
		t.Fatalf("defaults and env not applied: %+v", c)
	}

	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	c.BindFlags(fs)
	if err := fs.Parse([]string{"--log-level", "debug"}); err != nil {
		t.Fatal(err)
	}
	if c.LogLevel != slog.LevelDebug {
		t.Fatalf("flag did not override env: %v", c.LogLevel)
	}
	var out bytes.Buffer
	if err := c.Dump(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range [][]string{
		{"log-level", "KOLLEKTIV_LOG_LEVEL", "debug", "flag"},
		{"log-format", "KOLLEKTIV_LOG_FORMAT", "json", "env"},
		{"user", "KOLLEKTIV_USER", "local", "default"},
	} {
		found := false
		for _, line := range strings.Split(out.String(), "\n") {
			if slices.Equal(strings.Fields(line), want) {
				found = true
			}
		}
		if !found {
			t.Errorf("dump lacks the row %q:\n%s", want, out.String())
		}
	}
}

func TestLoadRejectsBadValuesNamingTheVariable(t *testing.T) {
	t.Parallel()
	env := map[string]string{"KOLLEKTIV_LOG_FORMAT": "xml", "KOLLEKTIV_CHECK_WORKER_WITHIN": "-5s"}
	_, err := Load(func(k string) string { return env[k] })
	if err == nil {
		t.Fatal("bad values accepted")
	}
	for _, want := range []string{"KOLLEKTIV_LOG_FORMAT", `"xml" is not text or json`, "KOLLEKTIV_CHECK_WORKER_WITHIN", "must be positive"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, value, want string }{
		{"database-url", "postgres://u:secret@h:5432/db?sslmode=disable", "postgres://u:xxxxx@h:5432/db?sslmode=disable"},
		{"database-url", "postgres://u@h/db?password=secret", "postgres://u@h/db?password=xxxxx"},
		{"database-url", "host=h password=secret", "xxxxx"},
		{"api-key", "sk-secret", "xxxxx"},
		{"api-key", "", ""},
	} {
		if got := redact(tc.name, tc.value); got != tc.want {
			t.Errorf("redact(%q, %q) = %q, want %q", tc.name, tc.value, got, tc.want)
		}
	}
}

func TestEverySettingIsComplete(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for _, s := range Settings() {
		if s.Name == "" || s.Env == "" || s.Usage == "" || s.set == nil || s.get == nil {
			t.Errorf("incomplete setting %+v", s)
		}
		if seen[s.Name] || seen[s.Env] {
			t.Errorf("duplicate setting %s/%s", s.Name, s.Env)
		}
		seen[s.Name], seen[s.Env] = true, true
		// Every default must be accepted by its own setter.
		c := &Config{origin: map[string]string{}}
		if err := s.set(c, s.Default); err != nil {
			t.Errorf("%s: default %q rejected: %v", s.Name, s.Default, err)
		}
	}
}

// TestReadmeListsEverySetting keeps README.md's configuration table true.
func TestReadmeListsEverySetting(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range Settings() {
		row := fmt.Sprintf("| `--%s` | `%s` | `%s` |", s.Name, s.Env, s.Default)
		if !strings.Contains(string(readme), row) {
			t.Errorf("README.md's configuration table lacks the row starting %s", row)
		}
	}
}

// TestEnvironRoundTrips loads a configuration from what Environ returns
// for a configuration set by flags, and gets every setting back.
func TestEnvironRoundTrips(t *testing.T) {
	t.Parallel()
	c := MustLoadDefaults()
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	c.BindFlags(fs)
	if err := fs.Parse([]string{"--chunking-workers", "3", "--log-level", "warn", "--webhook-urls", "https://a.example/h,https://b.example/h", "--retry-base", "250ms"}); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, kv := range c.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	if len(env) != len(Settings()) {
		t.Fatalf("Environ has %d variables for %d settings", len(env), len(Settings()))
	}
	back, err := Load(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range Settings() {
		if got, want := s.get(back), s.get(c); got != want {
			t.Errorf("%s: %q after the round trip, want %q", s.Name, got, want)
		}
	}
}
