package content

import (
	"cmp"
	"fmt"
	"strings"

	"github.com/JohannesKaufmann/html-to-markdown/v2/converter"
	"github.com/JohannesKaufmann/html-to-markdown/v2/plugin/base"
	"github.com/JohannesKaufmann/html-to-markdown/v2/plugin/commonmark"
	"github.com/JohannesKaufmann/html-to-markdown/v2/plugin/table"
	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// htmlPage is what a page yields: its main content as markdown, and what
// the crawler needs to go on.
type htmlPage struct {
	markdown  string
	title     string
	canonical string   // href of <link rel="canonical">, as written
	links     []string // href of every <a>, as written, in document order
}

// dropped are elements that never hold a page's content.
var dropped = map[atom.Atom]bool{
	atom.Script: true, atom.Style: true, atom.Noscript: true, atom.Template: true,
	atom.Nav: true, atom.Aside: true, atom.Form: true, atom.Button: true,
	atom.Iframe: true, atom.Svg: true, atom.Img: true, atom.Picture: true,
	atom.Video: true, atom.Audio: true, atom.Canvas: true, atom.Object: true,
	atom.Footer: true, atom.Dialog: true,
}

// droppedRoles are ARIA landmarks of page chrome.
var droppedRoles = map[string]bool{
	"navigation": true, "banner": true, "contentinfo": true, "search": true,
	"complementary": true, "menu": true, "menubar": true, "dialog": true,
}

// convertHTML converts an HTML page to markdown, keeping the main content:
// <main>, else <article>, else role="main", else <body>, with navigation,
// scripts, styles, headers and footers dropped. Links in the markdown are
// made absolute against baseURL when it is given.
func convertHTML(src, baseURL string) (htmlPage, error) {
	doc, err := html.Parse(strings.NewReader(src))
	if err != nil {
		return htmlPage{}, fmt.Errorf("error parsing HTML: %w", err)
	}
	var page htmlPage
	var main, article, roleMain, body *html.Node
	for n := range doc.Descendants() {
		if n.Type != html.ElementNode {
			continue
		}
		switch n.DataAtom {
		case atom.Title:
			if page.title == "" {
				page.title = strings.Join(strings.Fields(textOf(n)), " ")
			}
		case atom.Link:
			if hasToken(attr(n, "rel"), "canonical") && page.canonical == "" {
				page.canonical = strings.TrimSpace(attr(n, "href"))
			}
		case atom.A:
			if href := strings.TrimSpace(attr(n, "href")); href != "" {
				page.links = append(page.links, href)
			}
		case atom.Main:
			main = cmp.Or(main, n)
		case atom.Article:
			article = cmp.Or(article, n)
		case atom.Body:
			body = cmp.Or(body, n)
		}
		if strings.EqualFold(attr(n, "role"), "main") {
			roleMain = cmp.Or(roleMain, n)
		}
	}
	root := cmp.Or(main, article, roleMain, body, doc)
	atPageLevel := root == body || root == doc
	var remove []*html.Node
	for n := range root.Descendants() {
		if n.Type == html.CommentNode {
			remove = append(remove, n)
			continue
		}
		if n.Type != html.ElementNode {
			continue
		}
		// A <header> inside an article holds its title; only the page
		// header is chrome.
		if dropped[n.DataAtom] || (n.DataAtom == atom.Header && atPageLevel) ||
			droppedRoles[strings.ToLower(attr(n, "role"))] || attr(n, "aria-hidden") == "true" || hasAttr(n, "hidden") {
			remove = append(remove, n)
		}
	}
	for _, n := range remove {
		if n.Parent != nil {
			n.Parent.RemoveChild(n)
		}
	}
	conv := converter.NewConverter(converter.WithPlugins(
		base.NewBasePlugin(),
		commonmark.NewCommonmarkPlugin(),
		table.NewTablePlugin(),
	))
	var opts []converter.ConvertOptionFunc
	if baseURL != "" {
		opts = append(opts, converter.WithDomain(baseURL))
	}
	md, err := conv.ConvertNode(root, opts...)
	if err != nil {
		return htmlPage{}, fmt.Errorf("error converting HTML to markdown: %w", err)
	}
	page.markdown = string(md)
	return page, nil
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if strings.EqualFold(a.Key, key) {
			return a.Val
		}
	}
	return ""
}

func hasAttr(n *html.Node, key string) bool {
	for _, a := range n.Attr {
		if strings.EqualFold(a.Key, key) {
			return true
		}
	}
	return false
}

func hasToken(list, token string) bool {
	for _, f := range strings.Fields(list) {
		if strings.EqualFold(f, token) {
			return true
		}
	}
	return false
}

func textOf(n *html.Node) string {
	var sb strings.Builder
	for d := range n.Descendants() {
		if d.Type == html.TextNode {
			sb.WriteString(d.Data)
		}
	}
	return sb.String()
}
