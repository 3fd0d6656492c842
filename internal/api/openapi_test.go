package api

import (
	"encoding/json"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/kollektiv/kollektiv/internal/documents"
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
