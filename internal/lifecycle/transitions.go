package lifecycle

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/kollektiv/kollektiv/internal/derr"
	"github.com/kollektiv/kollektiv/internal/store"
)

// Why a user's transition was refused. Each has its domain kind (derr), so
// the API answers 404 or 409 and the CLI exits 3 or 4 without choosing.
var (
	// ErrNotFound: the source does not exist for the user.
	ErrNotFound = derr.New(derr.NotFound, "no such source")
	// ErrBusy: the source's current generation has not finished.
	ErrBusy = derr.New(derr.Conflict, "source is still being processed")
	// ErrNothingToRetry: the source completed and none of its documents
	// failed after it was loaded, so a retry would change nothing.
	ErrNothingToRetry = derr.New(derr.Conflict, "nothing to retry")
)

// Create inserts a new source at created, generation 1.
func Create(ctx context.Context, db store.DBTX, p store.CreateSourceParams) (store.Source, error) {
	source, err := store.New(db).CreateSource(ctx, p)
	if err != nil {
		return source, fmt.Errorf("error creating source: %w", err)
	}
	return source, nil
}

// StartGeneration starts the next generation of the user's source for a
// refresh: a finished source goes back to created. A source still being
// processed gives ErrBusy, a missing one ErrNotFound.
func StartGeneration(ctx context.Context, db store.DBTX, userID string, id uuid.UUID) (store.Source, error) {
	source, err := store.New(db).StartSourceGeneration(ctx, store.StartSourceGenerationParams{ID: id, UserID: userID})
	if errors.Is(err, pgx.ErrNoRows) {
		return source, refused(ctx, db, userID, id, false)
	}
	if err != nil {
		return source, fmt.Errorf("error starting a new generation: %w", err)
	}
	return source, nil
}

// StartRetry starts the next generation of the user's source to process its
// failed documents again, sends those documents back to pending and
// recounts the source. It reports how many documents went back. Of two
// racing retries one starts the generation; the other gets ErrBusy. A
// source with nothing to retry gives ErrNothingToRetry and is left as it
// was.
func StartRetry(ctx context.Context, db store.DBTX, userID string, id uuid.UUID) (store.Source, int64, error) {
	q := store.New(db)
	source, err := q.StartSourceRetry(ctx, store.StartSourceRetryParams{ID: id, UserID: userID})
	if errors.Is(err, pgx.ErrNoRows) {
		return source, 0, refused(ctx, db, userID, id, true)
	}
	if err != nil {
		return source, 0, fmt.Errorf("error starting a retry: %w", err)
	}
	// The statement above holds the source's row lock until commit: no
	// other transition of it runs in between.
	n, err := q.ResetFailedDocuments(ctx, id)
	if err != nil {
		return source, 0, fmt.Errorf("error resetting failed documents: %w", err)
	}
	if source, err = q.RefreshSourceCounts(ctx, id); err != nil {
		return source, 0, fmt.Errorf("error counting documents: %w", err)
	}
	return source, n, nil
}

// refused explains why a user's start of a generation found no row. The
// guard in SQL decided; this read only names the reason.
func refused(ctx context.Context, db store.DBTX, userID string, id uuid.UUID, retry bool) error {
	source, err := store.New(db).GetSource(ctx, store.GetSourceParams{ID: id, UserID: userID})
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return ErrNotFound
	case err != nil:
		return fmt.Errorf("error loading source: %w", err)
	case !StageOf(source).Terminal():
		return fmt.Errorf("%w: %s is at stage %s; wait for it to finish", ErrBusy, source.ID, source.Stage)
	case retry && source.Stage == string(StageCompleted):
		return fmt.Errorf("%w: source %s completed, and none of its documents failed after it was loaded "+
			"(one that could not be loaded has no content to process again: send it again, or refresh the source)", ErrNothingToRetry, source.ID)
	default:
		// Another generation started and finished in between.
		return fmt.Errorf("%w: %s changed while this request ran; try again", ErrBusy, source.ID)
	}
}

// StartCrawl moves a URL source's generation from created to crawling and
// stores its crawl options. It reports false when the source is gone, of
// another generation or past created.
func StartCrawl(ctx context.Context, db store.DBTX, id uuid.UUID, generation int32, options []byte) (store.Source, bool, error) {
	return applied(store.New(db).StartSourceCrawl(ctx, store.StartSourceCrawlParams{ID: id, Generation: generation, Options: options}))
}

// FinishCrawl moves the generation from crawling back to created once its
// pages are stored. It reports false when the source is gone, of another
// generation or no longer crawling.
func FinishCrawl(ctx context.Context, db store.DBTX, id uuid.UUID, generation int32) (store.Source, bool, error) {
	return applied(store.New(db).FinishSourceCrawl(ctx, store.FinishSourceCrawlParams{ID: id, Generation: generation}))
}

// ScheduleProcessing moves the generation from created to
// processing_scheduled and sets its fan-in counter. It reports false when
// the source is gone, of another generation or past created.
func ScheduleProcessing(ctx context.Context, db store.DBTX, p store.ScheduleSourceProcessingParams) (store.Source, bool, error) {
	return applied(store.New(db).ScheduleSourceProcessing(ctx, p))
}

// MarkChunksGenerated moves the generation from processing_scheduled to
// chunks_generated. It reports false when the source is gone, of another
// generation or not at processing_scheduled.
func MarkChunksGenerated(ctx context.Context, db store.DBTX, id uuid.UUID, generation int32) (store.Source, bool, error) {
	return applied(store.New(db).MarkSourceChunksGenerated(ctx, store.MarkSourceChunksGeneratedParams{ID: id, Generation: generation}))
}

// Complete moves the generation from chunks_generated to completed. It
// reports false when the source is gone, of another generation or not at
// chunks_generated.
func Complete(ctx context.Context, db store.DBTX, id uuid.UUID, generation int32) (store.Source, bool, error) {
	return applied(store.New(db).CompleteSource(ctx, store.CompleteSourceParams{ID: id, Generation: generation}))
}

// Fail ends the running generation with reason. It reports false when the
// source is gone, of another generation or already finished.
func Fail(ctx context.Context, db store.DBTX, id uuid.UUID, generation int32, reason string) (store.Source, bool, error) {
	return applied(store.New(db).FailSource(ctx, store.FailSourceParams{ID: id, Generation: generation, Error: &reason}))
}

// Delete removes the user's source from any stage, with its documents,
// chunks, summary and events (foreign keys). A missing source gives
// ErrNotFound.
func Delete(ctx context.Context, db store.DBTX, userID string, id uuid.UUID) error {
	_, err := store.New(db).DeleteSource(ctx, store.DeleteSourceParams{ID: id, UserID: userID})
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("error deleting source: %w", err)
	}
	return nil
}

// applied turns a guarded statement's outcome into (row, applied, error).
func applied(source store.Source, err error) (store.Source, bool, error) {
	if errors.Is(err, pgx.ErrNoRows) {
		return source, false, nil
	}
	if err != nil {
		return source, false, fmt.Errorf("error changing source stage: %w", err)
	}
	return source, true, nil
}
