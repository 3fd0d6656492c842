package content

import (
	"bytes"
	"fmt"
	"math"
	"net/http"
	"path"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// Format says how to read a document's bytes.
type Format string

// Formats a document can be given in.
const (
	// FormatAuto detects HTML by its markup and reads anything else as
	// markdown.
	FormatAuto Format = ""
	// FormatMarkdown is markdown, with optional YAML or TOML front matter.
	FormatMarkdown Format = "markdown"
	// FormatText is plain text, read as markdown without structure.
	FormatText Format = "text"
	// FormatHTML is an HTML page, converted to markdown keeping the main
	// content.
	FormatHTML Format = "html"
)

// DefaultMaxDocumentBytes is the size limit for one document when options
// leave it at zero.
const DefaultMaxDocumentBytes = 10 << 20

// maxInvalidUTF8 is the share of invalid bytes above which text is not
// repaired but refused: past it the bytes are most likely another encoding
// or binary, and replacement characters would carry no meaning.
const maxInvalidUTF8 = 0.01

// PrepareOptions are the options of PrepareDocument. The zero value gives
// the defaults.
type PrepareOptions struct {
	// Format of the content. Default FormatAuto.
	Format Format
	// MaxBytes is the size limit of the content. Default
	// DefaultMaxDocumentBytes.
	MaxBytes int
}

// PrepareDocument cleans a document given inline (through the API or an
// upload). An empty title defaults to the front matter title, else the
// first h1, else the HTML <title>, else the last element of url. An empty
// url is replaced by "inline/<hash>" from the title and content, so the
// document still has a stable identity. Errors are *DocumentError.
func PrepareDocument(title, url, content string, opts PrepareOptions) (Document, error) {
	if url == "" {
		sum := Document{Title: title, Content: content}.ContentHash()
		url = "inline/" + sum[:16]
	}
	doc, derr := prepare(url, []byte(content), opts.Format, opts.MaxBytes)
	if derr != nil {
		return Document{}, derr
	}
	// The title is stored as text too: no NUL, no invalid UTF-8.
	title = strings.ToValidUTF8(strings.ReplaceAll(title, "\x00", ""), "\uFFFD")
	if t := strings.TrimSpace(title); t != "" {
		doc.Title = t
	}
	return doc, nil
}

// prepare turns raw bytes into a cleaned Document named name.
func prepare(name string, raw []byte, format Format, maxBytes int) (Document, *DocumentError) {
	text, derr := decodeText(name, raw, maxBytes)
	if derr != nil {
		return Document{}, derr
	}
	if format == FormatAuto {
		format = detectFormat(text)
	}
	if format == FormatHTML {
		page, err := convertHTML(text, "")
		if err != nil {
			return Document{}, docError(name, "cannot convert HTML", err)
		}
		return finish(name, page.markdown, format, nil, page.title)
	}
	meta, body, err := splitFrontMatter(text)
	if err != nil {
		return Document{}, docError(name, "cannot parse front matter", err)
	}
	return finish(name, body, format, meta, "")
}

// finish cleans converted markdown and picks the title: the front matter
// title, else the first h1, else the HTML <title>, else the last element of
// the name.
func finish(name, markdown string, format Format, meta map[string]any, htmlTitle string) (Document, *DocumentError) {
	content := normalizeMarkdown(cleanMarkdown(markdown))
	if strings.TrimSpace(content) == "" {
		return Document{}, docError(name, ErrEmpty.Error(), ErrEmpty)
	}
	title, _ := meta["title"].(string)
	if strings.TrimSpace(title) == "" {
		title = firstH1(content)
	}
	if strings.TrimSpace(title) == "" {
		title = htmlTitle
	}
	if strings.TrimSpace(title) == "" {
		title = path.Base(strings.TrimRight(name, "/"))
	}
	if meta == nil {
		meta = map[string]any{}
	}
	meta["format"] = string(format)
	return Document{URL: name, Title: strings.TrimSpace(title), Content: content, Metadata: meta}, nil
}

// decodeText checks that raw is text within the size limit and returns it
// as valid UTF-8, repairing a few bad bytes.
func decodeText(name string, raw []byte, maxBytes int) (string, *DocumentError) {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxDocumentBytes
	}
	if len(raw) > maxBytes {
		return "", docError(name, fmt.Sprintf("%d bytes, limit %d", len(raw), maxBytes), ErrTooLarge)
	}
	raw = bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf"))
	head := raw[:min(len(raw), 8<<10)]
	if bytes.IndexByte(head, 0) >= 0 {
		return "", docError(name, "contains NUL bytes", ErrBinary)
	}
	if ct := http.DetectContentType(head); !strings.HasPrefix(ct, "text/") && !strings.Contains(ct, "xml") && !strings.Contains(ct, "json") {
		return "", docError(name, "looks like "+ct, ErrBinary)
	}
	// PostgreSQL text cannot hold NUL: one past the head is replaced like
	// an invalid byte, or the document could not be stored at all.
	if bytes.IndexByte(raw, 0) >= 0 {
		raw = bytes.ReplaceAll(raw, []byte{0}, []byte("\uFFFD"))
	}
	if utf8.Valid(raw) {
		return string(raw), nil
	}
	invalid := 0
	for i := 0; i < len(raw); {
		r, n := utf8.DecodeRune(raw[i:])
		if r == utf8.RuneError && n <= 1 {
			invalid++
		}
		i += max(n, 1)
	}
	if float64(invalid) > maxInvalidUTF8*float64(len(raw)) {
		return "", docError(name, fmt.Sprintf("%d of %d bytes are not UTF-8", invalid, len(raw)), ErrInvalidUTF8)
	}
	return strings.ToValidUTF8(string(raw), "\uFFFD"), nil
}

// detectFormat tells HTML from markdown. Markdown may start with inline
// HTML (a centred logo in a README), so markup at the start only counts as
// HTML when the text has no markdown headings or fences.
func detectFormat(text string) Format {
	t := strings.TrimSpace(text)
	head := strings.ToLower(t[:min(len(t), 1024)])
	for _, p := range []string{"<!doctype html", "<html", "<head", "<body"} {
		if strings.HasPrefix(head, p) {
			return FormatHTML
		}
	}
	if strings.HasPrefix(head, "<") && strings.Contains(head, "</") &&
		!strings.Contains(t, "\n#") && !strings.Contains(t, "\n```") {
		return FormatHTML
	}
	return FormatMarkdown
}

// maxFrontMatter bounds the front matter block; a "---" line further down
// is a horizontal rule, not the end of front matter.
const maxFrontMatter = 64 << 10

// splitFrontMatter removes YAML (---) or TOML (+++) front matter from the
// start of text and parses YAML front matter into metadata. TOML front
// matter is removed unparsed. Text without front matter is returned as is.
func splitFrontMatter(text string) (meta map[string]any, body string, err error) {
	var delim string
	switch {
	case strings.HasPrefix(text, "---\n"), strings.HasPrefix(text, "---\r\n"):
		delim = "---"
	case strings.HasPrefix(text, "+++\n"), strings.HasPrefix(text, "+++\r\n"):
		delim = "+++"
	default:
		return nil, text, nil
	}
	rest := text[strings.IndexByte(text, '\n')+1:]
	end, next := -1, 0
	for off := 0; off < len(rest) && off < maxFrontMatter; {
		nl := strings.IndexByte(rest[off:], '\n')
		line := rest[off:]
		if nl >= 0 {
			line = rest[off : off+nl]
		}
		if l := strings.TrimRight(line, "\r \t"); l == delim || (delim == "---" && l == "...") {
			end = off
			next = off + len(line)
			if nl >= 0 {
				next++
			}
			break
		}
		if nl < 0 {
			break
		}
		off += nl + 1
	}
	if end < 0 {
		return nil, text, nil // no closing line: not front matter
	}
	raw, body := rest[:end], rest[next:]
	if delim == "+++" {
		return nil, body, nil
	}
	meta, err = parseYAML(raw)
	if err != nil {
		return nil, "", err
	}
	return meta, body, nil
}

// parseYAML parses a front matter block into a map. Front matter that is
// not a mapping (a list, a scalar) is kept under the key "front_matter".
func parseYAML(raw string) (meta map[string]any, err error) {
	// The YAML parser is third-party code fed untrusted input; a panic in
	// it must not take the worker down.
	defer func() {
		if r := recover(); r != nil {
			meta, err = nil, fmt.Errorf("YAML parser failed: %v", r)
		}
	}()
	var v any
	if err := yaml.Unmarshal([]byte(raw), &v); err != nil {
		return nil, fmt.Errorf("error parsing YAML front matter: %w", err)
	}
	switch v := jsonSafe(v).(type) {
	case nil:
		return map[string]any{}, nil
	case map[string]any:
		return v, nil
	default:
		return map[string]any{"front_matter": v}, nil
	}
}

// jsonSafe turns YAML mappings with keys that are not strings (1: a,
// [x]: y) into maps with string keys, and timestamps into the strings they
// were written as, so metadata always encodes as JSON and filters as users
// write it.
func jsonSafe(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = jsonSafe(e)
		}
		return v
	case map[any]any:
		m := make(map[string]any, len(v))
		for k, e := range v {
			m[fmt.Sprint(k)] = jsonSafe(e)
		}
		return m
	case []any:
		for i, e := range v {
			v[i] = jsonSafe(e)
		}
		return v
	case float64:
		// .inf and .nan are valid YAML but not JSON.
		if math.IsInf(v, 0) || math.IsNaN(v) {
			return fmt.Sprint(v)
		}
		return v
	case time.Time:
		// YAML reads "date: 2024-01-15" as a timestamp, which JSON would
		// write as "2024-01-15T00:00:00Z": a search filter on
		// {"date":"2024-01-15"} would miss it. A date stays a date; a time
		// is RFC 3339, as written.
		if v.Equal(time.Date(v.Year(), v.Month(), v.Day(), 0, 0, 0, 0, time.UTC)) && v.Location() == time.UTC {
			return v.Format(time.DateOnly)
		}
		return v.Format(time.RFC3339Nano)
	default:
		return v
	}
}

var (
	// ![alt](src "title") and ![alt][ref]; the alt text is kept.
	markdownImage = regexp.MustCompile(`!\[([^\]\n]*)\](?:\([^)\n]*\)|\[[^\]\n]*\])`)
	// <img ...>, possibly over several lines; the alt text is kept.
	htmlImage = regexp.MustCompile(`(?i)<(?:img|svg|picture|source)\b[^>]*>`)
	htmlAlt   = regexp.MustCompile(`(?i)\balt\s*=\s*(?:"([^"]*)"|'([^']*)')`)
	dataURI   = regexp.MustCompile(`data:[a-zA-Z0-9.+/-]*(?:;[a-zA-Z0-9=.+-]*)*;base64,[A-Za-z0-9+/=]+`)
	emptyLink = regexp.MustCompile(`\[\s*\]\([^)\n]*\)`)
)

// cleanMarkdown removes what carries no meaning for retrieval: images (their
// alt text stays), inline base64 data and the empty links images leave
// behind. Code blocks are left alone except for base64 data.
func cleanMarkdown(text string) string {
	if !strings.Contains(text, "![") && !strings.Contains(text, "<") && !strings.Contains(text, "base64,") {
		return text
	}
	lines := strings.Split(text, "\n")
	var out []string
	prose := 0 // start of the run of lines outside code fences
	flush := func(end int) {
		if prose < end {
			out = append(out, strings.Split(cleanProse(strings.Join(lines[prose:end], "\n")), "\n")...)
		}
	}
	fence := ""
	for i, line := range lines {
		switch {
		case fence != "":
			if closesFence(line, fence) {
				fence = ""
				prose = i + 1
			}
			out = append(out, removeDataURIs(line))
		default:
			if m, ok := openFence(line); ok {
				flush(i)
				fence = m
				out = append(out, removeDataURIs(line))
			}
		}
	}
	if fence == "" {
		flush(len(lines))
	}
	return strings.Join(out, "\n")
}

func cleanProse(s string) string {
	if strings.Contains(s, "![") {
		s = markdownImage.ReplaceAllString(s, "$1")
		s = emptyLink.ReplaceAllString(s, "")
	}
	if strings.Contains(s, "<") {
		s = htmlImage.ReplaceAllStringFunc(s, func(tag string) string {
			m := htmlAlt.FindStringSubmatch(tag)
			if m == nil {
				return ""
			}
			return strings.Join(strings.Fields(m[1]+m[2]), " ")
		})
	}
	return removeDataURIs(s)
}

// removeDataURIs removes base64 data URIs. Removing one can join the text
// around it into another, hence the loop.
func removeDataURIs(s string) string {
	for strings.Contains(s, "base64,") && dataURI.MatchString(s) {
		s = dataURI.ReplaceAllString(s, "")
	}
	return s
}

// firstH1 returns the text of the first level-1 heading outside code.
func firstH1(markdown string) string {
	for _, b := range parseBlocks(markdown) {
		if b.kind == blockHeading && b.level == 1 {
			return b.title
		}
	}
	return ""
}
