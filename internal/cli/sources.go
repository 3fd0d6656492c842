package cli

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"strings"
	"text/tabwriter"

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

  ls           the sources, newest first: id, stage, documents, chunks, failed
  show ID      one source: stage, counts, progress, summary, failed documents
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

--json prints what the API would return.`,
		example: `
kollektiv sources ls
kollektiv sources show 0b6f4f2e-8c1d-4f4a-9a77-5d2b1c3e9f10
kollektiv sources docs 0b6f4f2e-8c1d-4f4a-9a77-5d2b1c3e9f10 --status failed
kollektiv sources watch 0b6f4f2e-8c1d-4f4a-9a77-5d2b1c3e9f10 --json
kollektiv sources rm 0b6f4f2e-8c1d-4f4a-9a77-5d2b1c3e9f10`,
		flags: func(fs *flag.FlagSet, cfg *config.Config) func(context.Context, Env, []string) error {
			asJSON := fs.Bool("json", false, "print JSON")
			limit := fs.Int("limit", 0, fmt.Sprintf("ls: most sources to list (default 50); docs: documents of a page (default %d, at most %d)", documents.DefaultLimit, documents.MaxLimit))
			status := fs.String("status", "", "docs: only documents of this status (pending, chunked, embedded, failed)")
			cursor := fs.String("cursor", "", "docs: continue where the last page ended")
			return func(ctx context.Context, env Env, args []string) error {
				if err := checkSubcommand(args, "ls", "show", "docs", "watch", "rm", "retry", "refresh"); err != nil {
					return err
				}
				action := args[0]
				var id uuid.UUID
				if action != "ls" {
					if len(args) != 2 {
						return fmt.Errorf("%w: sources %s needs a source id", errUsage, action)
					}
					var err error
					if id, err = uuid.Parse(args[1]); err != nil {
						return fmt.Errorf("%w: %q is not a source id", errUsage, args[1])
					}
				}
				a, err := app.New(ctx, cfg, cfg.Logger(env.Stderr), app.Options{})
				if err != nil {
					return err
				}
				defer func() { _ = a.Stop(context.WithoutCancel(ctx)) }()
				svc := &ingest.Service{Pool: a.Pool, River: a.River}
				switch action {
				case "ls":
					rows, err := a.Queries.ListSources(ctx, store.ListSourcesParams{UserID: cfg.User, MaxRows: int32(cmp.Or(*limit, 50))})
					if err != nil {
						return fmt.Errorf("error listing sources: %w", err)
					}
					if *asJSON {
						return writeJSONTo(env, rows)
					}
					tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
					fmt.Fprintln(tw, "ID\tSTAGE\tDOCUMENTS\tCHUNKS\tFAILED\tKIND\tURI")
					for _, s := range rows {
						fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%s\t%s\n", s.ID, s.Stage, s.DocumentCount, s.ChunkCount, s.FailedDocumentCount, s.Kind, s.URI)
					}
					return tw.Flush()
				case "show":
					return showSource(ctx, env, a, cfg.User, id, *asJSON)
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

func showSource(ctx context.Context, env Env, a *app.App, user string, id uuid.UUID, asJSON bool) error {
	source, err := a.Queries.GetSource(ctx, store.GetSourceParams{ID: id, UserID: user})
	if err != nil {
		return notFound(err, id)
	}
	summary, err := a.Queries.GetSummary(ctx, id)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("error reading summary: %w", err)
	}
	failed, err := a.Queries.ListFailedDocuments(ctx, id)
	if err != nil {
		return fmt.Errorf("error listing failed documents: %w", err)
	}
	if asJSON {
		return writeJSONTo(env, map[string]any{"source": source, "summary": summary, "failed": failed})
	}
	w := env.Stdout
	fmt.Fprintf(w, "source     %s (%s %s)\n", source.ID, source.Kind, source.URI)
	fmt.Fprintf(w, "stage      %s (generation %d)\n", source.Stage, source.Generation)
	fmt.Fprintf(w, "documents  %d (%d failed), chunks %d\n", source.DocumentCount, source.FailedDocumentCount, source.ChunkCount)
	fmt.Fprintf(w, "progress   documents %d/%d, chunks embedded %d/%d\n", source.DocumentsProcessed, source.DocumentsScheduled, source.ChunksEmbedded, source.ChunksWritten)
	if source.Error != nil {
		fmt.Fprintf(w, "error      %s\n", *source.Error)
	}
	if summary.Summary != "" {
		fmt.Fprintf(w, "keywords   %s\nsummary    %s\n", strings.Join(summary.Keywords, ", "), summary.Summary)
	}
	for _, f := range failed {
		reason := ""
		if f.Error != nil {
			reason = *f.Error
		}
		fmt.Fprintf(w, "failed     %s: %s\n", f.URL, reason)
	}
	return nil
}

func writeJSONTo(env Env, v any) error {
	enc := json.NewEncoder(env.Stdout)
	enc.SetIndent("", "  ")
	// As the API writes it: <, > and & as themselves.
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}
