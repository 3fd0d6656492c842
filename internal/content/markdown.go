package content

import (
	"strings"
	"unicode"
)

type blockKind int

const (
	blockText blockKind = iota
	blockHeading
	blockCode
	blockTable
)

// block is a run of lines that belongs together: a paragraph or list, a
// heading, a fenced code block or a table.
type block struct {
	kind  blockKind
	lines []string
	level int    // heading level, 1-6
	title string // heading text, its attribute list removed
	id    string // the id of the heading's attribute list ("{#id}"), if any
}

// normalizeMarkdown makes the text the chunker works on: valid UTF-8, "\n"
// line endings, no control characters, no trailing white space. The promise
// that no line is lost is made about this text. Trimming trailing space
// also keeps the tokenizer linear: its pattern \s*[\r\n]+ backtracks
// quadratically over runs like " \n \n \n", which can no longer occur.
func normalizeMarkdown(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if strings.IndexByte(s, '\r') >= 0 {
		s = strings.ReplaceAll(s, "\r\n", "\n")
		s = strings.ReplaceAll(s, "\r", "\n")
	}
	if strings.IndexFunc(s, isControl) >= 0 {
		s = strings.Map(func(r rune) rune {
			if isControl(r) {
				return -1
			}
			return r
		}, s)
	}
	lines := strings.Split(s, "\n")
	changed := false
	for i, l := range lines {
		if t := strings.TrimRightFunc(l, unicode.IsSpace); len(t) != len(l) {
			lines[i] = t
			changed = true
		}
	}
	if changed {
		s = strings.Join(lines, "\n")
	}
	return strings.Trim(s, "\n")
}

// isControl matches the control characters that carry no text: C0 but tab
// and line feed, and DEL, which the tokenizer silently drops.
func isControl(r rune) bool {
	return (r < 0x20 && r != '\t' && r != '\n') || r == 0x7f
}

// parseBlocks splits normalised markdown into blocks. It is a line scanner,
// not a full CommonMark parser: it knows what decides chunk boundaries
// (ATX and setext headings, fences, tables, blank lines) and keeps every
// other line as text.
func parseBlocks(doc string) []block {
	lines := strings.Split(doc, "\n")
	var blocks []block
	var para []string
	flush := func() {
		if len(para) > 0 {
			blocks = append(blocks, block{kind: blockText, lines: para})
			para = nil
		}
	}
	for i := 0; i < len(lines); i++ {
		line := lines[i]
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		if marker, ok := openFence(line); ok {
			flush()
			end := len(lines)
			for j := i + 1; j < len(lines); j++ {
				if closesFence(lines[j], marker) {
					end = j + 1
					break
				}
			}
			blocks = append(blocks, block{kind: blockCode, lines: lines[i:end]})
			i = end - 1
			continue
		}
		if level, title, ok := atxHeading(line); ok {
			flush()
			b := block{kind: blockHeading, lines: lines[i : i+1], level: level, title: title}
			if text, id, ok := cutHeadingAttributes(title); ok {
				// The attribute list is markup, not text: the heading line
				// is written again without it (and without a closing #
				// sequence, which changes nothing).
				b.title, b.id = text, id
				b.lines = []string{strings.TrimRight(strings.Repeat("#", level)+" "+text, " ")}
			}
			blocks = append(blocks, b)
			continue
		}
		if level, ok := setextUnderline(line); ok && len(para) == 1 && !isListItem(para[0]) {
			b := block{kind: blockHeading, lines: lines[i-1 : i+1], level: level, title: strings.TrimSpace(para[0])}
			if text, id, ok := cutHeadingAttributes(b.title); ok && text != "" {
				b.title, b.id = text, id
				b.lines = []string{text, line}
			}
			para = nil
			blocks = append(blocks, b)
			continue
		}
		if i+1 < len(lines) && strings.Contains(line, "|") && isTableDelimiter(lines[i+1]) {
			flush()
			end := i + 2
			for end < len(lines) && strings.TrimSpace(lines[end]) != "" && strings.Contains(lines[end], "|") {
				end++
			}
			blocks = append(blocks, block{kind: blockTable, lines: lines[i:end]})
			i = end - 1
			continue
		}
		para = append(para, line)
	}
	flush()
	return blocks
}

// openFence reports whether line opens a fenced code block and returns the
// fence (the run of ` or ~). Fences indented more than three spaces are
// accepted because fences inside list items are indented.
func openFence(line string) (string, bool) {
	t := strings.TrimLeft(line, " \t")
	if len(t) < 3 || (t[0] != '`' && t[0] != '~') {
		return "", false
	}
	n := 0
	for n < len(t) && t[n] == t[0] {
		n++
	}
	if n < 3 {
		return "", false
	}
	// A backtick fence's info string may not contain a backtick.
	if t[0] == '`' && strings.Contains(t[n:], "`") {
		return "", false
	}
	return t[:n], true
}

func closesFence(line, marker string) bool {
	t := strings.TrimSpace(line)
	if !strings.HasPrefix(t, marker) {
		return false
	}
	return strings.Trim(t, marker[:1]) == ""
}

// atxHeading parses "# Title" (up to three spaces of indent, 1-6 #).
func atxHeading(line string) (int, string, bool) {
	t := line
	for i := 0; i < 3 && strings.HasPrefix(t, " "); i++ {
		t = t[1:]
	}
	level := 0
	for level < len(t) && t[level] == '#' {
		level++
	}
	if level == 0 || level > 6 {
		return 0, "", false
	}
	rest := t[level:]
	if rest != "" && rest[0] != ' ' && rest[0] != '\t' {
		return 0, "", false
	}
	rest = strings.TrimSpace(rest)
	rest = trimClosingSequence(rest)
	// An attribute list may follow the closing sequence ("## Title ##
	// {#id}", as Pandoc allows): the sequence before it goes too, and
	// parseBlocks cuts the list itself.
	if text, _, ok := cutHeadingAttributes(rest); ok {
		if trimmed := trimClosingSequence(text); trimmed != text {
			rest = trimmed + rest[len(text):]
		}
	}
	return level, rest, true
}

// trimClosingSequence removes an ATX heading's optional closing sequence
// of # preceded by a space.
func trimClosingSequence(s string) string {
	if trimmed := strings.TrimRight(s, "#"); trimmed != s && (trimmed == "" || strings.HasSuffix(trimmed, " ") || strings.HasSuffix(trimmed, "\t")) {
		return strings.TrimSpace(trimmed)
	}
	return s
}

// cutHeadingAttributes cuts an attribute list off the end of heading text,
// as Pandoc and MkDocs (Python-Markdown's attr_list) write them:
// "Title { #id }", "Title {#id .class key=val}", "Title {: #id }",
// "Title {-}". It returns the text before the list, right-trimmed, and the
// list's id ("" when it has none). Braces that are not such a list, as in
// "Use {braces}" or "impl Trait {}", are text: ok is false.
func cutHeadingAttributes(title string) (text, id string, ok bool) {
	if !strings.HasSuffix(title, "}") {
		return title, "", false
	}
	open := strings.LastIndexByte(title, '{')
	if open < 0 || (open > 0 && title[open-1] != ' ' && title[open-1] != '\t') {
		return title, "", false
	}
	list := strings.TrimPrefix(title[open+1:len(title)-1], ":")
	fields := 0
	for len(list) > 0 {
		list = strings.TrimLeft(list, " \t")
		if list == "" {
			break
		}
		end := strings.IndexAny(list, " \t")
		if end < 0 {
			end = len(list)
		}
		field := list[:end]
		switch {
		case field == "-":
		case len(field) > 1 && field[0] == '#':
			id = field[1:]
		case len(field) > 1 && field[0] == '.':
		case attributeKey(field) > 0:
			k := attributeKey(field)
			if strings.HasPrefix(field[k+1:], `"`) {
				// A quoted value may hold spaces: it ends at the next quote.
				q := strings.IndexByte(list[k+2:], '"')
				if q < 0 {
					return title, "", false
				}
				end = k + 2 + q + 1
			}
		default:
			return title, "", false
		}
		if strings.ContainsAny(list[:end], "{}") {
			return title, "", false
		}
		list = list[end:]
		fields++
	}
	if fields == 0 {
		return title, "", false
	}
	return strings.TrimRight(title[:open], " \t"), id, true
}

// attributeKey returns the length of the key of a key=value field, 0 when
// field is not one.
func attributeKey(field string) int {
	k := strings.IndexByte(field, '=')
	if k <= 0 {
		return 0
	}
	if strings.ContainsFunc(field[:k], notKeyRune) {
		return 0
	}
	return k
}

func notKeyRune(r rune) bool {
	return r != '-' && r != '_' && r != ':' && r != '.' && !unicode.IsLetter(r) && !unicode.IsDigit(r)
}

func setextUnderline(line string) (int, bool) {
	t := strings.TrimSpace(line)
	if t == "" || len(line)-len(strings.TrimLeft(line, " ")) > 3 {
		return 0, false
	}
	switch {
	case strings.Trim(t, "=") == "":
		return 1, true
	case strings.Trim(t, "-") == "" && len(t) >= 2:
		return 2, true
	}
	return 0, false
}

func isListItem(line string) bool {
	t := strings.TrimLeft(line, " \t")
	if len(t) >= 2 && (t[0] == '-' || t[0] == '*' || t[0] == '+') && t[1] == ' ' {
		return true
	}
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	return i > 0 && i+1 < len(t) && (t[i] == '.' || t[i] == ')') && t[i+1] == ' '
}

// isTableDelimiter matches a table's second row: |---|:--:| and the like.
func isTableDelimiter(line string) bool {
	t := strings.TrimSpace(line)
	if !strings.Contains(t, "-") {
		return false
	}
	t = strings.Trim(t, "|")
	if t == "" {
		return false
	}
	for cell := range strings.SplitSeq(t, "|") {
		c := strings.TrimSpace(cell)
		c = strings.TrimPrefix(c, ":")
		c = strings.TrimSuffix(c, ":")
		if c == "" || strings.Trim(c, "-") != "" {
			return false
		}
	}
	return true
}
