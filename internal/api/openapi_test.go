package api

import (
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kollektiv/kollektiv/internal/documents"
	"github.com/kollektiv/kollektiv/internal/search"
)

// TestOpenAPIMatchesRoutes keeps /v1/openapi.json in step with the mux: every
// route is documented, and nothing documented is missing.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("openapi version %q", doc.OpenAPI)
	}
	var documented, served []string
	for path, ops := range doc.Paths {
		for method := range ops {
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	for _, rt := range (&Server{}).routes() {
		served = append(served, rt.method+" "+rt.pattern)
	}
	sort.Strings(documented)
	sort.Strings(served)
	if strings.Join(documented, "\n") != strings.Join(served, "\n") {
		t.Fatalf("openapi.json documents\n%s\n\nthe mux serves\n%s", strings.Join(documented, "\n"), strings.Join(served, "\n"))
	}
}

// TestOpenAPIDocumentSchemas keeps the schemas of the document routes in
// step with the types the handlers encode: the same fields, no more, and
// required exactly when never omitted.
func TestOpenAPIDocumentSchemas(t *testing.T) {
	t.Parallel()
	type schema struct {
		Required   []string                   `json:"required"`
		Properties map[string]json.RawMessage `json:"properties"`
		AllOf      []schema                   `json:"allOf"`
		Ref        string                     `json:"$ref"`
	}
	var doc struct {
		Components struct {
			Schemas map[string]schema `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatal(err)
	}
	// fields returns the JSON fields of a struct type and those never
	// omitted, embedded structs flattened as encoding/json does.
	var fields func(reflect.Type) (all, always []string)
	fields = func(typ reflect.Type) (all, always []string) {
		for f := range typ.Fields() {
			if f.Anonymous {
				a, r := fields(f.Type)
				all, always = append(all, a...), append(always, r...)
				continue
			}
			name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
			all = append(all, name)
			if !strings.Contains(opts, "omitempty") {
				always = append(always, name)
			}
		}
		return all, always
	}
	for name, typ := range map[string]reflect.Type{
		"Document":       reflect.TypeFor[documents.Document](),
		"DocumentList":   reflect.TypeFor[documents.List](),
		"DocumentDetail": reflect.TypeFor[documents.Detail](),
		"Chunk":          reflect.TypeFor[documents.Chunk](),
		"Source":         reflect.TypeFor[documents.Source](),
		"SourceList":     reflect.TypeFor[documents.SourceList](),
		"SearchResponse": reflect.TypeFor[search.Response](),
	} {
		s, ok := doc.Components.Schemas[name]
		if !ok {
			t.Errorf("openapi.json has no schema %s", name)
			continue
		}
		parts := []schema{s}
		if len(s.AllOf) > 0 {
			parts = s.AllOf
		}
		var props, required []string
		for _, part := range parts {
			if part.Ref != "" {
				part = doc.Components.Schemas[strings.TrimPrefix(part.Ref, "#/components/schemas/")]
			}
			for p := range part.Properties {
				props = append(props, p)
			}
			required = append(required, part.Required...)
		}
		all, always := fields(typ)
		slices.Sort(props)
		slices.Sort(required)
		slices.Sort(all)
		slices.Sort(always)
		if !slices.Equal(props, all) || !slices.Equal(required, always) {
			t.Errorf("schema %s has properties %v, required %v; the Go type has fields %v, never omitted %v", name, props, required, all, always)
		}
	}
}

// TestOpenAPILintRules keeps openapi.json clean under `redocly lint` with
// its recommended rules (make openapi-lint runs it), checking here, without
// npm, the rules this document once broke: servers and a licence with a
// URL; no path with a trailing slash; every operation with an operationId
// (unique), a summary, a success and a 4XX response; and every operation a
// key guards (the mux's user and admin routes) documenting 401 and 429,
// which the auth and the rate limit answer before any handler runs. Public
// routes declare no security.
func TestOpenAPILintRules(t *testing.T) {
	t.Parallel()
	type operation struct {
		OperationID string                     `json:"operationId"`
		Summary     string                     `json:"summary"`
		Security    *[]map[string][]string     `json:"security"`
		Responses   map[string]json.RawMessage `json:"responses"`
	}
	var doc struct {
		Info struct {
			License struct {
				Name string `json:"name"`
				URL  string `json:"url"`
			} `json:"license"`
		} `json:"info"`
		Servers []struct {
			URL string `json:"url"`
		} `json:"servers"`
		Security []map[string][]string           `json:"security"`
		Paths    map[string]map[string]operation `json:"paths"`
	}
	if err := json.Unmarshal(openAPIDocument, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Servers) == 0 || doc.Servers[0].URL == "" {
		t.Error("no servers")
	}
	for _, s := range doc.Servers {
		if strings.Contains(s.URL, "example.com") || strings.Contains(s.URL, "localhost") {
			t.Errorf("server %s: redocly wants neither example.com nor localhost", s.URL)
		}
	}
	if doc.Info.License.Name == "" || doc.Info.License.URL == "" {
		t.Error("info.license needs a name and a url")
	}
	if len(doc.Security) == 0 {
		t.Error("no global security requirement")
	}
	access := map[string]access{}
	for _, rt := range (&Server{}).routes() {
		access[rt.method+" "+rt.pattern] = rt.access
	}
	ids := map[string]string{}
	for path, ops := range doc.Paths {
		if path != "/" && strings.HasSuffix(path, "/") {
			t.Errorf("path %s ends with a slash", path)
		}
		for method, op := range ops {
			name := strings.ToUpper(method) + " " + path
			if op.OperationID == "" || op.Summary == "" {
				t.Errorf("%s: operationId %q, summary %q: want both", name, op.OperationID, op.Summary)
			}
			if other, ok := ids[op.OperationID]; ok {
				t.Errorf("%s and %s share operationId %s", name, other, op.OperationID)
			}
			ids[op.OperationID] = name
			var success, clientError bool
			for code := range op.Responses {
				success = success || code[0] == '2' || code[0] == '3'
				clientError = clientError || code[0] == '4'
			}
			if !success || !clientError {
				t.Errorf("%s: responses %v: want a 2XX or 3XX and a 4XX", name, slices.Sorted(maps.Keys(op.Responses)))
			}
			secured := op.Security == nil || len(*op.Security) > 0
			if guarded := access[name] != public; secured != guarded {
				t.Errorf("%s: documented with security %v, but the mux serves it as %v", name, secured, map[bool]string{true: "needing a key", false: "public"}[guarded])
			}
			if !secured {
				continue
			}
			for _, code := range []string{"401", "429"} {
				if _, ok := op.Responses[code]; !ok {
					t.Errorf("%s needs a key but does not document %s", name, code)
				}
			}
		}
	}
}

func TestRateLimiter(t *testing.T) {
	t.Parallel()
	now := time.Unix(0, 0)
	l := newRateLimiter(2, 2, func() time.Time { return now })
	for i := range 2 {
		if _, ok := l.allow("k"); !ok {
			t.Fatalf("request %d of the burst refused", i)
		}
	}
	wait, ok := l.allow("k")
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("third request: ok %v wait %v, want refused for 500ms", ok, wait)
	}
	now = now.Add(500 * time.Millisecond)
	if _, ok := l.allow("k"); !ok {
		t.Fatal("a token should have refilled after 500ms at 2/s")
	}
	if _, ok := l.allow("other"); !ok {
		t.Fatal("another key shares the bucket")
	}
}

func TestSafeName(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"../../etc/passwd":      "passwd",
		`..\..\windows\win.ini`: "win.ini",
		"/abs/path/doc.md":      "doc.md",
		"plain.md":              "plain.md",
	} {
		if got, err := safeName(in); err != nil || got != want {
			t.Errorf("safeName(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "..", "/", "a\x00b", "\xff"} {
		if _, err := safeName(bad); err == nil {
			t.Errorf("safeName(%q) accepted", bad)
		}
	}
}
