package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kollektiv/kollektiv/internal/dbtest"
	. "github.com/kollektiv/kollektiv/internal/store"
)

// TestUserQueuedDocuments checks what the fair share counts as a user's
// queued work: the documents not yet chunked of their sources in
// processing, and nothing of other users or of sources past processing.
func TestUserQueuedDocuments(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pool := dbtest.Pool(t)
	q := New(pool)
	source := func(user string, scheduled, processed int32, stage string) {
		t.Helper()
		s, err := q.CreateSource(ctx, CreateSourceParams{ID: uuid.New(), UserID: user, Kind: "inline", Options: []byte("{}")})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := q.ScheduleSourceProcessing(ctx, ScheduleSourceProcessingParams{ID: s.ID, Generation: s.Generation, DocumentsScheduled: scheduled}); err != nil {
			t.Fatal(err)
		}
		// The documents processed are counted in two fan-in shards.
		if err := q.InsertFanInShards(ctx, InsertFanInShardsParams{SourceID: s.ID, Generation: s.Generation, Unfinished: []int32{1, 1}}); err != nil {
			t.Fatal(err)
		}
		if _, err := q.AddFanInShards(ctx, AddFanInShardsParams{
			SourceIds: []uuid.UUID{s.ID, s.ID}, Generations: []int32{s.Generation, s.Generation}, Shards: []int32{0, 1},
			Deltas: []int32{0, 0}, Documents: []int32{processed / 2, processed - processed/2}, ChunksWritten: []int32{0, 0}, ChunksEmbedded: []int32{0, 0},
			ThrottleSeconds: 1,
		}); err != nil {
			t.Fatal(err)
		}
		if stage != "processing_scheduled" {
			// Straight to the stage under test: the transitions that lead
			// there are internal/lifecycle's, tested there.
			if _, err := pool.Exec(ctx, "UPDATE sources SET stage = $2 WHERE id = $1", s.ID, stage); err != nil {
				t.Fatal(err)
			}
		}
	}
	source("alice", 500, 120, "processing_scheduled")
	source("alice", 40, 0, "processing_scheduled")
	source("alice", 900, 100, "chunks_generated") // chunked: embedding and summary left
	source("alice", 700, 0, "failed")
	source("bob", 60, 10, "processing_scheduled")
	if _, err := q.CreateSource(ctx, CreateSourceParams{ID: uuid.New(), UserID: "alice", Kind: "inline", Options: []byte("{}")}); err != nil {
		t.Fatal(err) // created, not scheduled yet: nothing counted
	}

	for user, want := range map[string]int32{"alice": 380 + 40, "bob": 50, "carol": 0} {
		got, err := q.UserQueuedDocuments(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s: %d queued documents, want %d", user, got, want)
		}
	}
}
