package jobs

import (
	"context"
	"log/slog"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
)

// CompleteAndFanIn exposes the fan-in to the tests of its race: it
// completes job in tx with work and reports whether it woke the check.
func CompleteAndFanIn(ctx context.Context, deps Deps, rc *river.Client[pgx.Tx], tx pgx.Tx, job *river.Job[PersistChunksArgs], work BatchJobWork) (bool, error) {
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	p := &pipeline{Deps: deps}
	p.Settings = p.Settings.withDefaults()
	fanIn, err := completeAndFanIn(ctx, p, rc, tx, job, job.Args.SourceGeneration, work)
	return fanIn.Woken, err
}

// FairSharePriority exposes the priority of a batch job to its table test.
var FairSharePriority = fairSharePriority

// WithAfterCrawlBatch returns s with a func run after each committed crawl
// batch with the pages fetched so far; its error fails the attempt.
func WithAfterCrawlBatch(s Settings, f func(pagesFetched int) error) Settings {
	s.afterCrawlBatch = f
	return s
}
