package content

// Headings returns the text of every heading in markdown, in order, as the
// chunker reads them: ATX and setext headings, none inside a code fence.
// `kollektiv eval` lists a document's sections with it and finds the
// heading lines a chunk's text holds.
func Headings(markdown string) []string {
	var titles []string
	for _, b := range parseBlocks(normalizeMarkdown(markdown)) {
		if b.kind == blockHeading {
			titles = append(titles, b.title)
		}
	}
	return titles
}
