package api

import (
	"net/http"

	"github.com/kollektiv/kollektiv/internal/derr"
)

// browserGuard protects every route from what a browser on another site can
// make it do, and is applied before authentication:
//
//   - A cross-origin request with an unsafe method (POST, PUT, PATCH,
//     DELETE) is refused with 403. A browser that has typed the admin key
//     at River UI's Basic prompt attaches it to any request to this host,
//     and River UI's POST endpoints accept text/plain bodies, which a form
//     on any page can send without a CORS preflight. net/http's
//     CrossOriginProtection decides from Sec-Fetch-Site (same-origin and
//     none pass), else from Origin against Host; requests with neither
//     header (curl, the CLI, other programs) pass. River UI's own buttons
//     send same-origin requests and keep working.
//   - No page may frame a response (clickjacking of River UI's buttons):
//     X-Frame-Options for old browsers, CSP frame-ancestors for the rest.
//
// The Bearer-authenticated API does not strictly need the check (a page on
// another site cannot set an Authorization header without a CORS preflight,
// which this server never grants), but it costs nothing there and covers any
// route that a browser's cached credentials may reach later.
type browserGuard struct {
	crossOrigin *http.CrossOriginProtection
}

func newBrowserGuard() *browserGuard {
	return &browserGuard{crossOrigin: http.NewCrossOriginProtection()}
}

// check sets the framing headers on w and returns an *Error when r is a
// cross-origin unsafe request.
func (g *browserGuard) check(w http.ResponseWriter, r *http.Request) error {
	h := w.Header()
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	if err := g.crossOrigin.Check(r); err != nil {
		return errorf(derr.Forbidden, "cross-origin "+r.Method+" refused: this server accepts state-changing requests only from its own pages or from non-browser clients ("+err.Error()+")")
	}
	return nil
}
