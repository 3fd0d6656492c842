package jobs

// FairSharePriority exposes the priority of a batch job to its table test.
var FairSharePriority = fairSharePriority

// WithAfterCrawlBatch returns s with a func run after each committed crawl
// batch with the pages fetched so far; its error fails the attempt.
func WithAfterCrawlBatch(s Settings, f func(pagesFetched int) error) Settings {
	s.afterCrawlBatch = f
	return s
}

// CommitsWaiting is how many jobs wait for a transaction of m.
func CommitsWaiting(m *Committer) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.waiting)
}

// WithWhileEarlierPending returns s with a func run each time a stage
// event finds an earlier event unpublished, before it looks again.
func WithWhileEarlierPending(s Settings, f func()) Settings {
	s.whileEarlierPending = f
	return s
}
