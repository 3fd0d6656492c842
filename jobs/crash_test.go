package jobs_test

import (
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kollektiv/kollektiv/internal/testcorpus"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/kollektiv/kollektiv/internal/content"
	"github.com/kollektiv/kollektiv/internal/dbtest"
	"github.com/kollektiv/kollektiv/internal/events"
	"github.com/kollektiv/kollektiv/internal/ingest"
	"github.com/kollektiv/kollektiv/internal/store"
	"github.com/kollektiv/kollektiv/internal/testbin"
)

// TestCrashWorkers ingests real documentation with three `kollektiv worker`
// processes while SIGKILLing them at random moments and starting them
// again. At the end the source must be completed with exactly the chunks a
// run without crashes writes, every chunk embedded, each stage event once,
// and no job left behind.
func TestCrashWorkers(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test: starts worker processes for a minute or two")
	}
	t.Parallel()
	ctx := context.Background()
	corpus := testcorpus.Dir(t)
	binary := testbin.Build(t)
	url := dbtest.DatabaseURL(t)
	pool, err := store.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)

	docs, problems, err := content.LoadPath(ctx, filepath.Join(corpus, "fastapi"), content.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rc, err := river.NewClient(riverpgxv5.New(pool), &river.Config{})
	if err != nil {
		t.Fatal(err)
	}
	svc := ingest.Service{Pool: pool, River: rc}
	added, err := svc.Add(ctx, ingest.AddParams{UserID: "alice", Kind: ingest.KindFiles, URI: "fastapi", Documents: docs, Problems: problems})
	if err != nil {
		t.Fatal(err)
	}
	sourceID := added.Source.ID

	env := append(os.Environ(),
		"DATABASE_URL="+url,
		"KOLLEKTIV_LOG_LEVEL=warn",
		"KOLLEKTIV_JOB_TIMEOUT=10s", "KOLLEKTIV_CHUNK_TIMEOUT=10s", "KOLLEKTIV_EMBED_TIMEOUT=10s", "KOLLEKTIV_SUMMARY_TIMEOUT=10s",
		"KOLLEKTIV_INDEX_BUILD_TIMEOUT=10s",
		"KOLLEKTIV_RESCUE_AFTER=11s",
		// The FastAPI docs (1.5 MB) get a bulk-built index: a kill may
		// interrupt its concurrent build.
		"KOLLEKTIV_BULK_INDEX_MIN_BYTES=1000000",
		"KOLLEKTIV_FAN_IN_SAFETY_INTERVAL=2s",
		"KOLLEKTIV_RETRY_BASE=100ms",
		"KOLLEKTIV_MAX_ATTEMPTS=25",
		"KOLLEKTIV_BATCH_DOCUMENTS=4",
		"KOLLEKTIV_EMBED_BATCH_CHUNKS=16",
		"KOLLEKTIV_PROGRESS_INTERVAL=20ms",
		"KOLLEKTIV_CHUNKING_WORKERS=1",
		"KOLLEKTIV_EMBEDDING_WORKERS=2",
	)
	logs := filepath.Join(t.TempDir(), "workers.log")
	logFile, err := os.Create(logs)
	if err != nil {
		t.Fatal(err)
	}
	defer logFile.Close()
	var mu sync.Mutex
	start := func() *exec.Cmd {
		cmd := exec.Command(binary, "worker")
		cmd.Env = env
		cmd.Stdout, cmd.Stderr = logFile, logFile
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	workers := []*exec.Cmd{start(), start(), start()}
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		for _, w := range workers {
			_ = w.Process.Kill()
			_ = w.Wait()
		}
	})

	// Kill a random worker every few hundred milliseconds while the source
	// is in progress, then let the survivors and their rescuer finish.
	rng := rand.New(rand.NewPCG(20261128, 5)) //nolint:gosec // a seeded, repeatable schedule
	kills := 0
	for kills < 8 {
		time.Sleep(time.Duration(200+rng.IntN(600)) * time.Millisecond)
		source, err := store.New(pool).GetSourceByID(ctx, sourceID)
		if err != nil {
			t.Fatal(err)
		}
		if events.Terminal(source.Stage) {
			break
		}
		i := rng.IntN(len(workers))
		mu.Lock()
		_ = workers[i].Process.Signal(syscall.SIGKILL)
		_ = workers[i].Wait()
		workers[i] = start()
		mu.Unlock()
		kills++
	}
	t.Logf("killed %d workers", kills)

	b := &testBundle{pool: pool}
	deadline := time.Now().Add(4 * time.Minute)
	var source store.Source
	for {
		source, err = store.New(pool).GetSourceByID(ctx, sourceID)
		if err != nil {
			t.Fatal(err)
		}
		if events.Terminal(source.Stage) {
			if s := stageEvents(t, b, sourceID, 1); len(s) > 0 && events.Terminal(s[len(s)-1]) {
				break
			}
		}
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(logs)
			t.Fatalf("source is %s after 4 minutes; worker logs:\n%s", source.Stage, tail(out, 4000))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if source.Stage != events.StageCompleted {
		t.Fatalf("source ended %s: %v", source.Stage, source.Error)
	}
	if got := stageEvents(t, b, sourceID, 1); !equal(got, wantStages) {
		t.Fatalf("stage events %v, want each of %v exactly once", got, wantStages)
	}

	chunker, err := content.NewChunker(content.ChunkerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, d := range docs {
		chunks, err := chunker.Chunk(content.DocumentID(sourceID, d.URL), d.Content)
		if err != nil {
			continue
		}
		for _, c := range chunks {
			want[c.ID.String()] = c.Text
		}
	}
	got := chunksOf(t, b, sourceID)
	if len(got) != len(want) {
		t.Fatalf("%d chunks stored, want %d", len(got), len(want))
	}
	for id, c := range got {
		if want[id.String()] != c.Text || !c.Embedded {
			t.Fatalf("chunk %s differs from a run without crashes (embedded %v)", id, c.Embedded)
		}
	}
	// Its vectors are searchable through its own index, valid despite any
	// build a kill interrupted.
	var valid bool
	if err := pool.QueryRow(ctx, `
		SELECT i.indisvalid FROM source_vector_indexes v
		JOIN pg_class c ON c.relname = v.index_name JOIN pg_index i ON i.indexrelid = c.oid
		WHERE v.source_id = $1`, sourceID).Scan(&valid); err != nil || !valid {
		t.Fatalf("the source's bulk-built index: valid %v, err %v", valid, err)
	}
	var running int
	if err := pool.QueryRow(ctx, "SELECT count(*) FROM river_job WHERE state IN ('running', 'available', 'retryable', 'scheduled', 'pending')").Scan(&running); err != nil {
		t.Fatal(err)
	}
	if running != 0 {
		t.Fatalf("%d jobs left unfinished", running)
	}
	t.Logf("%d documents, %d chunks, %d kills", source.DocumentCount, len(got), kills)
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
