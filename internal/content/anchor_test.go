package content

import (
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestCutHeadingAttributes(t *testing.T) {
	t.Parallel()

	for _, tc := range []struct {
		title, text, id string
		ok              bool
	}{
		{"Path Parameters { #path-parameters }", "Path Parameters", "path-parameters", true},
		{"Path Parameters {#path-parameters}", "Path Parameters", "path-parameters", true},
		{"Title {#id .class key=val}", "Title", "id", true},
		{"Title {.class #id}", "Title", "id", true},
		{"Title {: #id }", "Title", "id", true},
		{"Title {:#id}", "Title", "id", true},
		{`Title {#id title="two words" data-x=1}`, "Title", "id", true},
		{"Title { .unnumbered }", "Title", "", true},
		{"Title {-}", "Title", "", true},
		{"Title\t{#tab}", "Title", "tab", true},
		{"{#only}", "", "only", true},
		{"Use {braces} in Rust", "Use {braces} in Rust", "", false},
		{"Use {braces}", "Use {braces}", "", false},
		{"impl Trait {}", "impl Trait {}", "", false},
		{"Set {a, b}", "Set {a, b}", "", false},
		{"Glued{#id}", "Glued{#id}", "", false},
		{"Lone {#}", "Lone {#}", "", false},
		{`Open {#id key="never closed}`, `Open {#id key="never closed}`, "", false},
		{"Nested {#a {#b}}", "Nested {#a {#b}}", "", false},
		{"No list", "No list", "", false},
	} {
		text, id, ok := cutHeadingAttributes(tc.title)
		if text != tc.text || id != tc.id || ok != tc.ok {
			t.Errorf("cutHeadingAttributes(%q) = %q, %q, %v; want %q, %q, %v", tc.title, text, id, ok, tc.text, tc.id, tc.ok)
		}
	}
}

func TestSlug(t *testing.T) {
	t.Parallel()

	for title, want := range map[string]string{
		"Path Parameters":                        "path-parameters",
		"Installing `rustup` on Linux or macOS":  "installing-rustup-on-linux-or-macos",
		"What's new in 2.0?":                     "whats-new-in-20",
		"C++ & Rust":                             "c--rust",
		"snake_case and kebab-case":              "snake_case-and-kebab-case",
		"[Links](https://example.com/a) in text": "links-in-text",
		"The <code>Option</code> enum":           "the-option-enum",
		"Ünïcode Straße":                         "ünïcode-straße",
		"日本語 の 見出し":                              "日本語-の-見出し",
		"???":                                    "",
	} {
		if got := slug(title); got != want {
			t.Errorf("slug(%q) = %q, want %q", title, got, want)
		}
	}
}

func TestSluggerNumbersDuplicates(t *testing.T) {
	t.Parallel()

	var s slugger
	var got []string
	for _, h := range []struct{ title, id string }{
		{"Intro", ""},
		{"Intro", ""},
		{"Intro", ""},
		{"Intro 1", ""},       // github-slugger: "intro-1" is taken, so "intro-1-1"
		{"Other", "explicit"}, // an id is the author's, kept as written
		{"Explicit", ""},      // and a slug does not take it again
		{"???", ""},
	} {
		got = append(got, s.anchor(h.title, h.id))
	}
	want := []string{"intro", "intro-1", "intro-2", "intro-1-1", "explicit", "explicit-1", ""}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("anchors = %q, want %q", got, want)
	}
}

// sectionsOf chunks doc with every section a chunk of its own and returns
// the chunks by their first line (the last one when two start alike).
func sectionsOf(t *testing.T, doc string) map[string]Chunk {
	t.Helper()
	c := newTestChunker(t, ChunkerOptions{MinTokens: 1})
	chunks, err := c.Chunk(testDocID, doc)
	if err != nil {
		t.Fatal(err)
	}
	checkChunks(t, c, doc, chunks)
	out := map[string]Chunk{}
	for _, ch := range chunks {
		first, _, _ := strings.Cut(ch.Text, "\n")
		out[first] = ch
	}
	return out
}

func TestChunkAnchors(t *testing.T) {
	t.Parallel()

	doc := `Above the first heading.

# Tutorial { #tutorial-user-guide }

Intro.

## Path Parameters {#path-parameters .section data-x="a b"}

Text.

## Query Parameters {: #query }

Text.

## Use {braces} in Rust

Text.

## Closed ## {#closed-after}

Text.

## Closed Before {#closed-before} ##

Text.

## Plain Closed ##

Text.

## Examples

Text.

## Examples

Text.

##

Under an empty heading.

Setext Title { #setext }
------------------------

Text.

Setext Plain
------------

Text.
`
	got := sectionsOf(t, doc)
	for first, want := range map[string]struct {
		headers []string
		anchor  string
	}{
		"Above the first heading.": {nil, ""},
		"# Tutorial":               {[]string{"Tutorial"}, "tutorial-user-guide"},
		"## Path Parameters":       {[]string{"Tutorial", "Path Parameters"}, "path-parameters"},
		"## Query Parameters":      {[]string{"Tutorial", "Query Parameters"}, "query"},
		"## Use {braces} in Rust":  {[]string{"Tutorial", "Use {braces} in Rust"}, "use-braces-in-rust"},
		"## Closed":                {[]string{"Tutorial", "Closed"}, "closed-after"},
		"## Closed Before":         {[]string{"Tutorial", "Closed Before"}, "closed-before"},
		"## Plain Closed ##":       {[]string{"Tutorial", "Plain Closed"}, "plain-closed"},
		"##":                       {[]string{"Tutorial"}, "tutorial-user-guide"}, // no text, no fragment of its own
		"Setext Title":             {[]string{"Tutorial", "Setext Title"}, "setext"},
		"Setext Plain":             {[]string{"Tutorial", "Setext Plain"}, "setext-plain"},
	} {
		ch, ok := got[first]
		if !ok {
			t.Errorf("no chunk starts with %q; chunks start with %q", first, slices.Sorted(maps.Keys(got)))
			continue
		}
		if !reflect.DeepEqual(ch.Headers, want.headers) || ch.Anchor != want.anchor {
			t.Errorf("chunk %q: headers %q anchor %q, want %q %q", first, ch.Headers, ch.Anchor, want.headers, want.anchor)
		}
	}
	// The second "Examples" is numbered as GitHub numbers it; no
	// attribute list is left anywhere.
	chunks, err := newTestChunker(t, ChunkerOptions{MinTokens: 1}).Chunk(testDocID, doc)
	if err != nil {
		t.Fatal(err)
	}
	var anchors []string
	for _, ch := range chunks {
		if strings.HasPrefix(ch.Text, "## Examples") {
			anchors = append(anchors, ch.Anchor)
		}
		for _, s := range append(append([]string{ch.Text}, ch.Headers...), ch.Headings...) {
			if strings.Contains(s, "{#") || strings.Contains(s, "{ #") || strings.Contains(s, "{: #") {
				t.Errorf("chunk %d keeps an attribute list: %q", ch.Ordinal, s)
			}
		}
	}
	if want := []string{"examples", "examples-1"}; !reflect.DeepEqual(anchors, want) {
		t.Errorf("anchors of the two Examples = %q, want %q", anchors, want)
	}
}

func TestChunkAttributeListInCodeStays(t *testing.T) {
	t.Parallel()

	doc := "# Code\n\n```md\n## Kept { #kept }\n```\n"
	chunks, err := newTestChunker(t, ChunkerOptions{}).Chunk(testDocID, doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(chunks) != 1 || !strings.Contains(chunks[0].Text, "## Kept { #kept }") || chunks[0].Anchor != "code" {
		t.Errorf("chunks %+v, want one with the fence as written and anchor code", chunks)
	}
}

func TestTitleWithoutAttributeList(t *testing.T) {
	t.Parallel()

	doc, err := PrepareDocument("", "tutorial/path-params.md", "# Path Parameters { #path-parameters }\n\nText.", PrepareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if doc.Title != "Path Parameters" {
		t.Errorf("title %q, want Path Parameters", doc.Title)
	}
	doc, err = PrepareDocument("", "setext.md", "Setext Title {#top}\n===\n\nText.", PrepareOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if doc.Title != "Setext Title" {
		t.Errorf("title %q, want Setext Title", doc.Title)
	}
}

func TestSectionURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ url, anchor, want string }{
		{"doc/faq.md", "runtime", "doc/faq.md#runtime"},
		{"doc/faq.md", "", "doc/faq.md"},
		{"https://example.com/a#old", "new", "https://example.com/a#new"},
		{"https://example.com/a#old", "", "https://example.com/a#old"},
		{"doc/faq.md", "größe und #", "doc/faq.md#gr%C3%B6%C3%9Fe%20und%20%23"},
	} {
		if got := SectionURL(tc.url, tc.anchor); got != tc.want {
			t.Errorf("SectionURL(%q, %q) = %q, want %q", tc.url, tc.anchor, got, tc.want)
		}
	}
}
