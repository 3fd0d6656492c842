package summarize

import (
	"cmp"
	"fmt"
	"strings"
)

// systemPrompt tells a language model what the summary is for.
const systemPrompt = `You summarise a documentation source for a search index used in retrieval-augmented generation.
You are given the titles of some of its documents and its most representative excerpts.
Write a factual summary of 100 to 150 words saying what the documentation covers and who it is for,
and 5 to 10 keywords (short terms that occur in the documentation, most important first).
Use only what the titles and excerpts support.`

// summaryToolName is the tool Claude is forced to call and the JSON schema
// name sent to OpenAI-compatible servers.
const summaryToolName = "record_summary"

// summarySchema is the JSON schema of Summary. It satisfies OpenAI's strict
// mode: every property required, no additional properties.
func summarySchema() map[string]any {
	return map[string]any{
		"type": "object",
		"properties": map[string]any{
			"summary": map[string]any{
				"type":        "string",
				"description": "A summary of 100 to 150 words of what the documentation covers.",
			},
			"keywords": map[string]any{
				"type":        "array",
				"items":       map[string]any{"type": "string"},
				"description": "5 to 10 keywords that occur in the documentation, most important first.",
			},
		},
		"required":             []string{"summary", "keywords"},
		"additionalProperties": false,
	}
}

// userPrompt renders a digest for a language model.
func userPrompt(d Digest) string {
	var b strings.Builder
	if d.Source != "" {
		fmt.Fprintf(&b, "Source: %s\n", d.Source)
	}
	total := cmp.Or(d.TotalDocuments, len(d.Documents))
	fmt.Fprintf(&b, "Documents: %d", total)
	if len(d.Documents) < total {
		fmt.Fprintf(&b, " (titles of %d shown)", len(d.Documents))
	}
	b.WriteString("\n\n<titles>\n")
	for _, doc := range d.Documents {
		fmt.Fprintf(&b, "- %s", cmp.Or(doc.Title, doc.URL))
		if doc.URL != "" && doc.Title != "" {
			fmt.Fprintf(&b, " (%s)", doc.URL)
		}
		b.WriteString("\n")
	}
	b.WriteString("</titles>\n")
	for i, c := range d.Chunks {
		fmt.Fprintf(&b, "\n<excerpt n=\"%d\">\n%s\n</excerpt>\n", i+1, strings.TrimSpace(c))
	}
	return b.String()
}
