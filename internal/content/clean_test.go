package content

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestSplitFrontMatter(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		text string
		meta map[string]any
		body string
	}{
		{"yaml", "---\ntitle: Hello\ntags: [a, b]\n---\n# Body\n", map[string]any{"title": "Hello", "tags": []any{"a", "b"}}, "# Body\n"},
		{"crlf", "---\r\ntitle: X\r\n---\r\nbody", map[string]any{"title": "X"}, "body"},
		{"empty", "---\n---\nbody", map[string]any{}, "body"},
		{"toml removed unparsed", "+++\ntitle = 'x'\n+++\nbody", nil, "body"},
		{"not a mapping", "---\n- a\n---\nbody", map[string]any{"front_matter": []any{"a"}}, "body"},
		{"keys made strings", "---\n1: one\nnested: {2: two}\ninf: .inf\n---\nb", map[string]any{"1": "one", "nested": map[string]any{"2": "two"}, "inf": "+Inf"}, "b"},
		{"dates stay dates", "---\ndate: 2024-01-15\nupdated: 2024-01-15T10:30:00+02:00\nmidnight: 2024-01-15T00:00:00Z\nquoted: '2024-01-15'\n---\nb",
			map[string]any{"date": "2024-01-15", "updated": "2024-01-15T10:30:00+02:00", "midnight": "2024-01-15", "quoted": "2024-01-15"}, "b"},
		{"no closing line", "---\ntitle: x\n", nil, "---\ntitle: x\n"},
		{"rule later is not front matter", "text\n---\nmore", nil, "text\n---\nmore"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			meta, body, err := splitFrontMatter(tt.text)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(meta, tt.meta) || body != tt.body {
				t.Errorf("got %#v %q, want %#v %q", meta, body, tt.meta, tt.body)
			}
		})
	}
	if _, _, err := splitFrontMatter("---\ntitle: [unclosed\n---\nbody"); err == nil {
		t.Error("bad YAML front matter gave no error")
	}
}

func TestCleanMarkdown(t *testing.T) {
	t.Parallel()

	in := "See ![the logo](img/logo.png \"Logo\") here.\n" +
		"[![build](https://ci/badge.svg)](https://ci)\n" +
		"Inline <img src=\"x.png\"> image.\n" +
		"<img alt=\"Two tables\n  side by side\" src=\"t.svg\"\nstyle=\"width: 50%;\" />\n" +
		"Data: <a href=\"data:image/png;base64,iVBORw0KGgo=\">raw</a>\n" +
		"```md\n![kept in code](x.png)\n```\n"
	want := "See the logo here.\n" +
		"[build](https://ci)\n" +
		"Inline  image.\n" +
		"Two tables side by side\n" +
		"Data: <a href=\"\">raw</a>\n" +
		"```md\n![kept in code](x.png)\n```\n"
	if got := cleanMarkdown(in); got != want {
		t.Errorf("cleanMarkdown =\n%s\nwant\n%s", got, want)
	}
}

func TestPrepareDocument(t *testing.T) {
	t.Parallel()

	t.Run("markdown with front matter", func(t *testing.T) {
		t.Parallel()
		doc, err := PrepareDocument("", "guide.md", "---\ntitle: From Front Matter\nversion: 2\n---\n# Heading\n\nText.\r\n", PrepareOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if doc.Title != "From Front Matter" || doc.Content != "# Heading\n\nText." || doc.Metadata["version"] != 2 || doc.URL != "guide.md" {
			t.Errorf("got %+v", doc)
		}
	})
	t.Run("title from h1, given title wins", func(t *testing.T) {
		t.Parallel()
		doc, err := PrepareDocument("", "a", "intro\n\n# The H1\n\ntext", PrepareOptions{})
		if err != nil || doc.Title != "The H1" {
			t.Errorf("title %q, err %v", doc.Title, err)
		}
		doc, err = PrepareDocument("Given", "a", "# The H1", PrepareOptions{})
		if err != nil || doc.Title != "Given" {
			t.Errorf("title %q, err %v", doc.Title, err)
		}
	})
	t.Run("html detected", func(t *testing.T) {
		t.Parallel()
		doc, err := PrepareDocument("", "", "<html><head><title>Page</title></head><body><nav>Home | About</nav><p>Hello <b>world</b></p></body></html>", PrepareOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if doc.Title != "Page" || doc.Content != "Hello **world**" || doc.Metadata["format"] != "html" {
			t.Errorf("got %+v", doc)
		}
		if !strings.HasPrefix(doc.URL, "inline/") {
			t.Errorf("url %q, want a derived inline/ url", doc.URL)
		}
	})
	t.Run("html h1 wins over title", func(t *testing.T) {
		t.Parallel()
		doc, err := PrepareDocument("", "p.html", "<html><head><title>Site | Page</title></head><body><h1>Page</h1><p>x</p></body></html>", PrepareOptions{Format: FormatHTML})
		if err != nil || doc.Title != "Page" {
			t.Errorf("title %q, err %v", doc.Title, err)
		}
	})
	t.Run("markdown starting with html stays markdown", func(t *testing.T) {
		t.Parallel()
		doc, err := PrepareDocument("", "r", "<p align=\"center\">Logo</p>\n\n# Project\n\nText", PrepareOptions{})
		if err != nil || doc.Metadata["format"] != "markdown" || doc.Title != "Project" {
			t.Errorf("got %+v, %v", doc, err)
		}
	})
	t.Run("text hint keeps html-looking text", func(t *testing.T) {
		t.Parallel()
		doc, err := PrepareDocument("T", "t", "<b>not</b> parsed", PrepareOptions{Format: FormatText})
		if err != nil || doc.Content != "<b>not</b> parsed" {
			t.Errorf("got %+v, %v", doc, err)
		}
	})
}

func TestPrepareDocumentErrors(t *testing.T) {
	t.Parallel()

	latin1 := strings.Repeat("caf\xe9 ", 100)
	tests := []struct {
		name    string
		content string
		opts    PrepareOptions
		want    error
	}{
		{"binary", "PK\x03\x04\x00\x00binary", PrepareOptions{}, ErrBinary},
		{"png", "\x89PNG\r\n\x1a\n rest", PrepareOptions{}, ErrBinary},
		{"invalid utf8", latin1, PrepareOptions{}, ErrInvalidUTF8},
		{"too large", strings.Repeat("a", 101), PrepareOptions{MaxBytes: 100}, ErrTooLarge},
		{"empty", "---\ntitle: only front matter\n---\n", PrepareOptions{}, ErrEmpty},
		{"only an image", "![](x.png)\n", PrepareOptions{}, ErrEmpty},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := PrepareDocument("", "doc-"+tt.name, tt.content, tt.opts)
			if !errors.Is(err, tt.want) {
				t.Fatalf("error = %v, want %v", err, tt.want)
			}
			var derr *DocumentError
			if !errors.As(err, &derr) || derr.URL != "doc-"+tt.name || !strings.Contains(err.Error(), "doc-"+tt.name) {
				t.Errorf("error %v does not name the document", err)
			}
		})
	}
	// A few bad bytes in a long text are repaired, not refused.
	doc, err := PrepareDocument("", "x", strings.Repeat("fine text ", 100)+"\xff", PrepareOptions{})
	if err != nil || !strings.HasSuffix(doc.Content, "\uFFFD") {
		t.Errorf("got %q, %v; want a repaired document", doc.Content, err)
	}
}

func TestContentHash(t *testing.T) {
	t.Parallel()

	a := Document{Title: "T", Content: "c"}
	if a.ContentHash() != (Document{Title: "T", Content: "c", URL: "other"}).ContentHash() {
		t.Error("hash depends on the URL")
	}
	if a.ContentHash() == (Document{Title: "T", Content: "d"}).ContentHash() || a.ContentHash() == (Document{Title: "U", Content: "c"}).ContentHash() {
		t.Error("hash ignores the content or the title")
	}
	if len(a.ContentHash()) != 64 {
		t.Errorf("hash %q is not sha256 hex", a.ContentHash())
	}
}

// The stored hash is sha256(title, NUL, content), whatever the lengths:
// ContentSum goes through a buffer, so contents across its size must give
// the same sums that documents already stored carry.
func TestContentSumIsSHA256OfTitleAndContent(t *testing.T) {
	t.Parallel()

	for _, n := range []int{0, 1, 511, 512, 513, 1500, 100_000} {
		d := Document{Title: strings.Repeat("t", n%700), Content: strings.Repeat("é", n/2) + strings.Repeat("x", n%2)}
		want := sha256.Sum256([]byte(d.Title + "\x00" + d.Content))
		if got := d.ContentSum(); got != want {
			t.Errorf("content of %d bytes: sum %x, want %x", len(d.Content), got, want)
		}
		if got := d.ContentHash(); got != hex.EncodeToString(want[:]) {
			t.Errorf("content of %d bytes: hash %s, want %x", len(d.Content), got, want)
		}
	}
}
