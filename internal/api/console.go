package api

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/kollektiv/kollektiv/internal/derr"
)

// The web console: server-rendered pages at /, signed in with an API key,
// acting with that key's rights through the same services as /v1. Its
// templates and assets are embedded; there is no build step.

//go:embed web
var webFS embed.FS

// consolePolicy is the console pages' Content-Security-Policy: this
// server's own script, styles and connections only, no inline script, no
// plugin, no base or form target elsewhere, no framing.
const consolePolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

// consoleRoute is one console endpoint. A signed-in route runs with the
// session's key in its context (keyFrom), as an API route runs with its
// Bearer key; every POST of one carries the session's CSRF token.
type consoleRoute struct {
	method, pattern string
	signedIn        bool
	handler         func(w http.ResponseWriter, r *http.Request, sess session) error
}

func (s *Server) consoleRoutes() []consoleRoute {
	return []consoleRoute{
		{"GET", "/{$}", true, s.consoleSources},
		{"GET", "/sign-in", false, s.consoleSignInForm},
		{"POST", "/sign-in", false, s.consoleSignIn},
		{"POST", "/sign-out", false, s.consoleSignOut},
		{"POST", "/sources", true, s.consoleAddURL},
		{"POST", "/sources/upload", true, s.consoleUpload},
		{"GET", "/sources/{id}", true, s.consoleSource},
		{"GET", "/sources/{id}/events", true, s.consoleEvents},
		{"POST", "/sources/{id}/refresh", true, s.consoleRefresh},
		{"POST", "/sources/{id}/retry", true, s.consoleRetry},
		{"GET", "/sources/{id}/delete", true, s.consoleDeleteForm},
		{"POST", "/sources/{id}/delete", true, s.consoleDelete},
		{"GET", "/documents/{id}", true, s.consoleDocument},
		{"GET", "/search", true, s.consoleSearch},
	}
}

// mountConsole registers the console's pages and assets on the mux.
func (s *Server) mountConsole() error {
	pages, err := parsePages()
	if err != nil {
		return err
	}
	s.pages = pages
	if s.Console.SessionTTL <= 0 {
		s.Console.SessionTTL = 12 * time.Hour
	}
	for _, rt := range s.consoleRoutes() {
		s.mux.Handle(rt.method+" "+rt.pattern, s.wrapConsole(rt))
	}
	assets, err := fs.Sub(webFS, "web/assets")
	if err != nil {
		return fmt.Errorf("error loading console assets: %w", err)
	}
	files := http.StripPrefix("/assets/", http.FileServerFS(assets))
	s.mux.Handle("GET /assets/", s.wrapConsole(consoleRoute{method: "GET", pattern: "/assets/", handler: func(w http.ResponseWriter, r *http.Request, _ session) error {
		// Embedded files have no modification time: revalidate each load.
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
		return nil
	}}))
	return nil
}

// wrapConsole applies what every console route shares: metrics, the
// cross-origin guard and framing headers, the console's CSP, the body
// limit, the session, the rate limit of its key, the CSRF token of a POST,
// and errors rendered as a page.
func (s *Server) wrapConsole(rt consoleRoute) http.Handler {
	label := "console " + rt.method + " " + rt.pattern
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		defer func() { s.metrics.observe(label, rec.status, s.Now().Sub(start)) }()

		err := s.guard.check(rec, r)
		h := rec.Header()
		h.Set("Content-Security-Policy", consolePolicy)
		h.Set("Referrer-Policy", "same-origin")
		if rt.pattern != "/assets/" {
			h.Set("Cache-Control", "no-store")
		}
		if err != nil {
			s.renderError(rec, r, session{}, err)
			return
		}
		r.Body = http.MaxBytesReader(rec, r.Body, s.Limits.MaxBodyBytes)
		if r.Method == http.MethodPost {
			if err := parseForm(r); err != nil {
				s.renderError(rec, r, session{}, err)
				return
			}
			if r.MultipartForm != nil {
				defer func() { _ = r.MultipartForm.RemoveAll() }()
			}
		}
		var sess session
		if rt.signedIn {
			var ok bool
			sess, ok, err = s.currentSession(r)
			switch {
			case err != nil:
				s.renderError(rec, r, session{}, err)
				return
			case !ok && r.Method == http.MethodGet && !strings.HasSuffix(rt.pattern, "/events"):
				http.Redirect(rec, r, "/sign-in?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			case !ok:
				s.renderError(rec, r, session{}, errorf(derr.Unauthorized, "you are not signed in (or your session ended): sign in again"))
				return
			}
			if wait, ok := s.limiter.allow(sess.key.ID.String()); !ok {
				rec.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
				s.renderError(rec, r, sess, errorf(derr.RateLimited, fmt.Sprintf("rate limit of %d requests per second exceeded; retry in a moment", s.Limits.RateLimit)))
				return
			}
			if r.Method == http.MethodPost {
				if err := checkCSRF(r, sess.csrf()); err != nil {
					s.renderError(rec, r, sess, err)
					return
				}
			}
			r = r.WithContext(withKey(r.Context(), sess.key))
		}
		if err := rt.handler(rec, r, sess); err != nil {
			if started(rec) {
				s.logger.WarnContext(r.Context(), "console response failed", slog.String("path", r.URL.Path), slog.String("error", err.Error()))
				return
			}
			s.renderError(rec, r, sess, err)
		}
	})
}

// parseForm reads a POST's form (multipart for uploads) before the CSRF
// check, which needs its token field.
func parseForm(r *http.Request) error {
	mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	var err error
	if mediaType == "multipart/form-data" {
		err = r.ParseMultipartForm(maxUploadMemory)
	} else {
		err = r.ParseForm()
	}
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return errorf(derr.TooLarge, fmt.Sprintf("the form is larger than %d bytes", tooLarge.Limit))
	case err != nil:
		return errorf(derr.Invalid, "the form could not be read: "+err.Error())
	}
	return nil
}

// page is what every console template gets.
type page struct {
	Title string
	// Section names the navigation entry of this page.
	Section string
	Signed  bool
	User    string
	Admin   bool
	CSRF    string
	Notice  string
	Error   string
	Data    any
}

func newPage(sess session, title, section string, data any) page {
	p := page{Title: title, Section: section, Data: data}
	if sess.token != "" {
		p.Signed, p.User, p.Admin, p.CSRF = true, sess.key.UserID, sess.key.Admin, sess.csrf()
	}
	return p
}

// render writes a page with status.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	t, ok := s.pages[name]
	if !ok {
		s.renderError(w, r, session{}, fmt.Errorf("no console template %q", name))
		return
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout", p); err != nil {
		s.logger.ErrorContext(r.Context(), "console template failed", slog.String("template", name), slog.String("error", err.Error()))
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// renderError answers with err as a page: its kind's status and message;
// an error of no kind is logged and shown as an internal error.
func (s *Server) renderError(w http.ResponseWriter, r *http.Request, sess session, err error) {
	kind := derr.KindOf(err)
	if kind == derr.Internal {
		s.logger.ErrorContext(r.Context(), "console request failed", slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("error", err.Error()))
	}
	p := newPage(sess, "Error", "", nil)
	p.Error = derr.Message(err)
	s.render(w, r, derr.HTTPStatus(err), "error.html", p)
}

// parsePages parses each page template with the shared layout.
func parsePages() (map[string]*template.Template, error) {
	names, err := fs.Glob(webFS, "web/templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*template.Template{}
	for _, name := range names {
		base := name[len("web/templates/"):]
		if base == "layout.html" {
			continue
		}
		t, err := template.New(base).Funcs(consoleFuncs).ParseFS(webFS, "web/templates/layout.html", name)
		if err != nil {
			return nil, fmt.Errorf("error parsing console template %s: %w", base, err)
		}
		pages[base] = t
	}
	return pages, nil
}
