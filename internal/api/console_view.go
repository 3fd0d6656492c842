package api

import (
	"fmt"
	"html/template"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// consoleFuncs are the helpers the console's templates use.
var consoleFuncs = template.FuncMap{
	"crumbs": func(headers []string) string { return strings.Join(headers, " › ") },
	"short":  func(id fmt.Stringer) string { return id.String()[:8] },
	"when": func(t time.Time) string {
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"deref": func(s *string) string {
		if s == nil {
			return ""
		}
		return *s
	},
	"score": func(f float64) string { return fmt.Sprintf("%.4f", f) },
	"optScore": func(f *float64) string {
		if f == nil {
			return "not in this list"
		}
		return fmt.Sprintf("%.4f", *f)
	},
	"rank": func(n int) string {
		if n == 0 {
			return "not in this list"
		}
		return fmt.Sprint(n)
	},
	"bytes": func(n int64) string {
		switch {
		case n >= 1<<20:
			return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
		case n >= 1<<10:
			return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
		}
		return fmt.Sprintf("%d bytes", n)
	},
}

// queryTerms are the words of a search to highlight in its hits: lower
// case, without the words the query excludes (-word) and those of a
// single character.
func queryTerms(q string) []string {
	var terms []string
	for field := range strings.FieldsSeq(q) {
		if strings.HasPrefix(field, "-") {
			continue
		}
		for _, w := range strings.FieldsFunc(field, notWordRune) {
			if utf8.RuneCountInString(w) > 1 {
				terms = append(terms, strings.ToLower(w))
			}
		}
	}
	return terms
}

func notWordRune(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }

// matches reports whether a word of a hit is a form of a query term: the
// same word, or one starting with the other where the shorter has at least
// four letters (parameter, parameters; install, installing), as the full
// text search's stemming finds them.
func matches(word string, terms []string) bool {
	w := strings.ToLower(word)
	for _, t := range terms {
		short, long := t, w
		if len(short) > len(long) {
			short, long = long, short
		}
		if w == t || (utf8.RuneCountInString(short) >= 4 && strings.HasPrefix(long, short)) {
			return true
		}
	}
	return false
}

// highlight escapes text and marks the words matching terms with <mark>.
func highlight(text string, terms []string) template.HTML {
	var b strings.Builder
	for len(text) > 0 {
		i := strings.IndexFunc(text, func(r rune) bool { return !notWordRune(r) })
		if i < 0 {
			b.WriteString(template.HTMLEscapeString(text))
			break
		}
		b.WriteString(template.HTMLEscapeString(text[:i]))
		text = text[i:]
		j := strings.IndexFunc(text, notWordRune)
		if j < 0 {
			j = len(text)
		}
		word := text[:j]
		if matches(word, terms) {
			b.WriteString("<mark>" + template.HTMLEscapeString(word) + "</mark>")
		} else {
			b.WriteString(template.HTMLEscapeString(word))
		}
		text = text[j:]
	}
	return template.HTML(b.String()) //nolint:gosec // every piece of text is escaped above
}
