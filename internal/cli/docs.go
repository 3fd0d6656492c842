package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/kollektiv/kollektiv/internal/app"
	"github.com/kollektiv/kollektiv/internal/config"
	"github.com/kollektiv/kollektiv/internal/derr"
	"github.com/kollektiv/kollektiv/internal/documents"
)

func docsCommand() command {
	return command{
		name:         "docs",
		usesDatabase: true,
		args:         "show ID",
		summary:      "show a document of a user with its chunks",
		settings:     []string{"database-url", "log-level", "log-format", "user"},
		help: `
Shows a document of --user (default: KOLLEKTIV_USER, "local"):

  show ID   the document (url, title, status and the reason it failed,
            chunk count, language, size, metadata) and its chunks in order,
            each with its breadcrumb, anchor URL, the other headings it
            holds, token count, whether it is embedded, and its text

ID is a document id, or its first 8 or more hex digits as
` + "`kollektiv sources docs SOURCE_ID`" + ` lists them. Chunks come a page at a
time (--chunk-limit, default 50); the last line says how to get the next.
--content adds the document's markdown. --json prints what the API's
GET /v1/documents/{id} returns.`,
		example: `
kollektiv sources docs 0b6f4f2e-8c1d-4f4a-9a77-5d2b1c3e9f10
kollektiv docs show 3c1d9a77
kollektiv docs show 3c1d9a77-5e2b-5f0a-8d1c-2b7e4f6a9c01 --json`,
		flags: func(fs *flag.FlagSet, cfg *config.Config) func(context.Context, Env, []string) error {
			asJSON := fs.Bool("json", false, "print the document as the API returns it")
			withContent := fs.Bool("content", false, "include the document's markdown")
			chunkLimit := fs.Int("chunk-limit", documents.DefaultChunkLimit, fmt.Sprintf("chunks to show, 1 to %d", documents.MaxChunkLimit))
			chunkCursor := fs.String("chunk-cursor", "", "continue the chunks where the last page ended")
			return func(ctx context.Context, env Env, args []string) error {
				if err := checkSubcommand(args, "show"); err != nil {
					return err
				}
				if len(args) != 2 {
					return fmt.Errorf("%w: docs show needs a document id", errUsage)
				}
				a, err := app.New(ctx, cfg, cfg.Logger(env.Stderr), app.Options{})
				if err != nil {
					return err
				}
				defer func() { _ = a.Stop(context.WithoutCancel(ctx)) }()
				reader := documents.NewReader(a.Queries)
				id, err := reader.ResolveID(ctx, cfg.User, args[1])
				if err != nil {
					return err
				}
				doc, err := reader.Get(ctx, documents.GetQuery{
					UserID: cfg.User, DocumentID: id, Content: *withContent,
					ChunkLimit: *chunkLimit, ChunkCursor: *chunkCursor,
				})
				if errors.Is(err, documents.ErrDocumentNotFound) {
					return derr.New(derr.NotFound, fmt.Sprintf("no document %s for this user", id))
				}
				if err != nil {
					return err
				}
				if *asJSON {
					return writeJSONTo(env, doc)
				}
				printDocument(env.Stdout, doc)
				if doc.NextChunkCursor != "" {
					fmt.Fprintf(env.Stdout, "\nmore chunks: kollektiv docs show %s --chunk-limit %d --chunk-cursor %s\n", doc.ID, *chunkLimit, doc.NextChunkCursor)
				}
				return nil
			}
		},
	}
}

// listSourceDocuments prints `sources docs`: a page of a source's
// documents in a table that fits 80 columns.
func listSourceDocuments(ctx context.Context, env Env, a *app.App, q documents.ListQuery, asJSON bool) error {
	list, err := documents.NewReader(a.Queries).List(ctx, q)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSONTo(env, list)
	}
	w := env.Stdout
	if len(list.Documents) == 0 {
		what := "documents"
		if q.Status != "" {
			what = q.Status + " documents"
		}
		fmt.Fprintf(w, "no %s in source %s\n", what, q.SourceID)
		return nil
	}
	printDocumentTable(w, list.Documents)
	if list.NextCursor != "" {
		more := fmt.Sprintf("kollektiv sources docs %s --limit %d", q.SourceID, len(list.Documents))
		if q.Status != "" {
			more += " --status " + q.Status
		}
		fmt.Fprintf(w, "more: %s --cursor %s\n", more, list.NextCursor)
	}
	return nil
}

// The table of `sources docs`: fixed columns, then the path in what is
// left of 80 columns.
const (
	tableWidth  = 80
	shortIDLen  = 8
	docRowStart = shortIDLen + 2 + 8 + 2 + 6 + 2 + 4 + 2 // ID, STATUS, CHUNKS, LANG and their gaps
)

func printDocumentTable(w io.Writer, docs []documents.Document) {
	fmt.Fprintf(w, "%-8s  %-8s  %6s  %-4s  %s\n", "ID", "STATUS", "CHUNKS", "LANG", "PATH")
	for _, d := range docs {
		lang := d.Language
		if lang == "" {
			lang = "-"
		}
		fmt.Fprintf(w, "%-8s  %-8s  %6d  %-4s  %s\n", d.ID.String()[:shortIDLen], d.Status, d.ChunkCount, lang, fitTail(displayPath(d.URL), tableWidth-docRowStart))
		if d.Error != "" {
			indent := strings.Repeat(" ", shortIDLen+2)
			fmt.Fprintf(w, "%serror: %s\n", indent, fitHead(oneLine(d.Error), tableWidth-len(indent)-len("error: ")))
		}
	}
}

// displayPath is a document's URL as the PATH column shows it: a web page
// by its path (the source names the site), a file by its path.
func displayPath(docURL string) string {
	u, err := url.Parse(docURL)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return docURL
	}
	p := u.EscapedPath()
	if p == "" {
		p = "/"
	}
	if u.RawQuery != "" {
		p += "?" + u.RawQuery
	}
	return p
}

// fitTail shortens s to n characters by cutting its start: a path's end
// (the file name) tells documents apart.
func fitTail(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return "..." + string(r[len(r)-(n-3):])
}

// fitHead shortens s to n characters by cutting its end.
func fitHead(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-3]) + "..."
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func printDocument(w io.Writer, d documents.Detail) {
	fmt.Fprintf(w, "document   %s\n", d.ID)
	fmt.Fprintf(w, "source     %s\n", d.SourceID)
	fmt.Fprintf(w, "url        %s\n", d.URL)
	if d.Title != "" {
		fmt.Fprintf(w, "title      %s\n", d.Title)
	}
	fmt.Fprintf(w, "status     %s, %d chunks\n", d.Status, d.ChunkCount)
	if d.Error != "" {
		fmt.Fprintf(w, "error      %s\n", d.Error)
	}
	lang := d.Language
	if lang == "" {
		lang = "undetermined"
	}
	fmt.Fprintf(w, "language   %s\n", lang)
	fmt.Fprintf(w, "size       %d bytes\n", d.SizeBytes)
	var meta bytes.Buffer
	if json.Compact(&meta, d.Metadata) == nil && meta.String() != "{}" {
		fmt.Fprintf(w, "metadata   %s\n", meta.String())
	}
	fmt.Fprintf(w, "created    %s UTC, updated %s UTC\n", d.CreatedAt.UTC().Format(time.DateTime), d.UpdatedAt.UTC().Format(time.DateTime))
	if d.Content != nil {
		fmt.Fprintf(w, "\n--- content (%d bytes) ---\n%s\n--- end of content ---\n", len(*d.Content), strings.TrimRight(*d.Content, "\n"))
	}
	for _, c := range d.Chunks {
		breadcrumb := strings.Join(c.Headers, " > ")
		if breadcrumb == "" {
			breadcrumb = "(above the first heading)"
		}
		fmt.Fprintf(w, "\n[%d] %s\n", c.Ordinal, breadcrumb)
		fmt.Fprintf(w, "    url       %s\n", c.URL)
		if len(c.Headings) > 0 {
			fmt.Fprintf(w, "    headings  %s\n", strings.Join(c.Headings, "; "))
		}
		embedded := "not embedded"
		if c.Embedded {
			embedded = "embedded by " + c.EmbeddingModel
		}
		fmt.Fprintf(w, "    tokens    %d, %s\n\n", c.TokenCount, embedded)
		for _, line := range strings.Split(strings.TrimRight(c.Text, "\n"), "\n") {
			if line == "" {
				fmt.Fprintln(w)
				continue
			}
			fmt.Fprintf(w, "    %s\n", line)
		}
	}
	if len(d.Chunks) == 0 {
		fmt.Fprintf(w, "\nno chunks\n")
	}
}
