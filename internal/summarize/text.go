package summarize

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// sentences returns the prose sentences of a markdown chunk, each with its
// whitespace collapsed to single spaces, so that it occurs verbatim in the
// whitespace-collapsed source. Code blocks, headings, tables, HTML, include
// directives and admonition markers are skipped; list and quote markers are
// removed. Only sentences ending in '.', '!' or '?' with 6 to 50 words and
// no markdown link are kept: fragments and link-heavy lines read badly in a
// summary.
func sentences(chunk string) []string {
	var (
		out   []string
		para  []string
		fence string
	)
	flush := func() {
		if len(para) > 0 {
			out = appendSentences(out, strings.Join(para, " "))
			para = para[:0]
		}
	}
	for line := range strings.Lines(chunk) {
		t := strings.TrimSpace(line)
		if fence != "" {
			if strings.HasPrefix(t, fence) {
				fence = ""
			}
			continue
		}
		switch {
		case strings.HasPrefix(t, "```"), strings.HasPrefix(t, "~~~"):
			flush()
			fence = t[:3]
			continue
		case t == "", strings.HasPrefix(t, "#"), strings.HasPrefix(t, "|"), strings.HasPrefix(t, "<"),
			strings.HasPrefix(t, "!["), strings.HasPrefix(t, "///"), strings.HasPrefix(t, "{*"),
			strings.HasPrefix(t, "`"), strings.HasPrefix(t, "---"), strings.HasPrefix(t, "==="):
			flush()
			continue
		}
		if rest, ok := cutListMarker(t); ok {
			flush()
			t = rest
		}
		para = append(para, strings.Fields(t)...)
	}
	flush()
	return out
}

// cutListMarker removes a leading "- ", "* ", "+ ", "> " or "1. ".
func cutListMarker(t string) (string, bool) {
	for _, m := range []string{"- ", "* ", "+ ", "> "} {
		if rest, ok := strings.CutPrefix(t, m); ok {
			return strings.TrimSpace(rest), true
		}
	}
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i > 0 && i+1 < len(t) && (t[i] == '.' || t[i] == ')') && t[i+1] == ' ' {
		return strings.TrimSpace(t[i+2:]), true
	}
	return t, false
}

// appendSentences splits a paragraph whose words are joined by single
// spaces at '.', '!' or '?' followed by a space and a capital, digit,
// quote or backtick, except after a few common abbreviations.
func appendSentences(out []string, p string) []string {
	start := 0
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c != '.' && c != '!' && c != '?' {
			continue
		}
		if i+2 >= len(p) || p[i+1] != ' ' {
			continue
		}
		next, _ := utf8.DecodeRuneInString(p[i+2:])
		if !unicode.IsUpper(next) && !unicode.IsDigit(next) && next != '"' && next != '`' && next != '*' {
			continue
		}
		if c == '.' && abbreviation(p[start:i]) {
			continue
		}
		out = keepSentence(out, p[start:i+1])
		start = i + 2
	}
	return keepSentence(out, p[start:])
}

func abbreviation(before string) bool {
	w := strings.TrimLeft(before[strings.LastIndexByte(before, ' ')+1:], "([\"'*_")
	switch strings.ToLower(w) {
	case "e.g", "i.e", "etc", "vs", "cf", "mr", "mrs", "dr", "no", "fig":
		return true
	}
	return false
}

func keepSentence(out []string, s string) []string {
	if s == "" {
		return out
	}
	if last := s[len(s)-1]; last != '.' && last != '!' && last != '?' {
		return out
	}
	if strings.Contains(s, "](") || strings.Contains(s, "<") {
		return out
	}
	if end := s[strings.LastIndexByte(s, ' ')+1:]; abbreviation(end[:len(end)-1]) {
		return out // cut after an abbreviation: not a whole sentence
	}
	n := strings.Count(s, " ") + 1
	if n < 6 || n > 50 {
		return out
	}
	return append(out, s)
}

// forEachTerm calls fn with each lower-cased candidate keyword of text: a
// word of at least three characters that starts with a letter, made of
// letters, digits, '-' and '_' inside, outside code fences and URLs, and not
// a stop word.
func forEachTerm(text string, stop map[string]bool, fn func(term string)) {
	var fence string
	for line := range strings.Lines(text) {
		t := strings.TrimSpace(line)
		if fence != "" {
			if strings.HasPrefix(t, fence) {
				fence = ""
			}
			continue
		}
		if strings.HasPrefix(t, "```") || strings.HasPrefix(t, "~~~") {
			fence = t[:3]
			continue
		}
		for _, f := range strings.Fields(t) {
			if strings.Contains(f, "://") || strings.HasPrefix(f, "](") || strings.Contains(f, "](") {
				continue
			}
			for w := range strings.FieldsFuncSeq(f, func(r rune) bool {
				return !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != '-' && r != '_'
			}) {
				w = strings.Trim(w, "-_")
				if utf8.RuneCountInString(w) < 3 {
					continue
				}
				if first, _ := utf8.DecodeRuneInString(w); !unicode.IsLetter(first) {
					continue
				}
				w = strings.ToLower(w)
				if !stop[w] {
					fn(w)
				}
			}
		}
	}
}

// stopWords are English function words and words common to any
// documentation that make poor keywords.
const stopWords = `a about above after again against all also an and any are as at be because been
before being below between both but by can cannot could did do does doing done down during each
either else even every few for from further get gets got had has have having he her here hers
herself him himself his how however i if in into is it its itself just let like make makes many may
me might more most much must my myself need needs new no nor not now of off often on once one only
or other others our ours ourselves out over own per same see several shall she should since so
some such than that the their theirs them themselves then there these they this those though
through thus to too under until up upon us use used uses using very via want was way we well were
what when where whether which while who whom whose why will with within without would yet you your
yours yourself yourselves example examples following first second next last instead already
always never still just really actually simply something anything everything nothing another
etc e.g i.e will won't can't don't doesn't isn't aren't it's you're we're they're that's here's
able across along around available based called case default different does easy end given good
include including includes part possible provide provides provided set sets specific take way
ways work works true false none null http https www com org html md`

func stopWordSet() map[string]bool {
	set := make(map[string]bool, 400)
	for _, w := range strings.Fields(stopWords) {
		set[w] = true
	}
	return set
}
