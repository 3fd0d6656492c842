package content

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the run if a test leaves goroutines behind: the crawler's
// requests, connections and workers must all end with Crawl.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
