// Package wait is the one way tests wait for something that happens on its
// own time (a job, a process, an event): poll a condition until it holds or
// a deadline passes, and fail with what the condition last saw. It never
// sleeps a fixed time in the hope that something has happened by then.
package wait

import (
	"testing"
	"time"
)

// Polling starts at firstInterval and doubles up to maxInterval, so that a
// quick condition is seen at once and a slow one does not busy the database.
const (
	firstInterval = 5 * time.Millisecond
	maxInterval   = 100 * time.Millisecond
)

// For calls cond until it reports done and fails tb when timeout passes
// first, with cond's last report: say what it saw ("source 1b2c… is
// processing_scheduled, 3 of 8 documents"), not only that it was not done.
// cond runs on the caller's goroutine, so it may call tb.Fatal itself.
func For(tb testing.TB, timeout time.Duration, cond func() (done bool, last string)) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	interval := firstInterval
	for {
		done, last := cond()
		if done {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("still waiting after %s: %s", timeout, last)
			return
		}
		time.Sleep(interval)
		interval = min(2*interval, maxInterval)
	}
}
