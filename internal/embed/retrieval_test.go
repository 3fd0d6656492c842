package embed

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/kollektiv/kollektiv/internal/content"
	"github.com/kollektiv/kollektiv/internal/testcorpus"
)

// TestRetrievalVariants measures the vector list alone, without a database:
// the FastAPI docs and the Rust book chunked by the real chunker, every
// chunk embedded by each variant of the hashing method, each query ranked
// against all chunks by exact cosine. It prints Recall@1, Recall@5 and
// MRR@10 per query set and variant. It runs only when
// KOLLEKTIV_EMBED_EVAL is set: to a JSONL file of labelled questions
// ({"query", "document", "heading"}), or to "headings" for the
// exact-heading and probe sets alone.
//
//	KOLLEKTIV_EMBED_EVAL=../../docs/eval/corpus-dev.jsonl go test ./internal/embed -run TestRetrievalVariants -v
func TestRetrievalVariants(t *testing.T) {
	env := os.Getenv("KOLLEKTIV_EMBED_EVAL")
	if env == "" {
		t.Skip("set KOLLEKTIV_EMBED_EVAL to a question file or to \"headings\"")
	}
	corpus := loadEvalCorpus(t)
	headings := headingQueries(corpus)
	if os.Getenv("KOLLEKTIV_EMBED_EVAL_ALL_HEADINGS") == "" {
		// Every fourth heading keeps the loop fast; set
		// KOLLEKTIV_EMBED_EVAL_ALL_HEADINGS for all of them.
		var some []evalQuery
		for i := 0; i < len(headings.queries); i += 4 {
			some = append(some, headings.queries[i])
		}
		headings.queries = some
	}
	sets := []evalSet{headings, {name: "probe", queries: probeQueries}}
	if env != "headings" {
		dev := readEvalQueries(t, env)
		var odd, even []evalQuery
		for i, q := range dev {
			if i%2 == 0 {
				even = append(even, q)
			} else {
				odd = append(odd, q)
			}
		}
		sets = append(sets, evalSet{name: "dev", queries: dev}, evalSet{name: "dev-even", queries: even}, evalSet{name: "dev-odd", queries: odd})
	}
	variants := evalVariants()
	if only := os.Getenv("KOLLEKTIV_EMBED_VARIANTS"); only != "" {
		variants = slices.DeleteFunc(variants, func(v evalVariant) bool { return !slices.Contains(strings.Split(only, ","), v.name) })
	}
	t.Logf("%d chunks in %d documents", len(corpus.chunks), len(corpus.docs))
	var lines []string
	lines = append(lines, fmt.Sprintf("| variant | %s |", strings.Join(mapSets(sets, func(s evalSet) string {
		return fmt.Sprintf("%s (%d) R@1 | R@5 | MRR@10", s.name, len(s.queries))
	}), " | ")))
	for _, v := range variants {
		h := newHashing(cmp.Or(v.dims, 384), 0, v.method)
		vecs, err := h.Embed(context.Background(), corpus.texts)
		if err != nil {
			t.Fatal(err)
		}
		row := fmt.Sprintf("| %s |", v.name)
		for _, s := range sets {
			r1, r5, mrr := evaluate(t, h, corpus, vecs, s.queries)
			row += fmt.Sprintf(" %.3f | %.3f | %.3f |", r1, r5, mrr)
		}
		lines = append(lines, row)
		t.Log(row)
	}
	t.Log("\n" + strings.Join(lines, "\n"))
}

type evalVariant struct {
	name   string
	method method
	dims   int // 0 means 384
}

func evalVariants() []evalVariant {
	vs := []evalVariant{{name: "v1", method: methodV1}, {name: "v2", method: methodV2}}
	for _, g := range []struct{ lo, hi int }{{3, 3}, {4, 4}, {3, 4}, {3, 5}, {3, 6}} {
		for _, w := range []float32{0.25, 0.5, 1} {
			for _, minWord := range []int{1, 4, 5} {
				vs = append(vs, evalVariant{name: fmt.Sprintf("v1+gram%d-%d@%.2f/w%d", g.lo, g.hi, w, minWord),
					method: method{wordW: 1, pairW: 1, minN: g.lo, maxN: g.hi, gramW: w, gramMin: minWord}})
			}
		}
	}
	for _, pw := range []float32{0, 0.5, 2} {
		vs = append(vs, evalVariant{name: fmt.Sprintf("v2/pair@%.1f", pw), method: method{wordW: 1, pairW: pw, minN: 3, maxN: 5, gramW: 0.5, gramMin: 4}})
	}
	for _, d := range []int{768, 1536} {
		vs = append(vs, evalVariant{name: fmt.Sprintf("v1/d%d", d), method: methodV1, dims: d})
		vs = append(vs, evalVariant{name: fmt.Sprintf("v2/d%d", d), method: methodV2, dims: d})
	}
	return vs
}

type evalCorpus struct {
	docs   []string // path relative to the corpus root
	chunks []evalChunk
	texts  []string // EmbedText of each chunk
}

type evalChunk struct {
	doc      int
	headings []string // every heading the chunk holds: its header path's last, and those in its text
}

type evalQuery struct {
	Query    string `json:"query"`
	Document string `json:"document"`
	Heading  string `json:"heading"`
}

type evalSet struct {
	name    string
	queries []evalQuery
}

var (
	headingLine = regexp.MustCompile(`(?m)^#{1,6}[ \t]+(.+?)[ \t]*$`)
	anchorTail  = regexp.MustCompile(`\s*\{\s*#[^}]*\}\s*$`)
)

func cleanHeading(h string) string {
	return strings.TrimSpace(anchorTail.ReplaceAllString(strings.TrimRight(h, "# \t"), ""))
}

// loadEvalCorpus chunks the English FastAPI docs and the Rust book.
func loadEvalCorpus(t *testing.T) *evalCorpus {
	t.Helper()
	root := testcorpus.Dir(t)
	chunker, err := content.NewChunker(content.ChunkerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := &evalCorpus{}
	for _, sub := range []string{"fastapi/docs/en/docs", "rust-book/src"} {
		err := filepath.WalkDir(filepath.Join(root, sub), func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".md") {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, path)
			chunks, err := chunker.Chunk(uuid.Nil, string(b))
			if errors.Is(err, content.ErrEmpty) {
				return nil
			} else if err != nil {
				return err
			}
			doc := len(c.docs)
			c.docs = append(c.docs, filepath.ToSlash(rel))
			for _, ch := range chunks {
				var hs []string
				if len(ch.Headers) > 0 {
					hs = append(hs, cleanHeading(ch.Headers[len(ch.Headers)-1]))
				}
				for _, m := range headingLine.FindAllStringSubmatch(ch.Text, -1) {
					hs = append(hs, cleanHeading(m[1]))
				}
				c.chunks = append(c.chunks, evalChunk{doc: doc, headings: hs})
				c.texts = append(c.texts, ch.EmbedText())
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// headingQueries makes every distinct heading of the corpus a query whose
// target is its section.
func headingQueries(c *evalCorpus) evalSet {
	seen := map[[2]string]bool{}
	var qs []evalQuery
	for _, ch := range c.chunks {
		for _, h := range ch.headings {
			key := [2]string{c.docs[ch.doc], h}
			if h == "" || seen[key] {
				continue
			}
			seen[key] = true
			qs = append(qs, evalQuery{Query: h, Document: c.docs[ch.doc], Heading: h})
		}
	}
	return evalSet{name: "headings", queries: qs}
}

func readEvalQueries(t *testing.T, path string) []evalQuery {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var qs []evalQuery
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var q evalQuery
		if err := json.Unmarshal(sc.Bytes(), &q); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		qs = append(qs, q)
	}
	return qs
}

// evaluate returns Recall@1, Recall@5 and MRR@10 of queries against the
// chunk vectors: a query is found at the first rank whose chunk is of its
// document and holds its heading.
func evaluate(t *testing.T, h *Hashing, c *evalCorpus, vecs [][]float32, queries []evalQuery) (r1, r5, mrr float64) {
	t.Helper()
	texts := mapSets(queries, func(q evalQuery) string { return q.Query })
	qv, err := h.Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	type scored struct {
		i     int
		score float32
	}
	ranked := make([]scored, len(vecs))
	for qi, q := range queries {
		for i, v := range vecs {
			var dot float32
			for k := range v {
				dot += v[k] * qv[qi][k]
			}
			ranked[i] = scored{i, dot}
		}
		slices.SortFunc(ranked, func(a, b scored) int {
			return cmp.Or(cmp.Compare(b.score, a.score), cmp.Compare(a.i, b.i))
		})
		for rank, s := range ranked[:10] {
			ch := c.chunks[s.i]
			doc := c.docs[ch.doc]
			if doc != q.Document && !strings.HasSuffix(doc, "/"+q.Document) {
				continue
			}
			if q.Heading != "" && !slices.Contains(ch.headings, q.Heading) {
				continue
			}
			if rank == 0 {
				r1++
			}
			if rank < 5 {
				r5++
			}
			mrr += 1 / float64(rank+1)
			break
		}
	}
	n := float64(len(queries))
	return r1 / n, r5 / n, mrr / n
}

func mapSets[T any](xs []T, f func(T) string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}

// probeQueries are reworded questions of the embedder's own, written
// before any variant was measured: each shares a word stem but few exact
// words with its target section.
var probeQueries = []evalQuery{
	{"how do I configure the settings from environment variables", "fastapi/docs/en/docs/advanced/settings.md", ""},
	{"validating numeric query arguments greater than zero", "fastapi/docs/en/docs/tutorial/path-params-numeric-validations.md", ""},
	{"uploading files in a form", "fastapi/docs/en/docs/tutorial/request-files.md", ""},
	{"dependency injection of a database session", "fastapi/docs/en/docs/tutorial/dependencies/dependencies-with-yield.md", ""},
	{"authenticate users with hashed passwords and tokens", "fastapi/docs/en/docs/tutorial/security/oauth2-jwt.md", ""},
	{"running tasks after returning the response", "fastapi/docs/en/docs/tutorial/background-tasks.md", ""},
	{"serving static assets like images and css", "fastapi/docs/en/docs/tutorial/static-files.md", ""},
	{"cross origin requests from a browser frontend", "fastapi/docs/en/docs/tutorial/cors.md", ""},
	{"testing the application with a client", "fastapi/docs/en/docs/tutorial/testing.md", ""},
	{"handling errors and raising exceptions with status codes", "fastapi/docs/en/docs/tutorial/handling-errors.md", ""},
	{"borrowing rules and mutable references", "rust-book/src/ch04-02-references-and-borrowing.md", ""},
	{"iterating over the elements of a vector", "rust-book/src/ch08-01-vectors.md", ""},
	{"recoverable failures returned as values", "rust-book/src/ch09-02-recoverable-errors-with-result.md", ""},
	{"defining shared behaviour across types", "rust-book/src/ch10-02-traits.md", ""},
	{"lifetimes annotations for references in functions", "rust-book/src/ch10-03-lifetime-syntax.md", ""},
	{"closures capturing their environment", "rust-book/src/ch13-01-closures.md", ""},
	{"smart pointer that counts references", "rust-book/src/ch15-04-rc.md", ""},
	{"spawning threads and joining them", "rust-book/src/ch16-01-threads.md", ""},
	{"sending messages between threads over channels", "rust-book/src/ch16-02-message-passing.md", ""},
	{"matching on enumerations with patterns", "rust-book/src/ch06-02-match.md", ""},
	{"organizing code into modules and controlling privacy", "rust-book/src/ch07-02-defining-modules-to-control-scope-and-privacy.md", ""},
	{"writing automated tests and assertions", "rust-book/src/ch11-01-writing-tests.md", ""},
	{"publishing a crate to the registry", "rust-book/src/ch14-02-publishing-to-crates-io.md", ""},
	{"unsafe code and raw pointer dereferencing", "rust-book/src/ch20-01-unsafe-rust.md", ""},
}

// BenchmarkChunkAndEmbed reports chunks/s on one goroutine for the CPU
// work of ingest per document, the chunker and the embedder, for each
// version of the hashing method: the English FastAPI docs and the Rust
// book, chunked and embedded as persist_chunks embeds them.
// chunks/cpu-s counts the CPU time of the benchmark's thread alone.
func BenchmarkChunkAndEmbed(b *testing.B) {
	root := testcorpus.Dir(b)
	var docs []string
	for _, sub := range []string{"fastapi/docs/en/docs", "rust-book/src"} {
		err := filepath.WalkDir(filepath.Join(root, sub), func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".md") {
				return err
			}
			data, err := os.ReadFile(path)
			docs = append(docs, string(data))
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	chunker, err := content.NewChunker(content.ChunkerOptions{})
	if err != nil {
		b.Fatal(err)
	}
	for _, version := range []int{1, 2} {
		b.Run(fmt.Sprintf("v%d", version), func(b *testing.B) {
			h, err := NewHashing(HashingConfig{Version: version})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			cpu0 := threadCPU(b)
			chunks := 0
			for b.Loop() {
				for _, doc := range docs {
					cs, err := chunker.Chunk(uuid.Nil, doc)
					if err != nil {
						continue
					}
					texts := make([]string, len(cs))
					for i, c := range cs {
						texts[i] = c.EmbedText()
					}
					if _, err := h.Embed(ctx, texts); err != nil {
						b.Fatal(err)
					}
					chunks += len(cs)
				}
			}
			b.ReportMetric(float64(chunks)/b.Elapsed().Seconds(), "chunks/s")
			b.ReportMetric(float64(chunks)/(threadCPU(b)-cpu0).Seconds(), "chunks/cpu-s")
		})
	}
}
