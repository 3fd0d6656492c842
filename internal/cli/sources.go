package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/kollektiv/kollektiv/internal/app"
	"github.com/kollektiv/kollektiv/internal/config"
	"github.com/kollektiv/kollektiv/internal/derr"
	"github.com/kollektiv/kollektiv/internal/documents"
	"github.com/kollektiv/kollektiv/internal/ingest"
	"github.com/kollektiv/kollektiv/internal/lifecycle"
	"github.com/kollektiv/kollektiv/internal/store"
)

func sourcesCommand() command {
	return command{
		name:         "sources",
		usesDatabase: true,
		args:         "ls|show|docs|watch|rm|retry|refresh [ID]",
		summary:      "manage a user's sources: ls, show, docs, watch, rm, retry, refresh",
		settings:     []string{"database-url", "log-level", "log-format", "user", "no-worker-notice", "check-worker-within"},
		help: `
Manages the sources of --user (default: KOLLEKTIV_USER, "local"):

  ls           the sources, newest first, a page at a time (--limit, default
               20; --cursor continues): short id, stage (or, while it runs,
               what it does and how far it got), documents, failed, chunks,
               created and updated times, and its path or URL under it
  show ID      one source: stage, counts, progress, times, summary, failed
               documents
  docs ID      its documents in path order, a page at a time (--limit,
               default 100; --cursor continues): short id, status, chunks,
               language, path, and the reason each failed one failed;
               --status pending|chunked|embedded|failed keeps one status.
               ` + "`kollektiv docs show`" + ` shows one with its chunks
  watch ID     follow its events until its current generation completes
               (exit 0) or fails (exit 1), as ` + "`ingest --wait`" + ` does, through
               database restarts; --json prints the final object
  rm ID        cancel its jobs and delete it with its documents, chunks and vectors
  retry ID     process its failed documents again (exit 4 when it is still
               being processed or has nothing to retry)
  refresh ID   re-read its path or URL; unchanged documents are skipped

ID is a source id, or its first 8 or more hex digits as ls shows them.
--json prints what the API returns (GET /v1/sources, /v1/sources/{id}).`,
		example: `
kollektiv sources ls
kollektiv sources show 0b6f4f2e
kollektiv sources docs 0b6f4f2e-8c1d-4f4a-9a77-5d2b1c3e9f10 --status failed
kollektiv sources watch 0b6f4f2e-8c1d-4f4a-9a77-5d2b1c3e9f10 --json
kollektiv sources rm 0b6f4f2e-8c1d-4f4a-9a77-5d2b1c3e9f10`,
		flags: func(fs *flag.FlagSet, cfg *config.Config) func(context.Context, Env, []string) error {
			asJSON := fs.Bool("json", false, "print JSON")
			limit := fs.Int("limit", 0, fmt.Sprintf("ls: sources of a page (default %d, at most %d); docs: documents of a page (default %d, at most %d)", documents.DefaultSourceLimit, documents.MaxSourceLimit, documents.DefaultLimit, documents.MaxLimit))
			status := fs.String("status", "", "docs: only documents of this status (pending, chunked, embedded, failed)")
			cursor := fs.String("cursor", "", "ls, docs: continue where the last page ended")
			return func(ctx context.Context, env Env, args []string) error {
				if err := checkSubcommand(args, "ls", "show", "docs", "watch", "rm", "retry", "refresh"); err != nil {
					return err
				}
				action := args[0]
				if action != "ls" && len(args) != 2 {
					return fmt.Errorf("%w: sources %s needs a source id", errUsage, action)
				}
				a, err := app.New(ctx, cfg, cfg.Logger(env.Stderr), app.Options{})
				if err != nil {
					return err
				}
				defer func() { _ = a.Stop(context.WithoutCancel(ctx)) }()
				reader := documents.NewReader(a.Queries)
				var id uuid.UUID
				if action != "ls" {
					// A whole id, or the short one `sources ls` shows.
					if id, err = reader.ResolveSourceID(ctx, cfg.User, args[1]); err != nil {
						return err
					}
				}
				svc := &ingest.Service{Pool: a.Pool, River: a.River}
				switch action {
				case "ls":
					return listSources(ctx, env, reader, documents.SourcesQuery{UserID: cfg.User, Limit: *limit, Cursor: *cursor}, *asJSON)
				case "show":
					return showSource(ctx, env, reader, cfg.User, id, *asJSON)
				case "docs":
					q := documents.ListQuery{UserID: cfg.User, SourceID: id, Status: *status, Limit: *limit, Cursor: *cursor}
					return notFound(listSourceDocuments(ctx, env, a, q, *asJSON), id)
				case "watch":
					return watchSource(ctx, env, a, cfg, id, *asJSON)
				case "rm":
					if err := svc.Delete(ctx, cfg.User, id); err != nil {
						return notFound(err, id)
					}
					fmt.Fprintf(env.Stdout, "deleted %s\n", id)
					return nil
				case "retry":
					source, n, err := svc.Retry(ctx, cfg.User, id)
					if err != nil {
						return notFound(err, id)
					}
					fmt.Fprintf(env.Stdout, "source %s: %d failed documents sent back for processing (generation %d)\n", source.ID, n, source.Generation)
					return nil
				case "refresh":
					// A files source's path is read here, on this
					// machine; a URL source is crawled by a job.
					added, err := svc.Refresh(ctx, ingest.RefreshParams{UserID: cfg.User, SourceID: id})
					if err != nil {
						return notFound(err, id)
					}
					fmt.Fprintf(env.Stdout, "source %s refreshed: stage %s (generation %d)\n", added.Source.ID, added.Source.Stage, added.Source.Generation)
					return nil
				}
				return nil
			}
		},
	}
}

// notFound names the source in a not-found error (exit status 3).
func notFound(err error, id uuid.UUID) error {
	if errors.Is(err, lifecycle.ErrNotFound) || errors.Is(err, documents.ErrSourceNotFound) || errors.Is(err, pgx.ErrNoRows) {
		return derr.New(derr.NotFound, fmt.Sprintf("no source %s for this user", id))
	}
	return err
}

// watchSource follows a source's current generation to its end, as
// `ingest --wait` does.
func watchSource(ctx context.Context, env Env, a *app.App, cfg *config.Config, id uuid.UUID, asJSON bool) error {
	source, err := a.Queries.GetSource(ctx, store.GetSourceParams{ID: id, UserID: cfg.User})
	if err != nil {
		return notFound(err, id)
	}
	ended, err := followSource(ctx, env, a, cfg, "sources watch", id, source.Generation, asJSON)
	if err != nil {
		return stoppedFollowing(ctx, env, "sources watch", id, err)
	}
	if asJSON {
		if err := printSourceJSON(env, ended, nil); err != nil {
			return err
		}
	}
	if lifecycle.StageOf(ended) == lifecycle.StageFailed {
		return exitError{code: 1}
	}
	return nil
}

func showSource(ctx context.Context, env Env, reader *documents.Reader, user string, id uuid.UUID, asJSON bool) error {
	source, err := reader.Source(ctx, user, id)
	if err != nil {
		return notFound(err, id)
	}
	if asJSON {
		return writeJSONTo(env, source)
	}
	w := env.Stdout
	fmt.Fprintf(w, "source     %s (%s %s)\n", source.ID, source.Kind, source.URI)
	fmt.Fprintf(w, "stage      %s (generation %d)\n", source.Stage, source.Generation)
	fmt.Fprintf(w, "documents  %d (%d failed), chunks %d\n", source.Documents, source.FailedDocuments, source.Chunks)
	p := source.Progress
	fmt.Fprintf(w, "progress   documents %d/%d, chunks embedded %d/%d", p.DocumentsProcessed, p.DocumentsTotal, p.ChunksEmbedded, p.ChunksWritten)
	if p.PagesFetched != nil {
		fmt.Fprintf(w, ", pages fetched %d", *p.PagesFetched)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "created    %s, updated %s\n", source.CreatedAt.Local().Format(time.DateTime), source.UpdatedAt.Local().Format(time.DateTime))
	if source.Error != nil {
		fmt.Fprintf(w, "error      %s\n", *source.Error)
	}
	if s := source.Summary; s != nil && s.Summary != "" {
		fmt.Fprintf(w, "keywords   %s\nsummary    %s\n", strings.Join(s.Keywords, ", "), s.Summary)
	}
	for _, f := range source.Failed {
		fmt.Fprintf(w, "failed     %s: %s\n", f.URL, f.Error)
	}
	return nil
}

// listSources prints `sources ls`: a page of the user's sources, newest
// first, in a table that fits 80 columns, each source's path or URL on the
// line under it.
func listSources(ctx context.Context, env Env, reader *documents.Reader, q documents.SourcesQuery, asJSON bool) error {
	list, err := reader.Sources(ctx, q)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSONTo(env, list)
	}
	w := env.Stdout
	if len(list.Sources) == 0 {
		fmt.Fprintf(w, "no sources for user %s (ingest one: kollektiv ingest PATH|URL)\n", q.UserID)
		return nil
	}
	printSourceTable(w, list.Sources, time.Now())
	if list.NextCursor != "" {
		fmt.Fprintf(w, "more: kollektiv sources ls --limit %d --cursor %s\n", len(list.Sources), list.NextCursor)
	}
	return nil
}

// sourceRow is the layout of a row of `sources ls`: 77 columns.
const sourceRow = "%-8s  %-13s  %9s  %6s  %6s  %-16s  %s\n"

func printSourceTable(w io.Writer, list []documents.Source, now time.Time) {
	fmt.Fprintf(w, sourceRow, "ID", "STAGE", "DOCUMENTS", "FAILED", "CHUNKS", "CREATED", "UPDATED")
	indent := strings.Repeat(" ", shortIDLen+2)
	for _, s := range list {
		fmt.Fprintf(w, sourceRow, s.ID.String()[:shortIDLen], sourceState(s), strconv.Itoa(int(s.Documents)),
			strconv.Itoa(int(s.FailedDocuments)), strconv.Itoa(int(s.Chunks)),
			s.CreatedAt.Local().Format("2006-01-02 15:04"), age(now.Sub(s.UpdatedAt)))
		where := s.Kind
		if s.URI != "" {
			where += " " + fitTail(s.URI, tableWidth-len(indent)-len(s.Kind)-1)
		}
		fmt.Fprintf(w, "%s%s\n", indent, where)
	}
}

// sourceState is the STAGE column: a finished source's stage, and for a
// running one what it is doing and how far it got.
func sourceState(s documents.Source) string {
	p := s.Progress
	percent := func(n, total int32) string { return fmt.Sprintf("%d%%", int(100*fraction(int(n), int(total)))) }
	switch lifecycle.Stage(s.Stage) {
	case lifecycle.StageCreated:
		return "queued"
	case lifecycle.StageProcessingScheduled:
		switch {
		case p.DocumentsProcessed < p.DocumentsTotal:
			return "chunking " + percent(p.DocumentsProcessed, p.DocumentsTotal)
		case p.ChunksEmbedded < p.ChunksWritten:
			return "embedding " + percent(p.ChunksEmbedded, p.ChunksWritten)
		default:
			return "indexing"
		}
	case lifecycle.StageChunksGenerated:
		return "summarising"
	default:
		return s.Stage
	}
}

// age says how long ago something happened, in its largest unit.
func age(d time.Duration) string {
	switch {
	case d < 5*time.Second:
		return "just now"
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	default:
		return fmt.Sprintf("%dd ago", int(d.Hours()/24))
	}
}

func writeJSONTo(env Env, v any) error {
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	// As the API writes it: <, > and & as themselves.
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
