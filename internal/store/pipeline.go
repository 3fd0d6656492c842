package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/pgvector/pgvector-go"
)

// This file holds the SQL that sqlc cannot check: queries over River's own
// tables (not part of db/migrations) and COPY. The job kinds they look for
// are internal/lifecycle's; callers pass them in, so that store needs no
// import of the package that names them.

// generationArgs is the part of a job's args that names its source and run;
// `args @> ...` over it uses River's GIN index on river_job.args.
func generationArgs(sourceID uuid.UUID, generation int32) string {
	b, _ := json.Marshal(struct {
		SourceID   uuid.UUID `json:"source_id"`
		Generation int32     `json:"generation"`
	}{sourceID, generation})
	return string(b)
}

// BatchJobCounts counts a source generation's chunking and embedding jobs
// by how they ended.
type BatchJobCounts struct {
	// Unfinished jobs may still run: available, pending, retryable,
	// running or scheduled.
	Unfinished int
	// Completed jobs, unless River already deleted them after their
	// retention period (which is why the fan-in counts unfinished jobs).
	Completed int
	// Failed jobs were discarded after their last attempt or cancelled.
	Failed int
	// FirstError is the last error of one failed job, for the message.
	FirstError string
}

// CountBatchJobs counts the jobs of the given kinds (the chunking and
// embedding jobs) of one source generation by state.
func CountBatchJobs(ctx context.Context, db DBTX, kinds []string, sourceID uuid.UUID, generation int32) (BatchJobCounts, error) {
	var c BatchJobCounts
	var firstError *string
	err := db.QueryRow(ctx, `
		SELECT count(*) FILTER (WHERE state IN ('available', 'pending', 'retryable', 'running', 'scheduled')),
		       count(*) FILTER (WHERE state = 'completed'),
		       count(*) FILTER (WHERE state IN ('discarded', 'cancelled')),
		       (array_agg(errors[array_length(errors, 1)]->>'error' ORDER BY id)
		            FILTER (WHERE state IN ('discarded', 'cancelled')))[1]
		FROM river_job
		WHERE kind = ANY($1::text[]) AND args @> $2::jsonb`,
		kinds, generationArgs(sourceID, generation),
	).Scan(&c.Unfinished, &c.Completed, &c.Failed, &firstError)
	if err != nil {
		return c, fmt.Errorf("error counting batch jobs: %w", err)
	}
	if firstError != nil {
		c.FirstError = *firstError
	}
	return c, nil
}

// WaitingCheckJob returns the id of the generation's job of kind (the
// completion check) while it is waiting (scheduled, pending or retryable),
// or 0.
func WaitingCheckJob(ctx context.Context, db DBTX, kind string, sourceID uuid.UUID, generation int32) (int64, error) {
	var id int64
	err := db.QueryRow(ctx, `
		SELECT id FROM river_job
		WHERE kind = $1 AND args @> $2::jsonb AND state IN ('scheduled', 'pending', 'retryable')
		ORDER BY id LIMIT 1`,
		kind, generationArgs(sourceID, generation),
	).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("error finding check job: %w", err)
	}
	return id, nil
}

// JobState is a River job's id and state.
type JobState struct {
	ID    int64
	State string
}

// completeRunningJobs completes the jobs $1 that are running and returns
// the others with their state. The rows are found by their ids alone:
// "state::text" keeps the planner off River's fetching index, whose
// entries for state running include one for every job that ran since the
// last vacuum. Before an analyze, or soon after a busy minute, the
// statistics say few jobs run, and a plan that read that index (alone, or
// ANDed with the primary key) read ~16,000 entries a call: 1.6 ms, the
// pipeline's costliest statement in `bench queue --batches 8000`.
const completeRunningJobs = `
	WITH completed AS (
		UPDATE river_job SET state = 'completed', finalized_at = clock_timestamp()
		WHERE id = ANY($1::bigint[]) AND state::text = 'running'
		RETURNING id)
	SELECT t.id, coalesce(j.state::text, 'deleted')
	FROM unnest($1::bigint[]) AS t(id)
	LEFT JOIN river_job j ON j.id = t.id
	WHERE t.id NOT IN (SELECT id FROM completed)`

// EndBatchJobs ends the transaction of batch jobs in one round trip: it
// completes the jobs ids that are running, as river.JobCompleteTx
// completes one (state completed, finalized now; River has no stable API
// for many), and adds their work to their fan-in shards (AddFanInShards).
// notRunning are the jobs it did not complete, with their state
// ("deleted" when gone): their attempt was taken back (the rescuer, after
// a stall) or cancelled, and the caller must roll back. notify are the
// queues the transaction inserted jobs into: each gets River's insert
// notification (NotifyJobsAvailable), in the same round trip.
func EndBatchJobs(ctx context.Context, tx pgx.Tx, ids []int64, fanIn AddFanInShardsParams, notify []string) (notRunning []JobState, shards []AddFanInShardsRow, err error) {
	batch := &pgx.Batch{}
	batch.Queue(completeRunningJobs, ids)
	// The arguments in the order of the generated AddFanInShards.
	batch.Queue(addFanInShards, fanIn.ThrottleSeconds, fanIn.SourceIds, fanIn.Generations, fanIn.Shards,
		fanIn.Deltas, fanIn.Documents, fanIn.ChunksWritten, fanIn.ChunksEmbedded)
	if len(notify) > 0 {
		payloads := make([]string, len(notify))
		for i, queue := range notify {
			payloads[i] = insertNotification(queue)
		}
		batch.Queue(notifyInsert+" FROM unnest($1::text[]) AS p(payload)", payloads)
	}
	results := tx.SendBatch(ctx, batch)
	defer func() {
		// Close repeats the error of a failed statement; report it once.
		if closeErr := results.Close(); err == nil && closeErr != nil {
			notRunning, shards, err = nil, nil, fmt.Errorf("error ending batch jobs: %w", closeErr)
		}
	}()
	rows, err := results.Query()
	if err == nil {
		notRunning, err = pgx.CollectRows(rows, pgx.RowToStructByPos[JobState])
	}
	if err != nil {
		return nil, nil, fmt.Errorf("error completing jobs: %w", err)
	}
	rows, err = results.Query()
	if err == nil {
		shards, err = pgx.CollectRows(rows, pgx.RowToStructByPos[AddFanInShardsRow])
	}
	if err != nil {
		return nil, nil, fmt.Errorf("error counting unfinished batch jobs: %w", err)
	}
	if len(notify) > 0 {
		if _, err := results.Exec(); err != nil {
			return nil, nil, fmt.Errorf("error notifying queues %v: %w", notify, err)
		}
	}
	return notRunning, shards, nil
}

// EarlierEventsPending reports whether event jobs (of kind) of the source
// inserted before jobID have not finished, so a stage event can wait for
// the events that precede it.
func EarlierEventsPending(ctx context.Context, db DBTX, kind string, sourceID uuid.UUID, jobID int64) (bool, error) {
	var pending bool
	err := db.QueryRow(ctx, `
		SELECT EXISTS (
			SELECT 1 FROM river_job
			WHERE kind = $1 AND id < $2 AND args @> $3::jsonb
			  AND NOT args ? 'webhook_url'
			  AND state IN ('available', 'pending', 'retryable', 'running', 'scheduled'))`,
		kind, jobID, fmt.Sprintf(`{"source_id": %q}`, sourceID),
	).Scan(&pending)
	if err != nil {
		return false, fmt.Errorf("error looking for earlier events: %w", err)
	}
	return pending, nil
}

// CancelSourceJobs cancels every unfinished job of a source (for deletion).
func CancelSourceJobs(ctx context.Context, db DBTX, sourceID uuid.UUID) (int64, error) {
	tag, err := db.Exec(ctx, `
		UPDATE river_job SET state = 'cancelled', finalized_at = now()
		WHERE args @> $1::jsonb AND state IN ('available', 'pending', 'retryable', 'scheduled')`,
		fmt.Sprintf(`{"source_id": %q}`, sourceID))
	if err != nil {
		return 0, fmt.Errorf("error cancelling jobs: %w", err)
	}
	return tag.RowsAffected(), nil
}

// ChunkRow is one chunk row as the pipeline writes it.
type ChunkRow struct {
	ID         uuid.UUID
	DocumentID uuid.UUID
	Ordinal    int32
	Headers    []string
	Text       string
	TokenCount int32
	Anchor     string   // the URL fragment of the chunk's first section
	Headings   []string // the other headings inside the chunk
	// Language is the document's ISO 639-1 code, '' when undetermined; it
	// picks the chunk's text search configuration.
	Language string
	// Embedding is the chunk's vector, by the model given to CopyChunks;
	// nil writes the row without one.
	Embedding *pgvector.Vector
}

// CopyChunks writes chunk rows of one source with COPY, with their vectors
// by model, marked for the source's bulk-built vector index when it has
// one.
func CopyChunks(ctx context.Context, tx pgx.Tx, source Source, model string, rows []ChunkRow) (int64, error) {
	// pgtype.UUID, as CopyDocuments sends them: a uuid.UUID costs a
	// failed binary encode and a text round trip each.
	sourceID := pgtype.UUID{Bytes: source.ID, Valid: true}
	n, err := tx.CopyFrom(ctx, pgx.Identifier{"chunks"},
		[]string{"id", "document_id", "source_id", "user_id", "ordinal", "headers", "text", "token_count", "bulk_index", "anchor", "headings", "language",
			"embedding", "embedding_model"},
		pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
			r := rows[i]
			headers := r.Headers
			if headers == nil {
				headers = []string{} // a chunk above the first heading
			}
			headings := r.Headings
			if headings == nil {
				headings = []string{}
			}
			var embedding, embeddingModel any
			if r.Embedding != nil {
				embedding, embeddingModel = *r.Embedding, model
			}
			return []any{pgtype.UUID{Bytes: r.ID, Valid: true}, pgtype.UUID{Bytes: r.DocumentID, Valid: true}, sourceID, source.UserID, r.Ordinal, headers, r.Text, r.TokenCount, source.BulkIndex, r.Anchor, headings, r.Language,
				embedding, embeddingModel}, nil
		}))
	if err != nil {
		return 0, fmt.Errorf("error copying chunks: %w", err)
	}
	return n, nil
}

// SetEmbeddings writes the vectors of a batch of chunks in one statement;
// ids and vectors are parallel. Chunks deleted meanwhile are skipped. Only
// embedding jobs queued by an older binary, whose chunking job wrote the
// rows without vectors, still use it.
func SetEmbeddings(ctx context.Context, db DBTX, model string, ids []uuid.UUID, vectors []pgvector.Vector) (int64, error) {
	if len(ids) != len(vectors) {
		return 0, fmt.Errorf("SetEmbeddings: %d ids but %d vectors", len(ids), len(vectors))
	}
	tag, err := db.Exec(ctx, `
		UPDATE chunks c SET embedding = v.embedding, embedding_model = $3
		FROM unnest($1::uuid[], $2::vector[]) AS v(id, embedding)
		WHERE c.id = v.id`, ids, vectors, model)
	if err != nil {
		return 0, fmt.Errorf("error writing embeddings: %w", err)
	}
	return tag.RowsAffected(), nil
}

// NotifyJobsAvailable sends, when tx commits, the notification River sends
// when it inserts jobs into queue, so that a client waiting on the queue
// fetches at once instead of at its next poll. JobRetryTx, which wakes the
// completion check, sends none. The channel and payload are River's own
// (River 0.51: <schema>.river_insert, {"queue": ...});
// TestNotifyJobsAvailableMatchesRiver keeps them equal, and a changed River
// would only leave the wake-up to the queue's poll.
func NotifyJobsAvailable(ctx context.Context, tx pgx.Tx, queue string) error {
	if _, err := tx.Exec(ctx, notifyInsert+" FROM (SELECT $1::text) AS p(payload)", insertNotification(queue)); err != nil {
		return fmt.Errorf("error notifying queue %s: %w", queue, err)
	}
	return nil
}

// notifyInsert sends River's insert notification of each payload.
const notifyInsert = "SELECT pg_notify(current_schema() || '.river_insert', payload)"

// insertNotification is the payload of River's insert notification for
// queue.
func insertNotification(queue string) string {
	return fmt.Sprintf("{\"queue\": %q}", queue)
}
