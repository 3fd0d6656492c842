package api

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kollektiv/kollektiv/internal/apikeys"
	"github.com/kollektiv/kollektiv/internal/derr"
	"github.com/kollektiv/kollektiv/internal/store"
)

// The console's session is a random token in a cookie; the database keeps
// only its SHA-256 and the key it acts as (console_sessions), so signing
// out, revoking the key or its expiry end the session at once, in every API
// process.
//
// The cookie is HttpOnly (no script reads it), SameSite=Strict (no other
// site's page or link makes the browser send it) and Secure with the
// __Host- prefix (sent over HTTPS only, for this exact host, not settable by
// a sibling subdomain or over plain http). Browsers treat http://localhost
// and http://127.0.0.1 as secure enough for such a cookie, so a console on
// this machine works as it is; ConsoleOptions.AllowHTTP drops Secure, and
// only for a loopback request on a loopback host, for browsers that do not.
//
// Every form carries a CSRF token besides: HMAC(session token) once signed
// in, the value of a short-lived sign-in cookie before (double submit), so
// a request forged by another page fails even in a browser that ignores
// SameSite, on top of http.CrossOriginProtection on every route.

const (
	sessionCookie = "kollektiv_session"
	signInCookie  = "kollektiv_sign_in"
	// securePrefix makes a cookie Secure-only and bound to this host.
	securePrefix = "__Host-"
	// signInTTL bounds the sign-in form's life.
	signInTTL = time.Hour
	// csrfField is the form field of the CSRF token.
	csrfField = "csrf"
)

// ConsoleOptions configure the web console.
type ConsoleOptions struct {
	// SessionTTL is how long a sign-in lasts (never beyond the key's own
	// expiry). Default 12h.
	SessionTTL time.Duration
	// AllowHTTP sets the session cookie without Secure when both the
	// browser and the host it asked for are on this machine (loopback) and
	// the request came over plain HTTP, for browsers that keep no Secure
	// cookie from http://localhost. Everywhere else the cookie stays
	// Secure: serve the console over HTTPS. Default false.
	AllowHTTP bool
}

// session is a signed-in browser: the key it acts as and its token.
type session struct {
	key   apikeys.Key
	token string
}

// csrf is the session's CSRF token: not the token itself, which only the
// cookie carries, but a MAC of it that a page can hold.
func (s session) csrf() string {
	mac := hmac.New(sha256.New, []byte(s.token))
	mac.Write([]byte("kollektiv console csrf"))
	return hex.EncodeToString(mac.Sum(nil))
}

func tokenHash(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

func randomToken() (string, error) {
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("error generating a token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(raw), nil
}

// insecureCookies reports whether r may get cookies without Secure: the
// setting is on, the request came over plain HTTP, from this machine, for
// a loopback host.
func (s *Server) insecureCookies(r *http.Request) bool {
	if !s.Console.AllowHTTP || r.TLS != nil {
		return false
	}
	peer, _, err := net.SplitHostPort(r.RemoteAddr)
	return err == nil && isLoopback(peer) && isLoopback(hostOnly(r.Host))
}

// hostOnly strips the port of a Host header.
func hostOnly(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		return h
	}
	return strings.Trim(host, "[]")
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// cookie builds one of the console's cookies for r; maxAge < 0 deletes it.
func (s *Server) cookie(r *http.Request, name, value string, maxAge int) *http.Cookie {
	c := &http.Cookie{
		Name: securePrefix + name, Value: value, Path: "/", MaxAge: maxAge,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode,
	}
	if s.insecureCookies(r) {
		c.Name, c.Secure = name, false
	}
	return c
}

// cookieValue reads one of the console's cookies, under the name cookie
// gives it for r: a Secure deployment never reads the unprefixed name,
// which any page of a sibling host could have set.
func (s *Server) cookieValue(r *http.Request, name string) string {
	c, err := r.Cookie(s.cookie(r, name, "", 0).Name)
	if err != nil {
		return ""
	}
	return c.Value
}

// currentSession returns the request's live session, or false.
func (s *Server) currentSession(r *http.Request) (session, bool, error) {
	token := s.cookieValue(r, sessionCookie)
	if token == "" {
		return session{}, false, nil
	}
	var key apikeys.Key
	err := s.onceMoreIfLost(r, nil, func() (err error) {
		key, err = s.queries.GetConsoleSessionKey(r.Context(), store.GetConsoleSessionKeyParams{TokenHash: tokenHash(token), Now: s.Now()})
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return session{}, false, nil
	}
	if err != nil {
		return session{}, false, fmt.Errorf("error loading console session: %w", err)
	}
	return session{key: key, token: token}, true, nil
}

// signIn checks secret as the API checks a Bearer key, stores a session
// for it and sets its cookie.
func (s *Server) signIn(w http.ResponseWriter, r *http.Request, secret string) error {
	now := s.Now()
	key, err := apikeys.Authenticate(r.Context(), s.Pool, strings.TrimSpace(secret), now)
	if errors.Is(err, apikeys.ErrUnauthorized) {
		return errorf(derr.Unauthorized, "that API key is not valid: "+err.Error()+" (create one with `kollektiv keys create --user NAME`)")
	}
	if err != nil {
		return err
	}
	token, err := randomToken()
	if err != nil {
		return err
	}
	expires := now.Add(s.Console.SessionTTL)
	if key.ExpiresAt != nil && key.ExpiresAt.Before(expires) {
		expires = *key.ExpiresAt
	}
	// Sessions nobody signed out of end here: each sign-in sweeps them,
	// and the session this browser had before (another user's, perhaps).
	if _, err := s.queries.DeleteExpiredConsoleSessions(r.Context(), now); err != nil {
		return fmt.Errorf("error removing expired console sessions: %w", err)
	}
	if old := s.cookieValue(r, sessionCookie); old != "" {
		if err := s.queries.DeleteConsoleSession(r.Context(), tokenHash(old)); err != nil {
			return fmt.Errorf("error deleting the previous console session: %w", err)
		}
	}
	if err := s.queries.CreateConsoleSession(r.Context(), store.CreateConsoleSessionParams{TokenHash: tokenHash(token), APIKeyID: key.ID, ExpiresAt: expires}); err != nil {
		return fmt.Errorf("error storing console session: %w", err)
	}
	_ = s.queries.TouchAPIKey(r.Context(), key.ID)
	http.SetCookie(w, s.cookie(r, sessionCookie, token, int(expires.Sub(now).Seconds())))
	http.SetCookie(w, s.cookie(r, signInCookie, "", -1))
	return nil
}

// signOut ends the request's session, if any, and deletes its cookie.
func (s *Server) signOut(w http.ResponseWriter, r *http.Request) error {
	if token := s.cookieValue(r, sessionCookie); token != "" {
		if err := s.queries.DeleteConsoleSession(r.Context(), tokenHash(token)); err != nil {
			return fmt.Errorf("error deleting console session: %w", err)
		}
	}
	http.SetCookie(w, s.cookie(r, sessionCookie, "", -1))
	return nil
}

// signInToken returns the sign-in form's CSRF token, setting its cookie
// when the browser has none.
func (s *Server) signInToken(w http.ResponseWriter, r *http.Request) (string, error) {
	if v := s.cookieValue(r, signInCookie); v != "" {
		return v, nil
	}
	v, err := randomToken()
	if err != nil {
		return "", err
	}
	http.SetCookie(w, s.cookie(r, signInCookie, v, int(signInTTL.Seconds())))
	return v, nil
}

// errBadCSRF answers a form whose token is missing or wrong.
var errBadCSRF = derr.New(derr.Forbidden, "this form is stale or did not come from this console (its CSRF token does not match your session): reload the page and try again")

// checkCSRF compares a form's token with want in constant time.
func checkCSRF(r *http.Request, want string) error {
	got := r.PostFormValue(csrfField)
	if got == "" || want == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return errBadCSRF
	}
	return nil
}

// plainHTTPOrigin returns the origin of a browser's form when the browser
// reached this server over plain http on another machine's name: a Secure
// cookie set in answer would be dropped, so sign-in is refused with the
// reason instead of looping back to the form.
func (s *Server) plainHTTPOrigin(r *http.Request) (string, bool) {
	origin := r.Header.Get("Origin")
	u, err := url.Parse(origin)
	if err != nil || u.Scheme != "http" || isLoopback(u.Hostname()) {
		return "", false
	}
	return origin, true
}

// localPath returns next when it is a path of this site ("/..."), else
// "/": a sign-in never redirects to another site.
func localPath(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, `/\`) {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Host != "" || u.Scheme != "" {
		return "/"
	}
	return u.RequestURI()
}
