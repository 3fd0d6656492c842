package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kollektiv/kollektiv/internal/app"
	"github.com/kollektiv/kollektiv/internal/config"
	"github.com/kollektiv/kollektiv/internal/dbtest"
	"github.com/kollektiv/kollektiv/internal/wait"
)

// syncBuffer is a bytes.Buffer a test reads while a command writes it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// running is a command line run in-process in the background.
type running struct {
	stdout, stderr *syncBuffer
	done           chan int // the exit status
}

func start(ctx context.Context, env map[string]string, args ...string) *running {
	r := &running{stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan int, 1)}
	go func() {
		r.done <- Main(ctx, args, Env{
			Stdin: strings.NewReader(""), Stdout: r.stdout, Stderr: r.stderr,
			Getenv: func(k string) string { return env[k] },
		})
	}()
	return r
}

// exit waits for the command's exit status.
func (r *running) exit(t *testing.T) int {
	t.Helper()
	select {
	case code := <-r.done:
		return code
	case <-time.After(2 * time.Minute):
		t.Fatalf("still running after 2 minutes; stdout %q, stderr %q", r.stdout, r.stderr)
		return 0
	}
}

// waitUntil waits up to a minute for cond, failing with what and what
// cond last saw.
func waitUntil(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	wait.For(t, time.Minute, func() (bool, string) {
		ok, saw := cond()
		return ok, what + ": " + saw
	})
}

// startWorker runs the pipeline's workers in-process on url, with short
// fan-in and retry intervals; tune, when given, changes the settings.
func startWorker(t *testing.T, url string, tune ...func(*config.Config)) *app.App {
	t.Helper()
	cfg := config.MustLoadDefaults()
	cfg.DatabaseURL = url
	cfg.FanInSafetyInterval = 200 * time.Millisecond
	cfg.RetryBase = 50 * time.Millisecond
	for _, f := range tune {
		f(cfg)
	}
	ctx := context.Background()
	worker, err := app.New(ctx, cfg, nil, app.Options{Worker: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := worker.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = worker.Stop(context.Background()) })
	return worker
}

// pausedChunkingWorker runs a worker whose chunking queue is paused (with
// River's queue pause, resumed by QueueResume): a source's first events
// are published, and it goes no further. tune, when given, changes the
// worker's settings.
func pausedChunkingWorker(t *testing.T, url string, tune ...func(*config.Config)) *app.App {
	t.Helper()
	pool, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = pool.Close(context.Background()) }()
	// A worker starting on a paused queue starts paused.
	if _, err := pool.Exec(context.Background(), `INSERT INTO river_queue (name, created_at, metadata, paused_at, updated_at)
		VALUES ('chunking', now(), '{}', now(), now())`); err != nil {
		t.Fatal(err)
	}
	return startWorker(t, url, tune...)
}

func writeDocs(t *testing.T, docs map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range docs {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

var sourceCreated = regexp.MustCompile(`source ([0-9a-f-]{36}) created`)

// TestFollowSurvivesDatabaseOutage runs `ingest --wait --json` and
// `sources watch ID` while a worker works their sources, with the chunking
// queue paused (River's own pause) so that neither source can finish early.
// Once each client has read its source's first events, the database goes
// away as in a restart: new connections refused and every connection of
// the two clients terminated with pg_terminate_backend. Each client says
// once on stderr that it is reconnecting; once connections are allowed
// again and the queue resumed, both resume after the last event they saw:
// ingest prints the completed source as JSON, watch shows each stage once,
// both exit 0.
func TestFollowSurvivesDatabaseOutage(t *testing.T) {
	t.Parallel()
	url := dbtest.DatabaseURL(t)
	ctx := context.Background()
	db, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close(context.Background()) })
	server, err := pgx.Connect(ctx, dbtest.ServerURL(t)) // ALTER DATABASE runs from another database
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = server.Close(context.Background()) })
	name := db.Config().Database
	database := pgx.Identifier{name}.Sanitize()
	t.Cleanup(func() { _, _ = server.Exec(context.Background(), "ALTER DATABASE "+database+" ALLOW_CONNECTIONS true") })

	worker := pausedChunkingWorker(t, url)

	env := map[string]string{"DATABASE_URL": url, "KOLLEKTIV_LOG_LEVEL": "warn"}
	watched := writeDocs(t, map[string]string{"watch.md": "# Watched\n\nA source followed by sources watch.\n"})
	r := run(t, env, "ingest", watched)
	m := sourceCreated.FindStringSubmatch(r.stdout)
	if r.code != 0 || m == nil {
		t.Fatalf("ingest: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	dir := writeDocs(t, map[string]string{
		"intro.md": "# Intro\n\nKollektiv turns documentation into a knowledge base.\n",
		"usage.md": "# Usage\n\n## Ingest\n\nRun the ingest command with a path.\n",
	})
	clientEnv := func(app string) map[string]string {
		return map[string]string{"DATABASE_URL": url + "&application_name=" + app, "KOLLEKTIV_LOG_LEVEL": "warn"}
	}
	ingest := start(ctx, clientEnv("kollektiv_probe_ingest"), "ingest", dir, "--wait", "--json")
	watch := start(ctx, clientEnv("kollektiv_probe_watch"), "sources", "watch", m[1])
	clients := map[string]*running{"ingest": ingest, "sources watch": watch}

	// watch shows its events; ingest --json shows nothing until the end,
	// so its first event is seen in the database: its connection listed
	// events after the source's processing_scheduled event was stored.
	waitUntil(t, "sources watch showing processing_scheduled", func() (bool, string) {
		return strings.Contains(watch.stdout.String(), "processing_scheduled"), watch.stdout.String()
	})
	waitUntil(t, "ingest --wait reading its source's events", func() (bool, string) {
		var read bool
		err := db.QueryRow(ctx, `
			SELECT EXISTS (SELECT FROM pg_stat_activity a, source_events e JOIN sources s ON s.id = e.source_id
			               WHERE a.datname = current_database() AND a.application_name = 'kollektiv_probe_ingest'
			                 AND a.state = 'idle' AND a.query LIKE '-- name: ListEventsAfter%'
			                 AND s.uri = $1 AND e.stage = 'processing_scheduled' AND a.query_start > e.created_at)`, dir).Scan(&read)
		return err == nil && read, fmt.Sprintf("read %v, error %v", read, err)
	})

	if _, err := server.Exec(ctx, "ALTER DATABASE "+database+" ALLOW_CONNECTIONS false"); err != nil {
		t.Fatal(err)
	}
	var terminated int
	if err := server.QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) FROM pg_stat_activity
		WHERE datname = $1 AND application_name LIKE 'kollektiv_probe_%'`, name).Scan(&terminated); err != nil {
		t.Fatal(err)
	}
	for cmd, c := range clients {
		waitUntil(t, cmd+" saying it reconnects", func() (bool, string) {
			select {
			case code := <-c.done:
				t.Fatalf("%s exited %d when the database went away; stdout %q, stderr %q", cmd, code, c.stdout, c.stderr)
			default:
			}
			return strings.Contains(c.stderr.String(), "reconnecting"), c.stderr.String()
		})
	}
	t.Logf("terminated %d connections of the two clients", terminated)
	if _, err := server.Exec(ctx, "ALTER DATABASE "+database+" ALLOW_CONNECTIONS true"); err != nil {
		t.Fatal(err)
	}
	if err := worker.River.QueueResume(ctx, "chunking", nil); err != nil {
		t.Fatal(err)
	}

	for cmd, c := range clients {
		if code := c.exit(t); code != 0 {
			t.Fatalf("%s: exit %d, stdout %q, stderr %q", cmd, code, c.stdout, c.stderr)
		}
		stderr := c.stderr.String()
		if strings.Count(stderr, "reconnecting") != 1 || !strings.Contains(stderr, "reconnected after") {
			t.Fatalf("%s: stderr %q, want one reconnecting line and one reconnected", cmd, stderr)
		}
		t.Logf("%s: %s", cmd, strings.TrimSpace(stderr))
	}
	var out struct {
		Stage  string `json:"stage"`
		Chunks int    `json:"chunks"`
	}
	if err := json.Unmarshal([]byte(ingest.stdout.String()), &out); err != nil || out.Stage != "completed" || out.Chunks == 0 {
		t.Fatalf("ingest --json printed %q, want one JSON object of a completed source", ingest.stdout)
	}
	for _, stage := range []string{"created", "processing_scheduled", "chunks_generated", "summary_generated", "completed"} {
		if n := len(regexp.MustCompile(`s +`+stage+`\b`).FindAllString(watch.stdout.String(), -1)); n != 1 {
			t.Fatalf("sources watch showed %s %d times, want once:\n%s", stage, n, watch.stdout)
		}
	}
}

// TestInterruptedIngestWaitHintsWatch: Ctrl-C during `ingest --wait` stops
// following, not the source: exit 130 with a hint naming `sources watch
// ID`, which then follows the source to its end.
func TestInterruptedIngestWaitHintsWatch(t *testing.T) {
	t.Parallel()
	url := dbtest.DatabaseURL(t)
	worker := pausedChunkingWorker(t, url)
	env := map[string]string{"DATABASE_URL": url, "KOLLEKTIV_LOG_LEVEL": "warn"}
	dir := writeDocs(t, map[string]string{"a.md": "# A\n\nSome text about alpacas.\n"})
	ctx, interrupt := context.WithCancel(context.Background())
	defer interrupt()
	c := start(ctx, env, "ingest", dir, "--wait")
	waitUntil(t, "the created event shown", func() (bool, string) {
		return regexp.MustCompile(`s +created +documents 1`).MatchString(c.stdout.String()), c.stdout.String()
	})
	interrupt()
	if code := c.exit(t); code != 130 {
		t.Fatalf("exit %d after Ctrl-C, want 130; stderr %q", code, c.stderr)
	}
	m := sourceCreated.FindStringSubmatch(c.stdout.String())
	if m == nil || !strings.Contains(c.stderr.String(), "kollektiv sources watch "+m[1]) {
		t.Fatalf("stderr %q lacks the hint to watch the source", c.stderr)
	}

	if err := worker.River.QueueResume(context.Background(), "chunking", nil); err != nil {
		t.Fatal(err)
	}
	r := run(t, env, "sources", "watch", m[1], "--json")
	if r.code != 0 || !strings.Contains(r.stdout, `"stage":"completed"`) {
		t.Fatalf("sources watch: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if r := run(t, env, "sources", "watch", "0b6f4f2e-8c1d-4f4a-9a77-5d2b1c3e9f10"); r.code != 3 || !strings.Contains(r.stderr, "no source") {
		t.Fatalf("watch of an unknown source: exit %d, stderr %q", r.code, r.stderr)
	}
}
