package mcpserver_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"go.uber.org/goleak"

	"github.com/kollektiv/kollektiv/internal/apikeys"
	"github.com/kollektiv/kollektiv/internal/app"
	"github.com/kollektiv/kollektiv/internal/apptest"
	"github.com/kollektiv/kollektiv/internal/content"
	"github.com/kollektiv/kollektiv/internal/documents"
	"github.com/kollektiv/kollektiv/internal/ingest"
	"github.com/kollektiv/kollektiv/internal/mcpserver"
	"github.com/kollektiv/kollektiv/internal/search"
	"github.com/kollektiv/kollektiv/internal/store"
	"github.com/kollektiv/kollektiv/internal/wait"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// net/http keeps idle client connections' goroutines briefly.
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
	)
}

type testBundle struct {
	app      *app.App
	baseURL  string
	keys     map[string]string // user -> API key
	sourceID uuid.UUID         // alice's inline source, completed
	docs     []documents.Document
}

// setup runs the whole service (API and workers) on a fresh database and a
// free port, with API keys for alice and bob, and alice's source of three
// documents (one failed to load) ingested to completed.
func setup(t *testing.T) *testBundle {
	t.Helper()
	ctx := context.Background()
	cfg := apptest.Config(t)
	cfg.CrawlAllowPrivate = true // the test site is on loopback
	a := apptest.Start(t, cfg, nil, app.Options{Worker: true, API: true})
	b := &testBundle{app: a, baseURL: "http://" + a.APIAddr(), keys: map[string]string{}}
	for _, user := range []string{"alice", "bob"} {
		secret, _, err := apikeys.Create(ctx, a.Pool, apikeys.CreateParams{UserID: user})
		if err != nil {
			t.Fatal(err)
		}
		b.keys[user] = secret
	}

	var docs []content.Document
	for _, d := range []struct{ title, url, body string }{
		{"Path parameters", "https://docs.example/tutorial/path-params", "# Path parameters\n\nDeclare path parameters with the same syntax as Python format strings.\n\n## Order matters\n\nA fixed path such as /users/me must be declared before /users/{user_id}, or the parameter captures it.\n"},
		// Sections long enough to be chunks of their own.
		{"Borrowing", "https://docs.example/book/borrowing", "# References and borrowing\n\nA reference lets you refer to a value without taking ownership of it.\n\n" +
			strings.Repeat("The owner keeps the value while a function reads it through a reference, and gets it back intact when the function returns. ", 12) +
			"\n\n## Mutable references\n\nYou can have only one mutable reference to a value at a time.\n\n" +
			strings.Repeat("The compiler refuses a second mutable borrow while the first is live, which rules out data races at compile time. ", 12) + "\n"},
	} {
		doc, err := content.PrepareDocument(d.title, d.url, d.body, content.PrepareOptions{})
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, doc)
	}
	svc := &ingest.Service{Pool: a.Pool, River: a.River}
	added, err := svc.Add(ctx, ingest.AddParams{
		UserID: "alice", Kind: ingest.KindInline, Documents: docs,
		Problems: []*content.DocumentError{{URL: "https://docs.example/broken", Reason: "not valid UTF-8 text"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	b.sourceID = added.Source.ID
	b.waitForStage(t, "alice", b.sourceID, "completed")
	list, err := documents.NewReader(a.Queries).List(ctx, documents.ListQuery{UserID: "alice", SourceID: b.sourceID})
	if err != nil {
		t.Fatal(err)
	}
	b.docs = list.Documents
	return b
}

// waitForStage waits until the user's source reaches stage.
func (b *testBundle) waitForStage(t *testing.T, user string, id uuid.UUID, stage string) {
	t.Helper()
	wait.For(t, 2*time.Minute, func() (bool, string) {
		s, err := b.app.Queries.GetSource(context.Background(), store.GetSourceParams{ID: id, UserID: user})
		if err != nil {
			t.Fatal(err)
		}
		if s.Stage == "failed" && stage != "failed" {
			t.Fatalf("source %s failed: %v", id, s.Error)
		}
		return s.Stage == stage, fmt.Sprintf("source %s is %s", id, s.Stage)
	})
}

// inMemory connects the SDK's client to a server of user through the SDK's
// in-memory transport, as `kollektiv mcp` serves it over stdio.
func (b *testBundle) inMemory(t *testing.T, user string) *mcp.ClientSession {
	t.Helper()
	ctx := context.Background()
	srv, err := mcpserver.New(mcpserver.Config{
		Queries: b.app.Queries,
		Search:  search.New(b.app.Pool, b.app.Embedder).Search,
		Ingest:  &ingest.Service{Pool: b.app.Pool, River: b.app.River},
		Crawl:   ingest.CrawlLimits{MaxPages: 500, AllowPrivate: true},
		User:    user,
	})
	if err != nil {
		t.Fatal(err)
	}
	clientTransport, serverTransport := mcp.NewInMemoryTransports()
	serverSession, err := srv.Connect(ctx, serverTransport)
	if err != nil {
		t.Fatal(err)
	}
	session, err := mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil).Connect(ctx, clientTransport, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = session.Close()
		_ = serverSession.Wait()
	})
	return session
}

// bearer adds an API key to every request.
type bearer struct{ key string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.key)
	return http.DefaultTransport.RoundTrip(r)
}

// overHTTP connects the SDK's client to the API's /mcp with key.
func (b *testBundle) overHTTP(t *testing.T, key string) *mcp.ClientSession {
	t.Helper()
	session, err := b.connectHTTP(key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = session.Close() })
	return session
}

func (b *testBundle) connectHTTP(key string) (*mcp.ClientSession, error) {
	transport := &mcp.StreamableClientTransport{
		Endpoint:   b.baseURL + "/mcp",
		HTTPClient: &http.Client{Transport: bearer{key}},
		MaxRetries: -1,
	}
	return mcp.NewClient(&mcp.Implementation{Name: "test", Version: "1"}, nil).Connect(context.Background(), transport, nil)
}

// transports gives a session of user over each transport.
func (b *testBundle) transports(t *testing.T, user string) map[string]*mcp.ClientSession {
	return map[string]*mcp.ClientSession{
		"in-memory": b.inMemory(t, user),
		"http":      b.overHTTP(t, b.keys[user]),
	}
}

// call calls a tool that must succeed and decodes its structured result
// into out.
func call(t *testing.T, session *mcp.ClientSession, name string, args map[string]any, out any) {
	t.Helper()
	res, err := session.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	if res.IsError {
		t.Fatalf("%s(%v): tool error %s", name, args, text(res))
	}
	raw, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatalf("%s: structured content %s: %v", name, raw, err)
	}
	// The text content is the same JSON, for clients that read only text.
	if len(res.Content) != 1 || !json.Valid([]byte(text(res))) {
		t.Fatalf("%s: want one text content of JSON, got %q", name, text(res))
	}
}

// callError calls a tool that must fail as a tool error and returns its
// message.
func callError(t *testing.T, session *mcp.ClientSession, name string, args map[string]any) string {
	t.Helper()
	res, err := session.CallTool(context.Background(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("%s: want a tool error, got a protocol error %v", name, err)
	}
	if !res.IsError {
		t.Fatalf("%s(%v): want a tool error, got %s", name, args, text(res))
	}
	return text(res)
}

func text(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		if tc, ok := c.(*mcp.TextContent); ok {
			parts = append(parts, tc.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// apiGet answers a GET of the API with key, decoded into out.
func (b *testBundle) apiGet(t *testing.T, key, path string, out any) {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, b.baseURL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s %v", path, resp.StatusCode, raw, err)
	}
	if err := json.Unmarshal(raw, out); err != nil {
		t.Fatal(err)
	}
}

// TestTools calls every tool and reads a document resource, over the
// in-memory transport and over HTTP with an API key, and checks each answer
// against the data and against the API's answer to the same question.
func TestTools(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for name, session := range b.transports(t, "alice") {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			tools, err := session.ListTools(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, tool := range tools.Tools {
				names = append(names, tool.Name)
				schema, _ := json.Marshal(tool.InputSchema)
				if len(tool.Description) < 80 || !strings.Contains(string(schema), `"description"`) || tool.OutputSchema == nil {
					t.Errorf("tool %s: want a description an agent can act on, described arguments and an output schema; got %q %s", tool.Name, tool.Description, schema)
				}
			}
			slices.Sort(names)
			if want := []string{"get_document", "get_source", "ingest_url", "list_documents", "list_sources", "refresh_source", "search"}; !slices.Equal(names, want) {
				t.Fatalf("tools %v, want %v", names, want)
			}

			// search: the hit's text, breadcrumb, section URL and score.
			var found struct {
				Query string
				Mode  string
				Hits  []struct {
					Text, Breadcrumb, URL string
					Score                 float64
					DocumentID            string `json:"document_id"`
				}
				Warnings []search.Warning
			}
			call(t, session, "search", map[string]any{"query": "only one mutable reference", "k": 3}, &found)
			if len(found.Hits) == 0 || len(found.Hits) > 3 || found.Mode != "hybrid" {
				t.Fatalf("search: %+v", found)
			}
			top := found.Hits[0]
			if !strings.Contains(top.Text, "one mutable reference") || top.Breadcrumb != "References and borrowing > Mutable references" ||
				top.URL != "https://docs.example/book/borrowing#mutable-references" || top.Score <= 0 {
				t.Fatalf("search: top hit %+v", top)
			}
			var filtered struct{ Hits []struct{ URL string } }
			call(t, session, "search", map[string]any{"query": "path parameters", "mode": "text", "source_ids": []string{b.sourceID.String()}, "path_prefix": "https://docs.example/tutorial/"}, &filtered)
			if len(filtered.Hits) == 0 {
				t.Fatal("search with filters: no hits")
			}
			for _, h := range filtered.Hits {
				if !strings.HasPrefix(h.URL, "https://docs.example/tutorial/") {
					t.Fatalf("search with a path prefix found %s", h.URL)
				}
			}

			// list_sources and get_source: as the API answers.
			var sources, apiSources documents.SourceList
			call(t, session, "list_sources", nil, &sources)
			b.apiGet(t, b.keys["alice"], "/v1/sources", &apiSources)
			if len(sources.Sources) == 0 || !sameJSON(sources, apiSources) {
				t.Fatalf("list_sources %+v, the API %+v", sources, apiSources)
			}
			var source, apiSource documents.Source
			call(t, session, "get_source", map[string]any{"source_id": b.sourceID.String()}, &source)
			b.apiGet(t, b.keys["alice"], "/v1/sources/"+b.sourceID.String(), &apiSource)
			if source.Stage != "completed" || source.Documents != 3 || source.FailedDocuments != 1 || source.Summary == nil || source.Summary.Summary == "" {
				t.Fatalf("get_source: %+v", source)
			}
			if len(source.Failed) != 1 || source.Failed[0].URL != "https://docs.example/broken" || !strings.Contains(source.Failed[0].Error, "not valid UTF-8") {
				t.Fatalf("get_source: failures %+v", source.Failed)
			}
			if !sameJSON(source, apiSource) {
				t.Fatalf("get_source %+v, the API %+v", source, apiSource)
			}

			// list_documents, a page at a time.
			var page1, page2 documents.List
			call(t, session, "list_documents", map[string]any{"source_id": b.sourceID.String(), "limit": 2}, &page1)
			if len(page1.Documents) != 2 || page1.NextCursor == "" {
				t.Fatalf("list_documents page 1: %+v", page1)
			}
			call(t, session, "list_documents", map[string]any{"source_id": b.sourceID.String(), "limit": 2, "cursor": page1.NextCursor}, &page2)
			if len(page2.Documents) != 1 || page2.NextCursor != "" || page2.Documents[0].URL != "https://docs.example/tutorial/path-params" {
				t.Fatalf("list_documents page 2: %+v", page2)
			}
			var failed documents.List
			call(t, session, "list_documents", map[string]any{"source_id": b.sourceID.String(), "status": "failed"}, &failed)
			if len(failed.Documents) != 1 || failed.Documents[0].Error == "" {
				t.Fatalf("list_documents status failed: %+v", failed)
			}

			// get_document: its chunks paged, as the API answers.
			id := top.DocumentID
			var first, second, apiDoc documents.Detail
			call(t, session, "get_document", map[string]any{"document_id": id, "chunk_limit": 1, "content": true}, &first)
			b.apiGet(t, b.keys["alice"], "/v1/documents/"+id+"?chunk_limit=1&content=true", &apiDoc)
			if first.URL != "https://docs.example/book/borrowing" || len(first.Chunks) != 1 || first.NextChunkCursor == "" || first.Content == nil {
				t.Fatalf("get_document: %+v", first)
			}
			if !sameJSON(first, apiDoc) {
				t.Fatalf("get_document %+v, the API %+v", first, apiDoc)
			}
			call(t, session, "get_document", map[string]any{"document_id": id, "chunk_limit": 1, "chunk_cursor": first.NextChunkCursor}, &second)
			if len(second.Chunks) != 1 || second.Chunks[0].Ordinal <= first.Chunks[0].Ordinal || second.Content != nil {
				t.Fatalf("get_document page 2: %+v", second)
			}

			// The document as a resource: its whole markdown.
			templates, err := session.ListResourceTemplates(ctx, nil)
			if err != nil || len(templates.ResourceTemplates) != 1 || templates.ResourceTemplates[0].URITemplate != "kollektiv://documents/{id}" {
				t.Fatalf("resource templates: %+v %v", templates, err)
			}
			read, err := session.ReadResource(ctx, &mcp.ReadResourceParams{URI: "kollektiv://documents/" + id})
			if err != nil {
				t.Fatal(err)
			}
			if len(read.Contents) != 1 || read.Contents[0].Text != *first.Content || read.Contents[0].MIMEType != "text/markdown" ||
				!strings.Contains(read.Contents[0].Text, "## Mutable references") {
				t.Fatalf("read resource: %+v", read.Contents)
			}

			// refresh_source of an inline source: the API's conflict, as a
			// tool error with its message.
			if msg := callError(t, session, "refresh_source", map[string]any{"source_id": b.sourceID.String()}); msg != ingest.ErrNothingToRefresh.Error() {
				t.Fatalf("refresh_source of an inline source: %q", msg)
			}
		})
	}
}

func sameJSON(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(ja) == string(jb)
}

// TestIngestURL adds a web site through ingest_url over HTTP, follows it to
// completed with get_source, searches it, and refreshes it.
func TestIngestURL(t *testing.T) {
	t.Parallel()
	b := setup(t)
	// Once hold is set, the start page waits for release: a refresh then
	// stays at stage crawling until the test lets it go.
	var hold atomic.Bool
	release := make(chan struct{})
	site := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		switch r.URL.Path {
		case "/docs/":
			if hold.Load() {
				select {
				case <-release:
				case <-r.Context().Done():
				}
			}
			fmt.Fprint(w, `<html><head><title>Harbour docs</title></head><body><main><h1>Harbour</h1><p>Harbour moors container ships by their hull number.</p><a href="/docs/tides">Tides</a></main></body></html>`)
		case "/docs/tides":
			fmt.Fprint(w, `<html><head><title>Tides</title></head><body><main><h1>Tides</h1><h2>Spring tides</h2><p>Spring tides lift the pontoon gangway above the quay.</p></main></body></html>`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(site.Close)
	letGo := sync.OnceFunc(func() { close(release) })
	t.Cleanup(letGo) // before site.Close, which waits for held requests
	session := b.overHTTP(t, b.keys["bob"])

	var source documents.Source
	call(t, session, "ingest_url", map[string]any{"url": site.URL + "/docs/", "page_limit": 5}, &source)
	if source.ID == uuid.Nil || source.Kind != "url" || source.Stage != "crawling" {
		t.Fatalf("ingest_url: %+v", source)
	}
	wait.For(t, 2*time.Minute, func() (bool, string) {
		var now documents.Source
		call(t, session, "get_source", map[string]any{"source_id": source.ID.String()}, &now)
		if now.Stage == "failed" {
			t.Fatalf("crawled source failed: %+v", now)
		}
		return now.Stage == "completed" && now.Documents == 2, fmt.Sprintf("source %s: %s, %d documents", now.ID, now.Stage, now.Documents)
	})
	var found struct {
		Hits []struct{ URL, Breadcrumb string }
	}
	call(t, session, "search", map[string]any{"query": "pontoon gangway", "source_ids": []string{source.ID.String()}}, &found)
	if len(found.Hits) == 0 || found.Hits[0].URL != site.URL+"/docs/tides#tides" || found.Hits[0].Breadcrumb != "Tides" {
		t.Fatalf("search of the crawled site: %+v", found.Hits)
	}

	hold.Store(true)
	var refreshed documents.Source
	call(t, session, "refresh_source", map[string]any{"source_id": source.ID.String()}, &refreshed)
	if refreshed.ID != source.ID || refreshed.Stage != "crawling" || refreshed.Generation != 2 {
		t.Fatalf("refresh_source: %+v", refreshed)
	}
	// A second refresh while the first crawls: the API's conflict.
	if msg := callError(t, session, "refresh_source", map[string]any{"source_id": source.ID.String()}); !strings.HasPrefix(msg, "source is still being processed: "+source.ID.String()) {
		t.Fatalf("refresh_source while crawling: %q", msg)
	}
	letGo()
	b.waitForStage(t, "bob", source.ID, "completed")

	// What the API refuses, ingest_url refuses with the same reason.
	if msg := callError(t, session, "ingest_url", map[string]any{"url": "ftp://example.com/"}); msg != "url: want an http or https URL" {
		t.Fatalf("ingest_url of an ftp URL: %q", msg)
	}
	if msg := callError(t, session, "ingest_url", map[string]any{"url": site.URL, "page_limit": 501}); !strings.Contains(msg, "page_limit") {
		t.Fatalf("ingest_url over the page limit: %q", msg)
	}
}

// TestIsolation: bob, over either transport, cannot see, search, read or
// refresh alice's source and documents; each is not found, as a missing
// one is.
func TestIsolation(t *testing.T) {
	t.Parallel()
	b := setup(t)
	docID := b.docs[0].ID.String()
	for name, session := range b.transports(t, "bob") {
		t.Run(name, func(t *testing.T) {
			var sources documents.SourceList
			call(t, session, "list_sources", nil, &sources)
			if len(sources.Sources) != 0 {
				t.Fatalf("bob lists %+v", sources.Sources)
			}
			for _, c := range []struct {
				tool string
				args map[string]any
				want string
			}{
				{"get_source", map[string]any{"source_id": b.sourceID.String()}, "no such source"},
				{"get_source", map[string]any{"source_id": uuid.NewString()}, "no such source"},
				{"list_documents", map[string]any{"source_id": b.sourceID.String()}, "no such source"},
				{"get_document", map[string]any{"document_id": docID}, "no such document"},
				{"refresh_source", map[string]any{"source_id": b.sourceID.String()}, "no such source"},
				{"search", map[string]any{"query": "mutable reference", "source_ids": []string{b.sourceID.String()}}, "no such source"},
			} {
				if msg := callError(t, session, c.tool, c.args); msg != c.want {
					t.Errorf("bob's %s(%v): %q, want %q", c.tool, c.args, msg, c.want)
				}
			}
			var found struct{ Hits []any }
			call(t, session, "search", map[string]any{"query": "mutable reference borrowing path parameters"}, &found)
			if len(found.Hits) != 0 {
				t.Fatalf("bob's search finds alice's chunks: %+v", found.Hits)
			}
			_, err := session.ReadResource(context.Background(), &mcp.ReadResourceParams{URI: "kollektiv://documents/" + docID})
			if err == nil || !strings.Contains(err.Error(), "no such document") {
				t.Fatalf("bob reads alice's document: %v", err)
			}
		})
	}
	// And alice's source is as it was: bob's refresh changed nothing.
	s, err := b.app.Queries.GetSource(context.Background(), store.GetSourceParams{ID: b.sourceID, UserID: "alice"})
	if err != nil || s.Generation != 1 || s.Stage != "completed" {
		t.Fatalf("alice's source after bob's calls: %+v %v", s, err)
	}
}

// TestBadArguments: a call with arguments of the wrong type, out of range
// or malformed is a tool error naming the argument, over both transports.
func TestBadArguments(t *testing.T) {
	t.Parallel()
	b := setup(t)
	for name, session := range b.transports(t, "alice") {
		t.Run(name, func(t *testing.T) {
			for _, c := range []struct {
				tool string
				args map[string]any
				want string
			}{
				{"search", map[string]any{}, "query"},
				{"search", map[string]any{"query": "  "}, "query: want the text to search for"},
				{"search", map[string]any{"query": "x", "k": 1000}, "k"},
				{"search", map[string]any{"query": "x", "k": "ten"}, "k"},
				{"search", map[string]any{"query": "x", "mode": "fuzzy"}, "mode"},
				{"search", map[string]any{"query": "x", "languages": []string{"english"}}, "languages must be ISO 639-1 codes"},
				{"search", map[string]any{"query": "x", "source_ids": []string{"nope"}}, `source_ids: "nope" is not a source id`},
				{"get_source", map[string]any{"source_id": "12345"}, `source_id: "12345" is not a source id`},
				{"get_document", map[string]any{"document_id": b.docs[0].ID.String(), "chunk_cursor": "garbage"}, "chunk_cursor: not a cursor"},
				{"list_documents", map[string]any{"source_id": b.sourceID.String(), "status": "done"}, "status"},
				{"list_sources", map[string]any{"cursor": "garbage"}, "cursor: not a cursor"},
				{"get_source", map[string]any{"source_id": b.sourceID.String(), "extra": 1}, "extra"},
			} {
				if msg := callError(t, session, c.tool, c.args); !strings.Contains(msg, c.want) {
					t.Errorf("%s(%v): %q, want it to name %q", c.tool, c.args, msg, c.want)
				}
			}
			_, err := session.ReadResource(context.Background(), &mcp.ReadResourceParams{URI: "kollektiv://documents/not-an-id"})
			if err == nil || !strings.Contains(err.Error(), "is not a document id") {
				t.Fatalf("read of a malformed document URI: %v", err)
			}
		})
	}
}

// TestHTTPNeedsAPIKey: /mcp is the API's: no key, a wrong key, the key as
// Basic credentials (which a browser may cache) and a cross-site POST are
// refused before any MCP message is read, with the API's framing headers.
func TestHTTPNeedsAPIKey(t *testing.T) {
	t.Parallel()
	b := setup(t)
	initialize := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"curl","version":"1"}}}`
	post := func(header ...string) (int, http.Header, map[string]any) {
		t.Helper()
		req, err := http.NewRequestWithContext(context.Background(), http.MethodPost, b.baseURL+"/mcp", strings.NewReader(initialize))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var body map[string]any
		_ = json.Unmarshal(raw, &body)
		return resp.StatusCode, resp.Header, body
	}
	code := func(body map[string]any) string {
		e, _ := body["error"].(map[string]any)
		c, _ := e["code"].(string)
		return c
	}
	for _, c := range []struct {
		name   string
		header []string
		status int
		code   string
	}{
		{"no key", nil, http.StatusUnauthorized, "unauthorized"},
		{"wrong key", []string{"Authorization", "Bearer kv_not_a_key"}, http.StatusUnauthorized, "unauthorized"},
		{"key as Basic", []string{"Authorization", "Basic " + basic(b.keys["alice"])}, http.StatusUnauthorized, "unauthorized"},
		{"cross-site POST", []string{"Authorization", "Bearer " + b.keys["alice"], "Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"}, http.StatusForbidden, "forbidden"},
	} {
		status, header, body := post(c.header...)
		if status != c.status || code(body) != c.code {
			t.Errorf("%s: %d %v, want %d %s", c.name, status, body, c.status, c.code)
		}
		if header.Get("X-Frame-Options") != "DENY" || header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("%s: headers %v", c.name, header)
		}
	}
	// The same request with the key is answered.
	status, header, _ := post("Authorization", "Bearer "+b.keys["alice"])
	if status != http.StatusOK || header.Get("X-Frame-Options") != "DENY" || header.Get("X-Accel-Buffering") != "no" {
		t.Fatalf("initialize with a key: %d %v", status, header)
	}
	// The SDK's client without a key cannot connect.
	if _, err := b.connectHTTP(""); err == nil {
		t.Fatal("connected to /mcp without a key")
	} else if !errors.Is(err, context.Canceled) && !strings.Contains(err.Error(), "401") && !strings.Contains(strings.ToLower(err.Error()), "unauthorized") {
		t.Fatalf("connecting without a key: %v", err)
	}
}

func basic(key string) string {
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://x/", nil)
	req.SetBasicAuth("me", key)
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}
