package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kollektiv/kollektiv/internal/dbtest"
	"github.com/kollektiv/kollektiv/internal/store"
)

type result struct {
	code           int
	stdout, stderr string
}

// run runs the command line in-process with env as its whole environment.
func run(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	return runCtx(ctx, env, args...)
}

// runCtx is run with a context, for commands that run until cancelled.
func runCtx(ctx context.Context, env map[string]string, args ...string) result {
	var stdout, stderr bytes.Buffer
	code := Main(ctx, args, Env{
		Stdin:  strings.NewReader(""),
		Stdout: &stdout,
		Stderr: &stderr,
		Getenv: func(k string) string { return env[k] },
	})
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

func TestEveryCommandHasHelp(t *testing.T) {
	t.Parallel()
	for _, c := range commands() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			r := run(t, nil, c.name, "--help")
			if r.code != 0 {
				t.Fatalf("exit %d, stderr %s", r.code, r.stderr)
			}
			for _, want := range []string{"Usage: kollektiv " + c.name, "Example:", "kollektiv " + c.name} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("help lacks %q:\n%s", want, r.stdout)
				}
			}
			if strings.TrimSpace(c.help) == "" || c.summary == "" {
				t.Error("command has no help text or summary")
			}
		})
	}
	r := run(t, nil, "help")
	for _, c := range commands() {
		if !strings.Contains(r.stdout, c.name+" ") {
			t.Errorf("command list lacks %s:\n%s", c.name, r.stdout)
		}
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"nonsense"}, {"check", "--bogus"}, {"migrate"}, {"migrate", "sideways"}, {"bench"}, {"bench", "sideways"}, {"bench", "ingest"}, {"bench", "search"}} {
		r := run(t, nil, args...)
		if r.code != 2 {
			t.Errorf("%q: exit %d, want 2", args, r.code)
		}
		if lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n"); len(lines) != 1 || !strings.HasSuffix(lines[0], "; see `kollektiv "+args[0]+" --help`") {
			if args[0] != "nonsense" {
				t.Errorf("%q: stderr %q, want one line pointing to --help", args, r.stderr)
			}
		}
	}
}

// TestConventions: --version and -v print the version; an unknown
// subcommand is named as one with the command's subcommands; search
// refuses the k the API refuses, in its words; a wrong flag is one line
// naming it and pointing to the command's --help, not the whole help. All
// exit 2 without touching a database.
func TestConventions(t *testing.T) {
	t.Parallel()
	version := run(t, nil, "version")
	for _, flag := range []string{"--version", "-v"} {
		if r := run(t, nil, flag); r.code != 0 || r.stdout != version.stdout || !strings.HasPrefix(r.stdout, "kollektiv ") {
			t.Errorf("%s: exit %d, stdout %q, want %q", flag, r.code, r.stdout, version.stdout)
		}
	}
	// No database answers here: each must fail before it would connect.
	env := map[string]string{"DATABASE_URL": "postgres://postgres@127.0.0.1:1/none?sslmode=disable&connect_timeout=1", "KOLLEKTIV_LOCAL_POSTGRES": "never"}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"sources", "frob"}, `kollektiv sources: unknown subcommand "frob": want ls, show, docs, watch, rm, retry or refresh; see ` + "`kollektiv sources --help`"},
		{[]string{"sources", "frob", "0b6f4f2e-8c1d-4f4a-9a77-5d2b1c3e9f10"}, `unknown subcommand "frob"`},
		{[]string{"sources"}, "want a subcommand: ls, show"},
		{[]string{"keys", "frob"}, `unknown subcommand "frob": want create, ls or revoke`},
		{[]string{"migrate", "frob"}, `unknown subcommand "frob": want up, down or status`},
		{[]string{"docs", "frob"}, `unknown subcommand "frob": want show;`},
		{[]string{"bench", "frob"}, `unknown subcommand "frob": want queue, ingest, latency or search`},
		{[]string{"search", "--k", "0", "borrowing"}, "kollektiv search: --k: want a whole number from 1 to 100, got 0; see `kollektiv search --help`"},
		{[]string{"search", "--k", "101", "borrowing"}, "--k: want a whole number from 1 to 100, got 101"},
		{[]string{"eval", "--k", "0", "questions.jsonl"}, "--k: want a whole number from 1 to 100, got 0"},
		{[]string{"search", "--bogus", "borrowing"}, "kollektiv search: unknown flag --bogus; see `kollektiv search --help`"},
		{[]string{"search", "borrowing", "--k"}, "kollektiv search: flag --k needs a value; see"},
		{[]string{"ingest", "--wait=maybe", "."}, `invalid boolean value "maybe" for flag --wait`},
		{[]string{"search", "--k", "five", "borrowing"}, `invalid value "five" for flag --k`},
	} {
		r := run(t, env, c.args...)
		lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
		if r.code != 2 || len(lines) != 1 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%q: exit %d, stderr %q; want exit 2 and one line with %q", c.args, r.code, r.stderr, c.want)
		}
	}
}

func TestCheck(t *testing.T) {
	t.Parallel()

	t.Run("DatabaseUnreachable", func(t *testing.T) {
		t.Parallel()
		r := run(t, map[string]string{"DATABASE_URL": "postgres://postgres@127.0.0.1:1/kollektiv?sslmode=disable&connect_timeout=2"}, "check")
		if r.code != 1 {
			t.Fatalf("exit %d, want 1; stdout %s stderr %s", r.code, r.stdout, r.stderr)
		}
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) != 1 || !strings.HasPrefix(lines[0], "database: ") || !strings.Contains(lines[0], "127.0.0.1") {
			t.Fatalf("want one line naming the database problem, got %q", r.stdout)
		}
	})

	t.Run("MigrationsPending", func(t *testing.T) {
		t.Parallel()
		url := dbtest.EmptyDatabaseURL(t)
		r := run(t, map[string]string{"DATABASE_URL": url}, "check")
		if r.code != 1 {
			t.Fatalf("exit %d, want 1; stdout %s", r.code, r.stdout)
		}
		want := []string{
			"River migrations pending: at version 0 of ",
			"app migrations pending: at version 0 of ",
			"workers: not checked while migrations are pending",
		}
		lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
		if len(lines) != len(want) {
			t.Fatalf("want %d lines, got %q", len(want), r.stdout)
		}
		for i, w := range want {
			if !strings.HasPrefix(lines[i], w) {
				t.Errorf("line %d = %q, want prefix %q", i, lines[i], w)
			}
		}
	})

	t.Run("Healthy", func(t *testing.T) {
		t.Parallel()
		url := dbtest.DatabaseURL(t)
		r := run(t, map[string]string{"DATABASE_URL": url}, "check", "--require-worker=false")
		if r.code != 0 || strings.TrimSpace(r.stdout) != "ok" {
			t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
		}
	})

	t.Run("RequireWorker", func(t *testing.T) {
		t.Parallel()
		url := dbtest.DatabaseURL(t)
		env := map[string]string{"DATABASE_URL": url}
		r := run(t, env, "check")
		if r.code != 1 || !strings.HasPrefix(r.stdout, "workers: no worker has sent a heartbeat in the last 1m0s") {
			t.Fatalf("without workers: exit %d, stdout %q", r.code, r.stdout)
		}

		ctx := context.Background()
		pool, err := store.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer pool.Close()
		q := store.New(pool)
		if err := q.RecordWorkerHeartbeat(ctx, store.RecordWorkerHeartbeatParams{ID: [16]byte{1}, Hostname: "h", Pid: 1, Queues: []string{"default"}}); err != nil {
			t.Fatal(err)
		}
		if r := run(t, env, "check", "--require-worker"); r.code != 0 {
			t.Fatalf("with a live worker: exit %d, stdout %q", r.code, r.stdout)
		}
		// A heartbeat older than the window does not count.
		if _, err := pool.Exec(ctx, "UPDATE workers SET heartbeat_at = now() - interval '2 minutes'"); err != nil {
			t.Fatal(err)
		}
		if r := run(t, env, "check", "--require-worker"); r.code != 1 {
			t.Fatalf("with a stale worker: exit %d, stdout %q", r.code, r.stdout)
		}
		if r := run(t, env, "check", "--require-worker", "--check-worker-within", "5m"); r.code != 0 {
			t.Fatalf("with a wider window: exit %d, stdout %q", r.code, r.stdout)
		}
	})
}

func TestMigrateCommand(t *testing.T) {
	t.Parallel()
	url := dbtest.EmptyDatabaseURL(t)
	env := map[string]string{"DATABASE_URL": url, "KOLLEKTIV_LOG_LEVEL": "warn"}

	if r := run(t, env, "migrate", "status"); r.code != 1 || !strings.Contains(r.stdout, "pending") {
		t.Fatalf("status before up: exit %d, stdout %q", r.code, r.stdout)
	}
	for i := range 2 {
		if r := run(t, env, "migrate", "up"); r.code != 0 || strings.Contains(r.stdout, "pending") {
			t.Fatalf("up #%d: exit %d, stdout %q, stderr %q", i+1, r.code, r.stdout, r.stderr)
		}
	}
	if r := run(t, env, "migrate", "down"); r.code != 0 || !strings.Contains(r.stdout, "pending") {
		t.Fatalf("down: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if r := run(t, env, "check", "--require-worker=false"); r.code != 1 {
		t.Fatalf("check after down: exit %d, want 1", r.code)
	}
	if r := run(t, env, "migrate", "up"); r.code != 0 {
		t.Fatalf("up after down: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := run(t, env, "check", "--require-worker=false"); r.code != 0 {
		t.Fatalf("check after up: exit %d, stdout %q", r.code, r.stdout)
	}
}

func TestConfigCommandRedactsSecrets(t *testing.T) {
	t.Parallel()
	r := run(t, map[string]string{"DATABASE_URL": "postgres://app:hunter2@db:5432/kollektiv"}, "config", "--log-level", "debug")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if strings.Contains(r.stdout, "hunter2") {
		t.Fatalf("password printed:\n%s", r.stdout)
	}
	for _, want := range []string{"postgres://app:xxxxx@db:5432/kollektiv", "env", "debug", "flag"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("config output lacks %q:\n%s", want, r.stdout)
		}
	}
}

func TestKeysCommand(t *testing.T) {
	t.Parallel()
	env := map[string]string{"DATABASE_URL": dbtest.DatabaseURL(t), "KOLLEKTIV_LOG_LEVEL": "warn"}

	created := run(t, env, "keys", "create", "--user", "alice", "--name", "laptop")
	secret := strings.TrimSpace(created.stdout)
	if created.code != 0 || !strings.HasPrefix(secret, "kol_") || !strings.Contains(created.stderr, "shown only this once") {
		t.Fatalf("create: %d %q %q", created.code, created.stdout, created.stderr)
	}
	ls := run(t, env, "keys", "ls", "--user", "alice")
	if ls.code != 0 || strings.Contains(ls.stdout, secret) || !strings.Contains(ls.stdout, secret[:12]) || !strings.Contains(ls.stdout, "active") {
		t.Fatalf("ls must show the prefix, never the key: %s", ls.stdout)
	}
	id := strings.Fields(strings.Split(ls.stdout, "\n")[1])[0]
	if r := run(t, env, "keys", "revoke", id); r.code != 0 {
		t.Fatalf("revoke: %d %s", r.code, r.stderr)
	}
	if r := run(t, env, "keys", "ls"); !strings.Contains(r.stdout, "revoked") {
		t.Fatalf("after revoke: %s", r.stdout)
	}
	if r := run(t, env, "keys", "revoke", id); r.code != 1 {
		t.Fatalf("second revoke: exit %d, want 1", r.code)
	}
	if r := run(t, env, "keys", "create", "extra"); r.code != 2 {
		t.Fatalf("create with an argument: exit %d, want 2", r.code)
	}
	// Without --user, the key is for the CLI's own user: KOLLEKTIV_USER,
	// else "local"; stderr says whose sources it sees.
	for user, env := range map[string]map[string]string{
		"local": env,
		"bob":   {"DATABASE_URL": env["DATABASE_URL"], "KOLLEKTIV_LOG_LEVEL": "warn", "KOLLEKTIV_USER": "bob"},
	} {
		r := run(t, env, "keys", "create", "--admin")
		if r.code != 0 || !strings.Contains(r.stderr, `It sees the sources of user "`+user+`"`) || !strings.Contains(r.stderr, "River UI") {
			t.Fatalf("create for %s: %d %q", user, r.code, r.stderr)
		}
		ls := run(t, env, "keys", "ls", "--user", user)
		if !strings.Contains(ls.stdout, strings.TrimSpace(r.stdout)[:12]) {
			t.Fatalf("the key created without --user is not %s's:\n%s", user, ls.stdout)
		}
	}
}

// TestRescueAfterBelowTimeoutsStopsOnlyWorkers: with the job timeouts at
// their 5m defaults and KOLLEKTIV_RESCUE_AFTER=25s, a client (ingest) runs,
// `worker` refuses naming every timeout, and `config` warns.
func TestRescueAfterBelowTimeoutsStopsOnlyWorkers(t *testing.T) {
	t.Parallel()
	url := dbtest.DatabaseURL(t)
	env := map[string]string{"DATABASE_URL": url, "KOLLEKTIV_LOG_LEVEL": "warn", "KOLLEKTIV_RESCUE_AFTER": "25s"}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.md"), []byte("# A\n\nSome text about alpacas.\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	const want = "rescue-after 25s must exceed the longest job timeout: chunk-timeout 5m, embed-timeout 5m, summary-timeout 5m, index-build-timeout 5m, job-timeout 1m"

	if r := run(t, env, "ingest", dir); r.code != 0 {
		t.Fatalf("ingest: exit %d: %s", r.code, r.stderr)
	}
	for _, cmd := range []string{"worker", "serve"} {
		r := run(t, env, cmd, "--http-addr", "127.0.0.1:0")
		if r.code != 1 || !strings.Contains(r.stderr, want) {
			t.Fatalf("%s: exit %d, stderr %q, want it to name %q", cmd, r.code, r.stderr, want)
		}
	}
	r := run(t, env, "config")
	if r.code != 0 || !strings.Contains(r.stderr, "warning: "+want) || !strings.Contains(r.stdout, "KOLLEKTIV_RESCUE_AFTER") {
		t.Fatalf("config: exit %d, stderr %q", r.code, r.stderr)
	}
	if r := run(t, map[string]string{}, "config"); r.code != 0 || r.stderr != "" {
		t.Fatalf("config of the defaults: exit %d, stderr %q", r.code, r.stderr)
	}
}
