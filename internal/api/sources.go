package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"path"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/kollektiv/kollektiv/internal/content"
	"github.com/kollektiv/kollektiv/internal/derr"
	"github.com/kollektiv/kollektiv/internal/documents"
	"github.com/kollektiv/kollektiv/internal/ingest"
	"github.com/kollektiv/kollektiv/internal/store"
)

// sourceView is a source as the API shows it: documents' view, which the
// MCP server shows too.
type (
	sourceView     = documents.Source
	failedDocument = documents.FailedDocument
)

// createSourceRequest is the body of POST /v1/sources: a URL to fetch or
// crawl, or documents inline.
type createSourceRequest struct {
	URL       string          `json:"url"`
	Crawl     *crawlRequest   `json:"crawl"`
	Documents []documentInput `json:"documents"`
}

type crawlRequest = ingest.CrawlRequest

type documentInput struct {
	Title   string `json:"title"`
	URL     string `json:"url"`
	Content string `json:"content"`
	// Metadata is a JSON object stored with the document, over its front
	// matter: a key in both takes this value. Search filters on it.
	Metadata json.RawMessage `json:"metadata"`

	// metadata is Metadata decoded, once decodeCreateSource checked it.
	metadata map[string]any
}

// maxMetadataBytes bounds the metadata a client sets on one document.
const maxMetadataBytes = 16 << 10

// documentMetadata decodes the metadata a client sets on a document: a JSON
// object of at most maxMetadataBytes, whose keys and strings PostgreSQL can
// store (jsonb refuses \u0000). Null or absent is no metadata. The error
// completes the field's name.
func documentMetadata(raw json.RawMessage) (map[string]any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if len(raw) > maxMetadataBytes {
		return nil, fmt.Errorf("%d bytes of JSON, limit %d", len(raw), maxMetadataBytes)
	}
	if raw[0] != '{' {
		return nil, errors.New("want a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // numbers stored as sent, not rounded through float64
	var meta map[string]any
	if err := dec.Decode(&meta); err != nil {
		return nil, fmt.Errorf("want a JSON object: %w", err)
	}
	if !storableJSON(meta) {
		return nil, errors.New("keys and strings must be valid UTF-8 without NUL (\\u0000) characters")
	}
	return meta, nil
}

// storableJSON reports whether every key and string in v, a decoded JSON
// value, can be stored in jsonb.
func storableJSON(v any) bool {
	valid := func(s string) bool { return utf8.ValidString(s) && !strings.ContainsRune(s, 0) }
	switch v := v.(type) {
	case string:
		return valid(v)
	case []any:
		for _, e := range v {
			if !storableJSON(e) {
				return false
			}
		}
	case map[string]any:
		for k, e := range v {
			if !valid(k) || !storableJSON(e) {
				return false
			}
		}
	}
	return true
}

func decodeJSON(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooLarge *http.MaxBytesError
		var syntax *json.SyntaxError
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &tooLarge):
			return err
		case errors.As(err, &syntax):
			return errorf(derr.Invalid, fmt.Sprintf("malformed JSON at byte %d: %v", syntax.Offset, err))
		case errors.As(err, &typeErr) && typeErr.Field == "":
			// The body itself has the wrong type: there is no field to name.
			want := "a JSON object"
			if k := typeErr.Type.Kind(); k != reflect.Struct && k != reflect.Map {
				want = jsonKind(k) + " in JSON"
			}
			return errorf(derr.Invalid, fmt.Sprintf("request body must be %s, got %s", want, jsonValue(typeErr.Value)))
		case errors.As(err, &typeErr):
			return errorf(derr.Invalid, fmt.Sprintf("field %s: want %s, got %s", typeErr.Field, jsonKind(typeErr.Type.Kind()), typeErr.Value))
		case errors.Is(err, io.EOF):
			return errorf(derr.Invalid, "empty body: want a JSON object")
		case errors.Is(err, io.ErrUnexpectedEOF):
			return errorf(derr.Invalid, "malformed JSON: the body ends in the middle of a value")
		default:
			return errorf(derr.Invalid, "invalid JSON: "+err.Error())
		}
	}
	if dec.More() {
		return errorf(derr.Invalid, "invalid JSON: more than one value in the body")
	}
	return nil
}

// jsonValue names the kind of JSON value json.UnmarshalTypeError.Value
// gives ("array", "string", "number", "bool", ...) with its article.
func jsonValue(v string) string {
	switch v {
	case "array", "object":
		return "an " + v
	case "bool":
		return "true or false"
	case "string", "number":
		return "a " + v
	default:
		return v
	}
}

func jsonKind(k reflect.Kind) string {
	switch k {
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	default:
		return "a number"
	}
}

func (s *Server) createSource(w http.ResponseWriter, r *http.Request) error {
	req, err := s.decodeCreateSource(r)
	if err != nil {
		return err
	}
	idem, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	params := ingest.AddParams{UserID: keyFrom(r.Context()).UserID, IdempotencyKey: idem}
	if idem != "" {
		params.RequestHash = hashJSONRequest("POST /v1/sources", req)
	}
	if req.URL != "" {
		if _, ok, err := s.replay(r, w, params); ok || err != nil {
			return err
		}
		// The crawl is a job: the answer comes before any page is fetched,
		// with the source at stage crawling.
		crawl, err := s.crawlSettings(req.Crawl)
		if err != nil {
			return err
		}
		params.Kind, params.URI, params.Crawl = ingest.KindURL, req.URL, &crawl
		return s.add(w, r, params)
	}
	params.Kind = ingest.KindInline
	params.Documents, params.Problems = inlineDocuments(req.Documents)
	return s.add(w, r, params)
}

// decodeCreateSource reads and checks the body of POST /v1/sources: all
// that needs neither the database nor the network. Its errors are of kind
// derr.Invalid or derr.TooLarge.
func (s *Server) decodeCreateSource(r *http.Request) (createSourceRequest, error) {
	var req createSourceRequest
	if err := decodeJSON(r, &req); err != nil {
		return req, err
	}
	switch {
	case req.URL != "" && len(req.Documents) > 0:
		return req, errorf(derr.Invalid, "send either url or documents, not both")
	case req.URL != "":
		if _, err := s.checkURLSource(req.URL, req.Crawl); err != nil {
			return req, err
		}
	case len(req.Documents) > 0:
		if len(req.Documents) > s.Limits.MaxDocuments {
			return req, errorf(derr.TooLarge, fmt.Sprintf("%d documents in one request; the limit is %d", len(req.Documents), s.Limits.MaxDocuments))
		}
		for i := range req.Documents {
			meta, err := documentMetadata(req.Documents[i].Metadata)
			if err != nil {
				return req, errorf(derr.Invalid, fmt.Sprintf("documents[%d].metadata: %v", i, err))
			}
			req.Documents[i].metadata = meta
		}
	default:
		return req, errorf(derr.Invalid, `want {"url": ...} or {"documents": [{"title", "url", "content"}]}`)
	}
	return req, nil
}

// checkURLSource checks a URL to crawl and its crawl settings, as the API
// and the console take them, and returns the settings.
func (s *Server) checkURLSource(rawURL string, req *crawlRequest) (ingest.CrawlSettings, error) {
	return ingest.CheckURLCrawl(rawURL, req, s.crawlLimits(), "crawl.")
}

// inlineDocuments prepares the documents of a request. Each input becomes
// one document or one problem under a name of its own: a url that cannot
// be stored (NUL, too long) is a problem, and a url given twice gets a
// suffix, so no document replaces another.
func inlineDocuments(inputs []documentInput) ([]content.Document, []*content.DocumentError) {
	var docs []content.Document
	var problems []*content.DocumentError
	seen := map[string]bool{}
	for i, d := range inputs {
		name := d.URL
		if name == "" {
			name = fmt.Sprintf("document-%d", i+1)
		}
		if err := checkName(name); err != nil {
			name = uniqueName(seen, displayName(name))
			problems = append(problems, &content.DocumentError{URL: name, Reason: "url cannot be stored", Err: err})
			continue
		}
		name = uniqueName(seen, name)
		doc, err := content.PrepareDocument(d.Title, name, d.Content, content.PrepareOptions{})
		if err != nil {
			problems = append(problems, problemOf(name, err))
			continue
		}
		// The client's keys win over the front matter's: they were set for
		// this request, the front matter is whatever the file says.
		for k, v := range d.metadata {
			if doc.Metadata == nil {
				doc.Metadata = map[string]any{}
			}
			doc.Metadata[k] = v
		}
		docs = append(docs, doc)
	}
	return docs, problems
}

// problemOf is the problem of the document name that failed with err: err
// itself when it is a *content.DocumentError already (which names the
// document and its reason), so no reason is given twice.
func problemOf(name string, err error) *content.DocumentError {
	var derr *content.DocumentError
	if errors.As(err, &derr) {
		return derr
	}
	return &content.DocumentError{URL: name, Reason: err.Error(), Err: err}
}

// maxNameBytes bounds a document's name (its url or file name): names are
// in a unique index, whose rows PostgreSQL limits to about 2.7 kB.
const maxNameBytes = 1024

// checkName refuses a document name PostgreSQL cannot store or index.
func checkName(name string) error {
	switch {
	case !utf8.ValidString(name) || strings.ContainsRune(name, 0):
		return errors.New("not valid UTF-8 text")
	case len(name) > maxNameBytes:
		return fmt.Errorf("%d bytes, limit %d", len(name), maxNameBytes)
	}
	return nil
}

// displayName makes a name that failed checkName storable, to report the
// problem under: valid UTF-8, no NUL, at most 100 bytes.
func displayName(name string) string {
	name = strings.ReplaceAll(strings.ToValidUTF8(name, "?"), "\x00", "?")
	if len(name) <= 100 {
		return name
	}
	cut := 100
	for cut > 0 && !utf8.RuneStart(name[cut]) {
		cut--
	}
	return name[:cut] + "..."
}

// uniqueName returns name, or name with a " (n)" suffix when seen has it,
// and records it in seen.
func uniqueName(seen map[string]bool, name string) string {
	for base, n := name, 2; seen[name]; n++ {
		name = fmt.Sprintf("%s (%d)", base, n)
	}
	seen[name] = true
	return name
}

// maxIdempotencyKeyBytes bounds an Idempotency-Key: it is in a unique
// index, whose rows PostgreSQL limits to about 2.7 kB.
const maxIdempotencyKeyBytes = 255

// idempotencyKey returns the request's Idempotency-Key header, "" if none.
func idempotencyKey(r *http.Request) (string, error) {
	key := r.Header.Get("Idempotency-Key")
	if len(key) > maxIdempotencyKeyBytes || !utf8.ValidString(key) {
		return "", errorf(derr.Invalid, fmt.Sprintf("Idempotency-Key: want at most %d bytes of UTF-8 text", maxIdempotencyKeyBytes))
	}
	return key, nil
}

// replay answers a retried request whose Idempotency-Key was seen, before
// any crawling.
func (s *Server) replay(r *http.Request, w http.ResponseWriter, p ingest.AddParams) (store.Source, bool, error) {
	if p.IdempotencyKey == "" {
		return store.Source{}, false, nil
	}
	source, err := s.queries.GetSourceByIdempotencyKey(r.Context(), store.GetSourceByIdempotencyKeyParams{UserID: p.UserID, IdempotencyKey: &p.IdempotencyKey})
	if errors.Is(err, pgx.ErrNoRows) {
		return source, false, nil
	}
	if err != nil {
		return source, false, err
	}
	if err := ingest.SameRequest(source, p.RequestHash); err != nil {
		return source, false, err
	}
	view, err := s.docs.View(r.Context(), source)
	if err != nil {
		return source, false, err
	}
	writeJSON(w, http.StatusAccepted, view)
	return source, true, nil
}

// hashJSONRequest is the sha256 of a request's canonical form: the
// endpoint and the decoded body encoded again, so that spacing and key
// order do not matter but every value does.
func hashJSONRequest(endpoint string, body any) []byte {
	raw, err := json.Marshal(body)
	if err != nil {
		// A decoded request always encodes; hash what we have.
		raw = []byte(err.Error())
	}
	h := sha256.New()
	h.Write([]byte(endpoint + "\n"))
	h.Write(raw)
	return h.Sum(nil)
}

// hashUpload is the sha256 of an upload's canonical form: the endpoint and
// each file's form field, name and content hash, sorted, so that the order
// of the parts does not matter.
func hashUpload(form *multipart.Form) ([]byte, error) {
	var parts []string
	for field, fhs := range form.File {
		for _, fh := range fhs {
			raw, err := readUpload(fh)
			if err != nil {
				return nil, err
			}
			sum := sha256.Sum256(raw)
			parts = append(parts, fmt.Sprintf("%q %q %x", field, fh.Filename, sum))
		}
	}
	slices.Sort(parts)
	h := sha256.New()
	h.Write([]byte("POST /v1/sources/upload\n"))
	for _, p := range parts {
		h.Write([]byte(p + "\n"))
	}
	return h.Sum(nil), nil
}

// crawlSettings checks a request's crawl object (see ingest.CheckCrawl).
func (s *Server) crawlSettings(req *crawlRequest) (ingest.CrawlSettings, error) {
	return ingest.CheckCrawl(req, s.crawlLimits(), "crawl.")
}

// crawlLimits are the deployment's: whether private addresses may be
// crawled is never the client's choice.
func (s *Server) crawlLimits() ingest.CrawlLimits {
	return ingest.CrawlLimits{MaxPages: s.Limits.MaxCrawlPages, AllowPrivate: s.Limits.CrawlAllowPrivate}
}

func (s *Server) add(w http.ResponseWriter, r *http.Request, p ingest.AddParams) error {
	added, err := s.Ingest.Add(r.Context(), p)
	if err != nil {
		return err
	}
	view, err := s.docs.View(r.Context(), added.Source)
	if err != nil {
		return err
	}
	for _, prob := range added.Problems {
		view.Failed = append(view.Failed, failedDocument{URL: prob.URL, Error: prob.Error()})
	}
	writeJSON(w, http.StatusAccepted, view)
	return nil
}

// maxUploadMemory is what multipart parsing keeps in memory; the rest of a
// request (bounded by the body limit) spills to temporary files.
const maxUploadMemory = 8 << 20

func (s *Server) uploadSource(w http.ResponseWriter, r *http.Request) error {
	if err := r.ParseMultipartForm(maxUploadMemory); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return err
		}
		return errorf(derr.Invalid, "want a multipart/form-data body with files: "+err.Error())
	}
	defer func() { _ = r.MultipartForm.RemoveAll() }()
	var files []*multipart.FileHeader
	for _, fhs := range r.MultipartForm.File {
		files = append(files, fhs...)
	}
	if len(files) == 0 {
		return errorf(derr.Invalid, "no files in the upload")
	}
	if len(files) > s.Limits.MaxDocuments {
		return errorf(derr.TooLarge, fmt.Sprintf("%d files in one request; the limit is %d", len(files), s.Limits.MaxDocuments))
	}
	idem, err := idempotencyKey(r)
	if err != nil {
		return err
	}
	params := ingest.AddParams{UserID: keyFrom(r.Context()).UserID, Kind: ingest.KindFiles, IdempotencyKey: idem}
	if idem != "" {
		if params.RequestHash, err = hashUpload(r.MultipartForm); err != nil {
			return err
		}
	}
	if _, ok, err := s.replay(r, w, params); ok || err != nil {
		return err
	}
	params.Stream = uploadStream(files)
	return s.add(w, r, params)
}

// uploadStream gives Add the uploaded files one at a time, each read and
// prepared as Add writes it, so the upload's documents are not held in
// memory beside the form: each under its base name (made unique), or as a
// problem naming the file and its reason.
func uploadStream(files []*multipart.FileHeader) func(context.Context, content.Visit) error {
	return func(_ context.Context, emit content.Visit) error {
		seen := map[string]bool{}
		for _, fh := range files {
			name, err := safeName(fh.Filename)
			if err != nil {
				name = uniqueName(seen, displayName(fh.Filename))
				if err := emit(nil, problemOf(name, err)); err != nil {
					return err
				}
				continue
			}
			name = uniqueName(seen, name)
			raw, err := readUpload(fh)
			if err != nil {
				return err
			}
			doc, err := content.PrepareDocument("", name, string(raw), content.PrepareOptions{Format: formatOf(name)})
			if err != nil {
				err = emit(nil, problemOf(name, err))
			} else {
				err = emit(&doc, nil)
			}
			if err != nil {
				return err
			}
		}
		return nil
	}
}

func readUpload(fh *multipart.FileHeader) ([]byte, error) {
	f, err := fh.Open()
	if err != nil {
		return nil, fmt.Errorf("error opening upload: %w", err)
	}
	defer func() { _ = f.Close() }()
	return io.ReadAll(f)
}

// safeName reduces an uploaded file name to its base name: a client cannot
// name a path (../../etc/passwd becomes passwd).
func safeName(name string) (string, error) {
	if err := checkName(name); err != nil {
		return "", fmt.Errorf("file name: %w", err)
	}
	base := path.Base(path.Clean("/" + strings.ReplaceAll(name, `\`, "/")))
	if base == "/" || base == "." || base == "" {
		return "", errors.New("file has no name")
	}
	return base, nil
}

func formatOf(name string) content.Format {
	switch strings.ToLower(path.Ext(name)) {
	case ".html", ".htm":
		return content.FormatHTML
	case ".txt":
		return content.FormatText
	case ".md", ".markdown", ".mdx":
		return content.FormatMarkdown
	}
	return ""
}

func (s *Server) sourceID(r *http.Request) (uuid.UUID, error) {
	id, err := uuid.Parse(r.PathValue("id"))
	if err != nil {
		return id, errorf(derr.NotFound, "no such source")
	}
	return id, nil
}

func (s *Server) ownedSource(ctx context.Context, id uuid.UUID) (store.Source, error) {
	return s.docs.OwnedSource(ctx, keyFrom(ctx).UserID, id)
}

// requestedSource is the caller's source that the route's {id} names.
func (s *Server) requestedSource(r *http.Request) (store.Source, error) {
	id, err := s.sourceID(r)
	if err != nil {
		return store.Source{}, err
	}
	return s.ownedSource(r.Context(), id)
}

// requestedView is the full view (fullView) of requestedSource.
func (s *Server) requestedView(r *http.Request) (sourceView, error) {
	source, err := s.requestedSource(r)
	if err != nil {
		return sourceView{}, err
	}
	return s.fullView(r.Context(), source)
}

func (s *Server) getSource(w http.ResponseWriter, r *http.Request) error {
	view, err := s.requestedView(r)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, view)
	return nil
}

// fullView adds the summary and the failed documents with their reasons.
func (s *Server) fullView(ctx context.Context, source store.Source) (sourceView, error) {
	return s.docs.SourceDetail(ctx, source)
}

func (s *Server) listSources(w http.ResponseWriter, r *http.Request) error {
	limit := 0
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > documents.MaxSourceLimit {
			return errorf(derr.Invalid, fmt.Sprintf("limit: want a whole number from 1 to %d", documents.MaxSourceLimit))
		}
		limit = n
	}
	list, err := s.docs.Sources(r.Context(), documents.SourcesQuery{
		UserID: keyFrom(r.Context()).UserID, Limit: limit, Cursor: r.URL.Query().Get("cursor"),
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, list)
	return nil
}

func (s *Server) deleteSource(w http.ResponseWriter, r *http.Request) error {
	id, err := s.sourceID(r)
	if err != nil {
		return err
	}
	if err := s.Ingest.Delete(r.Context(), keyFrom(r.Context()).UserID, id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) retrySource(w http.ResponseWriter, r *http.Request) error {
	id, err := s.sourceID(r)
	if err != nil {
		return err
	}
	// Not found, still running (or a racing retry won) and nothing to
	// retry are domain errors: 404, 409 and 409 with the reason.
	source, n, err := s.Ingest.Retry(r.Context(), keyFrom(r.Context()).UserID, id)
	if err != nil {
		return err
	}
	view, err := s.docs.View(r.Context(), source)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, struct {
		sourceView
		Retried int64 `json:"retried_documents"`
	}{view, n})
	return nil
}

// refreshSource starts a new generation of a source: a URL source is
// crawled again by a job (answered at once, at stage crawling), a files
// source's path is read again on this server's disk (it exists only when
// the API runs where the path was ingested, as with `kollektiv serve`).
func (s *Server) refreshSource(w http.ResponseWriter, r *http.Request) error {
	id, err := s.sourceID(r)
	if err != nil {
		return err
	}
	added, err := s.refresh(r.Context(), id)
	if err != nil {
		return err
	}
	view, err := s.docs.View(r.Context(), added.Source)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, view)
	return nil
}

// refresh starts a new generation of the caller's source id with this
// deployment's crawl settings.
func (s *Server) refresh(ctx context.Context, id uuid.UUID) (ingest.Added, error) {
	allowPrivate := s.Limits.CrawlAllowPrivate
	return s.Ingest.Refresh(ctx, ingest.RefreshParams{
		UserID: keyFrom(ctx).UserID, SourceID: id,
		AllowPrivate: &allowPrivate, MaxCrawlPages: s.Limits.MaxCrawlPages,
	})
}
