package jobs

import (
	"errors"

	"github.com/google/uuid"
)

// SourceGeneration names one run of the pipeline over a source. Every
// pipeline job's args start with it, so `args @> {"source_id": ...,
// "generation": ...}` finds a run's jobs through River's GIN index.
type SourceGeneration struct {
	SourceID   uuid.UUID `json:"source_id"`
	Generation int32     `json:"generation"`
}

// Validate checks that both fields are set.
func (g SourceGeneration) Validate() error {
	switch {
	case g.SourceID == uuid.Nil:
		return errors.New("source_id: must be set")
	case g.Generation < 1:
		return errors.New("generation: must be at least 1")
	}
	return nil
}

// sourceGeneration lets jobSource find the run in any args that embed
// SourceGeneration.
func (g SourceGeneration) sourceGeneration() SourceGeneration { return g }
