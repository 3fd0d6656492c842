package eval

import (
	"strings"
	"unicode/utf8"

	"github.com/kollektiv/kollektiv/internal/content"
	"github.com/kollektiv/kollektiv/internal/search"
)

// SourceDocument is a document of an ingested source: its URL (the path
// for a directory) and the markdown it was chunked from.
type SourceDocument struct {
	URL     string
	Content string
}

// HeadingQuestions returns the exact-heading question set of one source:
// for every section heading that is unique within docs (compared as
// Relevant compares them), a question whose query is the heading's text
// (without its { #anchor }, links reduced to their text) and whose answer
// is that section of its document. Every section should be found first by its own heading.
// Headings that occur more than once (two "Recap" sections, say) are left
// out, since no ranking could tell which is meant; so are headings without
// text or longer than a query may be. Questions come in document order,
// then heading order.
func HeadingQuestions(docs []SourceDocument) []Question {
	type section struct {
		document, heading string
	}
	var sections []section
	count := make(map[string]int)
	for _, d := range docs {
		for _, h := range content.Headings(d.Content) {
			text := headingText(h)
			if visibleText(text) == "" || utf8.RuneCountInString(text) > search.MaxTextLength || strings.ContainsRune(text, 0) {
				continue
			}
			sections = append(sections, section{document: d.URL, heading: text})
			count[normalizeHeading(text)]++
		}
	}
	var questions []Question
	for _, s := range sections {
		if count[normalizeHeading(s.heading)] == 1 {
			questions = append(questions, Question{Query: visibleText(s.heading), Document: s.document, Heading: s.heading})
		}
	}
	return questions
}
