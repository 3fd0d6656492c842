package search

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kollektiv/kollektiv/internal/embed"
)

func TestSearchModes(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := setup(t)
	_, ids := b.seedSource(ctx, t, "alice", rustChunks)

	for _, tt := range []struct {
		mode         Mode
		vector, text bool
	}{
		{"", true, true},
		{ModeHybrid, true, true},
		{ModeVector, true, false},
		{ModeText, false, true},
	} {
		result, err := b.searcher.Search(ctx, Query{UserID: "alice", Text: "borrow checker", Mode: tt.mode})
		if err != nil {
			t.Fatal(err)
		}
		if result.Query.Mode != cmpOr(tt.mode, ModeHybrid) {
			t.Errorf("mode %q: ran as %q", tt.mode, result.Query.Mode)
		}
		if len(result.Hits) == 0 || result.Hits[0].ChunkID != ids[1] {
			t.Fatalf("mode %q: hits %v, want the borrow checker chunk first", tt.mode, chunkIDs(result.Hits))
		}
		var vectorRanked, textRanked int
		for _, h := range result.Hits {
			if h.VectorRank > 0 {
				vectorRanked++
			}
			if h.TextRank > 0 {
				textRanked++
			}
			if h.Score != h.VectorContribution+h.TextContribution {
				t.Errorf("mode %q: score %v is not the sum of its contributions %+v", tt.mode, h.Score, h)
			}
		}
		if (vectorRanked > 0) != tt.vector || (textRanked > 0) != tt.text {
			t.Errorf("mode %q: %d hits ranked by vector, %d by text", tt.mode, vectorRanked, textRanked)
		}
		// Full text finds only the one chunk with the words; the vector
		// list ranks every chunk.
		if want := map[bool]int{true: len(ids), false: 1}[tt.vector]; len(result.Hits) != want {
			t.Errorf("mode %q: %d hits, want %d", tt.mode, len(result.Hits), want)
		}
	}
}

// TestSearchModeTextDoesNotEmbed runs text mode with an embedder that
// fails: the query is not embedded, and the search still answers.
func TestSearchModeTextDoesNotEmbed(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := setup(t)
	_, ids := b.seedSource(ctx, t, "alice", rustChunks)
	searcher := New(b.pool, failingEmbedder{b.embedder})
	hits, err := searcher.Search(ctx, Query{UserID: "alice", Text: "cargo", Mode: ModeText})
	if err != nil || len(hits.Hits) != 1 || hits.Hits[0].ChunkID != ids[3] {
		t.Fatalf("text mode: %v, error %v; want the cargo chunk", chunkIDs(hits.Hits), err)
	}
	if _, err := searcher.Search(ctx, Query{UserID: "alice", Text: "cargo"}); err == nil {
		t.Fatal("hybrid mode did not embed the query")
	}
}

// failingEmbedder is the hashing embedder whose Embed fails.
type failingEmbedder struct{ *embed.Hashing }

func (failingEmbedder) Embed(context.Context, []string) ([][]float32, error) {
	return nil, errors.New("embedder down")
}

func cmpOr(m, d Mode) Mode {
	if m == "" {
		return d
	}
	return m
}

func TestSearchWeights(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := setup(t)

	const query = "borrow checker lifetimes"
	_, ids := b.seedSource(ctx, t, "alice", []chunkSeed{
		{headers: []string{"Ownership"}, text: "The borrow checker tracks lifetimes of references in depth."},
		{headers: []string{"Misc"}, text: "Completely unrelated prose about gardening.", vectorOf: query},
		{headers: []string{"Borrow checker lifetimes in short"}, text: "Borrow checker lifetimes.", noVector: true},
	})
	both, vectorOnly, textOnly := ids[0], ids[1], ids[2]

	for _, tt := range []struct {
		name  string
		query Query
		want  []uuid.UUID
	}{
		// Second in both lists beats first in one at any weight of 1.
		{"defaults", Query{}, nil},
		{"k=1", Query{RRFK: 1}, nil},
		// 3/(1+1) = 1.5 beats 3/(1+2) + 1/(1+2) = 1.33.
		{"vector weighs 3", Query{RRFK: 1, VectorWeight: 3}, []uuid.UUID{vectorOnly, both, textOnly}},
		{"text weighs 3", Query{RRFK: 1, TextWeight: 3}, []uuid.UUID{textOnly, both, vectorOnly}},
	} {
		q := tt.query
		q.UserID, q.Text = "alice", query
		result, err := b.searcher.Search(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		got := chunkIDs(result.Hits)
		if tt.want != nil && !slices.Equal(got, tt.want) {
			t.Errorf("%s: hits %v, want %v", tt.name, got, tt.want)
		}
		if tt.want == nil && (len(got) != 3 || got[0] != both) {
			t.Errorf("%s: hits %v, want %v first", tt.name, got, both)
		}
		run := result.Query
		for _, h := range result.Hits {
			wantVector, wantText := 0.0, 0.0
			if h.VectorRank > 0 {
				wantVector = run.VectorWeight / float64(run.RRFK+h.VectorRank)
			}
			if h.TextRank > 0 {
				wantText = run.TextWeight / float64(run.RRFK+h.TextRank)
			}
			if h.VectorContribution != wantVector || h.TextContribution != wantText || h.Score != wantVector+wantText {
				t.Errorf("%s: hit %+v, want contributions %v + %v", tt.name, h, wantVector, wantText)
			}
		}
	}
}

func TestSearchHitFields(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := setup(t)
	sourceID := createSource(ctx, t, b.pool, "alice")
	ids := b.seedDocument(ctx, t, "alice", sourceID, docSeed{url: "https://docs.example/faq", language: "en"}, []chunkSeed{
		{headers: []string{"FAQ", "Design"}, headings: []string{"Does Go have a runtime?", "Why generics?"}, anchor: "design", text: "Answers about the design of the runtime."},
		{text: "Preface above the first heading, about the runtime."},
		{headers: []string{"FAQ", "Odd"}, anchor: "odd anchor/é", text: "An anchor that needs escaping, about the runtime."},
	})
	hits, err := b.hits(ctx, Query{UserID: "alice", Text: "runtime"})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[uuid.UUID]Hit{}
	for _, h := range hits {
		byID[h.ChunkID] = h
	}
	if h := byID[ids[0]]; h.Anchor != "design" || h.URL != "https://docs.example/faq#design" || h.Language != "en" ||
		!slices.Equal(h.Headings, []string{"Does Go have a runtime?", "Why generics?"}) || !slices.Equal(h.Headers, []string{"FAQ", "Design"}) {
		t.Errorf("merged chunk: %+v", h)
	}
	if h := byID[ids[1]]; h.Anchor != "" || h.URL != "https://docs.example/faq" || h.Headings == nil {
		t.Errorf("chunk above the first heading: %+v", h)
	}
	if h := byID[ids[2]]; h.URL != "https://docs.example/faq#odd%20anchor/%C3%A9" {
		t.Errorf("escaped anchor: %q", h.URL)
	}
	// The heading words inside a merged chunk are searchable.
	hits, err = b.hits(ctx, Query{UserID: "alice", Text: "generics", Mode: ModeText})
	if err != nil || len(hits) != 1 || hits[0].ChunkID != ids[0] {
		t.Fatalf("searching a merged heading: %v, error %v", chunkIDs(hits), err)
	}
	data, err := json.Marshal(hits[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"anchor":"design"`, `"url":"https://docs.example/faq#design"`, `"language":"en"`, `"headings":[`, `"vector_contribution":0`, `"text_contribution":`} {
		if !strings.Contains(string(data), key) {
			t.Errorf("JSON of a hit lacks %s:\n%s", key, data)
		}
	}
}

// filterWorld is alice's and bob's chunks for the filter tests: alice has
// two sources of documents in several languages, paths and tags; bob has
// documents that match every filter alice uses.
type filterWorld struct {
	sourceA, sourceB, bobSource uuid.UUID
	// alice's chunk ids by document name
	alice map[string][]uuid.UUID
	bob   []uuid.UUID
}

func seedFilterWorld(ctx context.Context, t *testing.T, b *testBundle) filterWorld {
	t.Helper()
	w := filterWorld{alice: map[string][]uuid.UUID{}}
	w.sourceA = createSource(ctx, t, b.pool, "alice")
	w.sourceB = createSource(ctx, t, b.pool, "alice")
	w.bobSource = createSource(ctx, t, b.pool, "bob")
	chunks := func(topic string) []chunkSeed {
		// "tokio" is the same word to every language's stemmer.
		return []chunkSeed{{headers: []string{topic}, text: "Tokio: " + topic + " notes.", vectorOf: "tokio"}}
	}
	for name, doc := range map[string]struct {
		source uuid.UUID
		docSeed
	}{
		"a-en-tutorial":  {w.sourceA, docSeed{url: "tutorial/intro.md", language: "en", metadata: `{"tags":["async","intro"],"date":"2024-01-15","draft":false}`}},
		"a-de-tutorial":  {w.sourceA, docSeed{url: "tutorial/einfuehrung.md", language: "de", metadata: `{"tags":"async"}`}},
		"a-en-reference": {w.sourceA, docSeed{url: "reference/runtime.md", language: "en", metadata: `{"tags":["reference"],"draft":true}`}},
		"b-en-tutorial":  {w.sourceB, docSeed{url: "tutorial/advanced.md", language: "en", metadata: `{"tags":["async","advanced"]}`}},
		"b-und-code":     {w.sourceB, docSeed{url: "tutorial/code.md", language: ""}},
	} {
		w.alice[name] = b.seedDocument(ctx, t, "alice", doc.source, doc.docSeed, chunks(name))
	}
	// bob's documents match everything alice filters on.
	w.bob = b.seedDocument(ctx, t, "bob", w.bobSource, docSeed{url: "tutorial/intro.md", language: "en", metadata: `{"tags":["async","intro"],"date":"2024-01-15","draft":false}`}, chunks("bob"))
	w.bob = append(w.bob, b.seedDocument(ctx, t, "bob", w.bobSource, docSeed{url: "tutorial/einfuehrung.md", language: "de", metadata: `{"tags":"async"}`}, chunks("bob-de"))...)
	return w
}

func (w filterWorld) chunks(names ...string) []uuid.UUID {
	var ids []uuid.UUID
	for _, n := range names {
		ids = append(ids, w.alice[n]...)
	}
	return ids
}

func TestSearchFilters(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := setup(t)
	w := seedFilterWorld(ctx, t, b)
	all := []string{"a-en-tutorial", "a-de-tutorial", "a-en-reference", "b-en-tutorial", "b-und-code"}

	for _, tt := range []struct {
		name   string
		filter Query
		want   []string
	}{
		{"none", Query{}, all},
		{"source", Query{SourceIDs: []uuid.UUID{w.sourceB}}, []string{"b-en-tutorial", "b-und-code"}},
		{"sources", Query{SourceIDs: []uuid.UUID{w.sourceA, w.sourceB}}, all},
		{"path prefix", Query{PathPrefix: "tutorial/"}, []string{"a-en-tutorial", "a-de-tutorial", "b-en-tutorial", "b-und-code"}},
		{"path prefix is no pattern", Query{PathPrefix: "tutorial/%"}, nil},
		{"path prefix of one file", Query{PathPrefix: "reference/runtime.md"}, []string{"a-en-reference"}},
		{"language", Query{Languages: []string{"de"}}, []string{"a-de-tutorial"}},
		{"languages", Query{Languages: []string{"DE", "en"}}, []string{"a-en-tutorial", "a-de-tutorial", "a-en-reference", "b-en-tutorial"}},
		{"undetermined language", Query{Languages: []string{UndeterminedLanguage}}, []string{"b-und-code"}},
		{"tag in a list or alone", Query{Metadata: json.RawMessage(`{"tags":"async"}`)}, []string{"a-en-tutorial", "a-de-tutorial", "b-en-tutorial"}},
		{"tags as a list", Query{Metadata: json.RawMessage(`{"tags":["async","intro"]}`)}, []string{"a-en-tutorial"}},
		{"a boolean", Query{Metadata: json.RawMessage(`{"draft":false}`)}, []string{"a-en-tutorial"}},
		{"a date", Query{Metadata: json.RawMessage(`{"date":"2024-01-15"}`)}, []string{"a-en-tutorial"}},
		{"two keys", Query{Metadata: json.RawMessage(`{"tags":"async","draft":true}`)}, nil},
		{"empty metadata", Query{Metadata: json.RawMessage(` {} `)}, all},
		{"null metadata", Query{Metadata: json.RawMessage(`null`)}, all},
		{"combined", Query{SourceIDs: []uuid.UUID{w.sourceA}, PathPrefix: "tutorial/", Languages: []string{"en", "de"}, Metadata: json.RawMessage(`{"tags":"intro"}`)}, []string{"a-en-tutorial"}},
		// A filter can only narrow: bob's source names nothing of alice's.
		{"another user's source", Query{SourceIDs: []uuid.UUID{w.bobSource}}, nil},
		{"own and another user's source", Query{SourceIDs: []uuid.UUID{w.bobSource, w.sourceB}}, []string{"b-en-tutorial", "b-und-code"}},
		{"unknown source", Query{SourceIDs: []uuid.UUID{uuid.New()}}, nil},
	} {
		for _, mode := range []Mode{ModeHybrid, ModeVector, ModeText} {
			q := tt.filter
			q.UserID, q.Text, q.K, q.Mode = "alice", "tokio", MaxK, mode
			hits, err := b.hits(ctx, q)
			if err != nil {
				t.Fatalf("%s, %s: %v", tt.name, mode, err)
			}
			got := chunkIDs(hits)
			want := w.chunks(tt.want...)
			slices.SortFunc(got, compareIDs)
			slices.SortFunc(want, compareIDs)
			if !slices.Equal(got, want) {
				t.Errorf("%s, %s: %d hits %v, want %v", tt.name, mode, len(got), got, tt.want)
			}
			for _, h := range hits {
				if slices.Contains(w.bob, h.ChunkID) {
					t.Errorf("%s, %s: alice found bob's chunk", tt.name, mode)
				}
			}
		}
	}

	// The same filters as bob see only bob's chunks.
	hits, err := b.hits(ctx, Query{UserID: "bob", Text: "tokio", K: MaxK, SourceIDs: []uuid.UUID{w.sourceA, w.sourceB, w.bobSource}, PathPrefix: "tutorial/"})
	if err != nil {
		t.Fatal(err)
	}
	if got := chunkIDs(hits); len(got) != len(w.bob) || !slices.Contains(w.bob, got[0]) || !slices.Contains(w.bob, got[1]) {
		t.Fatalf("bob with alice's sources in his filter: %v, want only his %v", got, w.bob)
	}
}

func compareIDs(a, b uuid.UUID) int { return strings.Compare(a.String(), b.String()) }

// otherEmbedder is the test embedder under another model name.
type otherEmbedder struct{ *embed.Hashing }

func (otherEmbedder) Model() string { return "other-model-384" }

func TestSearchEmbeddingMismatchWarning(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := setup(t)

	matching, matchingIDs := b.seedSource(ctx, t, "alice", rustChunks)
	other := createSource(ctx, t, b.pool, "alice")
	otherIDs := b.seedDocumentWith(ctx, t, otherEmbedder{b.embedder}, "alice", other, docSeed{url: "other.md"}, rustChunks)
	// bob's chunks of another model are none of alice's business.
	bobSource := createSource(ctx, t, b.pool, "bob")
	b.seedDocumentWith(ctx, t, otherEmbedder{b.embedder}, "bob", bobSource, docSeed{url: "bob.md"}, rustChunks)

	warned := func(q Query) []Warning {
		t.Helper()
		q.UserID, q.Text = cmpString(q.UserID, "alice"), "tokio runtime"
		result, err := b.searcher.Search(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		return result.Warnings
	}

	// Over both sources, half the chunks are out of the vector list's
	// sight: found by full text only, and said so.
	result, err := b.searcher.Search(ctx, Query{UserID: "alice", Text: "tokio runtime", K: MaxK})
	if err != nil {
		t.Fatal(err)
	}
	if len(result.Warnings) != 1 || result.Warnings[0].Code != WarningEmbeddingMismatch ||
		!strings.Contains(result.Warnings[0].Message, "4 chunks in scope are embedded by other-model-384 (384 dimensions)") ||
		!strings.Contains(result.Warnings[0].Message, b.embedder.Model()) ||
		!strings.Contains(result.Warnings[0].Message, "found by full text only") {
		t.Fatalf("warnings %+v, want one naming the other model", result.Warnings)
	}
	for _, h := range result.Hits {
		if slices.Contains(otherIDs, h.ChunkID) && h.VectorRank != 0 {
			t.Errorf("a chunk of the other model was ranked by vector: %+v", h)
		}
	}
	if ws := warned(Query{Mode: ModeVector}); len(ws) != 1 || !strings.Contains(ws[0].Message, "not found at all in vector mode") {
		t.Errorf("vector mode: warnings %+v", ws)
	}
	if ws := warned(Query{SourceIDs: []uuid.UUID{other}}); len(ws) != 1 {
		t.Errorf("within the other model's source: warnings %+v", ws)
	}

	// No warning when nothing in scope is out of sight, or when the vector
	// list is not run.
	for name, q := range map[string]Query{
		"matching source":  {SourceIDs: []uuid.UUID{matching}},
		"text mode":        {Mode: ModeText},
		"a user with none": {UserID: "carol"},
		"nothing":          {PathPrefix: "nowhere/"},
	} {
		if ws := warned(q); len(ws) != 0 {
			t.Errorf("%s: warnings %+v, want none", name, ws)
		}
	}
	if _, err := b.pool.Exec(ctx, "DELETE FROM chunks WHERE source_id = $1", other); err != nil {
		t.Fatal(err)
	}
	if ws := warned(Query{}); len(ws) != 0 {
		t.Errorf("after the other model's chunks are gone: warnings %+v", ws)
	}
	if hits, err := b.hits(ctx, Query{UserID: "alice", Text: "tokio runtime", K: MaxK}); err != nil || len(hits) != len(matchingIDs) {
		t.Fatalf("%d hits, error %v", len(hits), err)
	}

	// A full vector list is not looked into: the check is for short lists.
	many := make([]chunkSeed, minCandidates)
	for i := range many {
		many[i] = chunkSeed{text: "tokio runtime note"}
	}
	b.seedDocument(ctx, t, "alice", matching, docSeed{url: "many.md"}, many)
	b.seedDocumentWith(ctx, t, otherEmbedder{b.embedder}, "alice", other, docSeed{url: "other-again.md"}, rustChunks)
	if ws := warned(Query{}); len(ws) != 0 {
		t.Errorf("with a full vector list: warnings %+v, want none (the check only runs when the list is short)", ws)
	}
}

func cmpString(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func TestSearchInvalidControls(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := setup(t)

	many := func(n int) []uuid.UUID {
		ids := make([]uuid.UUID, n)
		for i := range ids {
			ids[i] = uuid.New()
		}
		return ids
	}
	langs := make([]string, MaxLanguages+1)
	for i := range langs {
		langs[i] = string(rune('a'+i/26)) + string(rune('a'+i%26))
	}
	for _, tt := range []struct {
		query Query
		field string
	}{
		{Query{Mode: "semantic"}, "mode"},
		{Query{Mode: "HYBRID"}, "mode"},
		{Query{RRFK: -1}, "rrf_k"},
		{Query{RRFK: MaxRRFK + 1}, "rrf_k"},
		{Query{VectorWeight: -1}, "vector_weight"},
		{Query{TextWeight: MaxWeight + 1}, "text_weight"},
		{Query{SourceIDs: many(MaxSourceIDs + 1)}, "source_ids"},
		{Query{PathPrefix: "a\x00b"}, "path_prefix"},
		{Query{PathPrefix: "\xff"}, "path_prefix"},
		{Query{PathPrefix: strings.Repeat("a", MaxPathPrefixBytes+1)}, "path_prefix"},
		{Query{Languages: []string{"english"}}, "languages"},
		{Query{Languages: []string{"e1"}}, "languages"},
		{Query{Languages: []string{"en'; --"}}, "languages"},
		{Query{Languages: langs}, "languages"},
		{Query{Metadata: json.RawMessage(`["tags"]`)}, "metadata"},
		{Query{Metadata: json.RawMessage(`"tags"`)}, "metadata"},
		{Query{Metadata: json.RawMessage(`{"tags":`)}, "metadata"},
		{Query{Metadata: json.RawMessage(`{"a":1} {"b":2}`)}, "metadata"},
		{Query{Metadata: json.RawMessage(`{"":1}`)}, "metadata"},
		{Query{Metadata: json.RawMessage(`{"a":"nul\u0000"}`)}, "metadata"},
		{Query{Metadata: json.RawMessage(`{"a":{"b\u0000":1}}`)}, "metadata"},
		{Query{Metadata: json.RawMessage(`{"a":"` + strings.Repeat("x", MaxMetadataBytes) + `"}`)}, "metadata"},
	} {
		q := tt.query
		q.UserID, q.Text = "alice", "tokio"
		_, err := b.searcher.Search(ctx, q)
		if !errors.Is(err, ErrInvalidQuery) || !strings.Contains(err.Error(), ": "+tt.field+" ") {
			t.Errorf("query %+v: error %v, want ErrInvalidQuery naming %s", tt.query, err, tt.field)
		}
	}
	// The limits themselves are accepted, and repeats do not count twice.
	ids := many(MaxSourceIDs)
	q := Query{UserID: "alice", Text: "tokio", RRFK: MaxRRFK, VectorWeight: MaxWeight, TextWeight: 0.001,
		SourceIDs: append(ids, ids...), Languages: []string{"en", "EN", " und "}, Metadata: json.RawMessage("{\"a\":\"\xff\"}")}
	result, err := b.searcher.Search(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	if run := result.Query; len(run.SourceIDs) != MaxSourceIDs || !slices.Equal(run.Languages, []string{"en", "und"}) {
		t.Errorf("ran with %d sources and languages %q", len(run.SourceIDs), run.Languages)
	}
}
