package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kollektiv/kollektiv/internal/api"
	"github.com/kollektiv/kollektiv/internal/apikeys"
	"github.com/kollektiv/kollektiv/internal/config"
)

// browser is a console client over plain HTTP: it keeps the console's
// cookies by hand, as a browser would, whatever their Secure flag (Go's
// cookie jar sends no Secure cookie over http).
type browser struct {
	t       *testing.T
	b       *testBundle
	cookies map[string]*http.Cookie
	// header is added to every request (Sec-Fetch-Site, Origin, Host).
	header http.Header
	host   string
}

func (b *testBundle) browser(t *testing.T) *browser {
	return &browser{t: t, b: b, cookies: map[string]*http.Cookie{}, header: http.Header{}}
}

func (c *browser) do(method, path string, body io.Reader, contentType string) response {
	c.t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, c.b.baseURL+path, body)
	if err != nil {
		c.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range c.header {
		req.Header[k] = v
	}
	if c.host != "" {
		req.Host = c.host
	}
	for _, ck := range c.cookies {
		req.AddCookie(&http.Cookie{Name: ck.Name, Value: ck.Value})
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	for _, ck := range resp.Cookies() {
		if ck.MaxAge < 0 {
			delete(c.cookies, ck.Name)
		} else {
			c.cookies[ck.Name] = ck
		}
	}
	return response{status: resp.StatusCode, header: resp.Header, body: raw}
}

func (c *browser) get(path string) response { return c.do("GET", path, nil, "") }

func (c *browser) post(path string, form url.Values) response {
	return c.do("POST", path, strings.NewReader(form.Encode()), "application/x-www-form-urlencoded")
}

var csrfPattern = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf returns the CSRF token of the page at path.
func (c *browser) csrf(path string) string {
	c.t.Helper()
	r := c.get(path)
	m := csrfPattern.FindSubmatch(r.body)
	if r.status != http.StatusOK || m == nil {
		c.t.Fatalf("GET %s: %d, no CSRF token in %s", path, r.status, r.body)
	}
	return string(m[1])
}

// signIn signs in with key through the sign-in form.
func (c *browser) signIn(key string) response {
	c.t.Helper()
	token := c.csrf("/sign-in")
	return c.post("/sign-in", url.Values{"csrf": {token}, "key": {key}, "next": {"/"}})
}

func TestConsoleSignInCookies(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	c := b.browser(t)

	r := c.get("/")
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/sign-in?next=%2F" {
		t.Fatalf("signed out GET /: %d to %q, want a redirect to the sign-in page", r.status, r.header.Get("Location"))
	}
	r = c.get("/sign-in")
	if r.status != http.StatusOK || !bytes.Contains(r.body, []byte(`<label for="key">API key</label>`)) {
		t.Fatalf("sign-in page: %d %s", r.status, r.body)
	}
	for name, want := range map[string]string{
		"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
		"X-Frame-Options":         "DENY",
		"X-Content-Type-Options":  "nosniff",
		"Cache-Control":           "no-store",
	} {
		if got := r.header.Get(name); got != want {
			t.Errorf("%s: %q, want %q", name, got, want)
		}
	}
	if regexp.MustCompile(`<script>| style=| on[a-z]+=`).Match(r.body) {
		t.Errorf("the page has inline script or style, which its CSP refuses: %s", r.body)
	}
	// The assets load under nosniff only with their own types.
	for path, want := range map[string]string{
		"/assets/console.js": "text/javascript", "/assets/console.css": "text/css", "/assets/favicon.svg": "image/svg+xml",
	} {
		if r := c.get(path); r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), want) {
			t.Errorf("GET %s: %d %q, want %s", path, r.status, r.header.Get("Content-Type"), want)
		}
	}
	signIn := c.cookies["__Host-kollektiv_sign_in"]
	if signIn == nil {
		t.Fatalf("no sign-in cookie: %v", r.header["Set-Cookie"])
	}
	checkCookie(t, signIn)

	// A form without the sign-in cookie's token is refused.
	r = c.post("/sign-in", url.Values{"csrf": {"forged"}, "key": {b.alice}})
	if r.status != http.StatusForbidden || c.cookies["__Host-kollektiv_session"] != nil {
		t.Fatalf("sign-in with a wrong CSRF token: %d, cookies %v", r.status, c.cookies)
	}
	// A wrong key is refused on the page, with the reason.
	r = c.signIn("kol_" + strings.Repeat("0", 64))
	if r.status != http.StatusUnauthorized || !bytes.Contains(r.body, []byte("not valid")) || c.cookies["__Host-kollektiv_session"] != nil {
		t.Fatalf("sign-in with a wrong key: %d %s", r.status, r.body)
	}

	// A second sign-in form, as another tab keeps it.
	staleToken := c.csrf("/sign-in")
	staleForm := *c.cookies["__Host-kollektiv_sign_in"]
	r = c.signIn(b.alice)
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/" {
		t.Fatalf("sign-in: %d to %q: %s", r.status, r.header.Get("Location"), r.body)
	}
	sess := c.cookies["__Host-kollektiv_session"]
	if sess == nil {
		t.Fatalf("no session cookie: %v", r.header["Set-Cookie"])
	}
	checkCookie(t, sess)
	if sess.MaxAge < int((12*time.Hour).Seconds())-5 || sess.MaxAge > int((12*time.Hour).Seconds()) {
		t.Errorf("session Max-Age %d, want 12h", sess.MaxAge)
	}
	if strings.Contains(sess.Value, b.alice) || strings.Contains(r.header.Get("Location"), b.alice) {
		t.Error("the key is in the cookie or the redirect")
	}
	if c.cookies["__Host-kollektiv_sign_in"] != nil {
		t.Error("the sign-in cookie outlived the sign-in")
	}
	// Only the token's hash is stored.
	var stored int
	hash := sha256.Sum256([]byte(sess.Value))
	if err := b.app.Pool.QueryRow(context.Background(), "SELECT count(*) FROM console_sessions WHERE token_hash = $1", hash[:]).Scan(&stored); err != nil || stored != 1 {
		t.Fatalf("stored sessions with the token's hash: %d, %v", stored, err)
	}

	// Signing in again replaces the session: the old token is worthless.
	first := *sess
	c.cookies[staleForm.Name] = &staleForm
	if r := c.post("/sign-in", url.Values{"csrf": {staleToken}, "key": {b.alice}}); r.status != http.StatusSeeOther {
		t.Fatalf("second sign-in: %d", r.status)
	}
	sess = c.cookies["__Host-kollektiv_session"]
	if err := b.app.Pool.QueryRow(context.Background(), "SELECT count(*) FROM console_sessions").Scan(&stored); err != nil || stored != 1 || sess.Value == first.Value {
		t.Fatalf("after a second sign-in: %d sessions stored (%v), token changed %v", stored, err, sess.Value != first.Value)
	}

	r = c.get("/")
	if r.status != http.StatusOK || !bytes.Contains(r.body, []byte(">alice<")) || !bytes.Contains(r.body, []byte("Add a source")) {
		t.Fatalf("signed in GET /: %d %s", r.status, r.body)
	}
	if bytes.Contains(r.body, []byte("/riverui/")) {
		t.Error("a user's page links to River UI")
	}
	// The key is never taken from a URL.
	other := b.browser(t)
	if r := other.get("/sign-in?key=" + url.QueryEscape(b.alice)); r.status != http.StatusOK || other.cookies["__Host-kollektiv_session"] != nil {
		t.Fatalf("GET /sign-in?key=: %d, cookies %v", r.status, other.cookies)
	}

	// Signing out ends the session on the server, not only in the browser.
	old := *sess
	token := c.csrf("/")
	if r := c.post("/sign-out", url.Values{"csrf": {"wrong"}}); r.status != http.StatusForbidden {
		t.Fatalf("sign-out with a wrong token: %d", r.status)
	}
	r = c.post("/sign-out", url.Values{"csrf": {token}})
	if r.status != http.StatusSeeOther || c.cookies["__Host-kollektiv_session"] != nil {
		t.Fatalf("sign-out: %d, cookies %v", r.status, c.cookies)
	}
	c.cookies[old.Name] = &old
	if r := c.get("/"); r.status != http.StatusSeeOther {
		t.Fatalf("the signed-out session still opens /: %d", r.status)
	}
}

func checkCookie(t *testing.T, c *http.Cookie) {
	t.Helper()
	if !c.Secure || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Domain != "" {
		t.Errorf("cookie %s: Secure %v HttpOnly %v SameSite %v Path %q Domain %q, want Secure, HttpOnly, Strict, / and no domain",
			c.Name, c.Secure, c.HttpOnly, c.SameSite, c.Path, c.Domain)
	}
}

func TestConsoleCSRF(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	alice, bob := b.browser(t), b.browser(t)
	alice.signIn(b.alice)
	bob.signIn(b.bob)
	token := alice.csrf("/")

	count := func() int {
		var n int
		if err := b.app.Pool.QueryRow(context.Background(), "SELECT count(*) FROM sources WHERE user_id = 'alice'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	form := func(csrf string) url.Values {
		return url.Values{"csrf": {csrf}, "url": {"https://docs.example.com/"}}
	}
	for name, csrf := range map[string]string{"no token": "", "a wrong token": "0123", "bob's token": bob.csrf("/")} {
		if r := alice.post("/sources", form(csrf)); r.status != http.StatusForbidden || !bytes.Contains(r.body, []byte("CSRF")) {
			t.Errorf("POST /sources with %s: %d %s", name, r.status, r.body)
		}
	}
	// A cross-site request is refused before its token is even read.
	alice.header.Set("Sec-Fetch-Site", "cross-site")
	if r := alice.post("/sources", form(token)); r.status != http.StatusForbidden || !bytes.Contains(r.body, []byte("cross-origin")) {
		t.Errorf("cross-site POST /sources: %d %s", r.status, r.body)
	}
	alice.header.Del("Sec-Fetch-Site")
	if n := count(); n != 0 {
		t.Fatalf("%d sources created by refused forms", n)
	}

	// An upload carries its token in the multipart body.
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("csrf", "wrong")
	fw, _ := mw.CreateFormFile("files", "guide.md")
	_, _ = fw.Write([]byte(guide("upload")))
	_ = mw.Close()
	if r := alice.do("POST", "/sources/upload", bytes.NewReader(body.Bytes()), mw.FormDataContentType()); r.status != http.StatusForbidden {
		t.Errorf("upload with a wrong token: %d %s", r.status, r.body)
	}
	if n := count(); n != 0 {
		t.Fatalf("%d sources created by a refused upload", n)
	}

	r := alice.post("/sources", form(token))
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/sources/") {
		t.Fatalf("POST /sources with the token: %d %s", r.status, r.body)
	}
	if n := count(); n != 1 {
		t.Fatalf("%d sources, want 1", n)
	}
	// A form the user can fix is answered beside the form.
	r = alice.post("/sources", url.Values{"csrf": {token}, "url": {"ftp://example.com/"}})
	if r.status != http.StatusBadRequest || !bytes.Contains(r.body, []byte("want an http or https URL")) || !bytes.Contains(r.body, []byte(`value="ftp://example.com/"`)) {
		t.Fatalf("POST /sources with a bad URL: %d %s", r.status, r.body)
	}
}

func TestConsoleIsolation(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	source := b.createInline(t, b.alice, map[string]string{"title": "Tokio", "url": "tokio.md", "content": guide("tokio")})
	id := source["id"].(string)
	alice, bob := b.browser(t), b.browser(t)
	alice.signIn(b.alice)
	bob.signIn(b.bob)

	if r := alice.get("/sources/" + id); r.status != http.StatusOK || !bytes.Contains(r.body, []byte("tokio.md")) {
		t.Fatalf("alice's source page: %d %s", r.status, r.body)
	}
	if r := bob.get("/sources/" + id); r.status != http.StatusNotFound {
		t.Fatalf("bob opens alice's source page: %d", r.status)
	}
	if r := bob.post("/sources/"+id+"/delete", url.Values{"csrf": {bob.csrf("/")}}); r.status != http.StatusNotFound {
		t.Fatalf("bob deletes alice's source: %d", r.status)
	}
	if r := bob.get("/search?q=tokio&source_id=" + id); r.status != http.StatusNotFound {
		t.Fatalf("bob searches alice's source: %d", r.status)
	}
	if r := bob.get("/search?q=tokio"); r.status != http.StatusOK || !bytes.Contains(r.body, []byte("0 results")) {
		t.Fatalf("bob's search found alice's chunks: %d %s", r.status, r.body)
	}
	r := alice.get("/search?q=tokio+engine&source_id=" + id)
	if r.status != http.StatusOK || !bytes.Contains(r.body, []byte("<mark>engine</mark>")) || !bytes.Contains(r.body, []byte("/documents/")) {
		t.Fatalf("alice's search: %d %s", r.status, r.body)
	}

	// The console's event stream takes the session, and only its owner's.
	if r := bob.get("/sources/" + id + "/events"); r.status != http.StatusNotFound {
		t.Fatalf("bob's stream of alice's source: %d", r.status)
	}
	if r := b.browser(t).get("/sources/" + id + "/events"); r.status != http.StatusUnauthorized {
		t.Fatalf("stream without a session: %d", r.status)
	}
	r = alice.get("/sources/" + id + "/events")
	if r.status != http.StatusOK || r.header.Get("Content-Type") != "text/event-stream" || !bytes.HasPrefix(r.body, []byte("event: snapshot\n")) || !bytes.Contains(r.body, []byte("event: completed")) {
		t.Fatalf("alice's stream: %d %q %s", r.status, r.header.Get("Content-Type"), r.body)
	}

	// A revoked key ends its sessions at once.
	key, err := apikeys.Authenticate(context.Background(), b.app.Pool, b.alice, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.app.Pool.Exec(context.Background(), "UPDATE api_keys SET revoked_at = now() WHERE id = $1", key.ID); err != nil {
		t.Fatal(err)
	}
	if r := alice.get("/"); r.status != http.StatusSeeOther {
		t.Fatalf("a revoked key's session opens /: %d", r.status)
	}
}

func TestConsoleAllowHTTP(t *testing.T) {
	t.Parallel()
	b := setup(t, func(c *config.Config) { c.ConsoleAllowHTTP = true })

	// From this machine to a loopback host: the cookie may go without Secure.
	local := b.browser(t)
	local.signIn(b.alice)
	sess := local.cookies["kollektiv_session"]
	if sess == nil || sess.Secure || !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode {
		t.Fatalf("loopback session cookie: %+v (cookies %v)", sess, local.cookies)
	}
	if r := local.get("/"); r.status != http.StatusOK {
		t.Fatalf("loopback session: %d", r.status)
	}

	// A request for another host name keeps the Secure cookie, setting or not.
	remote := b.browser(t)
	remote.host = "kollektiv.example.com"
	remote.signIn(b.alice)
	if c := remote.cookies["__Host-kollektiv_session"]; c == nil || !c.Secure {
		t.Fatalf("session cookie for another host: %v", remote.cookies)
	}

	// A browser that reached another machine over plain http is told why
	// it cannot sign in, instead of losing the Secure cookie silently.
	plain := b.browser(t)
	plain.host = "kollektiv.example.com"
	plain.header.Set("Origin", "http://kollektiv.example.com")
	token := plain.csrf("/sign-in")
	r := plain.post("/sign-in", url.Values{"csrf": {token}, "key": {b.alice}})
	if r.status != http.StatusForbidden || !bytes.Contains(r.body, []byte("plain HTTP")) || plain.cookies["__Host-kollektiv_session"] != nil {
		t.Fatalf("sign-in over plain http: %d %s", r.status, r.body)
	}
}

func TestConsoleUploadAndActions(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	c := b.browser(t)
	c.signIn(b.alice)
	token := c.csrf("/")

	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	_ = mw.WriteField("csrf", token)
	for name, text := range map[string]string{"docs/guide.md": guide("upload"), "docs/logo.png": "\x89PNG", "docs/empty.md": " "} {
		fw, _ := mw.CreateFormFile("files", name)
		_, _ = fw.Write([]byte(text))
	}
	// The folder input the user left empty sends an empty part.
	_, _ = mw.CreateFormFile("files", "")
	_ = mw.Close()
	r := c.do("POST", "/sources/upload", bytes.NewReader(body.Bytes()), mw.FormDataContentType())
	loc := r.header.Get("Location")
	if r.status != http.StatusSeeOther || !strings.Contains(loc, "skipped=1") {
		t.Fatalf("upload: %d %q %s", r.status, loc, r.body)
	}
	path, _, _ := strings.Cut(loc, "?")
	id := strings.TrimPrefix(path, "/sources/")
	b.waitFinished(t, b.alice, id)

	r = c.get(loc)
	for _, want := range []string{"1 file was skipped", "guide.md", "empty.md", `data-field="reason">`, "Summary", "Keywords", `<span class="stage stage-completed" data-field="stage"`} {
		if !bytes.Contains(r.body, []byte(want)) {
			t.Errorf("source page lacks %q: %s", want, r.body)
		}
	}
	r = c.get("/sources/" + id + "?status=failed")
	if !bytes.Contains(r.body, []byte("empty.md")) || bytes.Contains(r.body, []byte(">guide.md<")) {
		t.Errorf("failed documents: %s", r.body)
	}

	// Retry with nothing to retry is a conflict, shown with its reason.
	if r := c.post("/sources/"+id+"/retry", url.Values{"csrf": {token}}); r.status != http.StatusConflict || !bytes.Contains(r.body, []byte("retry")) {
		t.Errorf("retry with nothing to retry: %d %s", r.status, r.body)
	}
	// Refresh of an uploaded source is refused with its reason too.
	if r := c.post("/sources/"+id+"/refresh", url.Values{"csrf": {token}}); r.status != http.StatusConflict {
		t.Errorf("refresh of an upload: %d %s", r.status, r.body)
	}

	// Delete asks first, then deletes.
	r = c.get("/sources/" + id + "/delete")
	if r.status != http.StatusOK || !bytes.Contains(r.body, []byte("cannot be undone")) {
		t.Fatalf("delete confirmation: %d %s", r.status, r.body)
	}
	r = c.post("/sources/"+id+"/delete", url.Values{"csrf": {token}})
	if r.status != http.StatusSeeOther || r.header.Get("Location") != "/?notice=deleted" {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	if r := b.do(t, b.alice, "GET", "/v1/sources/"+id, nil); r.status != http.StatusNotFound {
		t.Fatalf("deleted source: %d", r.status)
	}
	if r := c.get("/?notice=deleted"); !bytes.Contains(r.body, []byte("Source deleted")) {
		t.Errorf("no notice after delete: %s", r.body)
	}
}

func TestConsoleAdmin(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	admin, alice := b.browser(t), b.browser(t)
	admin.signIn(b.admin)
	alice.signIn(b.alice)

	r := admin.get("/")
	if !bytes.Contains(r.body, []byte(`<a href="`+api.RiverUIStart+`">River UI</a>`)) || !bytes.Contains(r.body, []byte(`<a href="/metrics">Metrics</a>`)) {
		t.Fatalf("an admin's page lacks the River UI and metrics links: %s", r.body)
	}
	// The admin's session opens River UI without a second prompt; a
	// user's does not.
	if r := admin.get(api.RiverUIStart); r.status != http.StatusOK || !bytes.Contains(r.body, []byte("<html")) {
		t.Fatalf("River UI with an admin's session: %d", r.status)
	}
	if r := alice.get(api.RiverUIStart); r.status != http.StatusForbidden {
		t.Fatalf("River UI with a user's session: %d", r.status)
	}
	// River UI's POSTs stay closed to other sites, session or not.
	admin.header.Set("Sec-Fetch-Site", "cross-site")
	r = admin.do("POST", "/riverui/api/jobs/cancel", strings.NewReader(`{"ids":["1"]}`), "text/plain")
	if r.status != http.StatusForbidden {
		t.Fatalf("cross-site POST to River UI with an admin's session: %d %s", r.status, r.body)
	}
}
