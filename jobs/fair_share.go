package jobs

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/kollektiv/kollektiv/internal/store"
)

// Per-user fair share of the chunking and embedding queues.
//
// River fetches a queue's available jobs by (priority, scheduled_at, id),
// so without priorities the queues are FIFO: a user who submits a source of
// 10,000 documents puts 200 chunking jobs ahead of every source submitted
// after it, by anyone. To keep that from starving other users, a batch job's
// priority (River's 1, highest, to 4) says how much of its own user's work
// is queued ahead of it:
//
//	priority = 1 + min(3, queued / FairShareDocuments)
//
// where queued counts the documents of the user's sources in processing
// that are not chunked yet (sources.documents_scheduled minus
// documents_processed, kept by every job's transaction), plus the documents
// of the same source in the batches before this one. A user's first
// FairShareDocuments queued documents run at priority 1, the next at 2, the
// next at 3, and the rest of a long backlog at 4. Another user's new
// source, with nothing queued, goes in at priority 1 and overtakes the long
// tail of the first; a user who queues much waits behind their own work,
// not others'.
//
// persist_chunks jobs inherit their batch's priority, so the embedding
// queue keeps the same order. Orchestration and event jobs (process_documents,
// check_chunking_complete, generate_summary, publish_event) stay at priority
// 1: they are small and a user waits on them.
//
// Two sources of one user being scheduled at once would each miss the
// other's documents, so the scheduling of a user's sources takes a
// transaction lock per user (store.TryLockUserQueue) before counting. It
// does not wait for it: a process_documents job that finds the lock taken
// snoozes for a moment (no attempt used) instead of holding a worker slot
// of the default queue while another of the user's sources, possibly a
// large one, is being scheduled.
//
// What it does not do: jobs of the same priority are still taken in order
// of insertion, so two users who both have long backlogs share the
// priority 4 level first come, first served; the order is fixed when a job
// is inserted, not re-balanced as queues drain; and the unit of share is a
// document, not its size or its chunks. A per-user order within a level
// cannot ride on scheduled_at: River inserts any job given a ScheduledAt,
// even a past one, as scheduled, made available only by the leader's
// scheduler seconds later.

// userQueueBusySnooze is how long a process_documents job waits, at
// most, for another of its user's sources to be scheduled.
const userQueueBusySnooze = 250 * time.Millisecond

// userQueuedDocuments locks the user's queue until tx ends and returns how
// many of their documents are queued for chunking. When another
// transaction holds the lock it returns a river.JobSnooze error.
func userQueuedDocuments(ctx context.Context, q *store.Queries, userID string) (int, error) {
	locked, err := q.TryLockUserQueue(ctx, userID)
	if err != nil {
		return 0, fmt.Errorf("error locking user's queue: %w", err)
	}
	if !locked {
		// Jitter, so that a user's many sources do not retry in step.
		return 0, river.JobSnooze(userQueueBusySnooze/2 + rand.N(userQueueBusySnooze/2)) //nolint:gosec // jitter needs no cryptographic randomness
	}
	queued, err := q.UserQueuedDocuments(ctx, userID)
	if err != nil {
		return 0, fmt.Errorf("error counting user's queued documents: %w", err)
	}
	return int(queued), nil
}

// fairSharePriority is the River priority of a batch job with queued
// documents of its user ahead of it.
func fairSharePriority(queued, shareDocuments int) int {
	return 1 + min(3, queued/max(shareDocuments, 1))
}

// batchInsertOpts are the insert options of a chunk_documents_batch job
// with queued documents of its user ahead of it.
func (p *pipeline) batchInsertOpts(queued int) *river.InsertOpts {
	return &river.InsertOpts{Priority: fairSharePriority(queued, p.Settings.FairShareDocuments)}
}

// inheritedInsertOpts are the insert options of a job that follows job
// (persist_chunks after its batch): the same priority.
func inheritedInsertOpts(job *rivertype.JobRow) *river.InsertOpts {
	return &river.InsertOpts{Priority: job.Priority}
}
