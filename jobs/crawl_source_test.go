package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kollektiv/kollektiv/internal/ingest"
	"github.com/kollektiv/kollektiv/internal/lifecycle"
	"github.com/kollektiv/kollektiv/jobs"
)

// crawlSite serves a start page linking to pages p1..pN, counting requests
// per path.
type crawlSite struct {
	*httptest.Server
	mu   sync.Mutex
	hits map[string]int
}

func newCrawlSite(t *testing.T, pages int) *crawlSite {
	t.Helper()
	s := &crawlSite{hits: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hits[r.URL.Path]++
		s.mu.Unlock()
		if r.URL.Path == "/robots.txt" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		var links strings.Builder
		if r.URL.Path == "/" {
			for i := 1; i <= pages; i++ {
				fmt.Fprintf(&links, `<a href="/p%d">page %d</a> `, i, i)
			}
		}
		fmt.Fprintf(w, `<html><head><title>Page %s</title></head><body><main><h1>Page %s</h1><p>%s</p>%s</main></body></html>`,
			r.URL.Path, r.URL.Path, guide("crawl"+strings.TrimPrefix(r.URL.Path, "/"), 1), links.String())
	}))
	t.Cleanup(s.Close)
	return s
}

// pageHits returns the requests per page, robots.txt aside, and their sum.
func (s *crawlSite) pageHits() (map[string]int, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out, total := map[string]int{}, 0
	for p, n := range s.hits {
		if p != "/robots.txt" {
			out[p] = n
			total += n
		}
	}
	return out, total
}

type crawlJobRow struct {
	State   string
	Attempt int
	Errors  int
}

// crawlJob waits until the source's crawl_source job has finished and
// returns its row.
func crawlJob(t *testing.T, b *testBundle, sourceID uuid.UUID) crawlJobRow {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		var row crawlJobRow
		err := b.pool.QueryRow(ctx, `SELECT state, attempt, coalesce(array_length(errors, 1), 0) FROM river_job
			WHERE kind = $1 AND args->>'source_id' = $2`, string(lifecycle.KindCrawlSource), sourceID.String()).Scan(&row.State, &row.Attempt, &row.Errors)
		if err != nil {
			t.Fatal(err)
		}
		if row.State == "completed" || row.State == "cancelled" || row.State == "discarded" {
			return row
		}
		select {
		case <-ctx.Done():
			t.Fatalf("crawl job still %s", row.State)
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// TestCrawlResumesAfterFailedAttempt fails the crawl's first attempt after
// it stored five pages: the retry goes on from the checkpoint, so every
// page is fetched exactly once, and the source completes with all of them.
func TestCrawlResumesAfterFailedAttempt(t *testing.T) {
	t.Parallel()
	site := newCrawlSite(t, 11)
	var killed atomic.Bool
	var storedAtKill atomic.Int64
	var b *testBundle
	settings := jobs.WithAfterCrawlBatch(jobs.Settings{CrawlBatchPages: 2}, func(pages int) error {
		if pages < 5 || !killed.CompareAndSwap(false, true) {
			return nil
		}
		var n int64
		if err := b.pool.QueryRow(context.Background(), "SELECT count(*) FROM documents").Scan(&n); err != nil {
			return err
		}
		storedAtKill.Store(n)
		return errors.New("worker killed after 5 pages")
	})
	b = setup(t, testOpts{settings: settings})
	added, err := b.ingest.Add(context.Background(), ingest.AddParams{
		UserID: "alice", Kind: ingest.KindURL, URI: site.URL + "/",
		Crawl: &ingest.CrawlSettings{MaxPages: 50, AllowPrivate: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	if lifecycle.StageOf(added.Source) != lifecycle.StageCrawling {
		t.Fatalf("source added at stage %s, want crawling", added.Source.Stage)
	}
	source := waitTerminal(t, b, added.Source.ID)
	if source.Stage != string(lifecycle.StageCompleted) || source.DocumentCount != 12 || source.FailedDocumentCount != 0 {
		t.Fatalf("source %s with %d documents (%d failed), want completed with 12", source.Stage, source.DocumentCount, source.FailedDocumentCount)
	}
	if !killed.Load() || storedAtKill.Load() != 5 {
		t.Fatalf("killed %v with %d documents stored, want 5", killed.Load(), storedAtKill.Load())
	}
	hits, total := site.pageHits()
	for p, n := range hits {
		if n != 1 {
			t.Errorf("%s fetched %d times, want once", p, n)
		}
	}
	if total != 12 {
		t.Errorf("%d page requests, want 12", total)
	}
	if job := crawlJob(t, b, source.ID); job.State != "completed" || job.Attempt != 2 || job.Errors != 1 {
		t.Errorf("crawl job %+v, want completed at the second attempt", job)
	}
	stages := strings.Join(stageEvents(t, b, source.ID, 1), " ")
	if stages != "crawling created processing_scheduled chunks_generated summary_generated completed" {
		t.Errorf("stage events %q", stages)
	}
	if p := eventPayload(t, b, source.ID, 1, lifecycle.StageCreated); p["pages_fetched"] != float64(12) || p["documents"] != float64(12) {
		t.Errorf("created event %v", p)
	}
	var checkpoints int
	if err := b.pool.QueryRow(context.Background(), "SELECT count(*) FROM source_crawls").Scan(&checkpoints); err != nil || checkpoints != 0 {
		t.Errorf("%d crawl checkpoints left (%v)", checkpoints, err)
	}
}

// TestCrawlStopsWhenSourceDeleted deletes a source during its crawl: the
// next batch finds the source gone, stores nothing and the job completes
// without an error.
func TestCrawlStopsWhenSourceDeleted(t *testing.T) {
	t.Parallel()
	site := newCrawlSite(t, 11)
	var b *testBundle
	var sourceID atomic.Value
	var deleted atomic.Bool
	settings := jobs.WithAfterCrawlBatch(jobs.Settings{CrawlBatchPages: 2}, func(pages int) error {
		if pages >= 3 && deleted.CompareAndSwap(false, true) {
			return b.ingest.Delete(context.Background(), "alice", sourceID.Load().(uuid.UUID))
		}
		return nil
	})
	b = setup(t, testOpts{settings: settings})
	added, err := b.ingest.Add(context.Background(), ingest.AddParams{
		UserID: "alice", Kind: ingest.KindURL, URI: site.URL + "/",
		Crawl: &ingest.CrawlSettings{MaxPages: 50, AllowPrivate: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	sourceID.Store(added.Source.ID)
	job := crawlJob(t, b, added.Source.ID)
	if job.Errors != 0 {
		t.Errorf("crawl job %+v, want finished without an error", job)
	}
	// The start page, a batch of two, then one more batch whose checkpoint
	// found the source gone.
	if _, total := site.pageHits(); total != 5 {
		t.Errorf("%d page requests, want 5", total)
	}
	var docs int
	if err := b.pool.QueryRow(context.Background(), "SELECT count(*) FROM documents").Scan(&docs); err != nil || docs != 0 {
		t.Errorf("%d documents left (%v)", docs, err)
	}
}

// TestCrawlFailsSourceAtLastAttempt: a crawl whose every attempt fails
// fails its source at the last one, naming the cause, instead of leaving it
// crawling for good.
func TestCrawlFailsSourceAtLastAttempt(t *testing.T) {
	t.Parallel()
	site := newCrawlSite(t, 3)
	settings := jobs.WithAfterCrawlBatch(jobs.Settings{CrawlBatchPages: 2}, func(int) error {
		return errors.New("database went away")
	})
	b := setup(t, testOpts{settings: settings, maxAttempts: 2})
	added, err := b.ingest.Add(context.Background(), ingest.AddParams{
		UserID: "alice", Kind: ingest.KindURL, URI: site.URL + "/",
		Crawl: &ingest.CrawlSettings{MaxPages: 50, AllowPrivate: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	source := waitTerminal(t, b, added.Source.ID)
	if source.Stage != string(lifecycle.StageFailed) || source.Error == nil || !strings.Contains(*source.Error, "crawl failed after 2 attempts") ||
		!strings.Contains(*source.Error, "database went away") {
		t.Fatalf("source %s (%v), want failed naming the crawl's error", source.Stage, source.Error)
	}
	if job := crawlJob(t, b, source.ID); job.State != "completed" || job.Attempt != 2 {
		t.Errorf("crawl job %+v, want completed (by failing its source) at attempt 2", job)
	}
	if stages := strings.Join(stageEvents(t, b, source.ID, 1), " "); stages != "crawling failed" {
		t.Errorf("stage events %q", stages)
	}
}

// TestCrawlFailsSourceWhenLastAttemptWasKilled: a crawl whose last attempt
// was killed (its worker gone, so none of its code ran to fail the source)
// comes back from River's rescuer once more instead of being discarded, and
// that attempt fails the source, instead of leaving it crawling for good.
func TestCrawlFailsSourceWhenLastAttemptWasKilled(t *testing.T) {
	t.Parallel()
	site := newCrawlSite(t, 3)
	b := setup(t, testOpts{maxAttempts: 2})
	ctx := context.Background()
	if err := b.client.QueuePause(ctx, jobs.QueueCrawling, nil); err != nil {
		t.Fatal(err)
	}
	added, err := b.ingest.Add(ctx, ingest.AddParams{
		UserID: "alice", Kind: ingest.KindURL, URI: site.URL + "/",
		Crawl: &ingest.CrawlSettings{MaxPages: 50, AllowPrivate: true},
	})
	if err != nil {
		t.Fatal(err)
	}
	// What the rescuer leaves of a job killed in its second and last
	// attempt: available again, with two attempts spent. River discards it
	// instead when the attempts are its own limit, so that limit must lie
	// above the crawl's budget.
	var riverMax int
	if err := b.pool.QueryRow(ctx, `UPDATE river_job SET attempt = 2 WHERE kind = $1 AND args->>'source_id' = $2
		RETURNING max_attempts`, string(lifecycle.KindCrawlSource), added.Source.ID.String()).Scan(&riverMax); err != nil {
		t.Fatal(err)
	}
	if riverMax <= 2 {
		t.Fatalf("crawl_source inserted with River max_attempts %d: a killed last attempt would be discarded", riverMax)
	}
	if err := b.client.QueueResume(ctx, jobs.QueueCrawling, nil); err != nil {
		t.Fatal(err)
	}
	source := waitTerminal(t, b, added.Source.ID)
	if source.Stage != string(lifecycle.StageFailed) || source.Error == nil || !strings.Contains(*source.Error, "attempt 2 of 2 did not finish") {
		t.Fatalf("source %s (%v), want failed saying the last attempt did not finish", source.Stage, source.Error)
	}
	if _, total := site.pageHits(); total != 0 {
		t.Errorf("%d pages fetched after the budget was spent, want 0", total)
	}
	if stages := strings.Join(stageEvents(t, b, source.ID, 1), " "); stages != "crawling failed" {
		t.Errorf("stage events %q", stages)
	}
}
