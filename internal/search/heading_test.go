package search

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestSearchHeadingIsTheAnswer checks the heading list: a chunk whose own
// section heading is the query (case, punctuation and markup aside) comes
// first, even when other chunks say the query's words more often and so
// lead the vector and full-text lists; a heading higher in the breadcrumb
// does not count, and filters and users bound the list like the others.
func TestSearchHeadingIsTheAnswer(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := setup(t)
	noisy := strings.Repeat("Run the app behind a proxy: the proxy forwards headers. ", 6)
	_, ids := b.seedSource(ctx, t, "alice", []chunkSeed{
		{headers: []string{"Deployment", "Proxies"}, text: noisy},
		{headers: []string{"Deployment", "TLS"}, text: noisy + " Behind a proxy, TLS ends early."},
		{headers: []string{"Advanced", "`Behind` a Proxy!"}, text: "Set root_path when a prefix is stripped before the request reaches you."},
		{headers: []string{"Behind a Proxy", "Forwarded headers"}, text: "The breadcrumb above holds the query, but this section is another."},
		{headers: []string{"Guide"}, headings: []string{"Intro", "Behind a proxy"}, text: "A merged chunk holding the section as one of its other headings."},
	})
	b.seedSource(ctx, t, "bob", []chunkSeed{{headers: []string{"Behind a Proxy"}, text: "Bob's own section."}})

	for _, mode := range []Mode{ModeHybrid, ModeText} {
		hits, err := b.hits(ctx, Query{UserID: "alice", Text: "behind a proxy", Mode: mode})
		if err != nil {
			t.Fatal(err)
		}
		if len(hits) < 2 {
			t.Fatalf("%s: %d hits, want at least 2", mode, len(hits))
		}
		top := []uuid.UUID{hits[0].ChunkID, hits[1].ChunkID}
		if top[0] != ids[2] || top[1] != ids[4] {
			t.Errorf("%s: top two %v, want the chunk titled by the query %v, then the merged chunk holding it %v", mode, top, ids[2], ids[4])
		}
		for _, h := range hits {
			switch h.ChunkID {
			case ids[2], ids[4]:
				if h.HeadingRank == 0 || h.HeadingContribution <= 0 {
					t.Errorf("%s: hit %v has heading rank %d, contribution %v; want it in the heading list", mode, h.ChunkID, h.HeadingRank, h.HeadingContribution)
				}
			default:
				if h.HeadingRank != 0 {
					t.Errorf("%s: hit %v (headers %v) in the heading list at %d; only a chunk's own headings count", mode, h.ChunkID, h.Headers, h.HeadingRank)
				}
			}
			if sum := h.VectorContribution + h.TextContribution + h.HeadingContribution; sum != h.Score {
				t.Errorf("%s: score %v is not the sum of its contributions %v", mode, h.Score, sum)
			}
		}
	}

	hits, err := b.hits(ctx, Query{UserID: "alice", Text: "behind a proxy", Mode: ModeVector})
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hits {
		if h.HeadingRank != 0 {
			t.Errorf("vector mode: hit %v has heading rank %d; the heading list runs with full text only", h.ChunkID, h.HeadingRank)
		}
	}

	hits, err = b.hits(ctx, Query{UserID: "alice", Text: "behind a proxy", SourceIDs: []uuid.UUID{uuid.New()}})
	if err != nil {
		t.Fatal(err)
	}
	if len(hits) != 0 {
		t.Errorf("a filter on another source found %d hits, want none", len(hits))
	}
}

// TestSearchCommonHeadingNamesNoSection checks the heading list's bound: a
// heading that titles more than maxHeadingMatches chunks names none of
// them, and the list is empty; one that titles exactly that many still
// names them all.
func TestSearchCommonHeadingNamesNoSection(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := setup(t)
	titled := func(n int, heading string) []chunkSeed {
		chunks := make([]chunkSeed, n)
		for i := range chunks {
			chunks[i] = chunkSeed{headers: []string{"Page", heading}, text: "Section number " + strings.Repeat("x", i+1) + "."}
		}
		return chunks
	}
	b.seedSource(ctx, t, "alice", append(titled(maxHeadingMatches, "Usage"), titled(maxHeadingMatches+1, "Examples")...))

	for heading, want := range map[string]bool{"usage": true, "Examples": false} {
		hits, err := b.hits(ctx, Query{UserID: "alice", Text: heading, Mode: ModeText})
		if err != nil {
			t.Fatal(err)
		}
		inList := 0
		for _, h := range hits {
			if h.HeadingRank != 0 {
				inList++
			}
		}
		switch {
		case want && (inList != DefaultK || len(hits) != DefaultK):
			t.Errorf("%q: %d of %d hits in the heading list; want all %d when %d chunks share the heading",
				heading, inList, len(hits), DefaultK, maxHeadingMatches)
		case !want && inList != 0:
			t.Errorf("%q: %d of %d hits in the heading list; want none when more than %d chunks share the heading",
				heading, inList, len(hits), maxHeadingMatches)
		}
	}
}
