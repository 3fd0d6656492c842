package jobs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"

	"github.com/kollektiv/kollektiv/internal/lifecycle"
	"github.com/kollektiv/kollektiv/internal/store"
)

// maxFanInShards bounds the fan-in shards of a generation: enough for
// every worker of a queue to commit beside the others, few enough that
// counting off the shards on the source row stays rare.
const maxFanInShards = 64

// FanInShards is the number of fan-in shards of a generation of batches
// chunking jobs.
func FanInShards(batches int) int { return min(batches, maxFanInShards) }

// FanInShard is the shard of the i-th of a generation's batches chunking
// jobs. Consecutive batches, which River fetches together, get different
// shards.
func FanInShard(i, batches int) int32 { return int32(i % max(FanInShards(batches), 1)) }

// StartFanIn creates in tx the fan-in shards of generation gen, whose
// batches chunking jobs process_documents inserts in the same transaction,
// the i-th in shard FanInShard(i, batches), sets the source's count of
// shards with unfinished jobs to all of them, and drops the shards of the
// source's earlier generations. Run it after
// store.ScheduleSourceProcessing. Exported, with the Committer, for `kollektiv
// bench queue`.
func StartFanIn(ctx context.Context, tx pgx.Tx, gen SourceGeneration, batches int) error {
	unfinished := make([]int32, FanInShards(batches))
	for i := range batches {
		unfinished[FanInShard(i, batches)]++
	}
	if err := store.New(tx).InsertFanInShards(ctx, store.InsertFanInShardsParams{
		SourceID: gen.SourceID, Generation: gen.Generation, Unfinished: unfinished,
	}); err != nil {
		return fmt.Errorf("error creating fan-in shards: %w", err)
	}
	return nil
}

// BatchJobWork is what a batch job's transaction adds to its generation's
// counters.
type BatchJobWork struct {
	// Shard is the job's fan-in shard, from its args; jobs inserted by an
	// older version, without one, are in shard 0.
	Shard int32
	// Inserted is the number of batch jobs the job inserted in the same
	// transaction, all in its shard.
	Inserted int
	// Documents, ChunksWritten and ChunksEmbedded are the job's progress.
	Documents, ChunksWritten, ChunksEmbedded int
}

// FanInResult is what the fan-in of a job's transaction did.
type FanInResult struct {
	// Woken is true when the job was the generation's last and woke the
	// completion check.
	Woken bool
}

// fanIn is the end of the transaction of batch jobs: it completes the
// jobs, adds their work to their generations' counters and, for a
// generation whose last batch job is among them, wakes the
// waiting check_chunking_complete job. At most every ProgressInterval, it
// sends a generation's progress event with the counters. It notifies
// queues, those of the jobs the transaction inserted.
//
// The counters are spread over the generation's fan-in shards
// (source_fan_in_shards), so that jobs of different shards, committing at
// once, update different rows instead of taking turns on the source's.
// process_documents gives each chunking job a shard (StartFanIn) and sets
// each shard's count of unfinished batch jobs; a chunking job's embedding
// jobs inherit its shard. A transaction adds to each of its jobs' shards,
// under the shard row's lock, minus its jobs plus the jobs they inserted:
// transactions of one shard take turns, and exactly one of them brings it
// to zero. A shard at zero stays there, since its jobs' follow-ups are
// counted in it before their parent is counted off, so the transaction
// that empties it counts it off the source's fan_in_shards_unfinished
// under the source row's lock, which is taken only once per shard; the one
// that brings that to zero ends the generation's last batch job and wakes
// the check. That costs the same for the thousandth batch of a source as
// for the first, where counting the jobs themselves would grow with the
// source. A job that ends without running its code (discarded after its
// last attempt, cancelled) never brings its shard to zero: the check's own
// count, on its safety interval, notices it.
//
// The progress counters are the shards' sum. Whether a progress event is
// due is read from the source row without its lock; only then does the
// transaction try to claim it, skipping the row if another transaction
// holds it.
func (m *Committer) fanIn(ctx context.Context, tx pgx.Tx, batch []*commitRequest, queues []string) error {
	type shardKey struct {
		gen   SourceGeneration
		shard int32
	}
	type shardWork struct{ delta, documents, written, embedded int32 }
	sums := map[shardKey]*shardWork{}
	var keys []shardKey
	first := map[SourceGeneration]*commitRequest{} // reports what the generation's fan-in did
	ids := make([]int64, len(batch))
	for i, r := range batch {
		ids[i] = r.Job.ID
		key := shardKey{r.Gen, r.Work.Shard}
		sum := sums[key]
		if sum == nil {
			sum = &shardWork{}
			sums[key] = sum
			keys = append(keys, key)
		}
		sum.delta += int32(r.Work.Inserted + len(r.Insert) - 1)
		sum.documents += int32(r.Work.Documents)
		sum.written += int32(r.Work.ChunksWritten)
		sum.embedded += int32(r.Work.ChunksEmbedded)
		if first[r.Gen] == nil {
			first[r.Gen] = r
		}
	}
	params := store.AddFanInShardsParams{ThrottleSeconds: m.cfg.ProgressInterval.Seconds()}
	for _, key := range keys {
		sum := sums[key]
		params.SourceIds = append(params.SourceIds, key.gen.SourceID)
		params.Generations = append(params.Generations, key.gen.Generation)
		params.Shards = append(params.Shards, key.shard)
		params.Deltas = append(params.Deltas, sum.delta)
		params.Documents = append(params.Documents, sum.documents)
		params.ChunksWritten = append(params.ChunksWritten, sum.written)
		params.ChunksEmbedded = append(params.ChunksEmbedded, sum.embedded)
	}
	// River notifies a queue of inserted jobs at most once per fetch
	// cooldown of the client, so a job inserted just after another can sit
	// until its queue's poll (1s) if the fetch the first woke ran before it
	// committed: at the end of a source's chunking, its last embedding jobs.
	// So each shared transaction notifies the queues it inserted into
	// (queues).
	notRunning, shards, err := store.EndBatchJobs(ctx, tx, ids, params, queues)
	if err != nil {
		return err
	}
	// JobCompleteTx's check: a job that is no longer running was taken
	// back (the rescuer, after a stall) and its new attempt does the work
	// again, so this one must write nothing.
	if len(notRunning) > 0 {
		return fmt.Errorf("job %d is %s, no longer ours: rolling back", notRunning[0].ID, notRunning[0].State)
	}
	q := store.New(tx)
	// Rows of a deleted source, or one moved on, are missing: nothing to
	// do for those.
	emptied := map[SourceGeneration]int32{}
	due := map[SourceGeneration]bool{}
	for _, s := range shards {
		gen := SourceGeneration{SourceID: s.SourceID, Generation: s.Generation}
		if s.BatchJobsUnfinished <= 0 {
			emptied[gen]++
		}
		if s.ProgressDue {
			due[gen] = true
		}
	}
	for _, gen := range sortedGenerations(due) {
		if err := m.sendProgress(ctx, tx, gen, first[gen]); err != nil {
			return err
		}
	}
	// Sources in a fixed order, for the same reason as the shards.
	for _, gen := range sortedGenerations(emptied) {
		left, err := q.FinishFanInShards(ctx, store.FinishFanInShardsParams{ID: gen.SourceID, Generation: gen.Generation, Shards: emptied[gen]})
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		if err != nil {
			return fmt.Errorf("error counting off fan-in shards: %w", err)
		}
		if left > 0 {
			continue
		}
		if err := wakeCheck(ctx, first[gen].rc, tx, gen); err != nil {
			return err
		}
		first[gen].result.Woken = true
		m.cfg.Logger.DebugContext(ctx, "last batch job: completion check woken", slog.String("source_id", gen.SourceID.String()))
	}
	return nil
}

// sendProgress claims gen's progress event and, when it got it, sends it
// with the counters, named after the job r.
func (m *Committer) sendProgress(ctx context.Context, tx pgx.Tx, gen SourceGeneration, r *commitRequest) error {
	progress, err := store.New(tx).ClaimProgressEvent(ctx, store.ClaimProgressEventParams{
		ID: gen.SourceID, Generation: gen.Generation, ThrottleSeconds: m.cfg.ProgressInterval.Seconds(),
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return nil // another transaction sends it
	}
	if err != nil {
		return fmt.Errorf("error claiming a progress event: %w", err)
	}
	return ScheduleEvent(ctx, r.rc, tx, gen.SourceID, gen.Generation, lifecycle.StageProgress,
		fmt.Sprintf("%d:progress:%d", gen.Generation, r.Job.ID), map[string]any{
			"documents_processed": progress.DocumentsProcessed,
			"documents_total":     progress.DocumentsScheduled,
			"chunks_written":      progress.ChunksWritten,
			"chunks_embedded":     progress.ChunksEmbedded,
		})
}

// wakeCheck makes gen's waiting check_chunking_complete job available now.
func wakeCheck(ctx context.Context, rc *river.Client[pgx.Tx], tx pgx.Tx, gen SourceGeneration) error {
	checkID, err := store.WaitingCheckJob(ctx, tx, string(lifecycle.KindCheckChunkingComplete), gen.SourceID, gen.Generation)
	if err != nil {
		return err
	}
	if checkID == 0 {
		// Already running or finished: it ran its own count.
		return nil
	}
	if _, err := rc.JobRetryTx(ctx, tx, checkID); err != nil {
		return fmt.Errorf("error waking completion check: %w", err)
	}
	return store.NotifyJobsAvailable(ctx, tx, QueueDefault)
}

// sortedGenerations returns the keys of m ordered by source and
// generation.
func sortedGenerations[V any](m map[SourceGeneration]V) []SourceGeneration {
	gens := slices.Collect(maps.Keys(m))
	slices.SortFunc(gens, func(a, b SourceGeneration) int {
		return cmp.Or(slices.Compare(a.SourceID[:], b.SourceID[:]), cmp.Compare(a.Generation, b.Generation))
	})
	return gens
}
