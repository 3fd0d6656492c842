package content

import (
	"net/url"
	"strconv"
	"strings"
	"unicode"
)

// slugger gives the headings of one document their URL fragments, as
// GitHub does: a heading's slug, numbered -1, -2, ... when an earlier
// heading took it. The zero value is ready to use.
type slugger struct {
	seen map[string]int // slug -> how many later headings had it
}

// anchor returns the fragment of a heading with text title and id from its
// attribute list: the id when there is one, else the title's slug made
// unique in the document. It returns "" for a title with no slug ("???").
func (s *slugger) anchor(title, id string) string {
	if s.seen == nil {
		s.seen = map[string]int{}
	}
	if id != "" {
		// Written by the author: kept as it is, and no slug takes it later.
		if _, ok := s.seen[id]; !ok {
			s.seen[id] = 0
		}
		return id
	}
	base := slug(title)
	if base == "" {
		return ""
	}
	result := base
	for {
		if _, ok := s.seen[result]; !ok {
			break
		}
		s.seen[base]++
		result = base + "-" + strconv.Itoa(s.seen[base])
	}
	s.seen[result] = 0
	return result
}

// slug makes a heading's text a fragment as GitHub (github-slugger) does:
// lower-cased, every character but letters, digits, '_', '-' and spaces
// dropped, each space made '-'. The text is first read as GitHub shows it:
// a link is its text, an HTML tag nothing.
func slug(title string) string {
	title = inlineText(title)
	var sb strings.Builder
	sb.Grow(len(title))
	for _, r := range title {
		r = unicode.ToLower(r)
		switch {
		case r == ' ':
			sb.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsMark(r) || unicode.In(r, unicode.Nd, unicode.Nl, unicode.Pc):
			sb.WriteRune(r)
		}
	}
	return sb.String()
}

// inlineText removes the markup of links ("[text](url)" is "text") and
// HTML tags from heading text. Other markup (`code`, *emphasis*) is
// punctuation that slug drops anyway.
func inlineText(s string) string {
	if !strings.ContainsAny(s, "[<") {
		return s
	}
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '<':
			// A tag: "<" then a letter or "/", up to ">".
			if i+1 < len(s) && (s[i+1] == '/' || isASCIILetter(s[i+1])) {
				if end := strings.IndexByte(s[i:], '>'); end > 0 {
					i += end
					continue
				}
			}
		case ']':
			// "](url)": the destination goes, the text stays.
			if i+1 < len(s) && s[i+1] == '(' {
				if end := strings.IndexByte(s[i:], ')'); end > 0 {
					i += end
					continue
				}
			}
		}
		sb.WriteByte(s[i])
	}
	return sb.String()
}

func isASCIILetter(b byte) bool {
	return ('a' <= b && b <= 'z') || ('A' <= b && b <= 'Z')
}

// SectionURL returns the link to the section of the document at
// documentURL whose anchor is given: the URL itself when anchor is "", else
// the URL with anchor, escaped as a fragment, in place of any fragment it
// had. Search hits and the documents API link to chunks with it.
func SectionURL(documentURL, anchor string) string {
	if anchor == "" {
		return documentURL
	}
	base, _, _ := strings.Cut(documentURL, "#")
	return base + "#" + (&url.URL{Fragment: anchor}).EscapedFragment()
}
