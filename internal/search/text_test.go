package search

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kollektiv/kollektiv/internal/store"
)

// textHits returns the chunks of hits found by full text, in text rank
// order.
func textHits(hits []Hit) []uuid.UUID {
	found := slices.Clone(hits)
	found = slices.DeleteFunc(found, func(h Hit) bool { return h.TextRank == 0 })
	slices.SortFunc(found, func(a, b Hit) int { return a.TextRank - b.TextRank })
	return chunkIDs(found)
}

func (b *testBundle) textSearch(ctx context.Context, t *testing.T, user, text string) []uuid.UUID {
	t.Helper()
	hits, err := b.searcher.Search(ctx, Query{UserID: user, Text: text, K: MaxK})
	if err != nil {
		t.Fatalf("%q: %v", text, err)
	}
	return textHits(hits)
}

func TestSearchTextAnyWord(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := setup(t)
	_, ids := b.seedSource(ctx, t, "alice", []chunkSeed{
		{headers: []string{"Guide"}, text: "Configure the tokio runtime with a builder."},
		{headers: []string{"Guide"}, text: "The runtime spawns worker threads."},
		{headers: []string{"Guide"}, text: "Cargo downloads crates."},
		// The words in a heading weigh more than the same words in a body.
		{headers: []string{"Scheduler"}, text: "Some text about queues."},
		{headers: []string{"Queues"}, text: "A note on the scheduler of queues."},
	})

	// Two of three words (the third in no chunk), then one of three: both
	// found, the better match first; a chunk with none is not.
	got := b.textSearch(ctx, t, "alice", "configure tokio runtimes quickly")
	if want := []uuid.UUID{ids[0], ids[1]}; !slices.Equal(got, want) {
		t.Errorf("any word: text hits %v, want %v", got, want)
	}
	got = b.textSearch(ctx, t, "alice", "scheduler")
	if want := []uuid.UUID{ids[3], ids[4]}; !slices.Equal(got, want) {
		t.Errorf("heading against body: text hits %v, want the heading match %v first", got, want)
	}

	// "or" is what every word already is; a phrase must be there; an
	// excluded word must not.
	got = b.textSearch(ctx, t, "alice", "cargo or tokio")
	if want := []uuid.UUID{ids[0], ids[2]}; !sameSet(got, want) {
		t.Errorf("or: text hits %v, want %v", got, want)
	}
	got = b.textSearch(ctx, t, "alice", `runtime "worker threads"`)
	if want := []uuid.UUID{ids[1]}; !slices.Equal(got, want) {
		t.Errorf("phrase: text hits %v, want %v", got, want)
	}
	got = b.textSearch(ctx, t, "alice", `"threads worker"`)
	if len(got) != 0 {
		t.Errorf("phrase in the wrong order: text hits %v, want none", got)
	}
	got = b.textSearch(ctx, t, "alice", "runtime -tokio")
	if want := []uuid.UUID{ids[1]}; !slices.Equal(got, want) {
		t.Errorf("exclusion: text hits %v, want %v", got, want)
	}
	got = b.textSearch(ctx, t, "alice", `runtime -"tokio runtime"`)
	if want := []uuid.UUID{ids[1]}; !slices.Equal(got, want) {
		t.Errorf("excluded phrase: text hits %v, want %v", got, want)
	}
	// Stop words alone: no text hits, the vector list still answers.
	hits, err := b.searcher.Search(ctx, Query{UserID: "alice", Text: "the of a"})
	if err != nil || len(hits) == 0 || len(textHits(hits)) != 0 {
		t.Errorf("stop words: %d hits, %d by text, error %v; want vector hits only", len(hits), len(textHits(hits)), err)
	}
	// Nobody else's chunks, whatever the words.
	if got := b.textSearch(ctx, t, "bob", "configure tokio runtime scheduler"); len(got) != 0 {
		t.Errorf("bob found alice's chunks by text: %v", got)
	}
}

func sameSet(a, b []uuid.UUID) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	cmp := func(x, y uuid.UUID) int { return slices.Compare(x[:], y[:]) }
	slices.SortFunc(a, cmp)
	slices.SortFunc(b, cmp)
	return slices.Equal(a, b)
}

func TestSearchTextLanguages(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := setup(t)
	_, ids := b.seedSource(ctx, t, "alice", []chunkSeed{
		{language: "de", headers: []string{"Installation"}, text: "Die Einstellungen werden aus den Dateien gelesen, die im Arbeitsverzeichnis liegen."},
		{language: "zh", headers: []string{"安装"}, text: "要安装此应用程序，请先下载软件包并将其解压到您选择的目录中。"},
		{language: "ja", headers: []string{"インストール"}, text: "まずパッケージをダウンロードして、任意のディレクトリに展開してください。"},
		{language: "ko", headers: []string{"설치"}, text: "먼저 패키지를 다운로드하고 서버를 시작합니다."},
		{language: "", headers: []string{"Files"}, text: "Settings are read from files in the working directory."},
	})
	de, zh, ja, ko, en := ids[0], ids[1], ids[2], ids[3], ids[4]
	for _, tt := range []struct {
		query string
		want  []uuid.UUID
	}{
		// German stemming: "Datei" and "Einstellung" meet "Dateien" and
		// "Einstellungen"; the English chunk's "files" is not German.
		{"Datei Einstellung", []uuid.UUID{de}},
		// English stemming still applies to the English chunk.
		{"setting", []uuid.UUID{en}},
		// Chinese: a word inside a sentence without spaces, and a
		// question that shares only some of its pairs with the text.
		{"软件包", []uuid.UUID{zh}},
		{"如何下载软件", []uuid.UUID{zh}},
		// Japanese: katakana and kanji inside a sentence.
		{"ダウンロード", []uuid.UUID{ja}},
		{"ディレクトリ", []uuid.UUID{ja}},
		// Korean: a word without its particle.
		{"서버", []uuid.UUID{ko}},
		// A CJK phrase must be there whole.
		{`"软件包"`, []uuid.UUID{zh}},
		{`"包软件"`, nil},
	} {
		if got := b.textSearch(ctx, t, "alice", tt.query); !slices.Equal(got, tt.want) {
			t.Errorf("%q: text hits %v, want %v (de %v, zh %v, ja %v, ko %v, en %v)", tt.query, got, tt.want, de, zh, ja, ko, en)
		}
	}
}

func TestParseTextQuery(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		text string
		want textQuery
	}{
		{"configure the Runtime", textQuery{words: []string{"configure", "the", "Runtime"}}},
		{"tokio OR runtime or tokio", textQuery{words: []string{"tokio", "runtime"}}},
		{`"worker threads" -tokio -"old api" spawn`, textQuery{words: []string{"spawn"}, phrases: []string{"worker threads"}, excluded: []string{"tokio", "old api"}}},
		{`"unterminated phrase`, textQuery{phrases: []string{"unterminated phrase"}}},
		{`- "" -`, textQuery{}},
		{"安装包", textQuery{words: []string{"安 装", "装 包"}}},
		{"API设计", textQuery{words: []string{"API", "设 计"}}},
		{"库 x", textQuery{words: []string{"库", "x"}}},
		{`"软件包"`, textQuery{phrases: []string{" 软  件  包 "}}},
	} {
		got := parseTextQuery(tt.text)
		if !slices.Equal(got.words, tt.want.words) || !slices.Equal(got.phrases, tt.want.phrases) || !slices.Equal(got.excluded, tt.want.excluded) {
			t.Errorf("%q: %+v, want %+v", tt.text, got, tt.want)
		}
	}
}

func TestRequiredWords(t *testing.T) {
	t.Parallel()
	words := []string{"common", "rare", "middling", "rarest"}
	shares := []float64{0.5, 0.001, 0.02, 0.0001}
	// 100,000 chunks: the rarest (10) and rare (100) fit in maxScored,
	// middling (2,000 more) does not.
	if got, want := required(words, shares, 100_000), []string{"rarest", "rare"}; !slices.Equal(got, want) {
		t.Errorf("required %v, want %v", got, want)
	}
	// A small table: every word.
	if got := required(words, shares, 1000); len(got) != len(words) {
		t.Errorf("at 1,000 chunks, required %v, want every word", got)
	}
	// Only common words: the rarest of them still.
	if got, want := required([]string{"a", "b"}, []float64{0.6, 0.4}, 100_000), []string{"b"}; !slices.Equal(got, want) {
		t.Errorf("common words only: required %v, want %v", got, want)
	}
	// No statistics yet: every word.
	if got := required(words, make([]float64, len(words)), -1); len(got) != len(words) {
		t.Errorf("without statistics, required %v, want every word", got)
	}
}

// TestTextStatistics reads what ANALYZE found of the chunks' lexemes.
func TestTextStatistics(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b := setup(t)
	chunks := make([]chunkSeed, 200)
	for i := range chunks {
		chunks[i] = chunkSeed{text: "common words everywhere"}
		if i%10 == 0 {
			chunks[i].text += " sometimes"
		}
	}
	b.seedSource(ctx, t, "alice", chunks) // analyzes chunks
	stats, err := store.GetTextStatistics(ctx, b.pool)
	if err != nil {
		t.Fatal(err)
	}
	if stats.Chunks != 200 || stats.Shares["common"] != 1 || stats.Shares["sometim"] < 0.05 || stats.Shares["sometim"] > 0.15 || stats.MinShare <= 0 {
		t.Errorf("statistics %+v, want 200 chunks, common in all, sometim in a tenth", stats)
	}
}
