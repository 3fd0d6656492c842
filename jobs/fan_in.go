package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

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
// store.ScheduleSourceProcessing. Exported, with FanIn, for `kollektiv
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

// FanInResult is what FanIn did.
type FanInResult struct {
	// Woken is true when the job was the generation's last and woke the
	// completion check.
	Woken bool
	// Progress is set when the job is the one to send a progress event,
	// with the counters to report: the last was sent longer than the
	// progress interval ago.
	Progress *store.ClaimProgressEventRow
}

// completeAndFanIn completes a batch job in tx, runs FanIn for it and sends
// the progress event it claims.
func completeAndFanIn[T river.JobArgs](ctx context.Context, p *pipeline, rc *river.Client[pgx.Tx], tx pgx.Tx, job *river.Job[T], gen SourceGeneration, work BatchJobWork) (FanInResult, error) {
	if err := completeTx(ctx, tx, job); err != nil {
		return FanInResult{}, err
	}
	fanIn, err := FanIn(ctx, rc, tx, gen, work, p.Settings.ProgressInterval)
	if err != nil {
		return fanIn, err
	}
	if fanIn.Woken {
		p.Logger.DebugContext(ctx, "last batch job: completion check woken", slog.String("source_id", gen.SourceID.String()))
	}
	if fanIn.Progress == nil {
		return fanIn, nil
	}
	return fanIn, ScheduleEvent(ctx, rc, tx, gen.SourceID, gen.Generation, lifecycle.StageProgress,
		fmt.Sprintf("%d:progress:%d", gen.Generation, job.ID), map[string]any{
			"documents_processed": fanIn.Progress.DocumentsProcessed,
			"documents_total":     fanIn.Progress.DocumentsScheduled,
			"chunks_written":      fanIn.Progress.ChunksWritten,
			"chunks_embedded":     fanIn.Progress.ChunksEmbedded,
		})
}

// FanIn is the end of a batch job's transaction tx, after the job completed
// itself in it: it adds the job's work to its generation's counters and,
// when the job is the last of its generation, wakes the waiting
// check_chunking_complete job. At most every progressInterval, it claims
// the generation's progress event for the job (the caller sends it).
// Exported for `kollektiv bench queue`, whose pipeline-shaped jobs run it
// as the pipeline does.
//
// The counters are spread over the generation's fan-in shards
// (source_fan_in_shards), so that jobs of different shards, committing at
// once, update different rows instead of taking turns on the source's.
// process_documents gives each chunking job a shard (StartFanIn) and sets
// each shard's count of unfinished batch jobs; a chunking job's embedding
// jobs inherit its shard. A job adds to its shard, under the shard row's
// lock, minus itself plus the jobs it inserted: jobs of one shard take
// turns, and exactly one of them brings it to zero. A shard at zero stays
// there, since its jobs' follow-ups are counted in it before their parent
// is counted off, so the job that empties it counts it off the source's
// fan_in_shards_unfinished under the source row's lock, which is taken
// only once per shard; the one that brings that to zero is the last batch
// job of the generation and wakes the check. That costs the same for the
// thousandth batch of a source as for the first, where counting the jobs
// themselves would grow with the source. A job that ends without running
// its code (discarded after its last attempt, cancelled) never brings its
// shard to zero: the check's own count, on its safety interval, notices it.
//
// The progress counters are the shards' sum. Whether a progress event is
// due is read from the source row without its lock; only then does the
// job try to claim it, skipping the row if another transaction holds it.
func FanIn(ctx context.Context, rc *river.Client[pgx.Tx], tx pgx.Tx, gen SourceGeneration, work BatchJobWork, progressInterval time.Duration) (FanInResult, error) {
	var result FanInResult
	q := store.New(tx)
	shard, err := q.AddFanInShard(ctx, store.AddFanInShardParams{
		SourceID: gen.SourceID, Generation: gen.Generation, Shard: work.Shard, Delta: int32(work.Inserted - 1),
		Documents: int32(work.Documents), ChunksWritten: int32(work.ChunksWritten), ChunksEmbedded: int32(work.ChunksEmbedded),
		ThrottleSeconds: progressInterval.Seconds(),
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return result, nil // the source was deleted or moved on
	}
	if err != nil {
		return result, fmt.Errorf("error counting unfinished batch jobs: %w", err)
	}
	if shard.ProgressDue {
		progress, err := q.ClaimProgressEvent(ctx, store.ClaimProgressEventParams{
			ID: gen.SourceID, Generation: gen.Generation, ThrottleSeconds: progressInterval.Seconds(),
		})
		switch {
		case err == nil:
			result.Progress = &progress
		case !errors.Is(err, pgx.ErrNoRows): // no row: another job sends it
			return result, fmt.Errorf("error claiming a progress event: %w", err)
		}
	}
	if shard.BatchJobsUnfinished > 0 {
		return result, nil
	}
	shards, err := q.FinishFanInShard(ctx, store.FinishFanInShardParams{ID: gen.SourceID, Generation: gen.Generation})
	if errors.Is(err, pgx.ErrNoRows) {
		return result, nil
	}
	if err != nil {
		return result, fmt.Errorf("error counting off a fan-in shard: %w", err)
	}
	if shards > 0 {
		return result, nil
	}
	checkID, err := store.WaitingCheckJob(ctx, tx, string(lifecycle.KindCheckChunkingComplete), gen.SourceID, gen.Generation)
	if err != nil {
		return result, err
	}
	if checkID == 0 {
		// Already running or finished: it ran its own count.
		return result, nil
	}
	if _, err := rc.JobRetryTx(ctx, tx, checkID); err != nil {
		return result, fmt.Errorf("error waking completion check: %w", err)
	}
	if err := store.NotifyJobsAvailable(ctx, tx, QueueDefault); err != nil {
		return result, err
	}
	result.Woken = true
	return result, nil
}
