package api

import "testing"

func TestHighlight(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ query, text, want string }{
		{"path parameters", "Declare a <b>path</b> parameter: {item_id}.", "Declare a &lt;b&gt;<mark>path</mark>&lt;/b&gt; <mark>parameter</mark>: {item_id}."},
		{"install -docker", "Installing Docker & pip install", "<mark>Installing</mark> Docker &amp; pip <mark>install</mark>"},
		{`"async io" a`, "Async IO: a b c", "<mark>Async</mark> <mark>IO</mark>: a b c"},
		{"run", "running rune run", "running rune <mark>run</mark>"}, // three letters: the word itself only
		{"größe", "Die Größe zählt", "Die <mark>Größe</mark> zählt"},
		{"x", `<script>alert("x")</script>`, `&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;`},
	} {
		if got := string(highlight(tc.text, queryTerms(tc.query))); got != tc.want {
			t.Errorf("highlight(%q, %q)\n got %s\nwant %s", tc.text, tc.query, got, tc.want)
		}
	}
}

func TestLocalPath(t *testing.T) {
	t.Parallel()
	for next, want := range map[string]string{
		"/search?q=a": "/search?q=a", "": "/", "//evil.example/": "/", `/\evil.example`: "/",
		"https://evil.example/": "/", "/sources/x\n": "/", "javascript:alert(1)": "/",
	} {
		if got := localPath(next); got != want {
			t.Errorf("localPath(%q) = %q, want %q", next, got, want)
		}
	}
}
