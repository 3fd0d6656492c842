package eval

import (
	"reflect"
	"testing"

	"github.com/kollektiv/kollektiv/internal/search"
)

func TestRelevant(t *testing.T) {
	t.Parallel()
	chunk := search.Hit{
		DocumentURL: "fastapi/docs/en/docs/tutorial/path-params.md",
		Headers:     []string{"Path Parameters { #path-parameters }", "Predefined values { #predefined-values }"},
		Text: "## Predefined values { #predefined-values }\n\nUse an Enum.\n\n" +
			"### Create an `Enum` class { #create-an-enum-class }\n\nImport it.\n\n" +
			"```python\n# Not a heading\n```\n",
	}
	for _, tc := range []struct {
		name     string
		document string
		heading  string
		want     bool
	}{
		{"same path", "fastapi/docs/en/docs/tutorial/path-params.md", "", true},
		{"path relative to a parent of the source", "docs/tutorial/path-params.md", "", true},
		{"file name", "path-params.md", "", true},
		{"path from a parent directory", "corpus/fastapi/docs/en/docs/tutorial/path-params.md", "", true},
		{"not on a / boundary", "arams.md", "", false},
		{"longer, not on a / boundary", "xfastapi/docs/en/docs/tutorial/path-params.md", "", false},
		{"another document", "tutorial/query-params.md", "", false},
		{"breadcrumb, outer", "tutorial/path-params.md", "Path Parameters", true},
		{"breadcrumb, its anchor in the label", "tutorial/path-params.md", "Predefined values { #predefined-values }", true},
		{"heading line in the text", "tutorial/path-params.md", "Create an `Enum` class", true},
		{"without code marks, another case", "tutorial/path-params.md", "create an enum  CLASS", true},
		{"a comment in a code block is no heading", "tutorial/path-params.md", "Not a heading", false},
		{"a heading the chunk does not hold", "tutorial/path-params.md", "Order matters", false},
		{"the heading in another document", "tutorial/query-params.md", "Predefined values", false},
		{"a part of a heading", "tutorial/path-params.md", "Predefined", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			q := Question{Query: "q", Document: tc.document, Heading: tc.heading}
			if got := Relevant(q, chunk); got != tc.want {
				t.Errorf("Relevant(%q § %q) = %v, want %v", tc.document, tc.heading, got, tc.want)
			}
		})
	}

	// A chunk without headers or heading lines holds no heading.
	bare := search.Hit{DocumentURL: "a.md", Headers: []string{}, Text: "Plain text."}
	if Relevant(Question{Document: "a.md", Heading: "Intro"}, bare) || !Relevant(Question{Document: "a.md"}, bare) {
		t.Error("a bare chunk: want relevant to its document only")
	}
}

func TestNormalizeHeading(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"Path Parameters { #path-parameters }": "path parameters",
		"Use `HTTPException`{#use}":            "use httpexception",
		"**FastAPI** plug-ins":                 "fastapi plug-ins",
		"  The _tests_   Directory ":           "the _tests_ directory",
		"Step 1: import `FastAPI`":             "step 1: import fastapi",
		"Sets { not an anchor }":               "sets { not an anchor }",
		"[Hug](https://github.com/hugapi/hug)": "hug",
		"See ![logo](l.png) [the `API`](a.md)": "see logo the api",
	} {
		if got := normalizeHeading(in); got != want {
			t.Errorf("normalizeHeading(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHeadingQuestions(t *testing.T) {
	t.Parallel()
	docs := []SourceDocument{
		{URL: "a.md", Content: "# Alpha { #alpha }\n\n## Recap\n\ntext\n\n## Tomatoes\n\n```sh\n# not a heading\n```\n\nSetext heading\n--------------\n"},
		{URL: "guide/b.md", Content: "# Beta\n\n## Recap\n\n## `Engines`\n\n### recap\n\n#\n\n## [Hug](https://github.com/hugapi/hug) (<= 0.5)\n\n## [](empty.md)\n"},
		{URL: "c.md", Content: "No heading at all."},
	}
	got := HeadingQuestions(docs)
	want := []Question{
		{Query: "Alpha", Document: "a.md", Heading: "Alpha"},
		{Query: "Tomatoes", Document: "a.md", Heading: "Tomatoes"},
		{Query: "Setext heading", Document: "a.md", Heading: "Setext heading"},
		{Query: "Beta", Document: "guide/b.md", Heading: "Beta"},
		{Query: "`Engines`", Document: "guide/b.md", Heading: "`Engines`"},
		{Query: "Hug (<= 0.5)", Document: "guide/b.md", Heading: "[Hug](https://github.com/hugapi/hug) (<= 0.5)"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}
