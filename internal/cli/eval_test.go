package cli

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kollektiv/kollektiv/internal/dbtest"
	"github.com/kollektiv/kollektiv/internal/eval"
)

// Sections long enough (over the chunker's minimum of 100 tokens) to be
// chunks of their own, each with words no other section uses.
const (
	tomatoes = "Tomatoes want a sunny bed, loose soil rich in compost, and water at the roots rather than on the leaves. " +
		"Stake each tomato plant early, pinch the side shoots that grow between stem and branch, and mulch with straw " +
		"so the fruit never rests on damp earth. Feed every fortnight once the first trusses set; yellowing lower " +
		"leaves mean the plant is hungry. Pick tomatoes when they colour fully and give slightly to the thumb. " +
		"Blight arrives with warm wet weather: remove spotted foliage at once, keep the greenhouse aired, and never " +
		"compost the diseased haulm. Save seed from the best heirloom fruit by fermenting the pulp for three days."
	engines = "A diesel engine ignites its fuel by compression alone: the piston squeezes air until it is hot enough that " +
		"injected diesel burns without a spark plug. Glow plugs warm the cylinders on a cold morning. The turbocharger " +
		"uses exhaust gas to spin a compressor and force more air into the intake, and an intercooler chills that air " +
		"so it is denser. Change the oil and the fuel filter at the intervals the manufacturer gives, bleed air from " +
		"the injection pump after running the tank dry, and listen for knocking, which means injector timing is off. " +
		"Black smoke under load points at a clogged air filter or an overfuelling injector."
	violins = "A violin is tuned in fifths, G D A E, and played with a bow strung with horsehair that is rubbed with rosin " +
		"so it grips the strings. The bridge stands on the belly between the f-holes and carries the strings' vibration " +
		"into the spruce top; the sound post inside transmits it to the maple back. Loosen the bow hair after playing, " +
		"wipe rosin dust from the varnish, and keep the instrument away from radiators, since dry air cracks the wood. " +
		"Fine tuners on the tailpiece adjust steel strings; gut strings are tuned at the pegs, which a luthier fits " +
		"with peg compound so they neither slip nor stick."
)

// TestEvalEndToEnd ingests a small tree through a real worker and
// evaluates labelled questions against it with `kollektiv eval`: the
// figures are those of the hits the search returns, matched by document
// and heading, and the exact-heading set of the source finds every
// section first.
func TestEvalEndToEnd(t *testing.T) {
	t.Parallel()
	url := dbtest.DatabaseURL(t)
	startWorker(t, url)

	dir := t.TempDir()
	write := func(name, text string) {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("garden.md", "# Garden\n\n## Tomatoes { #tomatoes }\n\n"+tomatoes+"\n\n## Engines\n\n"+engines+"\n")
	write("music/violin.md", "# Violin care\n\n"+violins+"\n")
	env := map[string]string{"DATABASE_URL": url, "KOLLEKTIV_LOG_LEVEL": "warn"}
	r := run(t, env, "ingest", dir, "--wait", "--json")
	if r.code != 0 {
		t.Fatalf("ingest: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	var source struct {
		SourceID string `json:"source_id"`
		Chunks   int    `json:"chunks"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &source); err != nil || source.Chunks != 3 {
		t.Fatalf("ingest: %q, want three chunks", r.stdout)
	}

	// Each question's words are those of one section. The second asks
	// about tomatoes (and a turbocharger, so that Engines is the nearer of
	// the other two) but expects the Engines section of the same document:
	// a match on the document alone would count it answered first. The
	// first is answered by a chunk whose breadcrumb, with today's chunker,
	// is only "Garden" (the heading-only H1 merged into Tomatoes): by its
	// heading line. The
	// third names the document by a suffix of its path, the fourth a
	// document that does not exist.
	questions := filepath.Join(dir, "questions.tsv")
	if err := os.WriteFile(questions, []byte("# query\tdocument\theading\n"+
		"staking tomato plants and pinching side shoots\tgarden.md\tTomatoes\n"+
		"staking tomato plants and pinching side shoots, and a turbocharger\tgarden.md\tEngines\n"+
		"rosin for the bow hair and tuning pegs\tviolin.md\n"+
		"turbocharger intercooler diesel injection\tgarden/engines.md\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = run(t, env, "eval", "--json", "--source", source.SourceID, questions)
	if r.code != 0 {
		t.Fatalf("eval: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	var report struct {
		Questions int          `json:"questions"`
		K         int          `json:"k"`
		Metrics   eval.Metrics `json:"metrics"`
		Results   []eval.Result
	}
	if err := json.Unmarshal([]byte(r.stdout), &report); err != nil {
		t.Fatalf("eval --json: %v in %q", err, r.stdout)
	}
	if report.Questions != 4 || report.K != 10 || len(report.Results) != 4 {
		t.Fatalf("report %+v", report)
	}
	// With three chunks, all three come back for every question.
	ranks := []int{1, 2, 1, 0}
	for i, res := range report.Results {
		if res.Rank != ranks[i] || res.Hits != 3 || res.Tied != min(res.Rank, 1) {
			t.Errorf("question %d (line %d): rank %d of %d hits, %d tied; want rank %d of 3, no tie", i+1, res.Line, res.Rank, res.Hits, res.Tied, ranks[i])
		}
	}
	if top := report.Results[1].Top; top == nil || top.Relevant || top.DocumentURL != "garden.md" || len(top.Headers) == 0 || top.Headers[0] != "Garden" {
		t.Errorf("what ranked first for the Engines question: %+v", top)
	}
	want := eval.Metrics{RecallAt1: 2.0 / 4, RecallAt5: 3.0 / 4, RecallAt10: 3.0 / 4, MRRAt10: (1 + 0.5 + 1) / 4, NDCGAt10: (1 + 1/math.Log2(3) + 1) / 4}
	for _, name := range eval.MetricNames() {
		got, _ := report.Metrics.Get(name)
		w, _ := want.Get(name)
		if math.Abs(got-w) > 1e-9 {
			t.Errorf("%s = %.4f, want %.4f", name, got, w)
		}
	}

	// The plain report lists the misses and ends with the figures; a
	// figure below its --min exits 10 and says which.
	r = run(t, env, "eval", questions, "--min", "recall@1=0.5", "--min", "mrr@10=0.7")
	if r.code != exitBelowMinimum || !strings.Contains(r.stderr, "mrr@10 is 0.625, below the minimum 0.700") || strings.Contains(r.stderr, "recall@1") {
		t.Errorf("below a minimum: exit %d, stderr %q", r.code, r.stderr)
	}
	for _, s := range []string{
		"line 3: \"staking tomato plants and pinching side shoots, and a turbocharger\"\n  expected  garden.md § Engines\n  found     at rank 2\n  first     garden.md § Garden",
		"line 5: \"turbocharger intercooler diesel injection\"\n  expected  garden/engines.md\n  found     no relevant hit in 3\n",
		"4 questions from " + questions + "; 2 not answered first\n",
		"  recall@1   0.500\n  recall@5   0.750\n",
	} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("plain report without %q:\n%s", s, r.stdout)
		}
	}

	// Every section of the source is found first by its own heading.
	saved := filepath.Join(dir, "headings.jsonl")
	r = run(t, env, "eval", "--headings", "--source", source.SourceID, "--write-questions", saved, "--json", "--min", "recall@1=1")
	if r.code != 0 {
		t.Fatalf("eval --headings: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	report.Results = nil
	if err := json.Unmarshal([]byte(r.stdout), &report); err != nil {
		t.Fatal(err)
	}
	var asked []string
	for _, res := range report.Results {
		asked = append(asked, res.Document+" § "+res.Query)
	}
	if strings.Join(asked, ", ") != "garden.md § Garden, garden.md § Tomatoes, garden.md § Engines, music/violin.md § Violin care" || report.Metrics.RecallAt1 != 1 {
		t.Errorf("headings asked %q, recall@1 %v", asked, report.Metrics.RecallAt1)
	}
	if text, err := os.ReadFile(saved); err != nil || strings.Count(string(text), "\n") != 4 || !strings.Contains(string(text), `{"query":"Tomatoes","document":"garden.md","heading":"Tomatoes"}`) {
		t.Errorf("saved questions %q, %v", text, err)
	}

	// Another user sees no source; bad input exits 2 naming the line.
	if r := run(t, map[string]string{"DATABASE_URL": url, "KOLLEKTIV_USER": "mallory"}, "eval", "--headings", "--source", source.SourceID); r.code != 3 || !strings.Contains(r.stderr, "no source") {
		t.Errorf("another user's source: exit %d, %q", r.code, r.stderr)
	}
	bad := filepath.Join(dir, "bad.tsv")
	if err := os.WriteFile(bad, []byte("fine\tgarden.md\nno document here\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := run(t, env, "eval", bad); r.code != 2 || !strings.Contains(r.stderr, "bad.tsv:2: want query<TAB>document") || strings.Contains(r.stderr, "Usage") {
		t.Errorf("bad line: exit %d, %q", r.code, r.stderr)
	}
	for _, args := range [][]string{
		{"eval"},
		{"eval", "--headings", questions},
		{"eval", "--headings"},
		{"eval", "--min", "recall@3=0.5", questions},
		{"eval", "--min", "recall@5=2", questions},
		{"eval", "--source", "nope", questions},
		{"eval", "--write-questions", saved, questions},
	} {
		if r := run(t, env, args...); r.code != 2 {
			t.Errorf("%q: exit %d, want 2 (%s)", args, r.code, r.stderr)
		}
	}
}
