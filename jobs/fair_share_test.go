package jobs_test

import (
	"testing"

	"github.com/kollektiv/kollektiv/jobs"
)

func TestFairSharePriority(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ queued, share, want int }{
		{0, 200, 1},
		{199, 200, 1},
		{200, 200, 2},
		{399, 200, 2},
		{400, 200, 3},
		{600, 200, 4},
		{1_000_000, 200, 4},
		{5, 1, 4},
		{5, 0, 4}, // a share below 1 counts as 1 instead of dividing by zero
	} {
		if got := jobs.FairSharePriority(tc.queued, tc.share); got != tc.want {
			t.Errorf("FairSharePriority(%d, %d) = %d, want %d", tc.queued, tc.share, got, tc.want)
		}
	}
}
