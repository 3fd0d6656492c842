package store

import (
	"context"

	"github.com/google/uuid"
)

// SourceProgress returns the progress counters of the current generation
// of source id, added up over its fan-in shards: zero when it has none.
func (q *Queries) SourceProgress(ctx context.Context, id uuid.UUID) (ListSourceProgressRow, error) {
	rows, err := q.ListSourceProgress(ctx, []uuid.UUID{id})
	if err != nil || len(rows) == 0 {
		return ListSourceProgressRow{SourceID: id}, err
	}
	return rows[0], nil
}
