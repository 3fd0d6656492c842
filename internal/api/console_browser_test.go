package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/kollektiv/kollektiv/internal/app"
	"github.com/kollektiv/kollektiv/internal/apptest"
	"github.com/kollektiv/kollektiv/internal/wait"
)

// chromium starts a headless Chromium for the test and returns a tab's
// context. Without Chromium the test is skipped, except under CI=true,
// where .ci/run installs it and its absence is a failure.
func chromium(t *testing.T) context.Context {
	t.Helper()
	path := os.Getenv("KOLLEKTIV_CHROMIUM")
	if path == "" {
		for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
			if p, err := exec.LookPath(name); err == nil {
				path = p
				break
			}
		}
	}
	if path == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("headless Chromium is missing under CI=true: .ci/run installs Debian's chromium package")
		}
		t.Skip("headless Chromium not found (apt-get install chromium, or set KOLLEKTIV_CHROMIUM): the console's browser tests are skipped")
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(path), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
	)
	ctx, cancelTab := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancelTab(); cancelAlloc() })
	// The first Run starts the browser; it lives as long as ctx.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting Chromium (%s): %v", path, err)
	}
	return ctx
}

// page drives one browser tab in a test.
type page struct {
	t   *testing.T
	ctx context.Context
}

func (p page) do(steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.t.Fatalf("browser: %v (at %s)", err, p.location())
	}
}

func (p page) location() string {
	loc, _ := chromedp.Run(p.ctx, chromedp.Location())
	return loc
}

// eval evaluates a JavaScript expression in the page and decodes its value.
// DevTools evaluations are not subject to the page's CSP, so it works on
// the console's pages, which allow no eval of their own.
func eval[T any](p page, expr string) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.t.Fatalf("evaluating %s: %v (at %s)", expr, err, p.location())
	}
	return v
}

// waitFor waits until the JavaScript expression is true in the page,
// failing with what describe (another expression) last gave.
func (p page) waitFor(expr, describe string) {
	p.t.Helper()
	wait.For(p.t, 90*time.Second, func() (bool, string) {
		ok, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](expr))
		if err != nil {
			return false, err.Error() // a navigation in between
		}
		got, _ := chromedp.Run(p.ctx, chromedp.Evaluate[string](describe))
		return ok, fmt.Sprintf("%s: %s at %s", expr, got, p.location())
	})
}

func (p page) text(sel string) string {
	p.t.Helper()
	return eval[string](p, fmt.Sprintf(`(document.querySelector(%q) || {}).textContent || ""`, sel))
}

// TestConsoleInBrowser walks the console in headless Chromium as a user
// does: sign in, upload a folder's markdown files and watch the source
// reach completed live, read a failed document's reason, search, fit a
// phone's width, refuse a forged cross-site form, sign out.
func TestConsoleInBrowser(t *testing.T) {
	t.Parallel()
	ctx := chromium(t)
	// The API first, alone: the upload waits at stage created until the
	// workers start, so the page is seen to change by its event stream.
	cfg := testConfig(t, nil)
	b := newBundle(t, apptest.Start(t, cfg, nil, app.Options{API: true}))
	p := page{t: t, ctx: ctx}

	// Signing in: the sign-in page, then the sources.
	p.do(chromedp.Navigate(b.baseURL + "/"))
	if loc := p.location(); !strings.Contains(loc, "/sign-in") {
		t.Fatalf("signed out, / opened %s", loc)
	}
	p.do(chromedp.SendKeys(chromedp.ID("key"), "kol_wrong"), chromedp.Submit(chromedp.ID("key")))
	p.waitFor(`document.querySelector('[role=alert]') !== null`, `document.body.innerText`)
	p.do(chromedp.SendKeys(chromedp.ID("key"), b.alice), chromedp.Submit(chromedp.ID("key")))
	p.waitFor(`document.querySelector('h1') && document.querySelector('h1').textContent === 'Sources'`, `document.body.innerText`)
	if eval[string](p, `document.cookie`) != "" {
		t.Error("a script can read the console's cookies")
	}
	cookies, err := chromedp.Run(ctx, func(ctx context.Context, tg *chromedp.Target) (network.GetCookiesResult, error) {
		return cdp.Call(ctx, tg, network.GetCookies, network.GetCookiesParams{URLs: []string{b.baseURL}})
	})
	if err != nil {
		t.Fatal(err)
	}
	var session *network.Cookie
	for _, c := range cookies.Cookies {
		if c.Name == "__Host-kollektiv_session" {
			session = c
		}
	}
	if session == nil || !session.HTTPOnly || !session.Secure || session.SameSite != network.CookieSameSiteStrict {
		t.Fatalf("the browser keeps the session cookie as %+v, want HttpOnly, Secure, SameSite=Strict (cookies: %d)", session, len(cookies.Cookies))
	}
	if strings.Contains(p.location(), b.alice) {
		t.Fatal("the key is in the URL")
	}

	// Adding a source: a folder of markdown files, one of them empty, through
	// the folder input (webkitdirectory).
	dir := t.TempDir()
	files := map[string]string{
		"tokio.md": guide("tokio"), "serde.md": guide("serde"), "rayon.md": guide("rayon"), "blank.md": "   \n",
	}
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A file the loader does not read, skipped and counted.
	if err := os.WriteFile(filepath.Join(dir, "logo.png"), []byte("\x89PNG\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p.do(chromedp.SetUploadFiles(chromedp.ID("folder"), []string{dir}), chromedp.Click(chromedp.CSS(`form[action="/sources/upload"] button`)))
	p.waitFor(`location.pathname.startsWith('/sources/') && document.readyState === 'complete' && document.querySelector('[data-field=stage]') !== null`, `location.href`)
	sourceURL := p.location()
	if notice := p.text(`[role=status]`); !strings.Contains(notice, "1 file was skipped") {
		t.Errorf("after the folder's upload: %q", notice)
	}
	if stage := p.text(`[data-field=stage]`); stage != "created" {
		t.Fatalf("with no worker running, the new source is %q", stage)
	}
	// The list, followed live: the workers start now, and the row's stage
	// moves to completed by the event stream, with no reload.
	p.do(chromedp.Navigate(b.baseURL + "/"))
	p.do(chromedp.Evaluate[chromedp.Void](`window.kollektivSamePage = true`))
	apptest.Start(t, cfg, nil, app.Options{Worker: true})
	p.waitFor(`document.querySelector('tbody tr [data-field=stage]').textContent === 'completed'`, `document.querySelector('tbody tr').innerText`)
	if !eval[bool](p, `window.kollektivSamePage === true`) {
		t.Fatal("the list was reloaded: its stage did not come from the event stream")
	}
	row := eval[string](p, `document.querySelector('tbody tr').innerText`)
	for _, want := range []string{"\t4\t", "\t1\t"} { // 4 documents, 1 failed
		if !strings.Contains(row, want) {
			t.Errorf("the completed row %q lacks %q", row, want)
		}
	}

	// The source's page: summary, keywords, and the failed document's reason.
	p.do(chromedp.Navigate(sourceURL))
	p.waitFor(`document.querySelector('#summary-heading') !== null`, `document.body.innerText`)
	if n := eval[int](p, `document.querySelectorAll('.keywords li').length`); n == 0 {
		t.Error("no keywords on the source's page")
	}
	var docs struct {
		Documents []struct {
			URL, Status, Error string
		} `json:"documents"`
	}
	id := strings.TrimPrefix(strings.SplitN(sourceURL, "?", 2)[0], b.baseURL+"/sources/")
	raw := b.do(t, b.alice, "GET", "/v1/sources/"+id+"/documents?status=failed", nil)
	if err := json.Unmarshal(raw.body, &docs); err != nil || len(docs.Documents) != 1 || docs.Documents[0].Error == "" {
		t.Fatalf("failed documents over the API: %s", raw.body)
	}
	reason := eval[string](p, `(() => { const r = [...document.querySelectorAll('tr[data-document]')].find(r => r.innerText.includes('blank.md')); return r ? r.querySelector('[data-field=reason]').textContent : ''; })()`)
	if reason != docs.Documents[0].Error {
		t.Errorf("blank.md's reason on the page is %q, the API says %q", reason, docs.Documents[0].Error)
	}
	// A document's chunks with their breadcrumbs.
	href := eval[string](p, `[...document.querySelectorAll('tr[data-document]')].find(r => r.innerText.includes('tokio.md')).querySelector('a').getAttribute('href')`)
	p.do(chromedp.Navigate(b.baseURL + href))
	p.waitFor(`document.querySelector('.chunks [data-field=breadcrumb]') !== null`, `document.body.innerText`)
	if crumb := p.text(`.chunks [data-field=breadcrumb]`); !strings.Contains(crumb, "handbook") {
		t.Errorf("first chunk's breadcrumb %q", crumb)
	}

	// Searching: highlighted words, the breadcrumb, the section link, the
	// score breakdown on demand.
	p.do(chromedp.Navigate(b.baseURL + "/search"))
	p.do(chromedp.SendKeys(chromedp.ID("q"), "serde engine batch"), chromedp.Submit(chromedp.ID("q")))
	p.waitFor(`document.querySelector('.hit') !== null`, `document.body.innerText`)
	if marks := eval[[]string](p, `[...document.querySelectorAll('.hit mark')].map(m => m.textContent.toLowerCase())`); len(marks) == 0 || !slices.Contains(marks, "engine") {
		t.Errorf("highlighted words: %v", marks)
	}
	if crumb := p.text(`.hit [data-field=breadcrumb]`); !strings.Contains(crumb, "›") && !strings.Contains(crumb, "handbook") {
		t.Errorf("hit breadcrumb %q", crumb)
	}
	if href := eval[string](p, `document.querySelector('.hit h3 a').getAttribute('href')`); !strings.HasPrefix(href, "/documents/") || !strings.Contains(href, "#") {
		t.Errorf("hit link %q, want the document's section", href)
	}
	if eval[bool](p, `document.querySelector('.hit details').open`) {
		t.Error("the score breakdown is open before it is asked for")
	}
	p.do(chromedp.Click(chromedp.CSS(`.hit details summary`)))
	if !eval[bool](p, `document.querySelector('.hit details').open && document.querySelector('.hit details dl').offsetHeight > 0`) {
		t.Error("the score breakdown does not open")
	}
	// The section link lands on the chunk.
	p.do(chromedp.Click(chromedp.CSS(`.hit h3 a`)))
	p.waitFor(`location.pathname.startsWith('/documents/') && location.hash.length > 1 && document.getElementById(decodeURIComponent(location.hash.slice(1))) !== null`, `location.href`)

	// Every form control has a label, and nothing is wider than a phone.
	for _, path := range []string{"/", "/search?q=engine", "/sources/" + id} {
		p.do(chromedp.EmulateViewport(375, 800), chromedp.Navigate(b.baseURL+path))
		if unlabelled := eval[[]string](p, `[...document.querySelectorAll('input:not([type=hidden]), select, textarea')].filter(e => !e.labels || e.labels.length === 0).map(e => e.outerHTML)`); len(unlabelled) > 0 {
			t.Errorf("%s: controls without a label: %v", path, unlabelled)
		}
		if w := eval[int](p, `document.documentElement.scrollWidth`); w > 375 {
			t.Errorf("%s is %d px wide at a 375 px viewport", path, w)
		}
		if eval[int](p, `document.querySelectorAll('main, header, nav').length`) < 3 {
			t.Errorf("%s lacks its landmarks", path)
		}
	}
	p.do(chromedp.EmulateViewport(1280, 900))
	if shot := os.Getenv("KOLLEKTIV_CONSOLE_SCREENSHOT"); shot != "" {
		// The README's picture: the source's page, as a laptop shows it.
		p.do(chromedp.EmulateViewport(1000, 1000), chromedp.Navigate(strings.SplitN(sourceURL, "?", 2)[0]))
		png, err := chromedp.Run(ctx, func(ctx context.Context, tg *chromedp.Target) ([]byte, error) {
			res, err := cdp.Call(ctx, tg, cdppage.CaptureScreenshot, cdppage.CaptureScreenshotParams{Format: cdppage.CaptureScreenshotFormatPng})
			return res.Data, err
		})
		if err != nil {
			t.Fatal(err)
		}
		p.do(chromedp.EmulateViewport(1280, 900))
		if err := os.WriteFile(shot, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// A forged form on another site (127.0.0.2 is another origin) posts to
	// the console with a valid token: the browser says cross-site, and the
	// console refuses before reading the form.
	p.do(chromedp.Navigate(sourceURL))
	token := eval[string](p, `document.querySelector('input[name=csrf]').value`)
	evil := evilSite(t, fmt.Sprintf(`<form method="post" action="%s/sources/%s/delete"><input name="csrf" value="%s"></form><script>document.forms[0].submit()</script>`, b.baseURL, id, token))
	p.do(chromedp.Navigate(evil))
	p.waitFor(`location.href.startsWith('`+b.baseURL+`') && document.readyState === 'complete' && document.body.innerText.length > 0`, `location.href`)
	if body := eval[string](p, `document.body.innerText`); !strings.Contains(body, "cross-origin POST refused") {
		t.Errorf("the forged delete answered %q", body)
	}
	if r := b.do(t, b.alice, "GET", "/v1/sources/"+id, nil); r.status != http.StatusOK {
		t.Fatalf("the forged form deleted the source: %d", r.status)
	}

	// Signing out: back to the sign-in page, and the session is gone.
	p.do(chromedp.Navigate(b.baseURL + "/"))
	p.do(chromedp.Click(chromedp.CSS(`.sign-out button`)))
	p.waitFor(`location.pathname === '/sign-in' && document.querySelector('[role=status]') !== null`, `document.body.innerText`)
	if notice := p.text(`[role=status]`); !strings.Contains(notice, "signed out") {
		t.Errorf("after sign-out: %q", notice)
	}
	p.do(chromedp.Navigate(b.baseURL + "/search"))
	if loc := p.location(); !strings.Contains(loc, "/sign-in") {
		t.Errorf("after sign-out, /search opened %s", loc)
	}
}

// evilSite serves html on 127.0.0.2, another origin (and site) than the
// console's 127.0.0.1, and returns its URL.
func evilSite(t *testing.T, html string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		t.Skipf("cannot listen on 127.0.0.2 for the other site: %v", err)
	}
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(html))
	})}}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL + "/"
}
