package eval

import (
	"regexp"
	"strings"

	"github.com/kollektiv/kollektiv/internal/content"
	"github.com/kollektiv/kollektiv/internal/search"
)

// Relevant reports whether hit answers q: its document is q.Document and,
// when q names a heading, its chunk holds that heading. This is the one
// definition of a relevant hit; every figure counts with it.
func Relevant(q Question, hit search.Hit) bool {
	if !documentMatches(hit.DocumentURL, q.Document) {
		return false
	}
	if q.Heading == "" {
		return true
	}
	want := normalizeHeading(q.Heading)
	for _, h := range chunkHeadings(hit) {
		if normalizeHeading(h) == want {
			return true
		}
	}
	return false
}

// documentMatches reports whether a hit's document URL is the expected
// document: the same string, or one ends with the other after a "/". So a
// path relative to the corpus root ("fastapi/docs/en/docs/index.md")
// matches a source ingested from the corpus root, from a parent directory
// ("corpus/fastapi/docs/en/docs/index.md") or from a directory inside it
// ("index.md"). Paths are compared whole: "b.md" matches "guide/b.md",
// never "guide/ab.md". A bare file name then matches that name in any
// directory of the searched sources; scope with --source, or label with
// the longer path, when names repeat.
func documentMatches(url, expected string) bool {
	return url == expected || strings.HasSuffix(url, "/"+expected) || strings.HasSuffix(expected, "/"+url)
}

// chunkHeadings returns every heading a hit's chunk holds: the breadcrumb
// of headings above it, and each heading line in its text (a section that
// was merged into the chunk of a neighbour is only there). When search.Hit
// carries the chunk's other headings (chunks.headings), add them here.
func chunkHeadings(hit search.Hit) []string {
	headings := make([]string, 0, len(hit.Headers)+2)
	headings = append(headings, hit.Headers...)
	return append(headings, content.Headings(hit.Text)...)
}

// anchorSuffix is a heading's explicit anchor: "Path Parameters { #path-params }".
var anchorSuffix = regexp.MustCompile(`\s*\{\s*#[^{}]*\}\s*$`)

// markdownLink is an inline link, "[text](url)", or an image.
var markdownLink = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)

// normalizeHeading makes the form two headings are compared in: without a
// trailing { #anchor }, links reduced to their text, without code and
// emphasis marks (` and *), white space collapsed, case folded. A label
// typed by hand ("Use HTTPException") then matches the markdown ("Use
// `HTTPException`").
func normalizeHeading(h string) string {
	h = visibleText(anchorSuffix.ReplaceAllString(h, ""))
	h = strings.Map(func(r rune) rune {
		if r == '`' || r == '*' {
			return -1
		}
		return r
	}, h)
	return strings.ToLower(strings.Join(strings.Fields(h), " "))
}

// headingText is a heading as a label: its text without the { #anchor }.
func headingText(h string) string {
	return strings.TrimSpace(anchorSuffix.ReplaceAllString(h, ""))
}

// visibleText is what a reader sees of a heading's markdown links: their
// text. A heading asked as a question is asked this way.
func visibleText(h string) string {
	return strings.TrimSpace(markdownLink.ReplaceAllString(h, "$1"))
}
