package config

import (
	"bytes"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"slices"
	"strconv"
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

// TestValidateWorkerNamesEveryTimeout: a rescue-after at or below a job
// timeout is a worker's problem only, and the message names every timeout.
func TestValidateWorkerNamesEveryTimeout(t *testing.T) {
	t.Parallel()
	c, err := Load(func(k string) string { return map[string]string{"KOLLEKTIV_RESCUE_AFTER": "25s"}[k] })
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate refuses a client's configuration: %v", err)
	}
	err = c.ValidateWorker()
	if err == nil {
		t.Fatal("ValidateWorker accepts rescue-after 25s below 5m job timeouts")
	}
	want := "rescue-after 25s must exceed the longest job timeout: chunk-timeout 5m, embed-timeout 5m, summary-timeout 5m, index-build-timeout 5m, job-timeout 1m"
	if !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("error %q\nwant prefix %q", err, want)
	}

	for _, ok := range []map[string]string{
		{},                               // 0: the longest timeout plus 1m
		{"KOLLEKTIV_RESCUE_AFTER": "6m"}, // above every timeout
		{"KOLLEKTIV_RESCUE_AFTER": "11s", "KOLLEKTIV_JOB_TIMEOUT": "10s", "KOLLEKTIV_CHUNK_TIMEOUT": "10s", "KOLLEKTIV_EMBED_TIMEOUT": "10s", "KOLLEKTIV_SUMMARY_TIMEOUT": "10s", "KOLLEKTIV_INDEX_BUILD_TIMEOUT": "10s"},
	} {
		c, err := Load(func(k string) string { return ok[k] })
		if err != nil {
			t.Fatal(err)
		}
		if err := c.ValidateWorker(); err != nil {
			t.Errorf("%v: %v", ok, err)
		}
	}
	c, _ = Load(func(k string) string {
		return map[string]string{"KOLLEKTIV_RESCUE_AFTER": "1m", "KOLLEKTIV_JOB_TIMEOUT": "90s"}[k]
	})
	if err := c.ValidateWorker(); err == nil || !strings.Contains(err.Error(), "rescue-after 1m must exceed the longest job timeout: chunk-timeout 5m") {
		t.Fatalf("error %v", err)
	}
}

func TestFormatDuration(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		5 * time.Minute: "5m", 25 * time.Second: "25s", 90 * time.Second: "1m30s", time.Hour: "1h",
		90 * time.Minute: "1h30m", 300 * time.Millisecond: "300ms", time.Hour + time.Second: "1h0m1s",
	} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestWithDefaultsFillsEveryZeroOnce: a Config literal gets the table's
// defaults, the zeros a setting accepts keep their meaning, set values and
// a loaded Config stay as they are.
func TestWithDefaultsFillsEveryZeroOnce(t *testing.T) {
	t.Parallel()
	c := (&Config{DefaultWorkers: 3, JobTimeout: 7 * time.Second}).WithDefaults()
	loaded := MustLoadDefaults()
	for _, s := range Settings() {
		want := s.get(loaded)
		switch s.Name {
		case "default-workers":
			want = "3"
		case "job-timeout":
			want = "7s"
		case "chunking-workers":
			want = strconv.Itoa(runtime.NumCPU())
		case "bulk-index-min-bytes":
			want = "0" // a zero it accepts: bulk indexes off
		}
		if got := s.get(c); got != want {
			t.Errorf("%s: %q, want %q", s.Name, got, want)
		}
	}
	if d := Defaults(); d.BulkIndexMinBytes != 2<<20 || d.ChunkingWorkers != runtime.NumCPU() {
		t.Errorf("Defaults: bulk-index-min-bytes %d, chunking-workers %d", d.BulkIndexMinBytes, d.ChunkingWorkers)
	}
	// 0 turns bulk indexes off: a loaded 0 is not filled again.
	off, err := Load(func(k string) string { return map[string]string{"KOLLEKTIV_BULK_INDEX_MIN_BYTES": "0"}[k] })
	if err != nil {
		t.Fatal(err)
	}
	if got := off.WithDefaults().BulkIndexMinBytes; got != 0 {
		t.Errorf("bulk-index-min-bytes 0 became %d", got)
	}
	if got := Defaults().RescueStuckJobsAfter(); got != 6*time.Minute {
		t.Errorf("default rescue after %s, want 6m", got)
	}
}

// TestLoggerWritesDurationsAsText: in JSON logs as in text logs, a duration
// reads "30s", not 30000000000, also inside a group.
func TestLoggerWritesDurationsAsText(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"json", "text"} {
		cfg := MustLoadDefaults()
		cfg.LogFormat = format
		var out bytes.Buffer
		cfg.Logger(&out).Info("stopping", slog.Duration("soft_stop_timeout", 30*time.Second),
			slog.Group("job", slog.Duration("took", 1500*time.Microsecond)), slog.Int("attempt", 2))
		var want []string
		if format == "json" {
			want = []string{`"soft_stop_timeout":"30s"`, `"took":"1.5ms"`, `"attempt":2`}
		} else {
			want = []string{"soft_stop_timeout=30s", "job.took=1.5ms", "attempt=2"}
		}
		for _, w := range want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%s log lacks %s: %s", format, w, out.String())
			}
		}
	}
}
