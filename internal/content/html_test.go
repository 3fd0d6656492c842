package content

import (
	"reflect"
	"strings"
	"testing"
)

func TestConvertHTML(t *testing.T) {
	t.Parallel()

	src := `<!doctype html><html><head><title>Install  Guide</title>
<link rel="canonical" href="/docs/install">
<style>body{}</style><script>track()</script></head>
<body>
<header><a href="/">Home</a> <a href="/blog">Blog</a></header>
<nav><a href="/docs/a">A</a></nav>
<main>
<h1>Install</h1>
<p>Run the <code>installer</code>, see <a href="next">next</a>.</p>
<img src="data:image/png;base64,AAAA" alt="diagram">
<pre><code class="language-sh">curl example.com | sh
</code></pre>
<table><tr><th>OS</th><th>Command</th></tr><tr><td>Linux</td><td>apt</td></tr></table>
<div role="navigation">Prev | Next</div>
</main>
<footer>© 2026</footer>
</body></html>`
	page, err := convertHTML(src, "https://example.com/docs/install.html")
	if err != nil {
		t.Fatal(err)
	}
	if page.title != "Install Guide" || page.canonical != "/docs/install" {
		t.Errorf("title %q canonical %q", page.title, page.canonical)
	}
	if want := []string{"/", "/blog", "/docs/a", "next"}; !reflect.DeepEqual(page.links, want) {
		t.Errorf("links %q, want %q (from the whole page, nav included)", page.links, want)
	}
	for _, want := range []string{"# Install", "`installer`", "[next](https://example.com/docs/next)", "```sh\ncurl example.com | sh\n```", "| OS", "| Linux"} {
		if !strings.Contains(page.markdown, want) {
			t.Errorf("markdown lacks %q:\n%s", want, page.markdown)
		}
	}
	for _, unwanted := range []string{"track()", "body{}", "Home", "Blog", "Prev | Next", "©", "base64", "diagram"} {
		if strings.Contains(page.markdown, unwanted) {
			t.Errorf("markdown keeps %q:\n%s", unwanted, page.markdown)
		}
	}
}

func TestConvertHTMLWithoutMain(t *testing.T) {
	t.Parallel()

	page, err := convertHTML(`<body><header>Site</header><article><header><h1>Post</h1></header><p>Body</p><footer>tags</footer></article></body>`, "")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.TrimSpace(page.markdown), "# Post\n\nBody"; got != want {
		t.Errorf("markdown %q, want %q (article header kept, page header and footers dropped)", got, want)
	}
}
