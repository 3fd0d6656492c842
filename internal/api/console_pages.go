package api

import (
	"cmp"
	"fmt"
	"html/template"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/kollektiv/kollektiv/internal/derr"
	"github.com/kollektiv/kollektiv/internal/documents"
	"github.com/kollektiv/kollektiv/internal/ingest"
	"github.com/kollektiv/kollektiv/internal/lifecycle"
	"github.com/kollektiv/kollektiv/internal/search"
)

// consoleListLimit is the sources of a page of the console's list and of
// the search page's source filter.
const consoleListLimit = 50

// notices are the messages a redirect after a POST may ask a page to show:
// codes, never text from the URL.
var notices = map[string]string{
	"added":      "Source added. Its progress shows below as it is processed.",
	"refreshed":  "Refresh started: unchanged documents are skipped.",
	"retried":    "Retry started for the failed documents.",
	"deleted":    "Source deleted, with its documents and chunks.",
	"signed-out": "You are signed out.",
}

func noticeOf(r *http.Request) string {
	n := notices[r.URL.Query().Get("notice")]
	if v, err := strconv.Atoi(r.URL.Query().Get("skipped")); err == nil && v > 0 {
		files := fmt.Sprintf("%d files were", v)
		if v == 1 {
			files = "1 file was"
		}
		n += " " + files + " skipped: only .md, .markdown, .mdx, .txt, .html and .htm files are read."
	}
	return strings.TrimSpace(n)
}

func (s *Server) consoleSignInForm(w http.ResponseWriter, r *http.Request, _ session) error {
	if _, ok, err := s.currentSession(r); err != nil || ok {
		if ok {
			http.Redirect(w, r, localPath(r.URL.Query().Get("next")), http.StatusSeeOther)
		}
		return err
	}
	return s.renderSignIn(w, r, http.StatusOK, "")
}

func (s *Server) renderSignIn(w http.ResponseWriter, r *http.Request, status int, problem string) error {
	token, err := s.signInToken(w, r)
	if err != nil {
		return err
	}
	p := newPage(session{}, "Sign in", "sign-in", struct{ Next string }{localPath(r.FormValue("next"))})
	p.CSRF, p.Error, p.Notice = token, problem, noticeOf(r)
	s.render(w, r, status, "sign_in.html", p)
	return nil
}

func (s *Server) consoleSignIn(w http.ResponseWriter, r *http.Request, _ session) error {
	if origin, ok := s.plainHTTPOrigin(r); ok {
		return s.renderSignIn(w, r, http.StatusForbidden, "This page was opened over plain HTTP ("+origin+"), and the console's session cookie is Secure: your browser would not keep it. Open the console over HTTPS (see docs/OPERATIONS.md).")
	}
	if err := checkCSRF(r, s.cookieValue(r, signInCookie)); err != nil {
		return s.renderSignIn(w, r, http.StatusForbidden, "The sign-in form expired, or your browser did not send its cookie (cookies must be enabled for this site, and over HTTPS unless the console runs on this machine). Try again.")
	}
	if err := s.signIn(w, r, r.PostFormValue("key")); err != nil {
		if derr.KindOf(err) == derr.Unauthorized {
			return s.renderSignIn(w, r, http.StatusUnauthorized, derr.Message(err))
		}
		return err
	}
	http.Redirect(w, r, localPath(r.PostFormValue("next")), http.StatusSeeOther)
	return nil
}

func (s *Server) consoleSignOut(w http.ResponseWriter, r *http.Request, _ session) error {
	sess, ok, err := s.currentSession(r)
	if err != nil {
		return err
	}
	if ok {
		if err := checkCSRF(r, sess.csrf()); err != nil {
			return err
		}
	}
	if err := s.signOut(w, r); err != nil {
		return err
	}
	http.Redirect(w, r, "/sign-in?notice=signed-out", http.StatusSeeOther)
	return nil
}

// sourceRow is a source in the console's list.
type sourceRow struct {
	sourceView
	Name     string
	Terminal bool
}

func rowOf(v sourceView) sourceRow {
	name := v.URI
	switch {
	case name != "":
	case v.Kind == ingest.KindFiles:
		name = "Uploaded files " + v.ID.String()[:8]
	default:
		name = "Documents sent by the API " + v.ID.String()[:8]
	}
	return sourceRow{sourceView: v, Name: name, Terminal: lifecycle.Stage(v.Stage).Terminal()}
}

// ownSources returns a page of the caller's sources, newest first, and the
// cursor of the next.
func (s *Server) ownSources(r *http.Request, cursor string) ([]sourceRow, string, error) {
	list, err := s.docs.Sources(r.Context(), documents.SourcesQuery{
		UserID: keyFrom(r.Context()).UserID, Limit: consoleListLimit, Cursor: cursor,
	})
	if err != nil {
		return nil, "", err
	}
	out := make([]sourceRow, 0, len(list.Sources))
	for _, v := range list.Sources {
		out = append(out, rowOf(v))
	}
	return out, list.NextCursor, nil
}

type sourcesData struct {
	Sources       []sourceRow
	Next          string
	MaxCrawlPages int
	URL           string
}

func (s *Server) consoleSources(w http.ResponseWriter, r *http.Request, sess session) error {
	return s.renderSources(w, r, sess, http.StatusOK, "")
}

func (s *Server) renderSources(w http.ResponseWriter, r *http.Request, sess session, status int, problem string) error {
	rows, next, err := s.ownSources(r, r.URL.Query().Get("cursor"))
	if err != nil {
		return err
	}
	data := sourcesData{Sources: rows, MaxCrawlPages: s.Limits.MaxCrawlPages, URL: r.PostFormValue("url")}
	if next != "" {
		data.Next = "/?cursor=" + url.QueryEscape(next)
	}
	p := newPage(sess, "Sources", "sources", data)
	p.Notice, p.Error = noticeOf(r), problem
	s.render(w, r, status, "sources.html", p)
	return nil
}

// formError shows the error of a form the user can fix on the sources page
// beside the form; anything else is an error page.
func (s *Server) formError(w http.ResponseWriter, r *http.Request, sess session, err error) error {
	switch derr.KindOf(err) {
	case derr.Invalid, derr.TooLarge, derr.Conflict:
		return s.renderSources(w, r, sess, derr.HTTPStatus(err), derr.Message(err))
	}
	return err
}

func (s *Server) consoleAddURL(w http.ResponseWriter, r *http.Request, sess session) error {
	raw := strings.TrimSpace(r.PostFormValue("url"))
	var req *crawlRequest
	if r.PostFormValue("crawl") != "" {
		req = &crawlRequest{}
		if v := r.PostFormValue("page_limit"); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return s.formError(w, r, sess, errorf(derr.Invalid, fmt.Sprintf("page limit: want a whole number, got %q", v)))
			}
			req.PageLimit = n
		}
	}
	if raw == "" {
		return s.formError(w, r, sess, errorf(derr.Invalid, "url: give the address of a page to fetch"))
	}
	crawl, err := s.checkURLSource(raw, req)
	if err != nil {
		return s.formError(w, r, sess, err)
	}
	added, err := s.Ingest.Add(r.Context(), ingest.AddParams{UserID: sess.key.UserID, Kind: ingest.KindURL, URI: raw, Crawl: &crawl})
	if err != nil {
		return s.formError(w, r, sess, err)
	}
	http.Redirect(w, r, "/sources/"+added.Source.ID.String()+"?notice=added", http.StatusSeeOther)
	return nil
}

// consoleUpload adds a source of the files the form sends, from a files
// input and a folder input: files of other extensions than the loader's
// (a folder's images, a .git directory's objects) are skipped and counted,
// as a directory ingest skips them; the rest go through the API's upload.
func (s *Server) consoleUpload(w http.ResponseWriter, r *http.Request, sess session) error {
	var files []*multipart.FileHeader
	skipped := 0
	if r.MultipartForm != nil {
		for _, fh := range r.MultipartForm.File["files"] {
			switch {
			case fh.Filename == "" && fh.Size == 0:
				// The input the user left empty.
			case formatOf(fh.Filename) == "":
				skipped++
			default:
				files = append(files, fh)
			}
		}
	}
	switch {
	case len(files) == 0 && skipped > 0:
		return s.formError(w, r, sess, errorf(derr.Invalid, fmt.Sprintf("none of the %d files is markdown, text or HTML (.md, .markdown, .mdx, .txt, .html, .htm)", skipped)))
	case len(files) == 0:
		return s.formError(w, r, sess, errorf(derr.Invalid, "choose files or a folder to upload"))
	case len(files) > s.Limits.MaxDocuments:
		return s.formError(w, r, sess, errorf(derr.TooLarge, fmt.Sprintf("%d files in one upload; the limit is %d", len(files), s.Limits.MaxDocuments)))
	}
	params := ingest.AddParams{UserID: sess.key.UserID, Kind: ingest.KindFiles, Stream: uploadStream(files)}
	added, err := s.Ingest.Add(r.Context(), params)
	if err != nil {
		return s.formError(w, r, sess, err)
	}
	to := "/sources/" + added.Source.ID.String() + "?notice=added"
	if skipped > 0 {
		to += "&skipped=" + strconv.Itoa(skipped)
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
	return nil
}

type sourceData struct {
	Source   sourceRow
	Docs     documents.List
	Status   string
	Statuses []string
	Next     string
}

func (s *Server) consoleSource(w http.ResponseWriter, r *http.Request, sess session) error {
	view, err := s.requestedView(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	data := sourceData{Source: rowOf(view), Status: q.Get("status"), Statuses: []string{"pending", "chunked", "embedded", "failed"}}
	id := view.ID
	data.Docs, err = s.docs.List(r.Context(), documents.ListQuery{
		UserID: sess.key.UserID, SourceID: id, Status: data.Status, Limit: documents.DefaultLimit, Cursor: q.Get("cursor"),
	})
	if err != nil {
		return err
	}
	if data.Docs.NextCursor != "" {
		next := url.Values{"cursor": {data.Docs.NextCursor}}
		if data.Status != "" {
			next.Set("status", data.Status)
		}
		data.Next = "/sources/" + id.String() + "?" + next.Encode()
	}
	p := newPage(sess, data.Source.Name, "sources", data)
	p.Notice = noticeOf(r)
	s.render(w, r, http.StatusOK, "source.html", p)
	return nil
}

// consoleEvents is the source's event stream for the console's pages: an
// EventSource sends the session cookie, never a Bearer header.
func (s *Server) consoleEvents(w http.ResponseWriter, r *http.Request, _ session) error {
	return s.sourceEvents(w, r)
}

// consoleAction runs one action on a source and goes back to its page.
func (s *Server) consoleAction(w http.ResponseWriter, r *http.Request, notice string, act func(id uuid.UUID) error) error {
	id, err := s.sourceID(r)
	if err != nil {
		return err
	}
	if err := act(id); err != nil {
		return err
	}
	http.Redirect(w, r, "/sources/"+id.String()+"?notice="+notice, http.StatusSeeOther)
	return nil
}

func (s *Server) consoleRefresh(w http.ResponseWriter, r *http.Request, _ session) error {
	return s.consoleAction(w, r, "refreshed", func(id uuid.UUID) error {
		_, err := s.refresh(r.Context(), id)
		return err
	})
}

func (s *Server) consoleRetry(w http.ResponseWriter, r *http.Request, sess session) error {
	return s.consoleAction(w, r, "retried", func(id uuid.UUID) error {
		_, _, err := s.Ingest.Retry(r.Context(), sess.key.UserID, id)
		return err
	})
}

func (s *Server) consoleDeleteForm(w http.ResponseWriter, r *http.Request, sess session) error {
	source, err := s.requestedSource(r)
	if err != nil {
		return err
	}
	view, err := s.docs.View(r.Context(), source)
	if err != nil {
		return err
	}
	row := rowOf(view)
	s.render(w, r, http.StatusOK, "delete.html", newPage(sess, "Delete "+row.Name, "sources", row))
	return nil
}

func (s *Server) consoleDelete(w http.ResponseWriter, r *http.Request, sess session) error {
	id, err := s.sourceID(r)
	if err != nil {
		return err
	}
	if err := s.Ingest.Delete(r.Context(), sess.key.UserID, id); err != nil {
		return err
	}
	http.Redirect(w, r, "/?notice=deleted", http.StatusSeeOther)
	return nil
}

// chunkView is a chunk on the document page; ID is its anchor, on the
// first chunk of each section only, so that ids stay unique.
type chunkView struct {
	documents.Chunk
	ID string
}

type documentData struct {
	Doc    documents.Detail
	Chunks []chunkView
	Next   string
}

func (s *Server) consoleDocument(w http.ResponseWriter, r *http.Request, sess session) error {
	id, err := pathID(r, "document")
	if err != nil {
		return err
	}
	doc, err := s.docs.Get(r.Context(), documents.GetQuery{
		UserID: sess.key.UserID, DocumentID: id, ChunkLimit: documents.MaxChunkLimit, ChunkCursor: r.URL.Query().Get("chunk_cursor"),
	})
	if err != nil {
		return err
	}
	data := documentData{Doc: doc}
	seen := map[string]bool{}
	for _, c := range doc.Chunks {
		v := chunkView{Chunk: c}
		if c.Anchor != "" && !seen[c.Anchor] {
			seen[c.Anchor], v.ID = true, c.Anchor
		}
		data.Chunks = append(data.Chunks, v)
	}
	if doc.NextChunkCursor != "" {
		data.Next = "/documents/" + id.String() + "?" + url.Values{"chunk_cursor": {doc.NextChunkCursor}}.Encode()
	}
	title := cmp.Or(doc.Title, doc.URL)
	s.render(w, r, http.StatusOK, "document.html", newPage(sess, title, "sources", data))
	return nil
}

// hitView is a search hit as the console shows it.
type hitView struct {
	search.Hit
	Title string
	// Href opens the hit's section: the page itself for a web document,
	// the console's document page for an uploaded or local one.
	Href     string
	External bool
	Text     template.HTML
}

type searchData struct {
	Query    string
	Mode     string
	Sources  []sourceRow
	Selected map[uuid.UUID]bool
	Ran      bool
	Hits     []hitView
	Warnings []search.Warning
}

func (s *Server) consoleSearch(w http.ResponseWriter, r *http.Request, sess session) error {
	params := r.URL.Query()
	data := searchData{Query: params.Get("q"), Mode: params.Get("mode"), Selected: map[uuid.UUID]bool{}}
	var err error
	if data.Sources, _, err = s.ownSources(r, ""); err != nil {
		return err
	}
	p := newPage(sess, "Search", "search", &data)
	if strings.TrimSpace(data.Query) != "" {
		if err := s.runConsoleSearch(r, &data); err != nil {
			if derr.KindOf(err) == derr.Internal {
				return err
			}
			p.Error = derr.Message(err)
			s.render(w, r, derr.HTTPStatus(err), "search.html", p)
			return nil
		}
	}
	if data.Query != "" {
		p.Title = data.Query + " – Search"
	}
	s.render(w, r, http.StatusOK, "search.html", p)
	return nil
}

func (s *Server) runConsoleSearch(r *http.Request, data *searchData) error {
	q, err := s.searchQuery(r)
	if err != nil {
		return err
	}
	for _, id := range q.SourceIDs {
		data.Selected[id] = true
	}
	result, err := s.Search(r.Context(), q)
	if err != nil {
		return err
	}
	data.Ran, data.Warnings = true, result.Warnings
	terms := queryTerms(q.Text)
	for _, h := range result.Hits {
		v := hitView{Hit: h, Title: cmp.Or(h.DocumentTitle, h.DocumentURL), Text: highlight(h.Text, terms)}
		if u, err := url.Parse(h.URL); err == nil && (u.Scheme == "http" || u.Scheme == "https") {
			v.Href, v.External = h.URL, true
		} else {
			v.Href = "/documents/" + h.DocumentID.String()
			if h.Anchor != "" {
				v.Href += "#" + h.Anchor
			}
		}
		data.Hits = append(data.Hits, v)
	}
	return nil
}
