// Package api is Kollektiv's HTTP face: sources, their live events, hybrid
// search, health and metrics, and River UI for admins. Every route but the
// health checks needs an API key, and every query is scoped to the key's
// user: another user's resources are not found, never shown.
package api

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/riverqueue/river"
	"riverqueue.com/riverui"

	"github.com/kollektiv/kollektiv/internal/config"
	"github.com/kollektiv/kollektiv/internal/derr"
	"github.com/kollektiv/kollektiv/internal/documents"
	"github.com/kollektiv/kollektiv/internal/ingest"
	"github.com/kollektiv/kollektiv/internal/mcpserver"
	"github.com/kollektiv/kollektiv/internal/store"
)

// Limits bound what one request may ask; a zero field takes its default
// from the configuration table (config.Defaults).
type Limits struct {
	// MaxBodyBytes bounds a request body. Default 32 MiB.
	MaxBodyBytes int64
	// MaxDocuments bounds the documents of one request. Default 1,000.
	MaxDocuments int
	// MaxCrawlPages is the ceiling of a crawl's page limit. Default 500.
	MaxCrawlPages int
	// RateLimit and RateBurst bound each key's requests per second.
	// Defaults 20 and 40.
	RateLimit, RateBurst int
	// CrawlAllowPrivate lets crawls reach private and loopback addresses.
	CrawlAllowPrivate bool
}

func (l Limits) withDefaults() Limits {
	d := config.Defaults()
	l.MaxBodyBytes = cmp.Or(l.MaxBodyBytes, int64(d.APIMaxBodyBytes))
	l.MaxDocuments = cmp.Or(l.MaxDocuments, d.APIMaxDocuments)
	l.MaxCrawlPages = cmp.Or(l.MaxCrawlPages, d.APIMaxCrawlPages)
	l.RateLimit = cmp.Or(l.RateLimit, d.APIRateLimit)
	l.RateBurst = cmp.Or(l.RateBurst, d.APIRateBurst)
	return l
}

// Config holds the services a Server uses.
type Config struct {
	Pool   *pgxpool.Pool
	River  *river.Client[pgx.Tx]
	Ingest *ingest.Service
	Search Searcher
	Events EventStreamer
	// Ready reports whether the database answers and migrations are
	// current, for /readyz.
	Ready func(ctx context.Context) error
	// Registry receives the API's metrics and is served at /metrics.
	Registry *prometheus.Registry
	Limits   Limits
	// Console configures the web console at /.
	Console ConsoleOptions
	Logger  *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
}

// Server serves the API.
type Server struct {
	Config
	queries *store.Queries
	docs    *documents.Reader
	logger  *slog.Logger
	mux     *http.ServeMux
	limiter *rateLimiter
	metrics *httpMetrics
	riverUI *riverui.Handler
	guard   *browserGuard
	pages   map[string]*template.Template // the console's

	startOnce sync.Once
	stopUI    context.CancelFunc
}

// route is one endpoint, listed once for the mux and for the OpenAPI test.
type route struct {
	method, pattern string
	access          access
	handler         func(w http.ResponseWriter, r *http.Request) error
}

type access int

const (
	public access = iota
	user
	admin
)

// New builds a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Pool == nil || cfg.River == nil || cfg.Ingest == nil || cfg.Search == nil || cfg.Events == nil || cfg.Ready == nil {
		return nil, errors.New("api: Pool, River, Ingest, Search, Events and Ready are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	cfg.Limits = cfg.Limits.withDefaults()
	s := &Server{
		Config:  cfg,
		queries: store.New(cfg.Pool),
		logger:  cfg.Logger,
		mux:     http.NewServeMux(),
		limiter: newRateLimiter(cfg.Limits.RateLimit, cfg.Limits.RateBurst, cfg.Now),
		guard:   newBrowserGuard(),
	}
	s.docs = documents.NewReader(s.queries)
	var err error
	if s.metrics, err = newHTTPMetrics(cfg.Registry); err != nil {
		return nil, err
	}
	s.riverUI, err = riverui.NewHandler(&riverui.HandlerOpts{
		Endpoints: riverui.NewEndpoints(cfg.River, nil),
		Logger:    cfg.Logger,
		Prefix:    "/riverui",
	})
	if err != nil {
		return nil, fmt.Errorf("error creating River UI: %w", err)
	}
	for _, rt := range s.routes() {
		s.mux.Handle(rt.method+" "+rt.pattern, s.wrap(rt))
	}
	s.mux.Handle("/riverui/", s.wrap(route{pattern: "/riverui/", access: admin, handler: func(w http.ResponseWriter, r *http.Request) error {
		if r.URL.Path == "/riverui/" && r.URL.RawQuery == "" {
			// River UI itself opens on the running jobs, empty once an
			// ingest is over.
			http.Redirect(w, r, RiverUIStart, http.StatusFound)
			return nil
		}
		s.riverUI.ServeHTTP(w, r)
		return nil
	}}))
	// MCP over streamable HTTP: the same keys, guard and limits as /v1.
	mcpHandler, err := s.mcpHandler()
	if err != nil {
		return nil, err
	}
	s.mux.Handle("/mcp", s.wrap(route{pattern: "/mcp", access: user, handler: mcpHandler}))
	if err := s.mountConsole(); err != nil {
		return nil, err
	}
	s.mux.Handle("/", s.wrap(route{pattern: "/", access: public, handler: func(http.ResponseWriter, *http.Request) error {
		return errorf(derr.NotFound, "no such endpoint")
	}}))
	return s, nil
}

func (s *Server) routes() []route {
	return []route{
		{"GET", "/healthz", public, s.healthz},
		{"GET", "/readyz", public, s.readyz},
		{"GET", "/metrics", public, s.serveMetrics},
		{"GET", "/v1/openapi.json", public, s.openAPI},
		{"POST", "/v1/sources", user, s.createSource},
		{"POST", "/v1/sources/upload", user, s.uploadSource},
		{"GET", "/v1/sources", user, s.listSources},
		{"GET", "/v1/sources/{id}", user, s.getSource},
		{"DELETE", "/v1/sources/{id}", user, s.deleteSource},
		{"POST", "/v1/sources/{id}/retry", user, s.retrySource},
		{"POST", "/v1/sources/{id}/refresh", user, s.refreshSource},
		{"GET", "/v1/sources/{id}/events", user, s.sourceEvents},
		{"GET", "/v1/sources/{id}/documents", user, s.listDocuments},
		{"GET", "/v1/documents/{id}", user, s.getDocument},
		{"GET", "/v1/search", user, s.search},
		{"GET", "/riverui", admin, s.riverUIStart},
	}
}

// RiverUIStart is where admins land in River UI: the completed jobs, which
// show what the last ingests did (River UI's own start page, the running
// jobs, is empty once they are over). /riverui and /riverui/ redirect here;
// it is a stable link for the console and `make run`.
const RiverUIStart = "/riverui/jobs?state=completed"

func (s *Server) riverUIStart(w http.ResponseWriter, r *http.Request) error {
	http.Redirect(w, r, RiverUIStart, http.StatusFound)
	return nil
}

// mcpHandler serves /mcp: the MCP server on this API's services, each
// request acting for its key's user.
func (s *Server) mcpHandler() (func(w http.ResponseWriter, r *http.Request) error, error) {
	srv, err := mcpserver.New(mcpserver.Config{
		Queries: s.queries, Search: mcpserver.Searcher(s.Search), Ingest: s.Ingest, Crawl: s.crawlLimits(), Logger: s.logger,
	})
	if err != nil {
		return nil, fmt.Errorf("error creating the MCP server: %w", err)
	}
	h, err := srv.HTTPHandler(func(r *http.Request) string { return keyFrom(r.Context()).UserID })
	if err != nil {
		return nil, err
	}
	return func(w http.ResponseWriter, r *http.Request) error {
		h.ServeHTTP(w, r)
		return nil
	}, nil
}

// Start starts River UI's background work, which runs until Stop. Call it
// once before serving.
func (s *Server) Start(ctx context.Context) error {
	var err error
	s.startOnce.Do(func() {
		var uiCtx context.Context
		uiCtx, s.stopUI = context.WithCancel(context.WithoutCancel(ctx))
		err = s.riverUI.Start(uiCtx)
	})
	if err != nil {
		return fmt.Errorf("error starting River UI: %w", err)
	}
	return nil
}

// Stop ends River UI's background work. Safe to call more than once.
func (s *Server) Stop() {
	if s.stopUI != nil {
		s.stopUI()
	}
}

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// wrap applies what every route shares: metrics, the cross-origin guard,
// the body limit, auth and the rate limit, and error rendering.
func (s *Server) wrap(rt route) http.Handler {
	label := rt.method + " " + rt.pattern
	if rt.method == "" {
		label = rt.pattern
	}
	// Probes, scrapes and River UI's polling come every few seconds: when
	// they succeed, their lines are debug, not noise.
	quiet := rt.access == public && rt.pattern != "/" || rt.pattern == "/riverui/"
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		id := requestID(r)
		rec.Header().Set(requestIDHeader, id)
		r = r.WithContext(withRequestID(r.Context(), id))
		var user string
		defer func() {
			took := s.Now().Sub(start)
			s.metrics.observe(label, rec.status, took)
			level := slog.LevelInfo
			if quiet && rec.status < http.StatusBadRequest {
				level = slog.LevelDebug
			}
			s.logger.LogAttrs(r.Context(), level, "request",
				slog.String("method", r.Method), slog.String("route", label), slog.Int("status", rec.status),
				slog.Duration("duration", took), slog.String("user", user), slog.String("request_id", id))
		}()

		if err := s.guard.check(rec, r); err != nil {
			s.writeError(rec, r, err)
			return
		}
		r.Body = http.MaxBytesReader(rec, r.Body, s.Limits.MaxBodyBytes)
		if rt.access != public {
			key, err := s.authenticate(r, rt.access == admin)
			if err != nil {
				if rt.access == admin {
					// Lets a browser ask for the key (user name ignored).
					rec.Header().Set("WWW-Authenticate", `Basic realm="kollektiv River UI", charset="UTF-8"`)
				}
				s.writeError(rec, r, err)
				return
			}
			if rt.access == admin && !key.Admin {
				s.writeError(rec, r, errorf(derr.Forbidden, "this needs an admin key"))
				return
			}
			if wait, ok := s.limiter.allow(key.ID.String()); !ok {
				rec.Header().Set("Retry-After", fmt.Sprint(int(wait.Seconds())+1))
				s.writeError(rec, r, errorf(derr.RateLimited, fmt.Sprintf("rate limit of %d requests per second exceeded; retry after %s", s.Limits.RateLimit, wait.Round(time.Millisecond))))
				return
			}
			user = key.UserID
			r = r.WithContext(withKey(r.Context(), key))
		}
		if err := s.handle(rt, rec, r); err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				err = errorf(derr.TooLarge, fmt.Sprintf("request body larger than %d bytes", tooLarge.Limit))
			}
			s.writeError(rec, r, err)
		}
	})
}

// statusRecorder remembers the status for metrics; Unwrap keeps flushing
// (SSE) working through http.ResponseController.
type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status, r.wrote = code, true
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

// started reports whether a response has begun on w.
func started(w http.ResponseWriter) bool {
	rec, ok := w.(*statusRecorder)
	return ok && rec.wrote
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// bearer returns the token of an Authorization: Bearer header. The scheme
// is case-insensitive (RFC 9110, section 11.1), so "bearer" works too.
func bearer(r *http.Request) string {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	i := strings.IndexAny(h, " \t")
	if i < 0 || !strings.EqualFold(h[:i], "Bearer") {
		return ""
	}
	return strings.TrimSpace(h[i+1:])
}
