package wait_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kollektiv/kollektiv/internal/wait"
)

func TestForReturnsOnceDone(t *testing.T) {
	t.Parallel()
	calls := 0
	wait.For(t, time.Minute, func() (bool, string) {
		calls++
		return calls == 3, fmt.Sprintf("%d calls", calls)
	})
	if calls != 3 {
		t.Fatalf("%d calls, want 3: For must stop at the first done", calls)
	}
}

// recorder is a testing.TB that records Fatalf instead of ending the test.
type recorder struct {
	testing.TB
	failed string
}

func (r *recorder) Helper() {}

func (r *recorder) Fatalf(format string, args ...any) { r.failed = fmt.Sprintf(format, args...) }

func TestForFailsWithWhatItLastSaw(t *testing.T) {
	t.Parallel()
	r := &recorder{TB: t}
	calls := 0
	wait.For(r, 30*time.Millisecond, func() (bool, string) {
		calls++
		return false, fmt.Sprintf("stage processing after %d looks", calls)
	})
	if !strings.HasPrefix(r.failed, "still waiting after 30ms: stage processing after ") || calls < 2 {
		t.Fatalf("failed with %q after %d calls; want the last report, after polling more than once", r.failed, calls)
	}
	if want := fmt.Sprintf("after %d looks", calls); !strings.HasSuffix(r.failed, want) {
		t.Fatalf("failed with %q, want the last call's report (%q)", r.failed, want)
	}
}
