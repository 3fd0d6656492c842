package bench

import (
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pgvector/pgvector-go"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"

	"github.com/kollektiv/kollektiv/internal/app"
	"github.com/kollektiv/kollektiv/internal/config"
	"github.com/kollektiv/kollektiv/internal/content"
	"github.com/kollektiv/kollektiv/internal/embed"
	"github.com/kollektiv/kollektiv/internal/events"
	"github.com/kollektiv/kollektiv/internal/ingest"
	"github.com/kollektiv/kollektiv/internal/lifecycle"
	"github.com/kollektiv/kollektiv/internal/store"
)

// IngestOptions configure the ingest benchmark.
type IngestOptions struct {
	// Config gives the database server and the worker's settings; the
	// worker runs with the hashing embedder and the extractive summarizer
	// whatever it says. Required.
	Config *config.Config
	// Corpus is a directory (or file) of documents, loaded as `kollektiv
	// ingest` loads it. Required.
	Corpus string
	// Documents, when positive, keeps only the first Documents documents
	// of the corpus.
	Documents int
	// Repeat ingests the corpus Repeat times in one source, each copy under
	// other URLs so that its documents are distinct. Default 1.
	Repeat int
	// Runs is how many times ingest and floor are measured; the report
	// gives medians. Default 1.
	Runs int
	// WorkerBinary is the kollektiv binary run as `kollektiv worker`.
	// Required.
	WorkerBinary string
	// WorkerLog receives the worker's log. Default: discarded.
	WorkerLog io.Writer
	// Keep leaves the bench databases in place.
	Keep bool
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// IngestReport is the outcome of Ingest. Times are medians over Runs.
type IngestReport struct {
	Runs      int   `json:"runs"`
	Repeat    int   `json:"repeat"`
	Documents int   `json:"documents"`
	Chunks    int   `json:"chunks"`
	Bytes     int64 `json:"bytes"`
	// WallSeconds runs from the submission (ingest.Service.Add) to the
	// completed event.
	WallSeconds        float64 `json:"wall_seconds"`
	DocumentsPerSecond float64 `json:"documents_per_second"`
	ChunksPerSecond    float64 `json:"chunks_per_second"`
	MBPerSecond        float64 `json:"mb_per_second"`
	// Stages are the times between the stage events' timestamps, in
	// pipeline order, the first from the submission.
	Stages []StageTime `json:"stages"`
	// WorkerPeakRSSMB is the worker process's peak resident set (VmHWM).
	WorkerPeakRSSMB float64 `json:"worker_peak_rss_mb"`
	// UnembeddedAtCompleted counts the source's chunks that were not
	// searchable when completed was seen: rows without a vector, and
	// chunks its documents were cut into that had no row yet (an
	// embedding job writes a chunk's row with its vector). Anything but 0
	// means completed came early.
	UnembeddedAtCompleted int64 `json:"unembedded_at_completed"`
	Floor                 Floor `json:"floor"`
	// Ratio is WallSeconds over Floor.TotalSeconds (target ≤ 1.5).
	Ratio float64 `json:"ratio"`
}

// StageTime is the time from one stage event to the next.
type StageTime struct {
	From    string  `json:"from"`
	To      string  `json:"to"`
	Seconds float64 `json:"seconds"`
}

// Floor is what the same work costs with nothing but the work: chunk and
// embed in one process on all cores, one COPY of the documents and one of
// the chunks into a table without its vector index, then the index built in
// bulk.
type Floor struct {
	Chunks              int     `json:"chunks"`
	ChunkEmbedSeconds   float64 `json:"chunk_embed_seconds"`
	CopyDocumentSeconds float64 `json:"copy_documents_seconds"`
	CopyChunkSeconds    float64 `json:"copy_chunks_seconds"`
	IndexSeconds        float64 `json:"index_seconds"`
	TotalSeconds        float64 `json:"total_seconds"`
}

// WriteTable writes the report as a table.
func (r *IngestReport) WriteTable(w io.Writer) error {
	mb := float64(r.Bytes) / 1e6
	t := &table{title: fmt.Sprintf("ingest: %d documents, %d chunks, %.1f MB (corpus ×%d), median of %d runs", r.Documents, r.Chunks, mb, r.Repeat, r.Runs)}
	t.add("measure", "value")
	t.add("wall time (submit → completed)", fmt.Sprintf("%.2f s", r.WallSeconds))
	t.add("documents/s", fmt.Sprintf("%.0f", r.DocumentsPerSecond))
	t.add("chunks/s", fmt.Sprintf("%.0f", r.ChunksPerSecond))
	t.add("MB/s", fmt.Sprintf("%.2f", r.MBPerSecond))
	for _, s := range r.Stages {
		t.add(fmt.Sprintf("  %s → %s", s.From, s.To), fmt.Sprintf("%.2f s", s.Seconds))
	}
	t.add("worker peak RSS", fmt.Sprintf("%.0f MB", r.WorkerPeakRSSMB))
	t.add("chunks not searchable at completed", fmt.Sprint(r.UnembeddedAtCompleted))
	t.add("floor: chunk + embed (all cores)", fmt.Sprintf("%.2f s", r.Floor.ChunkEmbedSeconds))
	t.add("floor: COPY documents", fmt.Sprintf("%.2f s", r.Floor.CopyDocumentSeconds))
	t.add("floor: COPY chunks (no vector index)", fmt.Sprintf("%.2f s", r.Floor.CopyChunkSeconds))
	t.add("floor: build vector index", fmt.Sprintf("%.2f s", r.Floor.IndexSeconds))
	t.add("floor: total", fmt.Sprintf("%.2f s (%d chunks)", r.Floor.TotalSeconds, r.Floor.Chunks))
	t.add("ratio ingest/floor", fmt.Sprintf("%.2f (target ≤ 1.5)", r.Ratio))
	return t.write(w)
}

// stageOrder is the order of the stage events of a successful ingest.
var stageOrder = []lifecycle.Stage{lifecycle.StageCreated, lifecycle.StageProcessingScheduled, lifecycle.StageChunksGenerated, lifecycle.StageSummaryGenerated, lifecycle.StageCompleted}

// Ingest ingests the corpus end to end with a `kollektiv worker` child
// process, then measures the floor of the same work, Runs times.
func Ingest(ctx context.Context, opts IngestOptions) (*IngestReport, error) {
	switch {
	case opts.Config == nil:
		return nil, errors.New("bench ingest: a Config is required")
	case opts.Corpus == "":
		return nil, errors.New("bench ingest: --corpus is required")
	case opts.WorkerBinary == "":
		return nil, errors.New("bench ingest: the worker binary is required")
	case opts.Repeat < 0:
		return nil, fmt.Errorf("bench ingest: --repeat must be positive, got %d", opts.Repeat)
	case opts.Documents < 0:
		return nil, fmt.Errorf("bench ingest: --documents must not be negative, got %d", opts.Documents)
	}
	opts.Repeat, opts.Runs = cmp.Or(opts.Repeat, 1), runs(opts.Runs)
	logger := cmp.Or(opts.Logger, slog.New(slog.DiscardHandler))

	docs, err := loadCorpus(ctx, opts.Corpus, opts.Documents, opts.Repeat)
	if err != nil {
		return nil, err
	}
	report := &IngestReport{Runs: opts.Runs, Repeat: opts.Repeat, Documents: len(docs)}
	for _, d := range docs {
		report.Bytes += int64(len(d.Content))
	}
	var (
		walls, rss, ratios               []float64
		chunkEmbed, copyDocs, copyChunks []float64
		index, floorTotal                []float64
		stages                           = map[string][]float64{}
	)
	for run := range opts.Runs {
		logger.InfoContext(ctx, "ingest run", slog.Int("run", run+1), slog.Int("documents", len(docs)))
		r, err := ingestRun(ctx, opts, docs, logger)
		if err != nil {
			return nil, err
		}
		f, err := floorRun(ctx, opts, docs, logger)
		if err != nil {
			return nil, err
		}
		report.Chunks, report.UnembeddedAtCompleted = r.Chunks, max(report.UnembeddedAtCompleted, r.UnembeddedAtCompleted)
		report.Floor.Chunks = f.Chunks
		walls, rss = append(walls, r.WallSeconds), append(rss, r.WorkerPeakRSSMB)
		ratios = append(ratios, ratio(r.WallSeconds, f.TotalSeconds))
		chunkEmbed, copyDocs = append(chunkEmbed, f.ChunkEmbedSeconds), append(copyDocs, f.CopyDocumentSeconds)
		copyChunks, index = append(copyChunks, f.CopyChunkSeconds), append(index, f.IndexSeconds)
		floorTotal = append(floorTotal, f.TotalSeconds)
		for _, s := range r.Stages {
			stages[s.To] = append(stages[s.To], s.Seconds)
		}
		if run == 0 {
			report.Stages = r.Stages
		}
	}
	report.WallSeconds, report.WorkerPeakRSSMB, report.Ratio = median(walls), median(rss), median(ratios)
	for i, s := range report.Stages {
		report.Stages[i].Seconds = median(stages[s.To])
	}
	report.DocumentsPerSecond = ratio(float64(report.Documents), report.WallSeconds)
	report.ChunksPerSecond = ratio(float64(report.Chunks), report.WallSeconds)
	report.MBPerSecond = ratio(float64(report.Bytes)/1e6, report.WallSeconds)
	report.Floor.ChunkEmbedSeconds, report.Floor.CopyDocumentSeconds = median(chunkEmbed), median(copyDocs)
	report.Floor.CopyChunkSeconds, report.Floor.IndexSeconds = median(copyChunks), median(index)
	report.Floor.TotalSeconds = median(floorTotal)
	return report, nil
}

// loadCorpus loads the corpus, keeps the first limit documents (all when
// 0), and repeats them, copy k>0 under URLs ending in "?copy=k".
func loadCorpus(ctx context.Context, dir string, limit, repeat int) ([]content.Document, error) {
	docs, _, err := content.LoadPath(ctx, dir, content.LoadOptions{})
	if err != nil {
		return nil, fmt.Errorf("error loading corpus %s: %w", dir, err)
	}
	if limit > 0 && limit < len(docs) {
		docs = docs[:limit]
	}
	if len(docs) == 0 {
		return nil, fmt.Errorf("no documents in corpus %s", dir)
	}
	out := make([]content.Document, 0, len(docs)*repeat)
	for k := range repeat {
		for _, d := range docs {
			if k > 0 {
				d.URL = fmt.Sprintf("%s?copy=%d", d.URL, k)
			}
			out = append(out, d)
		}
	}
	return out, nil
}

type ingestResult struct {
	Chunks                int
	WallSeconds           float64
	Stages                []StageTime
	WorkerPeakRSSMB       float64
	UnembeddedAtCompleted int64
}

// ingestRun ingests docs into a fresh database with a worker child process.
func ingestRun(ctx context.Context, opts IngestOptions, docs []content.Document, logger *slog.Logger) (_ *ingestResult, err error) {
	db, err := createDatabase(ctx, opts.Config.DatabaseURL, "ingest", logger)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, db.release(ctx, opts.Keep, logger)) }()
	pool, err := store.Connect(ctx, db.URL, 4)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	rc, err := river.NewClient(riverpgxv5.New(pool), app.RiverConfig(opts.Config, logger))
	if err != nil {
		return nil, fmt.Errorf("error creating River client: %w", err)
	}

	worker, err := startWorker(ctx, opts, db.URL)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, worker.stop()) }()
	if err := worker.awaitReady(ctx, pool); err != nil {
		return nil, err
	}

	svc := ingest.Service{Pool: pool, River: rc, Logger: logger}
	start := time.Now()
	added, err := svc.Add(ctx, ingest.AddParams{UserID: "bench", Kind: ingest.KindFiles, URI: opts.Corpus, Documents: docs})
	if err != nil {
		return nil, err
	}
	source := added.Source
	var wall time.Duration
	var unembedded int64
	waitCtx, cancel := context.WithTimeout(ctx, time.Hour)
	defer cancel()
	err = events.Follow(waitCtx, pool, source.ID, 0, 100*time.Millisecond, func(e events.Event) (bool, error) {
		switch e.Stage {
		case lifecycle.StageCompleted:
			wall = time.Since(start)
			// Searchable at completed means every chunk the documents were
			// cut into is stored, with its vector, now.
			return true, pool.QueryRow(ctx, `
				SELECT (SELECT count(*) FROM chunks WHERE source_id = $1 AND embedding IS NULL)
				     + greatest((SELECT coalesce(sum(chunk_count), 0) FROM documents WHERE source_id = $1 AND status <> 'failed')
				                - (SELECT count(*) FROM chunks WHERE source_id = $1), 0)`, source.ID).Scan(&unembedded)
		case lifecycle.StageFailed:
			return true, fmt.Errorf("ingest failed: %s", e.Payload)
		}
		return false, worker.exited()
	})
	if err != nil {
		return nil, fmt.Errorf("error following the ingest: %w (worker log: %s)", err, worker.logTail())
	}
	rssMB := worker.peakRSSMB()
	if source, err = store.New(pool).GetSourceByID(ctx, source.ID); err != nil {
		return nil, fmt.Errorf("error reading source: %w", err)
	}
	stored, err := events.After(ctx, pool, source.ID, 0, 10000)
	if err != nil {
		return nil, err
	}
	return &ingestResult{
		Chunks: int(source.ChunkCount), WallSeconds: seconds(wall), WorkerPeakRSSMB: rssMB,
		Stages: stageTimes(start, stored), UnembeddedAtCompleted: unembedded,
	}, nil
}

// stageTimes returns the times between the stage events, from start.
func stageTimes(start time.Time, stored []events.Event) []StageTime {
	at := map[lifecycle.Stage]time.Time{}
	for _, e := range stored {
		if _, seen := at[e.Stage]; !seen {
			at[e.Stage] = e.CreatedAt
		}
	}
	var out []StageTime
	from, prev := "submit", start
	for _, stage := range stageOrder {
		t, ok := at[stage]
		if !ok {
			continue
		}
		out = append(out, StageTime{From: from, To: string(stage), Seconds: seconds(t.Sub(prev))})
		from, prev = string(stage), t
	}
	return out
}

// workerProcess is a `kollektiv worker` child process.
type workerProcess struct {
	cmd  *exec.Cmd
	log  *tailBuffer
	done chan struct{}
	// waitErr and peakKB are set when done closes.
	waitErr error
	peakKB  int64
}

func startWorker(ctx context.Context, opts IngestOptions, databaseURL string) (*workerProcess, error) {
	cmd := exec.CommandContext(context.WithoutCancel(ctx), opts.WorkerBinary, "worker")
	// Later entries win: the bench's settings, then what the bench needs.
	cmd.Env = append(append(os.Environ(), opts.Config.Environ()...),
		"DATABASE_URL="+databaseURL,
		"KOLLEKTIV_LOCAL_POSTGRES=never",
		"KOLLEKTIV_EMBEDDER=hashing",
		"KOLLEKTIV_EMBEDDING_DIMENSIONS=0",
		"KOLLEKTIV_SUMMARIZER=extractive",
		"KOLLEKTIV_METRICS_ADDR=",
		"KOLLEKTIV_WEBHOOK_URLS=",
	)
	w := &workerProcess{cmd: cmd, log: &tailBuffer{max: 8 << 10}, done: make(chan struct{})}
	cmd.Stdout = w.log
	cmd.Stderr = w.log
	if opts.WorkerLog != nil {
		cmd.Stdout = io.MultiWriter(w.log, opts.WorkerLog)
		cmd.Stderr = cmd.Stdout
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("error starting worker %s: %w", opts.WorkerBinary, err)
	}
	go func() {
		defer close(w.done)
		w.waitErr = cmd.Wait()
		if usage, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			w.peakKB = usage.Maxrss // kilobytes on Linux
		}
	}()
	return w, nil
}

// awaitReady waits for the worker's first heartbeat, which it records once
// River has started.
func (w *workerProcess) awaitReady(ctx context.Context, pool *pgxpool.Pool) error {
	deadline := time.Now().Add(time.Minute)
	q := store.New(pool)
	for {
		n, err := q.CountLiveWorkers(ctx, 60)
		if err != nil {
			return fmt.Errorf("error looking for the worker: %w", err)
		}
		if n > 0 {
			return nil
		}
		if err := w.exited(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the worker did not start within a minute: %s", w.logTail())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// exited returns an error when the worker is no longer running.
func (w *workerProcess) exited() error {
	select {
	case <-w.done:
		return fmt.Errorf("the worker exited (%w): %s", cmp.Or(w.waitErr, errors.New("exit status 0")), w.logTail())
	default:
		return nil
	}
}

// peakRSSMB reads the running worker's VmHWM, or after it exited its
// rusage's maximum resident set.
func (w *workerProcess) peakRSSMB() float64 {
	if status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", w.cmd.Process.Pid)); err == nil {
		for line := range strings.Lines(string(status)) {
			if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
				kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
				if err == nil {
					return float64(kb) / 1024
				}
			}
		}
	}
	select {
	case <-w.done:
		return float64(w.peakKB) / 1024
	default:
		return 0
	}
}

// stop interrupts the worker and waits for it to stop.
func (w *workerProcess) stop() error {
	select {
	case <-w.done:
		return nil
	default:
	}
	_ = w.cmd.Process.Signal(os.Interrupt)
	select {
	case <-w.done:
		return nil
	case <-time.After(time.Minute):
		_ = w.cmd.Process.Kill()
		<-w.done
		return fmt.Errorf("the worker did not stop within a minute of SIGINT: %s", w.logTail())
	}
}

func (w *workerProcess) logTail() string { return strings.TrimSpace(w.log.String()) }

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if over := b.buf.Len() - b.max; over > 0 {
		b.buf.Next(over)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// floorRun chunks and embeds docs on all cores, then loads them into a
// fresh database with one COPY each for documents and chunks, without the
// vector index, and builds the index in bulk.
func floorRun(ctx context.Context, opts IngestOptions, docs []content.Document, logger *slog.Logger) (_ *Floor, err error) {
	cfg := opts.Config
	chunker, err := content.NewChunker(content.ChunkerOptions{TargetTokens: cfg.ChunkTargetTokens, MaxTokens: cfg.ChunkMaxTokens})
	if err != nil {
		return nil, fmt.Errorf("error building chunker: %w", err)
	}
	embedder, err := embed.NewHashing(embed.HashingConfig{})
	if err != nil {
		return nil, err
	}
	sourceID := uuid.New()
	f := &Floor{}

	start := time.Now()
	chunkRows, err := chunkAndEmbed(ctx, chunker, embedder, sourceID, docs)
	if err != nil {
		return nil, err
	}
	f.ChunkEmbedSeconds, f.Chunks = seconds(time.Since(start)), len(chunkRows)

	db, err := createDatabase(ctx, cfg.DatabaseURL, "floor", logger)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, db.release(ctx, opts.Keep, logger)) }()
	pool, err := store.Connect(ctx, db.URL, 2)
	if err != nil {
		return nil, err
	}
	defer pool.Close()
	if _, err := lifecycle.Create(ctx, pool, store.CreateSourceParams{ID: sourceID, UserID: "bench", Kind: ingest.KindFiles, URI: opts.Corpus, Options: []byte("{}")}); err != nil {
		return nil, fmt.Errorf("error creating source: %w", err)
	}
	indexName := store.VectorIndexName(embedder.Dimensions())
	var indexDef string
	if err := pool.QueryRow(ctx, "SELECT indexdef FROM pg_indexes WHERE indexname = $1", indexName).Scan(&indexDef); err != nil {
		return nil, fmt.Errorf("error reading the definition of %s: %w", indexName, err)
	}
	if _, err := pool.Exec(ctx, "DROP INDEX "+pgx.Identifier{indexName}.Sanitize()); err != nil {
		return nil, fmt.Errorf("error dropping %s: %w", indexName, err)
	}

	docRows := make([][]any, len(docs))
	for i, d := range docs {
		hash, _ := hex.DecodeString(d.ContentHash())
		docRows[i] = []any{content.DocumentID(sourceID, d.URL), sourceID, d.URL, d.Title, d.Content, hash, string(lifecycle.DocumentEmbedded)}
	}
	start = time.Now()
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"documents"}, []string{"id", "source_id", "url", "title", "content", "content_hash", "status"}, pgx.CopyFromRows(docRows)); err != nil {
		return nil, fmt.Errorf("error copying documents: %w", err)
	}
	f.CopyDocumentSeconds = seconds(time.Since(start))

	start = time.Now()
	if _, err := pool.CopyFrom(ctx, pgx.Identifier{"chunks"}, floorChunkColumns, pgx.CopyFromRows(chunkRows)); err != nil {
		return nil, fmt.Errorf("error copying chunks: %w", err)
	}
	f.CopyChunkSeconds = seconds(time.Since(start))

	conn, err := pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("error acquiring connection: %w", err)
	}
	defer conn.Release()
	for _, set := range []string{"SET maintenance_work_mem = '1GB'", "SET max_parallel_maintenance_workers = 2"} {
		if _, err := conn.Exec(ctx, set); err != nil {
			return nil, fmt.Errorf("error setting %q: %w", set, err)
		}
	}
	start = time.Now()
	if _, err := conn.Exec(ctx, indexDef); err != nil {
		return nil, fmt.Errorf("error building %s: %w", indexName, err)
	}
	f.IndexSeconds = seconds(time.Since(start))
	f.TotalSeconds = f.ChunkEmbedSeconds + f.CopyDocumentSeconds + f.CopyChunkSeconds + f.IndexSeconds
	return f, nil
}

var floorChunkColumns = []string{"id", "document_id", "source_id", "user_id", "ordinal", "headers", "text", "token_count", "embedding", "embedding_model", "anchor", "headings"}

// chunkAndEmbed chunks and embeds docs on every core and returns the chunk
// rows, vectors included, in document order.
func chunkAndEmbed(ctx context.Context, chunker *content.Chunker, embedder *embed.Hashing, sourceID uuid.UUID, docs []content.Document) ([][]any, error) {
	perDoc := make([][][]any, len(docs))
	next := make(chan int)
	errs := make(chan error, runtime.NumCPU())
	var wg sync.WaitGroup
	for range runtime.NumCPU() {
		wg.Go(func() {
			for i := range next {
				rows, err := chunkAndEmbedOne(ctx, chunker, embedder, sourceID, docs[i])
				if err != nil {
					errs <- err
					return
				}
				perDoc[i] = rows
			}
		})
	}
feed:
	for i := range docs {
		select {
		case next <- i:
		case err := <-errs:
			close(next)
			wg.Wait()
			return nil, err
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := cmp.Or(ctx.Err(), drain(errs)); err != nil {
		return nil, err
	}
	var rows [][]any
	for _, r := range perDoc {
		rows = append(rows, r...)
	}
	return rows, nil
}

func drain(errs chan error) error {
	select {
	case err := <-errs:
		return err
	default:
		return nil
	}
}

func chunkAndEmbedOne(ctx context.Context, chunker *content.Chunker, embedder *embed.Hashing, sourceID uuid.UUID, d content.Document) ([][]any, error) {
	documentID := content.DocumentID(sourceID, d.URL)
	chunks, err := chunker.Chunk(documentID, d.Content)
	if err != nil || len(chunks) == 0 {
		return nil, nil //nolint:nilerr // the pipeline fails such a document alone; the floor skips it
	}
	texts := make([]string, len(chunks))
	for i, c := range chunks {
		texts[i] = c.EmbedText()
	}
	vectors, err := embedder.Embed(ctx, texts)
	if err != nil {
		return nil, fmt.Errorf("error embedding %s: %w", d.URL, err)
	}
	rows := make([][]any, len(chunks))
	for i, c := range chunks {
		headers, headings := c.Headers, c.Headings
		if headers == nil {
			headers = []string{}
		}
		if headings == nil {
			headings = []string{}
		}
		rows[i] = []any{c.ID, documentID, sourceID, "bench", int32(c.Ordinal), headers, c.Text, int32(c.Tokens), pgvector.NewVector(vectors[i]), embedder.Model(), c.Anchor, headings}
	}
	return rows, nil
}
