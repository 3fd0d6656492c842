package app_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/kollektiv/kollektiv/internal/content"
	"github.com/kollektiv/kollektiv/internal/lifecycle"
	"github.com/kollektiv/kollektiv/internal/store"
	"github.com/kollektiv/kollektiv/internal/testcorpus"
	"github.com/kollektiv/kollektiv/internal/wait"
)

// A workload is many sources of several users, built from the shared
// corpus, with one source many times larger than the others. The fairness
// test and the load test submit it and check what came out.

// plannedSource is one source of a workload.
type plannedSource struct {
	user  string
	large bool
	docs  []content.Document
	// chunks is how many chunks the documents make, by the app's chunker.
	chunks int

	id       uuid.UUID
	finished store.Source
	// completedAt is when its completed (or failed) event was written; took
	// is from the source's creation to then.
	completedAt time.Time
	took        time.Duration
}

// workloadSpec sizes a workload: users × perUser sources of smallDocs
// documents, except the first user's first source, largeFactor times larger.
type workloadSpec struct {
	users, perUser, smallDocs, largeFactor int
}

// planWorkload builds the sources of spec from distinct tldr pages of the
// corpus, in submission order: the large source first, then the others
// user by user in turn.
func planWorkload(t *testing.T, chunker *content.Chunker, spec workloadSpec) []*plannedSource {
	t.Helper()
	total := spec.smallDocs * (spec.users*spec.perUser - 1 + spec.largeFactor)
	pages := corpusPages(t, total)
	var sources []*plannedSource
	take := func(user string, n int, large bool) {
		s := &plannedSource{user: user, large: large, docs: pages[:n]}
		pages = pages[n:]
		for _, d := range s.docs {
			chunks, err := chunker.Chunk(uuid.Nil, d.Content)
			if err != nil {
				t.Fatalf("chunking %s: %v", d.URL, err)
			}
			s.chunks += len(chunks)
		}
		sources = append(sources, s)
	}
	take(userName(0), spec.smallDocs*spec.largeFactor, true)
	for i := range spec.perUser {
		for u := range spec.users {
			if u == 0 && i == spec.perUser-1 {
				continue // the large source is user 0's last
			}
			take(userName(u), spec.smallDocs, false)
		}
	}
	return sources
}

func userName(i int) string { return fmt.Sprintf("user-%d", i+1) }

// corpusPages returns the first n tldr pages of the corpus, in path order,
// prepared as inline documents are.
func corpusPages(t *testing.T, n int) []content.Document {
	t.Helper()
	root := filepath.Join(testcorpus.Dir(t), "tldr", "pages")
	var docs []content.Document
	errEnough := errors.New("enough")
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".md") {
			return err
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		doc, err := content.PrepareDocument("", "tldr/"+filepath.ToSlash(rel), string(raw), content.PrepareOptions{})
		if err != nil {
			return nil //nolint:nilerr // a page that does not prepare is skipped, the next one is taken
		}
		docs = append(docs, doc)
		if len(docs) == n {
			return errEnough
		}
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		t.Fatal(err)
	}
	if len(docs) < n {
		t.Fatalf("the corpus has %d tldr pages, the workload needs %d", len(docs), n)
	}
	return docs
}

// waitFinished waits until every source is in a terminal stage with its
// terminal event published, until ctx's deadline, and records how long each
// took.
func waitFinished(ctx context.Context, t *testing.T, pool *pgxpool.Pool, sources []*plannedSource) {
	t.Helper()
	timeout := 10 * time.Minute
	if deadline, ok := ctx.Deadline(); ok {
		timeout = time.Until(deadline)
	}
	// The wait, not the queries, gives up at the deadline, saying what it saw.
	ctx = context.WithoutCancel(ctx)
	q := store.New(pool)
	for _, s := range sources {
		wait.For(t, timeout, func() (bool, string) {
			source, err := q.GetSourceByID(ctx, s.id)
			if err != nil {
				t.Fatal(err)
			}
			var at time.Time
			err = pool.QueryRow(ctx, `SELECT created_at FROM source_events WHERE source_id = $1 AND generation = $2 AND stage = ANY($3)`,
				s.id, source.Generation, []string{string(lifecycle.StageCompleted), string(lifecycle.StageFailed)}).Scan(&at)
			if err == nil {
				s.finished, s.completedAt, s.took = source, at, at.Sub(source.CreatedAt)
				return true, ""
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				t.Fatal(err)
			}
			progress, err := q.SourceProgress(ctx, s.id)
			if err != nil {
				t.Fatal(err)
			}
			return false, fmt.Sprintf("source %s of %s did not finish: stage %s, %d of %d documents processed",
				s.id, s.user, source.Stage, progress.DocumentsProcessed, source.DocumentsScheduled)
		})
	}
}

// checkCompleted checks that every source completed with exactly the
// chunks its documents make, each with a vector.
func checkCompleted(ctx context.Context, t *testing.T, pool *pgxpool.Pool, sources []*plannedSource) {
	t.Helper()
	for _, s := range sources {
		if s.finished.Stage != string(lifecycle.StageCompleted) {
			t.Errorf("source %s of %s: stage %s (%v), want completed", s.id, s.user, s.finished.Stage, s.finished.Error)
			continue
		}
		var chunks, embedded int
		if err := pool.QueryRow(ctx, `SELECT count(*), count(embedding) FROM chunks WHERE source_id = $1`, s.id).Scan(&chunks, &embedded); err != nil {
			t.Fatal(err)
		}
		if chunks != s.chunks || embedded != s.chunks || int(s.finished.ChunkCount) != s.chunks {
			t.Errorf("source %s of %s: %d chunks, %d embedded, count %d; want %d", s.id, s.user, chunks, embedded, s.finished.ChunkCount, s.chunks)
		}
	}
}

// checkFairOrder checks that every source of another user than the large
// source's completed before it, although submitted after it.
func checkFairOrder(t *testing.T, sources []*plannedSource) {
	t.Helper()
	large := sources[slices.IndexFunc(sources, func(s *plannedSource) bool { return s.large })]
	for _, s := range sources {
		if s.user != large.user && !s.completedAt.Before(large.completedAt) {
			t.Errorf("source %s of %s (%d documents) completed %s after submission, %s after the large source of %s (%d documents, %s after submission): starved behind it",
				s.id, s.user, len(s.docs), s.took.Round(time.Millisecond), s.completedAt.Sub(large.completedAt).Round(time.Millisecond),
				large.user, len(large.docs), large.took.Round(time.Millisecond))
		}
	}
}

// completionTable lists each source's time to completion in the order the
// sources completed, then each user's first, median and last.
func completionTable(sources []*plannedSource) string {
	sorted := slices.Clone(sources)
	slices.SortFunc(sorted, func(a, b *plannedSource) int { return a.completedAt.Compare(b.completedAt) })
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "#\tuser\tsource\tdocuments\tchunks\tcompleted after\t")
	for i, s := range sorted {
		mark := ""
		if s.large {
			mark = " (large)"
		}
		fmt.Fprintf(w, "%d\t%s\t%s%s\t%d\t%d\t%s\t\n", i+1, s.user, s.id.String()[:8], mark, len(s.docs), s.chunks, s.took.Round(time.Millisecond))
	}
	w.Flush()
	byUser := map[string][]time.Duration{}
	var users []string
	for _, s := range sources {
		if _, ok := byUser[s.user]; !ok {
			users = append(users, s.user)
		}
		byUser[s.user] = append(byUser[s.user], s.took)
	}
	slices.Sort(users)
	b.WriteString("\n")
	w = tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "user\tsources\tfirst\tmedian\tlast\t")
	for _, u := range users {
		d := byUser[u]
		slices.Sort(d)
		fmt.Fprintf(w, "%s\t%d\t%s\t%s\t%s\t\n", u, len(d), d[0].Round(time.Millisecond), d[len(d)/2].Round(time.Millisecond), d[len(d)-1].Round(time.Millisecond))
	}
	w.Flush()
	return b.String()
}
