package content

import (
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// fuzzOptions are the chunker sizes fuzzing uses: the defaults, small
// limits so that short inputs exercise every split, and the smallest
// maximum with a tiny target.
var fuzzOptions = []ChunkerOptions{
	{},
	{MaxTokens: 48, TargetTokens: 40, MinTokens: 10, OverlapTokens: 4},
	{MaxTokens: 32, TargetTokens: 4, MinTokens: 1, OverlapTokens: 1},
}

func FuzzChunk(f *testing.F) {
	for _, seed := range []string{
		"# A\n\ntext\n\n## B\n\nmore",
		"```go\n# not a heading\nfunc f() {}\n```\n",
		"| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |\n",
		"Title\n===\n\nbody\n\nSub\n---\n\nx",
		strings.Repeat("long line without breaks ", 200),
		"~~~\nunclosed fence\n\n# still code",
		"\xff\xfe invalid \r\n utf8 \x00 nul",
		"- item\n- item\n\n    indented code\n\n> quote",
		paragraphs(30),
		"# A { #a }\n\nx\n\n## A\n\n## A ## {#b .c k=\"v w\"}\n\n## {#only}\n\nT {: #t }\n---\n\n## Use {braces}\n\n##\n\ny",
	} {
		f.Add(seed)
	}
	chunkers := make([]*Chunker, len(fuzzOptions))
	for i, o := range fuzzOptions {
		chunkers[i] = newTestChunker(f, o)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		for _, c := range chunkers {
			chunks, err := c.Chunk(testDocID, doc)
			if strings.TrimSpace(normalizeMarkdown(doc)) == "" {
				if err == nil {
					t.Fatal("blank document chunked without error")
				}
				continue
			}
			if err != nil {
				t.Fatalf("Chunk: %v", err)
			}
			checkChunks(t, c, doc, chunks)
			again, err := c.Chunk(testDocID, doc)
			if err != nil || !reflect.DeepEqual(chunks, again) {
				t.Fatal("chunking is not deterministic")
			}
		}
	})
}

func FuzzConvertHTML(f *testing.F) {
	for _, seed := range []string{
		"<html><head><title>T</title></head><body><nav>menu</nav><main><h1>Hi</h1><p>text <a href='/x'>link</a></p></main></body></html>",
		"<table><tr><th>a</th></tr><tr><td>1</td></tr></table>",
		"<pre><code class='language-go'>fmt.Println(1)</code></pre>",
		"<p><img src='data:image/png;base64,AAAA'>caption</p><script>x()</script>",
		"<div><ul><li>one<li>two</ul></div><!-- comment -->",
		"<<<>>>&amp;&#0;",
	} {
		f.Add(seed)
	}
	c := newTestChunker(f, fuzzOptions[1])
	f.Fuzz(func(t *testing.T, src string) {
		page, err := convertHTML(src, "https://example.com/dir/page.html")
		if err != nil {
			return // the converter may refuse input; it must not panic
		}
		again, err := convertHTML(src, "https://example.com/dir/page.html")
		if err != nil || !reflect.DeepEqual(page, again) {
			t.Fatal("HTML conversion is not deterministic")
		}
		doc, derr := finish("page", page.markdown, FormatHTML, nil, page.title)
		if derr != nil {
			return
		}
		if dataURI.MatchString(doc.Content) {
			t.Fatalf("data URI left in %q", doc.Content)
		}
		chunks, err := c.Chunk(testDocID, doc.Content)
		if err != nil {
			t.Fatalf("Chunk of converted HTML: %v", err)
		}
		checkChunks(t, c, doc.Content, chunks)
	})
}

func FuzzFrontMatter(f *testing.F) {
	for _, seed := range []string{
		"---\ntitle: Hello\ntags: [a, b]\n---\n# Body\n",
		"+++\ntitle = 'x'\n+++\nbody",
		"---\n- a list\n---\nbody",
		"---\n: bad: yaml: [\n---\nbody",
		"---\nno end\n",
		"---\na: &a [*a]\n---\n",
		"---\r\ntitle: crlf\r\n---\r\nbody",
		"---\n1: one\n[a, b]: list key\nn: .nan\nd: 2024-01-02\n---\nbody",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		meta, body, err := splitFrontMatter(text)
		if err != nil {
			return
		}
		if _, err := json.Marshal(meta); err != nil {
			t.Fatalf("metadata %#v does not encode as JSON: %v", meta, err)
		}
		if !strings.HasSuffix(text, body) {
			t.Fatalf("body %q is not the end of the text", body)
		}
		if meta != nil && body == text {
			t.Fatal("front matter parsed but not removed")
		}
		_, body2, err := splitFrontMatter(text)
		if err != nil || body2 != body {
			t.Fatal("front matter split is not deterministic")
		}
	})
}

func FuzzCountTokens(f *testing.F) {
	for _, seed := range []string{
		"Hello, world! It's 12345 o'clock.",
		"  indented\n\n\tcode();\n",
		"héllo wörld e\u0301 日本語のテキスト",
		"'S 'LL 'ſ don't",
		"x  \u3000y\u00a0z",
		"| 12345 | row12345 | v86415 |\n|---|",
		"  \n  x\t\ty   \v\f'RE'll'x ((a --> 1234567",
	} {
		f.Add(seed)
	}
	c := newTestChunker(f, ChunkerOptions{})
	f.Fuzz(func(t *testing.T, s string) {
		s = strings.ToValidUTF8(s, "\uFFFD")
		if got, want := c.tok.count(s), c.tok.countRaw(s); got != want {
			t.Fatalf("segmented count %d, codec count %d for %q", got, want, s)
		}
		// Counted again: now partly from the cache.
		if got, want := c.tok.count(s), c.tok.countRaw(s); got != want {
			t.Fatalf("second segmented count %d, codec count %d for %q", got, want, s)
		}
		_, want, err := c.tok.codec.Encode(s)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := c.tok.encode(s); err != nil || !slices.Equal(got, want) {
			t.Fatalf("tokens %q (%v), codec tokens %q", got, err, want)
		}
		if got, ok := c.tok.asciiEncode(s); ok && !slices.Equal(got, want) {
			t.Fatalf("ASCII tokens %q, codec tokens %q", got, want)
		}
	})
}
