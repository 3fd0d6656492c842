package jobs_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/kollektiv/kollektiv/internal/content"
	"github.com/kollektiv/kollektiv/internal/ingest"
	"github.com/kollektiv/kollektiv/internal/lifecycle"
	"github.com/kollektiv/kollektiv/internal/store"
	"github.com/kollektiv/kollektiv/internal/wait"
	"github.com/kollektiv/kollektiv/jobs"
)

// noteChunkWrites records every row written to chunks from now on in
// chunk_writes (operation, chunk id, whether the row has a vector), with a
// row trigger that COPY fires too.
func noteChunkWrites(t *testing.T, b *testBundle) {
	t.Helper()
	if _, err := b.pool.Exec(context.Background(), `
		CREATE TABLE chunk_writes (op text NOT NULL, id uuid NOT NULL, embedded boolean);
		CREATE FUNCTION note_chunk_write() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF TG_OP = 'DELETE' THEN
				INSERT INTO chunk_writes VALUES (TG_OP, OLD.id, NULL);
			ELSE
				INSERT INTO chunk_writes VALUES (TG_OP, NEW.id, NEW.embedding IS NOT NULL);
			END IF;
			RETURN NULL;
		END $$;
		CREATE TRIGGER chunks_note_writes AFTER INSERT OR UPDATE OR DELETE ON chunks
			FOR EACH ROW EXECUTE FUNCTION note_chunk_write();`); err != nil {
		t.Fatal(err)
	}
}

// chunkWrites counts the writes noted by noteChunkWrites of the given
// chunks: inserts of a row with its vector, and any other write.
func chunkWrites(t *testing.T, b *testBundle, ids []uuid.UUID) (embeddedInserts, other int) {
	t.Helper()
	if err := b.pool.QueryRow(context.Background(), `
		SELECT count(*) FILTER (WHERE op = 'INSERT' AND embedded), count(*) FILTER (WHERE NOT (op = 'INSERT' AND embedded))
		FROM chunk_writes WHERE id = ANY($1)`, ids).Scan(&embeddedInserts, &other); err != nil {
		t.Fatal(err)
	}
	return embeddedInserts, other
}

func keys[V any](m map[uuid.UUID]V) []uuid.UUID {
	out := make([]uuid.UUID, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestPipelineWritesEachChunkOnce: every chunk row of an ingest is
// inserted once, with its vector, and never updated or deleted; a refresh
// writes the changed document's new chunks the same way and deletes its
// old ones, and leaves the unchanged document's alone.
func TestPipelineWritesEachChunkOnce(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{settings: jobs.Settings{BatchDocuments: 2, EmbedBatchChunks: 3}})
	ctx := context.Background()
	noteChunkWrites(t, b)

	v1 := []content.Document{
		doc(t, "tokio.md", guide("tokio", 4)), doc(t, "serde.md", guide("serde", 3)), doc(t, "axum.md", guide("axum", 5)),
	}
	added, err := b.ingest.Add(ctx, ingest.AddParams{UserID: "alice", Kind: ingest.KindFiles, URI: "/once", Documents: v1})
	if err != nil {
		t.Fatal(err)
	}
	source := waitTerminal(t, b, added.Source.ID)
	if lifecycle.StageOf(source) != lifecycle.StageCompleted {
		t.Fatalf("source ended %+v", source)
	}
	first := chunksOf(t, b, source.ID)
	if want := expectedChunks(t, b, source.ID, v1); len(first) != len(want) {
		t.Fatalf("%d chunks stored, want %d", len(first), len(want))
	}
	inserted, other := chunkWrites(t, b, keys(first))
	if inserted != len(first) || other != 0 {
		t.Fatalf("%d chunks: %d inserted with their vector, %d other writes; want each inserted once, complete", len(first), inserted, other)
	}

	v2 := []content.Document{v1[0], v1[1], doc(t, "axum.md", guide("axum-next", 4))}
	if _, err := b.ingest.Add(ctx, ingest.AddParams{UserID: "alice", Kind: ingest.KindFiles, URI: "/once", Documents: v2}); err != nil {
		t.Fatal(err)
	}
	if source = waitTerminal(t, b, source.ID); lifecycle.StageOf(source) != lifecycle.StageCompleted || source.Generation != 2 {
		t.Fatalf("refresh ended %+v", source)
	}
	second := chunksOf(t, b, source.ID)
	if want := expectedChunks(t, b, source.ID, v2); len(second) != len(want) {
		t.Fatalf("%d chunks after the refresh, want %d", len(second), len(want))
	}
	var renewed []uuid.UUID
	for id := range second {
		if _, ok := first[id]; !ok {
			renewed = append(renewed, id)
		}
	}
	if inserted, other := chunkWrites(t, b, renewed); len(renewed) == 0 || inserted != len(renewed) || other != 0 {
		t.Fatalf("refresh: %d new chunks, %d inserted with their vector, %d other writes", len(renewed), inserted, other)
	}
	var kept, removed []uuid.UUID
	for id := range first {
		if _, ok := second[id]; ok {
			kept = append(kept, id)
		} else {
			removed = append(removed, id)
		}
	}
	if inserted, other := chunkWrites(t, b, kept); inserted != len(kept) || other != 0 {
		t.Fatalf("refresh rewrote unchanged chunks: %d inserts, %d other writes for %d chunks", inserted, other, len(kept))
	}
	var deletes int
	if err := b.pool.QueryRow(ctx, "SELECT count(*) FROM chunk_writes WHERE op = 'DELETE' AND id = ANY($1)", removed).Scan(&deletes); err != nil {
		t.Fatal(err)
	}
	if len(removed) == 0 || deletes != len(removed) {
		t.Fatalf("refresh: %d old chunks, %d deleted", len(removed), deletes)
	}
}

// stagedSource is a source left by hand as process_documents and the
// chunking jobs leave one: its documents chunked, its completion check
// scheduled, batchJobs embedding jobs to come.
type stagedSource struct {
	gen    jobs.SourceGeneration
	chunks []jobs.PersistChunk
}

func stageSource(t *testing.T, b *testBundle, batchJobs int, docs ...content.Document) stagedSource {
	t.Helper()
	ctx := context.Background()
	q := store.New(b.pool)
	source, err := q.CreateSource(ctx, store.CreateSourceParams{ID: uuid.New(), UserID: "alice", Kind: ingest.KindInline, Options: []byte("{}")})
	if err != nil {
		t.Fatal(err)
	}
	staged := stagedSource{gen: jobs.SourceGeneration{SourceID: source.ID, Generation: source.Generation}}
	for _, d := range docs {
		id := content.DocumentID(source.ID, d.URL)
		hash := sha256.Sum256([]byte(d.Content))
		var upsertErr error
		q.UpsertDocument(ctx, []store.UpsertDocumentParams{{
			ID: id, SourceID: source.ID, URL: d.URL, Title: d.Title, Content: d.Content, ContentHash: hash[:], Metadata: []byte("{}"),
		}}).Exec(func(_ int, err error) { upsertErr = err })
		if upsertErr != nil {
			t.Fatal(upsertErr)
		}
		cut, err := b.deps.Chunker.Chunk(id, d.Content)
		if err != nil {
			t.Fatal(err)
		}
		var statusErr error
		q.SetDocumentStatus(ctx, []store.SetDocumentStatusParams{{ID: id, Status: string(lifecycle.DocumentChunked), ChunkCount: int32(len(cut))}}).
			Exec(func(_ int, err error) { statusErr = err })
		if statusErr != nil {
			t.Fatal(statusErr)
		}
		for _, c := range cut {
			staged.chunks = append(staged.chunks, jobs.PersistChunk{
				ID: c.ID, DocumentID: id, Ordinal: int32(c.Ordinal), Headers: c.Headers, Headings: c.Headings, Anchor: c.Anchor,
				Text: c.Text, TokenCount: int32(c.Tokens),
			})
		}
	}
	// The embedding jobs, inserted without a shard, all count in shard 0.
	if _, ok, err := lifecycle.ScheduleProcessing(ctx, b.pool, store.ScheduleSourceProcessingParams{
		ID: source.ID, Generation: source.Generation, DocumentsScheduled: int32(len(docs)),
	}); err != nil || !ok {
		t.Fatalf("scheduling processing: %v, %v", ok, err)
	}
	if err := q.InsertFanInShards(ctx, store.InsertFanInShardsParams{
		SourceID: source.ID, Generation: source.Generation, Unfinished: []int32{int32(batchJobs)},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := b.client.Insert(ctx, jobs.CheckChunkingCompleteArgs{SourceGeneration: staged.gen},
		&river.InsertOpts{ScheduledAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	return staged
}

// waitJobs waits until the jobs are all finished and fails unless they
// completed.
func waitJobs(t *testing.T, b *testBundle, ids ...int64) {
	t.Helper()
	for _, id := range ids {
		var job *rivertype.JobRow
		wait.For(t, 60*time.Second, func() (bool, string) {
			var err error
			if job, err = b.client.JobGet(context.Background(), id); err != nil {
				t.Fatal(err)
			}
			return job.FinalizedAt != nil, fmt.Sprintf("job %d is %s", id, job.State)
		})
		if job.State != rivertype.JobStateCompleted {
			t.Fatalf("job %d ended %s: %+v", id, job.State, job.Errors)
		}
	}
}

// TestPersistChunksRewritesItsChunks runs an embedding job's args twice, as
// a retry after a commit would, over a row left under one of its ids with
// other text and no vector: each chunk ends stored once, with the job's
// text and a vector, and the source completes.
func TestPersistChunksRewritesItsChunks(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{})
	ctx := context.Background()
	staged := stageSource(t, b, 2, doc(t, "a.md", guide("alpha", 2)), doc(t, "b.md", guide("beta", 1)))
	source, err := store.New(b.pool).GetSourceByID(ctx, staged.gen.SourceID)
	if err != nil {
		t.Fatal(err)
	}
	stale := store.ChunkRow{ID: staged.chunks[0].ID, DocumentID: staged.chunks[0].DocumentID, Text: "stale text"}
	tx, err := b.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.CopyChunks(ctx, tx, source, "", []store.ChunkRow{stale}); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}

	args := jobs.PersistChunksArgs{SourceGeneration: staged.gen, Chunks: staged.chunks}
	firstJob, err := b.client.Insert(ctx, args, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitJobs(t, b, firstJob.Job.ID)
	again, err := b.client.Insert(ctx, args, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitJobs(t, b, again.Job.ID)
	if done := waitTerminal(t, b, staged.gen.SourceID); lifecycle.StageOf(done) != lifecycle.StageCompleted {
		t.Fatalf("source ended %+v", done)
	}

	var rows, distinct, embedded int
	if err := b.pool.QueryRow(ctx, "SELECT count(*), count(DISTINCT id), count(embedding) FROM chunks WHERE source_id = $1",
		staged.gen.SourceID).Scan(&rows, &distinct, &embedded); err != nil {
		t.Fatal(err)
	}
	if rows != len(staged.chunks) || distinct != rows || embedded != rows {
		t.Fatalf("%d rows (%d ids, %d with a vector) for %d chunks", rows, distinct, embedded, len(staged.chunks))
	}
	got := chunksOf(t, b, staged.gen.SourceID)
	for _, c := range staged.chunks {
		if got[c.ID].Text != c.Text {
			t.Fatalf("chunk %s holds %q, want the job's text", c.ID, got[c.ID].Text)
		}
	}
}

// TestPersistChunksSkipsRemovedDocuments: a chunk whose document is gone
// is not written (its foreign key would fail the job forever); the others
// are, and the job completes. A job whose source was deleted writes
// nothing and completes.
func TestPersistChunksSkipsRemovedDocuments(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{})
	ctx := context.Background()
	staged := stageSource(t, b, 1, doc(t, "kept.md", guide("kept", 1)), doc(t, "gone.md", guide("gone", 1)))
	gone := content.DocumentID(staged.gen.SourceID, "gone.md")
	if _, err := b.pool.Exec(ctx, "DELETE FROM documents WHERE id = $1", gone); err != nil {
		t.Fatal(err)
	}
	res, err := b.client.Insert(ctx, jobs.PersistChunksArgs{SourceGeneration: staged.gen, Chunks: staged.chunks}, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitJobs(t, b, res.Job.ID)
	want := 0
	for _, c := range staged.chunks {
		if c.DocumentID != gone {
			want++
		}
	}
	got := chunksOf(t, b, staged.gen.SourceID)
	for _, c := range got {
		if c.DocumentID == gone || !c.Embedded {
			t.Fatalf("chunk %s of document %s written (embedded %v)", c.ID, c.DocumentID, c.Embedded)
		}
	}
	if len(got) != want || want == 0 {
		t.Fatalf("%d chunks written, want %d", len(got), want)
	}

	deleted := stageSource(t, b, 1, doc(t, "a.md", guide("alpha", 1)))
	if _, err := b.pool.Exec(ctx, "DELETE FROM sources WHERE id = $1", deleted.gen.SourceID); err != nil {
		t.Fatal(err)
	}
	res, err = b.client.Insert(ctx, jobs.PersistChunksArgs{SourceGeneration: deleted.gen, Chunks: deleted.chunks}, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitJobs(t, b, res.Job.ID)
	var left int
	if err := b.pool.QueryRow(ctx, "SELECT count(*) FROM chunks WHERE source_id = $1", deleted.gen.SourceID).Scan(&left); err != nil || left != 0 {
		t.Fatalf("%d chunks of a deleted source (%v)", left, err)
	}
}

// TestPersistChunksQueuedByOlderBinary: an embedding job of the shape an
// older binary queued (chunk_ids only, its chunking job having written the
// rows without vectors) gives those rows their vectors, and the source
// completes.
func TestPersistChunksQueuedByOlderBinary(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{})
	ctx := context.Background()
	staged := stageSource(t, b, 1, doc(t, "a.md", guide("alpha", 2)), doc(t, "b.md", guide("beta", 2)))
	source, err := store.New(b.pool).GetSourceByID(ctx, staged.gen.SourceID)
	if err != nil {
		t.Fatal(err)
	}
	rows := make([]store.ChunkRow, len(staged.chunks))
	ids := make([]uuid.UUID, len(staged.chunks))
	for i, c := range staged.chunks {
		rows[i] = store.ChunkRow{ID: c.ID, DocumentID: c.DocumentID, Ordinal: c.Ordinal, Headers: c.Headers, Text: c.Text, TokenCount: c.TokenCount}
		ids[i] = c.ID
	}
	tx, err := b.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.CopyChunks(ctx, tx, source, "", rows); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	// Without chunks, the args marshal as an older binary's did:
	// {"source_id", "generation", "chunk_ids"}.
	res, err := b.client.Insert(ctx, jobs.PersistChunksArgs{SourceGeneration: staged.gen, ChunkIDs: ids}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(res.Job.EncodedArgs), `"chunks"`) {
		t.Fatalf("args %s carry chunks", res.Job.EncodedArgs)
	}
	waitJobs(t, b, res.Job.ID)
	if done := waitTerminal(t, b, staged.gen.SourceID); lifecycle.StageOf(done) != lifecycle.StageCompleted || int(done.ChunkCount) != len(ids) {
		t.Fatalf("source ended %+v, want completed with %d chunks", done, len(ids))
	}
	for id, c := range chunksOf(t, b, staged.gen.SourceID) {
		if !c.Embedded {
			t.Fatalf("chunk %s has no vector", id)
		}
	}
}
