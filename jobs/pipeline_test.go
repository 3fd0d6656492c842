package jobs_test

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"
	"go.uber.org/goleak"

	"github.com/kollektiv/kollektiv/internal/content"
	"github.com/kollektiv/kollektiv/internal/dbtest"
	"github.com/kollektiv/kollektiv/internal/embed"
	"github.com/kollektiv/kollektiv/internal/events"
	"github.com/kollektiv/kollektiv/internal/ingest"
	"github.com/kollektiv/kollektiv/internal/lifecycle"
	"github.com/kollektiv/kollektiv/internal/provider"
	"github.com/kollektiv/kollektiv/internal/store"
	"github.com/kollektiv/kollektiv/internal/summarize"
	"github.com/kollektiv/kollektiv/internal/wait"
	"github.com/kollektiv/kollektiv/jobs"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type testOpts struct {
	maxWorkers  int
	maxAttempts int
	embedder    embed.Embedder
	settings    jobs.Settings
}

type testBundle struct {
	pool     *pgxpool.Pool
	client   *river.Client[pgx.Tx]
	ingest   *ingest.Service
	embedder embed.Embedder
	deps     jobs.Deps
}

// setup starts a River client with the pipeline's workers on a fresh
// database. Retries and the fan-in safety interval are short.
func setup(t *testing.T, opts testOpts) *testBundle {
	t.Helper()
	pool := dbtest.Pool(t)
	hashing, err := embed.NewHashing(embed.HashingConfig{})
	if err != nil {
		t.Fatal(err)
	}
	embedder := opts.embedder
	if embedder == nil {
		embedder = hashing
	}
	summarizer, err := summarize.NewExtractive(summarize.ExtractiveConfig{Embedder: hashing})
	if err != nil {
		t.Fatal(err)
	}
	chunker, err := content.NewChunker(content.ChunkerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	settings := opts.settings
	settings.FanInSafetyInterval = cmp.Or(settings.FanInSafetyInterval, 200*time.Millisecond)
	settings.ProgressInterval = cmp.Or(settings.ProgressInterval, time.Millisecond)
	settings.MaxAttempts = cmp.Or(settings.MaxAttempts, opts.maxAttempts, 3)
	deps := jobs.Deps{Pool: pool, Chunker: chunker, Embedder: embedder, Summarizer: summarizer, Settings: settings}
	workers := river.NewWorkers()
	if err := jobs.Register(workers, deps); err != nil {
		t.Fatal(err)
	}
	n := cmp.Or(opts.maxWorkers, 4)
	client, err := river.NewClient(riverpgxv5.New(pool), &river.Config{
		Queues: map[string]river.QueueConfig{
			jobs.QueueDefault: {MaxWorkers: n}, jobs.QueueChunking: {MaxWorkers: n}, jobs.QueueEmbedding: {MaxWorkers: n},
			jobs.QueueCrawling: {MaxWorkers: n},
		},
		Workers:           workers,
		MaxAttempts:       settings.MaxAttempts,
		RetryPolicy:       &jobs.RetryPolicy{Base: 10 * time.Millisecond, Max: 50 * time.Millisecond},
		FetchPollInterval: 20 * time.Millisecond,
		FetchCooldown:     5 * time.Millisecond,
		TestOnly:          true,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := client.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := client.Stop(stopCtx); err != nil {
			t.Errorf("error stopping client: %v", err)
		}
	})
	return &testBundle{pool: pool, client: client, ingest: &ingest.Service{Pool: pool, River: client}, embedder: embedder, deps: deps}
}

// doc prepares an inline markdown document.
func doc(t *testing.T, url, markdown string) content.Document {
	t.Helper()
	d, err := content.PrepareDocument("", url, markdown, content.PrepareOptions{})
	if err != nil {
		t.Fatalf("preparing %s: %v", url, err)
	}
	return d
}

func guide(topic string, sections int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s guide\n\n", topic)
	for i := range sections {
		fmt.Fprintf(&b, "## %s part %d\n\n", topic, i)
		for j := range 6 {
			fmt.Fprintf(&b, "The %s subsystem handles request %d of section %d with careful retries and clear errors. ", topic, j, i)
		}
		b.WriteString("\n\n```go\nfunc main() {\n\tfmt.Println(\"" + topic + "\")\n}\n```\n\n")
	}
	return b.String()
}

// waitTerminal waits until the source's current generation has published its
// terminal event and returns the source.
func waitTerminal(t *testing.T, b *testBundle, sourceID uuid.UUID) store.Source {
	t.Helper()
	var source store.Source
	wait.For(t, 90*time.Second, func() (bool, string) {
		var ok bool
		source, ok = finished(t, b, sourceID)
		return ok, fmt.Sprintf("source %s is %s, its terminal event not stored", sourceID, source.Stage)
	})
	return source
}

// stageEvents lists the stage events (not progress) of one generation, in
// id order.
func stageEvents(t *testing.T, b *testBundle, sourceID uuid.UUID, generation int32) []string {
	t.Helper()
	evs, err := events.After(context.Background(), b.pool, sourceID, 0, 100_000)
	if err != nil {
		t.Fatal(err)
	}
	var stages []string
	for _, e := range evs {
		if e.Generation == generation && e.Stage != lifecycle.StageProgress {
			stages = append(stages, string(e.Stage))
		}
	}
	return stages
}

func eventPayload(t *testing.T, b *testBundle, sourceID uuid.UUID, generation int32, stage lifecycle.Stage) map[string]any {
	t.Helper()
	evs, err := events.After(context.Background(), b.pool, sourceID, 0, 100_000)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.Generation == generation && e.Stage == stage {
			var p map[string]any
			if err := json.Unmarshal(e.Payload, &p); err != nil {
				t.Fatal(err)
			}
			return p
		}
	}
	t.Fatalf("no %s event", stage)
	return nil
}

type chunkRow struct {
	ID         uuid.UUID
	DocumentID uuid.UUID
	Text       string
	Embedded   bool
	CreatedAt  time.Time
}

func chunksOf(t *testing.T, b *testBundle, sourceID uuid.UUID) map[uuid.UUID]chunkRow {
	t.Helper()
	rows, err := b.pool.Query(context.Background(),
		"SELECT id, document_id, text, embedding IS NOT NULL, created_at FROM chunks WHERE source_id = $1", sourceID)
	if err != nil {
		t.Fatal(err)
	}
	list, err := pgx.CollectRows(rows, pgx.RowToStructByPos[chunkRow])
	if err != nil {
		t.Fatal(err)
	}
	out := map[uuid.UUID]chunkRow{}
	for _, c := range list {
		out[c.ID] = c
	}
	return out
}

// expectedChunks chunks the documents directly, as the pipeline must.
func expectedChunks(t *testing.T, b *testBundle, sourceID uuid.UUID, docs []content.Document) map[uuid.UUID]string {
	t.Helper()
	out := map[uuid.UUID]string{}
	for _, d := range docs {
		chunks, err := b.deps.Chunker.Chunk(content.DocumentID(sourceID, d.URL), d.Content)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range chunks {
			out[c.ID] = c.Text
		}
	}
	return out
}

var wantStages = []string{
	string(lifecycle.StageCreated), string(lifecycle.StageProcessingScheduled), string(lifecycle.StageChunksGenerated),
	string(lifecycle.StageSummaryGenerated), string(lifecycle.StageCompleted),
}

func TestPipelineHappyPath(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{settings: jobs.Settings{BatchDocuments: 2, EmbedBatchChunks: 3}})
	ctx := context.Background()

	docs := []content.Document{
		doc(t, "tokio.md", guide("tokio", 4)),
		doc(t, "serde.md", guide("serde", 3)),
		doc(t, "axum.md", guide("axum", 5)),
		doc(t, "rayon.md", guide("rayon", 2)),
		doc(t, "clap.md", guide("clap", 1)),
	}
	added, err := b.ingest.Add(ctx, ingest.AddParams{UserID: "alice", Kind: ingest.KindInline, Documents: docs})
	if err != nil {
		t.Fatal(err)
	}
	source := waitTerminal(t, b, added.Source.ID)

	if lifecycle.Stage(source.Stage) != lifecycle.StageCompleted || source.DocumentCount != 5 || source.FailedDocumentCount != 0 {
		t.Fatalf("source ended %+v", source)
	}
	if got := stageEvents(t, b, source.ID, 1); !equal(got, wantStages) {
		t.Fatalf("stage events %v, want each of %v once, in order", got, wantStages)
	}
	want := expectedChunks(t, b, source.ID, docs)
	got := chunksOf(t, b, source.ID)
	if len(got) != len(want) || int(source.ChunkCount) != len(want) {
		t.Fatalf("%d chunks stored (count %d), want %d", len(got), source.ChunkCount, len(want))
	}
	for id, text := range want {
		c, ok := got[id]
		if !ok || c.Text != text || !c.Embedded {
			t.Fatalf("chunk %s: stored %v, embedded %v", id, ok, c.Embedded)
		}
	}
	summary, err := store.New(b.pool).GetSummary(ctx, source.ID)
	if err != nil {
		t.Fatal(err)
	}
	if summary.Summary == "" || len(summary.Keywords) == 0 {
		t.Fatalf("empty summary %+v", summary)
	}
	// Searchable at completed: by vector and by text.
	query, err := b.embedder.Embed(ctx, []string{"axum subsystem retries"})
	if err != nil {
		t.Fatal(err)
	}
	hits, err := store.NearestChunks(ctx, b.pool, store.NearestChunksParams{UserID: "alice", Model: b.embedder.Model(), Query: vector(query[0]), Limit: 3})
	if err != nil || len(hits) == 0 {
		t.Fatalf("vector search: %d hits, %v", len(hits), err)
	}
	text, err := store.New(b.pool).SearchChunksText(ctx, store.SearchChunksTextParams{Query: "rayon", UserID: "alice", MaxRows: 10})
	if err != nil || len(text) == 0 {
		t.Fatalf("text search: %d hits, %v", len(text), err)
	}
	var docStatuses []string
	rows, _ := b.pool.Query(ctx, "SELECT DISTINCT status FROM documents WHERE source_id = $1", source.ID)
	docStatuses, _ = pgx.CollectRows(rows, pgx.RowTo[string])
	if !equal(docStatuses, []string{"embedded"}) {
		t.Fatalf("document statuses %v, want all embedded", docStatuses)
	}
	assertNoJobLeft(t, b)
}

// assertNoJobLeft checks that no job is running or waiting.
func assertNoJobLeft(t *testing.T, b *testBundle) {
	t.Helper()
	var left int
	if err := b.pool.QueryRow(context.Background(),
		"SELECT count(*) FROM river_job WHERE state NOT IN ('completed', 'cancelled', 'discarded')").Scan(&left); err != nil {
		t.Fatal(err)
	}
	if left != 0 {
		t.Fatalf("%d jobs left unfinished", left)
	}
}

func TestPipelineBadDocumentAmongGoodOnes(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{})
	ctx := context.Background()

	good := []content.Document{doc(t, "a.md", guide("alpha", 2)), doc(t, "b.md", guide("beta", 2))}
	// Empty after cleaning: the chunker refuses it, and only it.
	bad := content.Document{URL: "empty.md", Title: "Empty", Content: "   \n\n  "}
	added, err := b.ingest.Add(ctx, ingest.AddParams{UserID: "alice", Kind: ingest.KindInline, Documents: append(good, bad),
		Problems: []*content.DocumentError{{URL: "photo.md", Reason: "binary content", Err: content.ErrBinary}}})
	if err != nil {
		t.Fatal(err)
	}
	source := waitTerminal(t, b, added.Source.ID)
	if lifecycle.Stage(source.Stage) != lifecycle.StageCompleted || source.DocumentCount != 4 || source.FailedDocumentCount != 2 {
		t.Fatalf("source ended %+v, want completed with 2 of 4 documents failed", source)
	}
	failed := eventPayload(t, b, source.ID, 1, lifecycle.StageCompleted)["failed"].([]any)
	urls := []string{}
	for _, f := range failed {
		m := f.(map[string]any)
		if m["error"] == "" {
			t.Errorf("failed document %v has no reason", m)
		}
		urls = append(urls, m["url"].(string))
	}
	if !equal(urls, []string{"empty.md", "photo.md"}) {
		t.Fatalf("completed event names failed documents %v", urls)
	}
	if got, want := len(chunksOf(t, b, source.ID)), len(expectedChunks(t, b, source.ID, good)); got != want {
		t.Fatalf("%d chunks, want %d from the good documents", got, want)
	}
}

// flakyEmbedder fails every text containing marker, transiently unless
// permanent is set (a rejected key, say).
type flakyEmbedder struct {
	embed.Embedder
	marker    string
	permanent bool
	calls     atomic.Int64
}

func (f *flakyEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	f.calls.Add(1)
	for _, text := range texts {
		if strings.Contains(text, f.marker) {
			if f.permanent {
				return nil, &provider.Error{Provider: "openai", Op: "embeddings", StatusCode: 401, Permanent: true,
					Message: "the API key was rejected (401 Unauthorized); check the configured key"}
			}
			return nil, errors.New("connection reset by peer")
		}
	}
	return f.Embedder.Embed(ctx, texts)
}

func TestPipelineDiscardedBatchFailsSource(t *testing.T) {
	t.Parallel()
	hashing, _ := embed.NewHashing(embed.HashingConfig{})
	flaky := &flakyEmbedder{Embedder: hashing, marker: "poison"}
	b := setup(t, testOpts{embedder: flaky, maxAttempts: 2, settings: jobs.Settings{BatchDocuments: 1, EmbedBatchChunks: 1000}})
	ctx := context.Background()

	docs := []content.Document{
		doc(t, "fine.md", guide("fine", 2)),
		doc(t, "poisoned.md", guide("poison", 2)),
		doc(t, "also-fine.md", guide("other", 1)),
	}
	added, err := b.ingest.Add(ctx, ingest.AddParams{UserID: "alice", Kind: ingest.KindInline, Documents: docs})
	if err != nil {
		t.Fatal(err)
	}
	source := waitTerminal(t, b, added.Source.ID)
	if lifecycle.Stage(source.Stage) != lifecycle.StageFailed || source.Error == nil || !strings.Contains(*source.Error, "connection reset") {
		t.Fatalf("source ended %+v, want failed with the embedding error", source)
	}
	payload := eventPayload(t, b, source.ID, 1, lifecycle.StageFailed)
	failed := payload["failed_documents"].([]any)
	if len(failed) != 1 || failed[0].(map[string]any)["url"] != "poisoned.md" {
		t.Fatalf("failed event names %v, want poisoned.md only", failed)
	}
	if got := stageEvents(t, b, source.ID, 1); !equal(got, []string{string(lifecycle.StageCreated), string(lifecycle.StageProcessingScheduled), string(lifecycle.StageFailed)}) {
		t.Fatalf("stage events %v", got)
	}
	for _, c := range chunksOf(t, b, source.ID) {
		if !c.Embedded {
			t.Fatal("a chunk without a vector was left behind")
		}
	}
	var discarded int
	_ = b.pool.QueryRow(ctx, "SELECT count(*) FROM river_job WHERE kind = 'persist_chunks' AND state = 'discarded'").Scan(&discarded)
	if discarded != 1 {
		t.Fatalf("%d persist_chunks jobs discarded, want 1", discarded)
	}
}

func TestPipelinePermanentEmbeddingErrorFailsFast(t *testing.T) {
	t.Parallel()
	hashing, _ := embed.NewHashing(embed.HashingConfig{})
	// Every text fails: the key is wrong.
	flaky := &flakyEmbedder{Embedder: hashing, marker: "", permanent: true}
	b := setup(t, testOpts{embedder: flaky, maxAttempts: 10})
	ctx := context.Background()

	added, err := b.ingest.Add(ctx, ingest.AddParams{UserID: "alice", Kind: ingest.KindInline,
		Documents: []content.Document{doc(t, "a.md", guide("alpha", 2)), doc(t, "b.md", guide("beta", 2))}})
	if err != nil {
		t.Fatal(err)
	}
	source := waitTerminal(t, b, added.Source.ID)
	if lifecycle.Stage(source.Stage) != lifecycle.StageFailed || !strings.Contains(*source.Error, "API key was rejected") {
		t.Fatalf("source ended %+v, want failed saying the key was rejected", source)
	}
	// Permanent: each embedding job tried once, never retried.
	var jobsRun int
	_ = b.pool.QueryRow(ctx, "SELECT count(*) FROM river_job WHERE kind = 'persist_chunks'").Scan(&jobsRun)
	if calls := flaky.calls.Load(); calls != int64(jobsRun) {
		t.Fatalf("embedder called %d times for %d jobs: a permanent error was retried", calls, jobsRun)
	}
	if n := len(chunksOf(t, b, source.ID)); n != 0 {
		t.Fatalf("%d chunks of failed documents left", n)
	}
}

func TestPipelineReingest(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{})
	ctx := context.Background()

	v1 := []content.Document{
		doc(t, "unchanged.md", guide("stable", 2)),
		doc(t, "changed.md", guide("before", 2)),
		doc(t, "removed.md", guide("gone", 2)),
	}
	first, err := b.ingest.Add(ctx, ingest.AddParams{UserID: "alice", Kind: ingest.KindFiles, URI: "/docs", Documents: v1})
	if err != nil {
		t.Fatal(err)
	}
	source := waitTerminal(t, b, first.Source.ID)
	before := chunksOf(t, b, source.ID)

	v2 := []content.Document{v1[0], doc(t, "changed.md", guide("after", 3))}
	second, err := b.ingest.Add(ctx, ingest.AddParams{UserID: "alice", Kind: ingest.KindFiles, URI: "/docs", Documents: v2})
	if err != nil {
		t.Fatal(err)
	}
	if !second.Refreshed || second.Source.ID != source.ID || second.Source.Generation != 2 {
		t.Fatalf("second ingest: %+v, want a refresh of the same source", second)
	}
	source = waitTerminal(t, b, source.ID)
	if lifecycle.Stage(source.Stage) != lifecycle.StageCompleted || source.DocumentCount != 2 {
		t.Fatalf("after refresh %+v", source)
	}
	if got := stageEvents(t, b, source.ID, 2); !equal(got, wantStages) {
		t.Fatalf("refresh stage events %v", got)
	}
	after := chunksOf(t, b, source.ID)
	want := expectedChunks(t, b, source.ID, v2)
	if len(after) != len(want) {
		t.Fatalf("%d chunks after refresh, want %d (no orphans)", len(after), len(want))
	}
	unchangedID := content.DocumentID(source.ID, "unchanged.md")
	for id, c := range after {
		if _, ok := want[id]; !ok || !c.Embedded {
			t.Fatalf("unexpected or unembedded chunk %s", id)
		}
		if c.DocumentID == unchangedID && !before[id].CreatedAt.Equal(c.CreatedAt) {
			t.Fatal("an unchanged document's chunks were rewritten")
		}
	}
	// The unchanged document was not even scheduled.
	if scheduled := eventPayload(t, b, source.ID, 2, lifecycle.StageProcessingScheduled)["documents"]; scheduled != float64(1) {
		t.Fatalf("refresh scheduled %v documents, want 1 (the changed one)", scheduled)
	}

	// A refresh while the source runs is refused.
	if _, err := b.ingest.Add(ctx, ingest.AddParams{UserID: "alice", Kind: ingest.KindFiles, URI: "/docs", Documents: v2}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ingest.Add(ctx, ingest.AddParams{UserID: "alice", Kind: ingest.KindFiles, URI: "/docs", Documents: v2}); !errors.Is(err, lifecycle.ErrBusy) {
		t.Fatalf("refresh of a running source: %v, want ErrSourceBusy", err)
	}
	waitTerminal(t, b, source.ID)
}

// TestPipelineOneWorkerPerQueue shows the pipeline cannot deadlock: with a
// single worker on every queue, a source with many more batches than
// workers completes, since no job waits on another.
func TestPipelineOneWorkerPerQueue(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{maxWorkers: 1, settings: jobs.Settings{BatchDocuments: 1, EmbedBatchChunks: 2}})
	var docs []content.Document
	for i := range 12 {
		docs = append(docs, doc(t, fmt.Sprintf("d%02d.md", i), guide(fmt.Sprintf("topic%d", i), 2)))
	}
	added, err := b.ingest.Add(context.Background(), ingest.AddParams{UserID: "alice", Kind: ingest.KindInline, Documents: docs})
	if err != nil {
		t.Fatal(err)
	}
	if source := waitTerminal(t, b, added.Source.ID); lifecycle.Stage(source.Stage) != lifecycle.StageCompleted {
		t.Fatalf("source ended %s", source.Stage)
	}
}

func TestArgsValidation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args interface{ Validate() error }
		want string
	}{
		{jobs.ProcessDocumentsArgs{}, "source_id: must be set"},
		{jobs.ChunkDocumentsBatchArgs{SourceGeneration: jobs.SourceGeneration{SourceID: uuid.New(), Generation: 1}}, "document_ids: want 1 to"},
		{jobs.PersistChunksArgs{SourceGeneration: jobs.SourceGeneration{SourceID: uuid.New()}}, "generation: must be at least 1"},
		{jobs.PersistChunksArgs{SourceGeneration: jobs.SourceGeneration{SourceID: uuid.New(), Generation: 1}}, "chunks or chunk_ids: want 1 to"},
		{jobs.PersistChunksArgs{SourceGeneration: jobs.SourceGeneration{SourceID: uuid.New(), Generation: 1},
			Chunks: []jobs.PersistChunk{{ID: uuid.New(), DocumentID: uuid.New()}}, ChunkIDs: []uuid.UUID{uuid.New()}}, "want one of them"},
		{jobs.PersistChunksArgs{SourceGeneration: jobs.SourceGeneration{SourceID: uuid.New(), Generation: 1},
			Chunks: []jobs.PersistChunk{{ID: uuid.New()}}}, "chunks[0]: id and document_id must be set"},
		{jobs.PublishEventArgs{SourceID: uuid.New(), Generation: 1, Stage: "exploded", Key: "k"}, `stage: "exploded" is not a known stage`},
	} {
		err := tc.args.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%T: got %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}

// TestInvalidArgsAreCancelledNotRetried inserts a job whose args do not
// validate: it must be cancelled at its first attempt, naming the field.
func TestInvalidArgsAreCancelledNotRetried(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{maxAttempts: 5})
	ctx := context.Background()
	res, err := b.client.Insert(ctx, jobs.PersistChunksArgs{SourceGeneration: jobs.SourceGeneration{SourceID: uuid.New(), Generation: 1}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var job *rivertype.JobRow
	wait.For(t, 30*time.Second, func() (bool, string) {
		if job, err = b.client.JobGet(ctx, res.Job.ID); err != nil {
			t.Fatal(err)
		}
		return job.State == rivertype.JobStateCancelled, fmt.Sprintf("job is %s, want cancelled", job.State)
	})
	if job.Attempt != 1 || len(job.Errors) != 1 || !strings.Contains(job.Errors[0].Error, "chunk_ids") {
		t.Fatalf("cancelled after %d attempts with errors %+v", job.Attempt, job.Errors)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestReingestAfterEmbedderSwitch: unchanged documents whose vectors came
// from another model are embedded again when their source is ingested
// again, so vector search (which filters on the model) still sees them.
func TestReingestAfterEmbedderSwitch(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{})
	ctx := context.Background()
	docs := []content.Document{doc(t, "a.md", guide("alpha", 2)), doc(t, "b.md", guide("beta", 2))}
	first, err := b.ingest.Add(ctx, ingest.AddParams{UserID: "alice", Kind: ingest.KindFiles, URI: "/switch", Documents: docs})
	if err != nil {
		t.Fatal(err)
	}
	waitTerminal(t, b, first.Source.ID)
	// As if an earlier deployment had used another embedder.
	if _, err := b.pool.Exec(ctx, "UPDATE chunks SET embedding_model = 'old-model'"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.ingest.Add(ctx, ingest.AddParams{UserID: "alice", Kind: ingest.KindFiles, URI: "/switch", Documents: docs}); err != nil {
		t.Fatal(err)
	}
	source := waitTerminal(t, b, first.Source.ID)
	if scheduled := eventPayload(t, b, source.ID, 2, lifecycle.StageProcessingScheduled)["documents"]; scheduled != float64(2) {
		t.Fatalf("%v documents scheduled, want both (their vectors are of another model)", scheduled)
	}
	var stale int
	if err := b.pool.QueryRow(ctx, "SELECT count(*) FROM chunks WHERE embedding_model IS DISTINCT FROM $1", b.embedder.Model()).Scan(&stale); err != nil || stale != 0 {
		t.Fatalf("%d chunks still of another model (%v)", stale, err)
	}
}
