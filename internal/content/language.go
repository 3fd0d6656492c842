package content

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/abadojack/whatlanggo"
	"golang.org/x/text/language"
)

// Language detection limits.
const (
	// languageSampleBytes is how much prose DetectLanguage reads: the
	// detector's time grows with its input, and a few paragraphs tell a
	// language as well as a whole book.
	languageSampleBytes = 1024
	// minLanguageLetters is the fewest letters DetectLanguage decides on: a
	// page of code with one comment line is no evidence of a language.
	minLanguageLetters = 40
	// minLanguageConfidence is the detector's confidence (0 to 1) below
	// which the language is left undetermined; whatlanggo calls a result
	// reliable above 0.8.
	minLanguageConfidence = 0.8
	// minOtherLatinLetters is the fewest letters for a language other than
	// English written in Latin script. The two errors do not cost the same:
	// an undetermined page is indexed as English and loses only its
	// stemming, while an English page called French is stemmed as French
	// and missed by English queries. On short lists of commands (tldr
	// pages of ../shared/corpus: "Import a certificate:", "Get certificate
	// details:") trigrams call English French with full confidence; with
	// fewer than this many letters such a result is not trusted.
	minOtherLatinLetters = 300
)

// DocumentLanguage returns the ISO 639-1 code of the language of a
// document: a valid "lang" or "language" field of its metadata (front
// matter) when there is one, else DetectLanguage of its markdown.
func DocumentLanguage(metadata map[string]any, markdown string) string {
	for _, key := range []string{"lang", "language"} {
		if v, ok := metadata[key].(string); ok {
			if code := LanguageCode(v); code != "" {
				return code
			}
		}
	}
	return DetectLanguage(markdown)
}

// LanguageCode returns the ISO 639-1 code of a language tag ("de",
// "pt-BR", "en_US", "German" is not one), "" when tag is no known language
// with a two-letter code.
func LanguageCode(tag string) string {
	base, err := language.ParseBase(strings.TrimSpace(strings.SplitN(strings.ReplaceAll(tag, "_", "-"), "-", 2)[0]))
	if err != nil {
		return ""
	}
	if code := base.String(); len(code) == 2 {
		return code
	}
	return ""
}

// DetectLanguage returns the ISO 639-1 code of the language the prose of
// markdown is written in, or "" when it cannot tell: too little prose (code
// blocks, inline code, URLs and HTML tags are not prose), or a detector
// confidence under minLanguageConfidence, or a language other than English
// in Latin script with fewer than minOtherLatinLetters letters. It reads the
// first
// languageSampleBytes of prose only. The detector is whatlanggo: trigrams
// of 84 languages, the script alone for Chinese, Japanese and Korean, no
// data files. Prose whose commonest English words make up a share no other
// language's text has is English without asking it (looksEnglish), which
// spares most documentation the detector's time.
func DetectLanguage(markdown string) string {
	sample := prose(markdown, languageSampleBytes)
	if looksEnglish(sample) {
		return "en"
	}
	return detectLanguage(sample)
}

// detectLanguage is DetectLanguage of a sample of prose by the detector
// alone.
func detectLanguage(sample string) string {
	letters := 0
	for _, r := range sample {
		if unicode.IsLetter(r) {
			letters++
		}
	}
	// A CJK character is a word, not a letter: fewer of them say as much.
	enough := letters >= minLanguageLetters ||
		letters >= minLanguageLetters/4 && strings.ContainsFunc(sample, isCJKLetter)
	if !enough {
		return ""
	}
	info := whatlanggo.Detect(sample)
	if info.Confidence < minLanguageConfidence {
		return ""
	}
	if info.Lang != whatlanggo.Eng && info.Script == unicode.Latin && letters < minOtherLatinLetters {
		return ""
	}
	return info.Lang.Iso6391()
}

// isCJKLetter reports whether r is Han, Hiragana, Katakana or Hangul.
func isCJKLetter(r rune) bool {
	return unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul)
}

// prose returns up to limit bytes of the prose of markdown: fenced code
// blocks, inline code spans, link targets, bare URLs and HTML tags left
// out, each replaced by a space.
func prose(markdown string, limit int) string {
	var b strings.Builder
	b.Grow(min(limit, len(markdown)))
	fence := ""
	for line := range strings.Lines(markdown) {
		if b.Len() >= limit {
			break
		}
		trimmed := strings.TrimLeft(line, " ")
		if fence != "" {
			if strings.HasPrefix(trimmed, fence) && strings.TrimSpace(strings.TrimLeft(trimmed, fence[:1])) == "" {
				fence = ""
			}
			continue
		}
		if len(line)-len(trimmed) <= 3 && (strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~")) {
			fence = trimmed[:3]
			continue
		}
		writeProse(&b, line)
	}
	s := b.String()
	if len(s) > limit {
		s = s[:limit]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
	}
	return s
}

// writeProse writes line to b without its code spans, link targets, URLs
// and HTML tags.
func writeProse(b *strings.Builder, line string) {
	for line != "" {
		i := strings.IndexAny(line, "`](<h")
		if i < 0 {
			b.WriteString(line)
			return
		}
		b.WriteString(line[:i])
		line = line[i:]
		skip := 1
		switch {
		case line[0] == '`':
			if end := strings.IndexByte(line[1:], '`'); end >= 0 {
				skip = end + 2
			}
		case strings.HasPrefix(line, "]("):
			if end := strings.IndexByte(line, ')'); end >= 0 {
				skip = end + 1
			}
		case line[0] == '<':
			if end := strings.IndexByte(line, '>'); end >= 0 {
				skip = end + 1
			}
		case strings.HasPrefix(line, "http://") || strings.HasPrefix(line, "https://"):
			skip = strings.IndexFunc(line, unicode.IsSpace)
			if skip < 0 {
				skip = len(line)
			}
		default:
			b.WriteByte(line[0])
			line = line[1:]
			continue
		}
		b.WriteByte(' ')
		line = line[skip:]
	}
}

// englishMarkers are English words frequent in any English prose and rare
// in other languages' (not "is", which Dutch uses as much; "for" is a
// Danish and Norwegian word too, but far less frequent there).
var englishMarkers = map[string]bool{
	"the": true, "and": true, "of": true, "to": true, "that": true, "with": true,
	"you": true, "your": true, "this": true, "are": true, "which": true, "for": true,
}

// Thresholds of looksEnglish.
const (
	// minMarkedWords is the fewest words looksEnglish decides on.
	minMarkedWords = 20
	// minEnglishMarkerShare is the share of englishMarkers among the words
	// of English prose: about 15% in running text, 10% in terse technical
	// writing, 1 to 2% in German, French or Dutch.
	minEnglishMarkerShare = 0.08
)

// looksEnglish reports whether at least minEnglishMarkerShare of the words
// of sample, and minMarkedWords of them, are englishMarkers. A word is a
// run of letters; case is ignored.
func looksEnglish(sample string) bool {
	words, marked := 0, 0
	var word [8]byte
	n := 0
	end := func() {
		if n > 0 {
			words++
			if n <= len(word) && englishMarkers[string(word[:n])] {
				marked++
			}
		}
		n = 0
	}
	for _, r := range sample {
		if !unicode.IsLetter(r) {
			end()
			continue
		}
		if n < len(word) && r < utf8.RuneSelf {
			word[n] = byte(unicode.ToLower(r))
		} else {
			word[len(word)-1] = 0 // longer than any marker, or not ASCII
		}
		n++
	}
	end()
	return words >= minMarkedWords && float64(marked) >= minEnglishMarkerShare*float64(words)
}
