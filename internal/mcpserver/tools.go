package mcpserver

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/google/uuid"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/kollektiv/kollektiv/internal/derr"
	"github.com/kollektiv/kollektiv/internal/documents"
	"github.com/kollektiv/kollektiv/internal/ingest"
	"github.com/kollektiv/kollektiv/internal/search"
)

// The arguments of each tool. A jsonschema tag is the argument's
// description in the tool's input schema: the model reads it.

type searchArgs struct {
	Query      string          `json:"query" jsonschema:"what to look for, in words or as a question (at most 1000 characters); a \"quoted phrase\" must appear in a hit and a -word must not"`
	K          int             `json:"k,omitempty" jsonschema:"how many hits to return, 1 to 100; default 10"`
	Mode       string          `json:"mode,omitempty" jsonschema:"hybrid (default: meaning and words, fused), vector (meaning only) or text (words only)"`
	SourceIDs  []string        `json:"source_ids,omitempty" jsonschema:"search only these sources (ids from list_sources); default all"`
	PathPrefix string          `json:"path_prefix,omitempty" jsonschema:"search only documents whose URL (or path) starts with this"`
	Languages  []string        `json:"languages,omitempty" jsonschema:"search only chunks in these languages, ISO 639-1 codes such as en; und for undetermined"`
	Metadata   json.RawMessage `json:"metadata,omitempty" jsonschema:"search only documents whose metadata contains, for every key of this object, the given value: {\"tags\":\"go\"} matches a document tagged go among others"`
}

// searchAnswer is what the search tool returns.
type searchAnswer struct {
	Query string      `json:"query"`
	Mode  search.Mode `json:"mode"`
	// Hits are best first.
	Hits     []searchHit      `json:"hits"`
	Warnings []search.Warning `json:"warnings"`
}

// searchHit is a search.Hit as a model needs it: the text, where it sits
// and where to read more; the score's breakdown is the API's.
type searchHit struct {
	Text string `json:"text"`
	// Breadcrumb is the headings above the chunk, outermost first, joined
	// by " > ".
	Breadcrumb    string  `json:"breadcrumb"`
	URL           string  `json:"url"`
	Score         float64 `json:"score"`
	DocumentTitle string  `json:"document_title"`
	DocumentID    string  `json:"document_id"`
	SourceID      string  `json:"source_id"`
	ChunkID       string  `json:"chunk_id"`
}

type listSourcesArgs struct {
	Limit  int    `json:"limit,omitempty" jsonschema:"sources per page, 1 to 100; default 20"`
	Cursor string `json:"cursor,omitempty" jsonschema:"next_cursor of the previous page, to continue"`
}

type sourceArgs struct {
	SourceID string `json:"source_id" jsonschema:"the source's id (a UUID, from list_sources or a search hit)"`
}

type listDocumentsArgs struct {
	SourceID string `json:"source_id" jsonschema:"the source's id (a UUID, from list_sources or a search hit)"`
	Status   string `json:"status,omitempty" jsonschema:"only documents of this status: pending, chunked, embedded or failed"`
	Limit    int    `json:"limit,omitempty" jsonschema:"documents per page, 1 to 1000; default 100"`
	Cursor   string `json:"cursor,omitempty" jsonschema:"next_cursor of the previous page, to continue"`
}

type getDocumentArgs struct {
	DocumentID  string `json:"document_id" jsonschema:"the document's id (a UUID, from a search hit or list_documents)"`
	Content     bool   `json:"content,omitempty" jsonschema:"also return the document's whole markdown; default false"`
	ChunkLimit  int    `json:"chunk_limit,omitempty" jsonschema:"chunks per page, 1 to 500; default 50"`
	ChunkCursor string `json:"chunk_cursor,omitempty" jsonschema:"next_chunk_cursor of the previous page, to continue"`
}

type ingestURLArgs struct {
	URL          string   `json:"url" jsonschema:"the http or https URL to start crawling from"`
	PageLimit    int      `json:"page_limit,omitempty" jsonschema:"most pages to fetch, the start page included; 1 fetches that page alone; default 50"`
	MaxDepth     int      `json:"max_depth,omitempty" jsonschema:"how many links away from the start page to follow; default 3"`
	IncludePaths []string `json:"include_paths,omitempty" jsonschema:"only follow links whose path matches one of these patterns, such as /docs/**"`
	ExcludePaths []string `json:"exclude_paths,omitempty" jsonschema:"never follow links whose path matches one of these patterns"`
}

// schemaFor is the JSON schema of T: ids are strings, a raw JSON field
// (metadata) is an object.
func schemaFor[T any]() (*jsonschema.Schema, error) {
	return jsonschema.For[T](&jsonschema.ForOptions{TypeSchemas: map[reflect.Type]*jsonschema.Schema{
		reflect.TypeFor[uuid.UUID]():       {Type: "string"},
		reflect.TypeFor[json.RawMessage](): {Type: "object"},
	}})
}

// addTool registers a typed tool handler with schemas made by schemaFor;
// tune may adjust the input schema (enums, bounds).
func addTool[In, Out any](srv *mcp.Server, t *mcp.Tool, tune func(*jsonschema.Schema), h mcp.ToolHandlerFor[In, Out]) error {
	in, err := schemaFor[In]()
	if err != nil {
		return fmt.Errorf("error making the input schema of %s: %w", t.Name, err)
	}
	if tune != nil {
		tune(in)
	}
	out, err := schemaFor[Out]()
	if err != nil {
		return fmt.Errorf("error making the output schema of %s: %w", t.Name, err)
	}
	t.InputSchema, t.OutputSchema = in, out
	mcp.AddTool(srv, t, h)
	return nil
}

func (s *Server) addTools() error {
	readOnly := &mcp.ToolAnnotations{ReadOnlyHint: true, IdempotentHint: true, OpenWorldHint: new(false)}
	starts := &mcp.ToolAnnotations{DestructiveHint: new(false), OpenWorldHint: new(true)}
	for _, err := range []error{
		addTool(s.mcp, &mcp.Tool{
			Name:  "search",
			Title: "Search the knowledge base",
			Description: "Finds the passages (chunks) of the user's documents that best answer a question, by meaning and by words. " +
				"Each hit gives its text, its breadcrumb (the headings above it), the URL of its document section (url#fragment), " +
				"its score (higher is better) and the ids of its document and source. Filters narrow the search to some sources, " +
				"a URL or path prefix, languages or document metadata.",
			Annotations: readOnly,
		}, func(in *jsonschema.Schema) {
			in.Properties["mode"].Enum = []any{string(search.ModeHybrid), string(search.ModeVector), string(search.ModeText)}
			in.Properties["k"].Minimum, in.Properties["k"].Maximum = new(1.0), new(float64(search.MaxK))
		}, handler(s, "search", s.search)),
		addTool(s.mcp, &mcp.Tool{
			Name:  "list_sources",
			Title: "List sources",
			Description: "Lists the user's sources, newest first: id, kind (url, files, inline), uri, stage, " +
				"counts of documents, chunks and failed documents, and progress. Pass next_cursor back as cursor for the next page.",
			Annotations: readOnly,
		}, func(in *jsonschema.Schema) {
			in.Properties["limit"].Minimum, in.Properties["limit"].Maximum = new(1.0), new(float64(documents.MaxSourceLimit))
		}, handler(s, "list_sources", s.listSources)),
		addTool(s.mcp, &mcp.Tool{
			Name:  "get_source",
			Title: "Show a source",
			Description: "Shows one source: its stage (crawling, created, processing_scheduled, chunks_generated, completed, failed), " +
				"counts, progress, error, its summary and keywords once completed, and each failed document with the reason it failed.",
			Annotations: readOnly,
		}, nil, handler(s, "get_source", s.getSource)),
		addTool(s.mcp, &mcp.Tool{
			Name:  "list_documents",
			Title: "List a source's documents",
			Description: "Lists a source's documents in URL (or path) order, without their content: id, url, title, status " +
				"(pending, chunked, embedded, failed) and the reason a failed one failed, chunk count, language, metadata, size. " +
				"Pass next_cursor back as cursor for the next page.",
			Annotations: readOnly,
		}, func(in *jsonschema.Schema) {
			in.Properties["status"].Enum = []any{"pending", "chunked", "embedded", "failed"}
			in.Properties["limit"].Minimum, in.Properties["limit"].Maximum = new(1.0), new(float64(documents.MaxLimit))
		}, handler(s, "list_documents", s.listDocuments)),
		addTool(s.mcp, &mcp.Tool{
			Name:  "get_document",
			Title: "Read a document",
			Description: "Reads one document: its url, title, status, metadata and a page of its chunks in order, each with its " +
				"breadcrumb, section URL and text; with content=true also its whole markdown. Pass next_chunk_cursor back as " +
				"chunk_cursor for the next page of chunks. The resource kollektiv://documents/{id} holds the same markdown.",
			Annotations: readOnly,
		}, func(in *jsonschema.Schema) {
			in.Properties["chunk_limit"].Minimum, in.Properties["chunk_limit"].Maximum = new(1.0), new(float64(documents.MaxChunkLimit))
		}, handler(s, "get_document", s.getDocument)),
		addTool(s.mcp, &mcp.Tool{
			Name:  "ingest_url",
			Title: "Add a web site",
			Description: "Adds a web site to the knowledge base: crawls it from the URL (same site only, robots.txt honoured), " +
				"then chunks, embeds and summarises its pages in the background. Returns at once with the new source (its id, " +
				"stage crawling); call get_source with the id until its stage is completed (or failed) before searching it. " +
				"A URL already added is crawled again instead, keeping its id.",
			Annotations: starts,
		}, func(in *jsonschema.Schema) {
			in.Properties["page_limit"].Minimum, in.Properties["page_limit"].Maximum = new(1.0), new(float64(s.cfg.Crawl.MaxPages))
			in.Properties["max_depth"].Minimum = new(0.0)
		}, handler(s, "ingest_url", s.ingestURL)),
		addTool(s.mcp, &mcp.Tool{
			Name:  "refresh_source",
			Title: "Refresh a source",
			Description: "Fetches a source again from where it came from (crawls its URL again, or re-reads its path) with the " +
				"settings it was added with: unchanged documents are kept, changed ones processed again, vanished ones removed. " +
				"Returns at once with the source; poll get_source until completed. A source still being processed cannot be " +
				"refreshed yet, and one sent inline or uploaded cannot be at all.",
			Annotations: &mcp.ToolAnnotations{DestructiveHint: new(false), IdempotentHint: true, OpenWorldHint: new(true)},
		}, nil, handler(s, "refresh_source", s.refreshSource)),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

// handler makes a tool's handler of body, which acts for user: the
// caller's user comes first, and body's error becomes the tool's error
// (callError).
func handler[In, Out any](s *Server, name string, body func(ctx context.Context, user string, args In) (Out, error)) mcp.ToolHandlerFor[In, Out] {
	return func(ctx context.Context, req *mcp.CallToolRequest, args In) (*mcp.CallToolResult, Out, error) {
		user, err := s.userOf(req.Extra)
		if err != nil {
			var zero Out
			return nil, zero, err
		}
		out, err := body(ctx, user, args)
		if err != nil {
			return nil, out, s.callError(ctx, name, err)
		}
		return nil, out, nil
	}
}

func (s *Server) search(ctx context.Context, user string, args searchArgs) (searchAnswer, error) {
	out := searchAnswer{Hits: []searchHit{}}
	if strings.TrimSpace(args.Query) == "" {
		return out, derr.New(derr.Invalid, "query: want the text to search for")
	}
	q := search.Query{
		UserID: user, Text: args.Query, K: args.K, Mode: search.Mode(args.Mode),
		PathPrefix: args.PathPrefix, Languages: args.Languages, Metadata: args.Metadata,
	}
	for _, v := range args.SourceIDs {
		id, err := parseID("source_ids", "source", v)
		if err != nil {
			return out, err
		}
		q.SourceIDs = append(q.SourceIDs, id)
	}
	if len(q.SourceIDs) > search.MaxSourceIDs {
		return out, derr.New(derr.Invalid, fmt.Sprintf("source_ids: at most %d sources, got %d", search.MaxSourceIDs, len(q.SourceIDs)))
	}
	if err := s.docs.CheckSources(ctx, user, q.SourceIDs); err != nil {
		return out, err
	}
	result, err := s.cfg.Search(ctx, q)
	if err != nil {
		return out, err
	}
	out.Query, out.Mode, out.Warnings = result.Query.Text, result.Query.Mode, result.Warnings
	for _, h := range result.Hits {
		out.Hits = append(out.Hits, searchHit{
			Text: h.Text, Breadcrumb: strings.Join(h.Headers, " > "), URL: h.URL, Score: h.Score,
			DocumentTitle: h.DocumentTitle, DocumentID: h.DocumentID.String(), SourceID: h.SourceID.String(), ChunkID: h.ChunkID.String(),
		})
	}
	return out, nil
}

func (s *Server) listSources(ctx context.Context, user string, args listSourcesArgs) (documents.SourceList, error) {
	return s.docs.Sources(ctx, documents.SourcesQuery{UserID: user, Limit: args.Limit, Cursor: args.Cursor})
}

func (s *Server) getSource(ctx context.Context, user string, args sourceArgs) (documents.Source, error) {
	id, err := parseID("source_id", "source", args.SourceID)
	if err != nil {
		return documents.Source{}, err
	}
	return s.docs.Source(ctx, user, id)
}

func (s *Server) listDocuments(ctx context.Context, user string, args listDocumentsArgs) (documents.List, error) {
	id, err := parseID("source_id", "source", args.SourceID)
	if err != nil {
		return documents.List{}, err
	}
	return s.docs.List(ctx, documents.ListQuery{UserID: user, SourceID: id, Status: args.Status, Limit: args.Limit, Cursor: args.Cursor})
}

func (s *Server) getDocument(ctx context.Context, user string, args getDocumentArgs) (documents.Detail, error) {
	id, err := parseID("document_id", "document", args.DocumentID)
	if err != nil {
		return documents.Detail{}, err
	}
	return s.docs.Get(ctx, documents.GetQuery{UserID: user, DocumentID: id, Content: args.Content, ChunkLimit: args.ChunkLimit, ChunkCursor: args.ChunkCursor})
}

func (s *Server) ingestURL(ctx context.Context, user string, args ingestURLArgs) (documents.Source, error) {
	crawl, err := ingest.CheckURLCrawl(args.URL, &ingest.CrawlRequest{
		PageLimit: args.PageLimit, MaxDepth: args.MaxDepth, IncludePaths: args.IncludePaths, ExcludePaths: args.ExcludePaths,
	}, s.cfg.Crawl, "")
	if err != nil {
		return documents.Source{}, err
	}
	added, err := s.cfg.Ingest.Add(ctx, ingest.AddParams{UserID: user, Kind: ingest.KindURL, URI: args.URL, Crawl: &crawl})
	if err != nil {
		return documents.Source{}, err
	}
	return s.docs.View(ctx, added.Source)
}

func (s *Server) refreshSource(ctx context.Context, user string, args sourceArgs) (documents.Source, error) {
	id, err := parseID("source_id", "source", args.SourceID)
	if err != nil {
		return documents.Source{}, err
	}
	allowPrivate := s.cfg.Crawl.AllowPrivate
	added, err := s.cfg.Ingest.Refresh(ctx, ingest.RefreshParams{
		UserID: user, SourceID: id, AllowPrivate: &allowPrivate, MaxCrawlPages: s.cfg.Crawl.MaxPages,
	})
	if err != nil {
		return documents.Source{}, err
	}
	return s.docs.View(ctx, added.Source)
}
