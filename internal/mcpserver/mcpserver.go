// Package mcpserver is Kollektiv's Model Context Protocol server: the tools
// an agent uses to search a user's knowledge base, look at its sources and
// documents and add or refresh a web source, and each document as a
// resource (kollektiv://documents/{id}). It runs over stdio for one local
// user (`kollektiv mcp`) and over streamable HTTP at /mcp of the API, where
// each request's API key names the user.
//
// The tools are thin: they call the services the API calls (search,
// documents, ingest) and answer with the API's types, so a tool call and
// the matching API request give the same answer, the same error message,
// and never another user's data.
package mcpserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/google/uuid"
	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/kollektiv/kollektiv/internal/derr"
	"github.com/kollektiv/kollektiv/internal/documents"
	"github.com/kollektiv/kollektiv/internal/ingest"
	"github.com/kollektiv/kollektiv/internal/search"
	"github.com/kollektiv/kollektiv/internal/store"
)

// Searcher runs a search for one user (q.UserID): search.Searcher's Search.
type Searcher func(ctx context.Context, q search.Query) (search.Result, error)

// Config holds what a Server uses.
type Config struct {
	// Queries reads sources and documents. Required.
	Queries *store.Queries
	// Search answers the search tool. Required.
	Search Searcher
	// Ingest adds and refreshes sources. Required.
	Ingest *ingest.Service
	// Crawl bounds the crawls ingest_url and refresh_source start: the
	// deployment's limits, never the caller's choice.
	Crawl ingest.CrawlLimits
	// User is the user of every call of a stdio server. Empty for a server
	// behind HTTPHandler, where each request's API key names the user.
	User string
	// Version is the version the server reports. Default "dev".
	Version string
	// Logger receives the causes of internal errors. Default: discard.
	Logger *slog.Logger
}

// Server is the MCP server: its tools and resources on Config's services.
type Server struct {
	cfg  Config
	docs *documents.Reader
	mcp  *mcp.Server
}

// New builds a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Queries == nil || cfg.Search == nil || cfg.Ingest == nil {
		return nil, errors.New("mcpserver: Queries, Search and Ingest are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	s := &Server{cfg: cfg, docs: documents.NewReader(cfg.Queries)}
	s.mcp = mcp.NewServer(&mcp.Implementation{Name: "kollektiv", Title: "Kollektiv knowledge base", Version: cfg.Version}, &mcp.ServerOptions{
		Instructions: instructions,
		Logger:       cfg.Logger,
	})
	if err := s.addTools(); err != nil {
		return nil, err
	}
	s.addResources()
	return s, nil
}

// instructions tell a client's model what this server is for and how its
// tools fit together.
const instructions = `Kollektiv is a knowledge base of documentation: sources (a web site, a
directory of files, documents sent inline) split into documents, and documents into chunks
along their headings. Start with search to find passages; each hit links to its document
section (url#fragment) and names its document_id, which get_document (or the resource
kollektiv://documents/{id}) reads in full. list_sources and get_source say what the knowledge
base holds and how far each source's ingestion has come (stage: crawling, created,
processing_scheduled, chunks_generated, completed or failed). ingest_url adds a web site,
refresh_source fetches a source again; both return at once, while the work runs in the
background: poll get_source until its stage is completed.`

// Run serves one session on transport (stdio for `kollektiv mcp`) until
// the client leaves or ctx ends. Every call is Config.User's.
func (s *Server) Run(ctx context.Context, transport mcp.Transport) error {
	if s.cfg.User == "" {
		return errors.New("mcpserver: Run needs Config.User")
	}
	return s.mcp.Run(ctx, transport)
}

// Connect connects the server to one transport (the in-memory one in
// tests) and returns the session.
func (s *Server) Connect(ctx context.Context, transport mcp.Transport) (*mcp.ServerSession, error) {
	if s.cfg.User == "" {
		return nil, errors.New("mcpserver: Connect needs Config.User")
	}
	return s.mcp.Connect(ctx, transport, nil)
}

// HTTPHandler serves the streamable HTTP transport. The caller
// authenticates each request first and userOf returns the user it
// authenticated as ("" refuses the request): the API mounts the handler
// behind the same API keys and cross-origin guard as /v1.
//
// The handler is stateless: every POST carries one message and its answer,
// no session lives in this process, so any API replica answers any request
// and each one is authenticated and scoped on its own.
func (s *Server) HTTPHandler(userOf func(*http.Request) string) (http.Handler, error) {
	if s.cfg.User != "" {
		return nil, errors.New("mcpserver: a server with a fixed User must not serve HTTP")
	}
	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s.mcp }, &mcp.StreamableHTTPOptions{
		Stateless: true,
		Logger:    s.cfg.Logger,
		// The SDK refuses requests reaching a loopback address under another
		// Host name, against DNS rebinding of an unauthenticated local
		// server. Every request here carries an API key, which a rebound page
		// does not have (no cookies, no Basic, Bearer only), and that check
		// would refuse a reverse proxy on the same host that forwards Host.
		DisableLocalhostProtection: true,
	})
	verify := func(_ context.Context, _ string, r *http.Request) (*auth.TokenInfo, error) {
		user := userOf(r)
		if user == "" {
			return nil, fmt.Errorf("%w: no authenticated user", auth.ErrInvalidToken)
		}
		return &auth.TokenInfo{UserID: user}, nil
	}
	// The key's expiry was checked when the caller authenticated it.
	authed := auth.RequireBearerToken(verify, &auth.RequireBearerTokenOptions{AllowMissingExpiration: true})(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Answers stream as text/event-stream: nginx must pass them on as
		// they come, not buffer them.
		w.Header().Set("X-Accel-Buffering", "no")
		authed.ServeHTTP(w, r)
	}), nil
}

// userOf returns the user a call acts for: the server's own (stdio), or
// the one the request's API key names (HTTP).
func (s *Server) userOf(extra *mcp.RequestExtra) (string, error) {
	if s.cfg.User != "" {
		return s.cfg.User, nil
	}
	if extra != nil && extra.TokenInfo != nil && extra.TokenInfo.UserID != "" {
		return extra.TokenInfo.UserID, nil
	}
	return "", derr.New(derr.Unauthorized, "missing API key: send Authorization: Bearer <key> (create one with `kollektiv keys create`)")
}

// callError turns a service's error into what a tool call answers: an
// error of the caller's kind (invalid, not found, conflict, ...) is a tool
// result with isError and the message the API gives; anything else is a
// protocol error whose cause goes to the log, not to the client.
func (s *Server) callError(ctx context.Context, what string, err error) error {
	if derr.CallerError(err) {
		return err
	}
	if derr.KindOf(err) == derr.Internal {
		s.cfg.Logger.ErrorContext(ctx, "MCP call failed", slog.String("call", what), slog.String("error", err.Error()))
	}
	return &jsonrpc.Error{Code: jsonrpc.CodeInternalError, Message: derr.Message(err)}
}

// parseID reads the id argument name of a thing: a malformed one is the
// caller's mistake, named.
func parseID(name, thing, v string) (uuid.UUID, error) {
	id, err := uuid.Parse(strings.TrimSpace(v))
	if err != nil || len(strings.TrimSpace(v)) != 36 {
		return id, derr.New(derr.Invalid, fmt.Sprintf("%s: %.60q is not a %s id (want a UUID such as %s)", name, v, thing, uuid.Nil))
	}
	return id, nil
}
