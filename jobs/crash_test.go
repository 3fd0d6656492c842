package jobs_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/kollektiv/kollektiv/internal/content"
	"github.com/kollektiv/kollektiv/internal/dbtest"
	"github.com/kollektiv/kollektiv/internal/ingest"
	"github.com/kollektiv/kollektiv/internal/lifecycle"
	"github.com/kollektiv/kollektiv/internal/store"
	"github.com/kollektiv/kollektiv/internal/testbin"
	"github.com/kollektiv/kollektiv/internal/testcorpus"
	"github.com/kollektiv/kollektiv/internal/wait"
)

// Settings of TestCrashWorkers, from the environment.
const (
	// crashSeedEnv seeds the kill schedule (delays and victims). Default:
	// a new seed each run, logged, so a failing schedule can be replayed.
	crashSeedEnv = "KOLLEKTIV_CRASH_SEED"
	// crashKillsEnv is how many SIGKILLs one run makes. Default 20.
	crashKillsEnv = "KOLLEKTIV_CRASH_KILLS"
)

// crashEnv returns the integer in the environment variable name, or def.
func crashEnv(t *testing.T, name string, def uint64) uint64 {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		t.Fatalf("%s=%q: want a non-negative whole number", name, v)
	}
	return n
}

// workerEnv is the environment of worker processes in the fault tests:
// short timeouts so that the rescuer gives killed workers' jobs back soon,
// small batches so that a source is many jobs.
func workerEnv(url string) []string {
	return append(os.Environ(),
		"DATABASE_URL="+url,
		"KOLLEKTIV_LOG_LEVEL=warn",
		"KOLLEKTIV_JOB_TIMEOUT=10s", "KOLLEKTIV_CHUNK_TIMEOUT=10s", "KOLLEKTIV_EMBED_TIMEOUT=10s", "KOLLEKTIV_SUMMARY_TIMEOUT=10s",
		"KOLLEKTIV_INDEX_BUILD_TIMEOUT=10s",
		"KOLLEKTIV_RESCUE_AFTER=11s",
		// The FastAPI docs (1.5 MB) get a bulk-built vector index, which a
		// kill may interrupt; the Rust book (1.2 MB) goes to the shared one.
		"KOLLEKTIV_BULK_INDEX_MIN_BYTES=1400000",
		"KOLLEKTIV_FAN_IN_SAFETY_INTERVAL=2s",
		"KOLLEKTIV_RETRY_BASE=100ms",
		"KOLLEKTIV_MAX_ATTEMPTS=25",
		"KOLLEKTIV_BATCH_DOCUMENTS=4",
		"KOLLEKTIV_EMBED_BATCH_CHUNKS=16",
		"KOLLEKTIV_PROGRESS_INTERVAL=20ms",
		"KOLLEKTIV_CHUNKING_WORKERS=1",
		"KOLLEKTIV_EMBEDDING_WORKERS=2",
	)
}

// processes runs copies of a kollektiv command (worker, api) that the test
// kills and restarts; their output goes to one log file.
type processes struct {
	t      *testing.T
	binary string
	env    []string
	args   []string
	log    string
	file   *os.File

	mu    sync.Mutex
	procs []*process
}

// process is one running command; done is closed when it has exited.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func startProcesses(t *testing.T, binary string, env []string, n int, args ...string) *processes {
	t.Helper()
	p := &processes{t: t, binary: binary, env: env, args: args, log: filepath.Join(t.TempDir(), args[0]+".log")}
	var err error
	if p.file, err = os.Create(p.log); err != nil {
		t.Fatal(err)
	}
	for range n {
		p.procs = append(p.procs, p.start())
	}
	t.Cleanup(func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range p.procs {
			_ = c.cmd.Process.Kill()
			<-c.done
		}
		_ = p.file.Close()
		if t.Failed() {
			t.Logf("%s logs:\n%s", p.args[0], p.logTail())
		}
	})
	return p
}

func (p *processes) start() *process {
	cmd := exec.Command(p.binary, p.args...)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = p.file, p.file
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	proc := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(proc.done)
	}()
	return proc
}

// restart sends sig to process i, waits for it to exit and starts it again.
func (p *processes) restart(i int, sig syscall.Signal) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_ = p.procs[i].cmd.Process.Signal(sig)
	<-p.procs[i].done
	p.procs[i] = p.start()
}

// assertRunning fails the test when a process exited on its own.
func (p *processes) assertRunning() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.procs {
		select {
		case <-c.done:
			p.t.Fatalf("%s exited on its own (%v); logs:\n%s", p.args[0], c.cmd.ProcessState, p.logTail())
		default:
		}
	}
}

// waitLogged waits until the log holds n lines containing text.
func (p *processes) waitLogged(text string, n int) {
	p.t.Helper()
	wait.For(p.t, time.Minute, func() (bool, string) {
		out, _ := os.ReadFile(p.log)
		got := strings.Count(string(out), text)
		return got >= n, fmt.Sprintf("%s: %d of %d lines with %q logged; logs:\n%s", p.args[0], got, n, text, tail(out, 4000))
	})
}

func (p *processes) logTail() string {
	out, _ := os.ReadFile(p.log)
	return tail(out, 4000)
}

// corpusSource is a source the fault tests ingest, with its documents and
// the chunks (id to text) that chunking them without any fault gives.
type corpusSource struct {
	id     uuid.UUID
	docs   []content.Document
	chunks map[string]string
}

// addCorpus adds a directory of the test corpus as a source of user.
func addCorpus(t *testing.T, svc *ingest.Service, user, dir string) corpusSource {
	t.Helper()
	ctx := context.Background()
	docs, problems, err := content.LoadPath(ctx, filepath.Join(testcorpus.Dir(t), dir), content.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	added, err := svc.Add(ctx, ingest.AddParams{UserID: user, Kind: ingest.KindFiles, URI: dir, Documents: docs, Problems: problems})
	if err != nil {
		t.Fatal(err)
	}
	chunker, err := content.NewChunker(content.ChunkerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, d := range docs {
		chunks, err := chunker.Chunk(content.DocumentID(added.Source.ID, d.URL), d.Content)
		if err != nil {
			continue
		}
		for _, c := range chunks {
			want[c.ID.String()] = c.Text
		}
	}
	return corpusSource{id: added.Source.ID, docs: docs, chunks: want}
}

// finished reports whether the source has reached a terminal stage and its
// terminal event is stored.
func finished(t *testing.T, b *testBundle, id uuid.UUID) (store.Source, bool) {
	t.Helper()
	source, err := store.New(b.pool).GetSourceByID(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if !lifecycle.StageOf(source).Terminal() {
		return source, false
	}
	s := stageEvents(t, b, id, source.Generation)
	return source, len(s) > 0 && lifecycle.Stage(s[len(s)-1]).Terminal()
}

// assertCompletedExactly checks that a source completed, its stage events
// of generation 1 are each stage once, and its chunks are exactly, and
// embedded, what chunking its documents without any fault gives.
func assertCompletedExactly(t *testing.T, b *testBundle, src corpusSource) int {
	t.Helper()
	source, _ := finished(t, b, src.id)
	if source.Stage != string(lifecycle.StageCompleted) {
		t.Fatalf("source %s ended %s: %v", src.id, source.Stage, source.Error)
	}
	if got := stageEvents(t, b, src.id, 1); !equal(got, wantStages) {
		t.Fatalf("source %s: stage events %v, want each of %v exactly once", src.id, got, wantStages)
	}
	// A bulk-indexed source is searchable through its own index, valid
	// despite any build a kill interrupted.
	var indexes, valid int
	if err := b.pool.QueryRow(context.Background(), `
		SELECT count(*), count(*) FILTER (WHERE i.indisvalid) FROM source_vector_indexes v
		JOIN pg_class c ON c.relname = v.index_name JOIN pg_index i ON i.indexrelid = c.oid
		WHERE v.source_id = $1`, src.id).Scan(&indexes, &valid); err != nil {
		t.Fatal(err)
	}
	if want := map[bool]int{true: 1, false: 0}[source.BulkIndex]; indexes != want || valid != want {
		t.Fatalf("source %s (bulk %v): %d registered indexes, %d valid, want %d", src.id, source.BulkIndex, indexes, valid, want)
	}
	want := src.chunks
	got := chunksOf(t, b, src.id)
	if len(got) != len(want) {
		t.Fatalf("source %s: %d chunks stored, want %d", src.id, len(got), len(want))
	}
	for id, c := range got {
		if text, ok := want[id.String()]; !ok || text != c.Text || !c.Embedded {
			t.Fatalf("source %s: chunk %s differs from a run without faults (expected %v, embedded %v)", src.id, id, ok, c.Embedded)
		}
	}
	return len(got)
}

// assertNoJobUnfinished checks that no job is running or waiting to run.
func assertNoJobUnfinished(t *testing.T, b *testBundle) {
	t.Helper()
	var left int
	if err := b.pool.QueryRow(context.Background(),
		"SELECT count(*) FROM river_job WHERE state IN ('running', 'available', 'retryable', 'scheduled', 'pending')").Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Fatalf("%d jobs left unfinished", left)
	}
}

// TestCrashWorkers ingests real documentation of two users at once with
// three `kollektiv worker` processes while SIGKILLing a random one of them
// and starting it again: KOLLEKTIV_CRASH_KILLS kills (20), kill k when the
// ingest's progress (documents chunked and chunks embedded, over all there
// are) crosses a seeded point of the k-th of as many slices, on a schedule
// seeded by KOLLEKTIV_CRASH_SEED. The sources cannot complete before the
// last kill (holdCompletion), so every kill lands on work however fast the
// machine. At the end every source must be completed with exactly the
// chunks a run without crashes writes, every chunk embedded, each stage
// event once, and no job left behind.
func TestCrashWorkers(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: starts worker processes for a minute or two")
	}
	t.Parallel()
	ctx := context.Background()
	seed := crashEnv(t, crashSeedEnv, rand.Uint64()) //nolint:gosec // a seed, logged for replay
	wantKills := int(crashEnv(t, crashKillsEnv, 20))
	t.Logf("%s=%d %s=%d", crashSeedEnv, seed, crashKillsEnv, wantKills)
	rng := rand.New(rand.NewPCG(seed, 5)) //nolint:gosec // a seeded, repeatable schedule

	binary := testbin.Build(t)
	url := dbtest.DatabaseURL(t)
	pool, err := store.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	svc := &ingest.Service{Pool: pool, River: rc}
	b := &testBundle{pool: pool}

	release := holdCompletion(t, pool)
	sources := []corpusSource{addCorpus(t, svc, "alice", "fastapi"), addCorpus(t, svc, "bob", "rust-book")}
	workers := startProcesses(t, binary, workerEnv(url), 3, "worker")
	rescues := &rescueClock{t: t, b: b}
	began := time.Now()
	at := faultFractions(rng, wantKills, 0.02, 1)
	seen := runFaults(t, b, sources, at, func(int) {
		victim := rng.IntN(len(workers.procs))
		worker := rescues.workerOf(workers, victim)
		workers.restart(victim, syscall.SIGKILL)
		rescues.killed(worker)
	})
	lastKill := time.Now()
	waiting := release()
	progress, _, _ := progressOf(t, b, sources)
	t.Logf("%d kills in %s at progress %s; %d summaries waited for the last kill (progress %.2f)",
		len(seen), lastKill.Sub(began).Round(time.Millisecond), fractions(seen), waiting, progress)

	waitSourcesFinished(t, b, sources, 4*time.Minute)
	finishedAt := time.Now()
	total := 0
	for _, s := range sources {
		total += assertCompletedExactly(t, b, s)
	}
	assertNoJobUnfinished(t, b)
	workers.assertRunning()
	t.Logf("%d sources, %d chunks, %d kills, seed %d; finished %s after the last kill", len(sources), total, len(seen), seed, finishedAt.Sub(lastKill).Round(time.Millisecond))
	rescues.report(11 * time.Second) // KOLLEKTIV_RESCUE_AFTER of workerEnv
}

// fractions formats progress points for a log line.
func fractions(at []float64) string {
	parts := make([]string, len(at))
	for i, p := range at {
		parts[i] = strconv.FormatFloat(p, 'f', 2, 64)
	}
	return strings.Join(parts, " ")
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
