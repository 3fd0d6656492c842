package jobs_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/google/uuid"

	"github.com/kollektiv/kollektiv/internal/content"
	"github.com/kollektiv/kollektiv/internal/events"
	"github.com/kollektiv/kollektiv/internal/ingest"
	"github.com/kollektiv/kollektiv/internal/lifecycle"
	"github.com/kollektiv/kollektiv/internal/search"
	"github.com/kollektiv/kollektiv/internal/store"
	"github.com/kollektiv/kollektiv/jobs"
)

// TestPipelineBulkIndex ingests a large and a small source of one user
// side by side. The large one's vectors must stay out of the shared index
// and be searchable through an index of its own, built by the time of its
// completed event; the small one's go into the shared index as before. A
// search without a source filter finds both by vector; deleting the large
// source drops its index.
func TestPipelineBulkIndex(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{settings: jobs.Settings{BulkIndexMinBytes: 20_000}})
	ctx := context.Background()

	var large []content.Document
	for i := range 12 {
		large = append(large, doc(t, "https://docs.example/large/"+string(rune('a'+i)), guide("storage"+string(rune('a'+i)), 6)))
	}
	small := []content.Document{doc(t, "https://docs.example/small", guide("network", 2))}
	add := func(docs []content.Document) uuid.UUID {
		added, err := b.ingest.Add(ctx, ingest.AddParams{UserID: "alice", Kind: ingest.KindInline, Documents: docs})
		if err != nil {
			t.Fatal(err)
		}
		return added.Source.ID
	}
	largeID, smallID := add(large), add(small)
	for _, id := range []uuid.UUID{largeID, smallID} {
		if source := waitTerminal(t, b, id); source.Stage != string(lifecycle.StageCompleted) {
			t.Fatalf("source %s ended %s: %v", id, source.Stage, source.Error)
		}
	}

	// The large source said when its index build began, with every chunk
	// embedded by then, before chunks_generated; the small one never did.
	for id, wantBulk := range map[uuid.UUID]bool{largeID: true, smallID: false} {
		evs, err := events.After(ctx, b.pool, id, 0, 100_000)
		if err != nil {
			t.Fatal(err)
		}
		building, at := 0, -1
		for i, e := range evs {
			var p struct {
				BuildingIndex bool `json:"building_index"`
				Written       int  `json:"chunks_written"`
				Embedded      int  `json:"chunks_embedded"`
			}
			_ = json.Unmarshal(e.Payload, &p)
			if e.Stage == lifecycle.StageProgress && p.BuildingIndex {
				building++
				at = i
				if p.Written == 0 || p.Embedded != p.Written {
					t.Errorf("source %s: building_index event with chunks %d embedded of %d", id, p.Embedded, p.Written)
				}
			}
			if e.Stage == lifecycle.StageChunksGenerated && at < 0 && wantBulk {
				t.Errorf("source %s: chunks_generated before the building_index event", id)
			}
		}
		if want := map[bool]int{true: 1, false: 0}[wantBulk]; building != want {
			t.Errorf("source %s: %d building_index events, want %d", id, building, want)
		}
	}

	q := store.New(b.pool)
	for id, wantBulk := range map[uuid.UUID]bool{largeID: true, smallID: false} {
		source, err := q.GetSourceByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if source.BulkIndex != wantBulk {
			t.Errorf("source %s: bulk_index %v, want %v", id, source.BulkIndex, wantBulk)
		}
		var rows, flagged, embedded int
		if err := b.pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE bulk_index), count(embedding)
			FROM chunks WHERE source_id = $1`, id).Scan(&rows, &flagged, &embedded); err != nil {
			t.Fatal(err)
		}
		if want := len(expectedChunks(t, b, id, map[uuid.UUID][]content.Document{largeID: large, smallID: small}[id])); rows != want || embedded != want {
			t.Errorf("source %s: %d chunks, %d embedded, want %d", id, rows, embedded, want)
		}
		if wantBulk && flagged != rows || !wantBulk && flagged != 0 {
			t.Errorf("source %s: %d of %d chunks marked bulk_index, want bulk %v", id, flagged, rows, wantBulk)
		}
	}

	// The large source's index exists, is valid, holds its rows, and is
	// registered for search; the small source has none.
	dims := b.embedder.Dimensions()
	indexName := store.SourceVectorIndexName(largeID, dims)
	var valid bool
	if err := b.pool.QueryRow(ctx, `SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = $1`, indexName).Scan(&valid); err != nil || !valid {
		t.Fatalf("index %s: valid %v, err %v", indexName, valid, err)
	}
	registered, err := q.ListSourceVectorIndexes(ctx, store.ListSourceVectorIndexesParams{UserID: "alice", Dims: int32(dims)})
	if err != nil {
		t.Fatal(err)
	}
	if len(registered) != 1 || registered[0] != (store.ListSourceVectorIndexesRow{SourceID: largeID, Halfvec: true}) {
		t.Fatalf("registered bulk indexes %v, want only %s", registered, largeID)
	}

	// The vector half of a search reaches both sources, each through its
	// index.
	vectorHits := func(query string, sources ...uuid.UUID) map[uuid.UUID]int {
		result, err := search.New(b.pool, b.embedder).Search(ctx, search.Query{UserID: "alice", Text: query, K: 50, SourceIDs: sources})
		if err != nil {
			t.Fatal(err)
		}
		bySource := map[uuid.UUID]int{}
		for _, h := range result.Hits {
			if h.VectorRank > 0 {
				bySource[h.SourceID]++
			}
		}
		return bySource
	}
	if got := vectorHits("storage subsystem retries network"); got[largeID] == 0 || got[smallID] == 0 {
		t.Fatalf("vector hits by source %v: want hits from both the large and the small source", got)
	}
	if got := vectorHits("storage subsystem retries", largeID); got[largeID] == 0 || len(got) != 1 {
		t.Fatalf("vector hits by source %v within the large source", got)
	}
	// Deleting the source drops its index.
	if err := b.ingest.Delete(ctx, "alice", largeID); err != nil {
		t.Fatal(err)
	}
	var exists bool
	if err := b.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_class WHERE relname = $1)", indexName).Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Fatalf("index %s survived its source's deletion", indexName)
	}
}

// TestPipelineBulkIndexUpgrade starts from a bulk-indexed source whose own
// index was built before indexes cast to halfvec (vector cast, old name,
// registered so). Search must find the source through it, and the source's
// next ingest must build its halfvec index, register it and drop the old
// one.
func TestPipelineBulkIndexUpgrade(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{settings: jobs.Settings{BulkIndexMinBytes: 20_000}})
	ctx := context.Background()

	var docs []content.Document
	for i := range 12 {
		docs = append(docs, doc(t, "large/"+string(rune('a'+i))+".md", guide("storage"+string(rune('a'+i)), 6)))
	}
	ingestDocs := func() uuid.UUID {
		added, err := b.ingest.Add(ctx, ingest.AddParams{UserID: "alice", Kind: ingest.KindFiles, URI: "/large", Documents: docs})
		if err != nil {
			t.Fatal(err)
		}
		if source := waitTerminal(t, b, added.Source.ID); source.Stage != string(lifecycle.StageCompleted) {
			t.Fatalf("source %s ended %s: %v", added.Source.ID, source.Stage, source.Error)
		}
		return added.Source.ID
	}
	id := ingestDocs()
	dims := b.embedder.Dimensions()
	name := store.SourceVectorIndexName(id, dims)
	legacy := fmt.Sprintf("chunks_src_%s_%d_idx", hex.EncodeToString(id[:]), dims)
	for _, stmt := range []string{
		"DROP INDEX " + name,
		fmt.Sprintf("CREATE INDEX %s ON chunks USING hnsw ((embedding::vector(%d)) vector_cosine_ops) WHERE source_id = '%s'::uuid AND bulk_index AND vector_dims(embedding) = %d",
			legacy, dims, id, dims),
		fmt.Sprintf("UPDATE source_vector_indexes SET index_name = '%s', halfvec = false WHERE source_id = '%s'", legacy, id),
	} {
		if _, err := b.pool.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	exists := func(index string) bool {
		var ok bool
		if err := b.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_class WHERE relname = $1)", index).Scan(&ok); err != nil {
			t.Fatal(err)
		}
		return ok
	}
	vectorHits := func() int {
		result, err := search.New(b.pool, b.embedder).Search(ctx, search.Query{UserID: "alice", Text: "storage subsystem retries", K: 20, Mode: search.ModeVector})
		if err != nil {
			t.Fatal(err)
		}
		return len(result.Hits)
	}
	if hits := vectorHits(); hits != 20 {
		t.Fatalf("through the old index: %d vector hits, want 20", hits)
	}

	// A changed document makes the next ingest a new generation.
	docs[0] = doc(t, "large/a.md", guide("storagechanged", 6))
	if again := ingestDocs(); again != id {
		t.Fatalf("the second ingest made source %s, want a refresh of %s", again, id)
	}
	if !exists(name) || exists(legacy) {
		t.Fatalf("after the next ingest: %s exists %v, %s exists %v; want the new index only", name, exists(name), legacy, exists(legacy))
	}
	registered, err := store.New(b.pool).ListSourceVectorIndexes(ctx, store.ListSourceVectorIndexesParams{UserID: "alice", Dims: int32(dims)})
	if err != nil {
		t.Fatal(err)
	}
	if len(registered) != 1 || registered[0] != (store.ListSourceVectorIndexesRow{SourceID: id, Halfvec: true}) {
		t.Fatalf("registered bulk indexes %+v, want the source's halfvec index", registered)
	}
	if hits := vectorHits(); hits != 20 {
		t.Fatalf("through the new index: %d vector hits, want 20", hits)
	}
}
