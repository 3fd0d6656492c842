package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/kollektiv/kollektiv/internal/app"
	"github.com/kollektiv/kollektiv/internal/config"
	"github.com/kollektiv/kollektiv/internal/content"
	"github.com/kollektiv/kollektiv/internal/events"
	"github.com/kollektiv/kollektiv/internal/ingest"
	"github.com/kollektiv/kollektiv/internal/lifecycle"
	"github.com/kollektiv/kollektiv/internal/store"
)

func ingestCommand() command {
	return command{
		name:         "ingest",
		usesDatabase: true,
		args:         "PATH|URL",
		summary:      "ingest a file, a directory or a web site; --wait follows it to the end",
		help: `
Loads the documents of PATH (a file or a directory tree of .md, .markdown,
.mdx, .txt, .html and .htm files) or URL (a page, or a same-site crawl with
--max-pages above 1), stores them as a source and schedules its processing,
then prints the source id. Workers (` + "`kollektiv worker`" + ` or ` + "`serve`" + `) do the work.

Ingesting the same PATH or URL again refreshes the source: unchanged
documents are skipped, changed ones processed again, vanished ones removed.
Files that cannot be loaded (binary, invalid UTF-8, too large, empty) are
recorded as failed documents with their reason; the others go on.

With --wait the command follows the source's events until it completes
(exit 0) or fails (exit 1): on a terminal as progress bars (documents
chunked, chunks embedded, the stage, elapsed time and an estimate), else as
one line per event. With --json it prints one final JSON object:
source_id, stage, documents, chunks, failed_documents.`,
		example: `
kollektiv ingest ./docs --wait
kollektiv ingest https://example.com/docs/ --max-pages 200 --wait --json
kollektiv ingest README.md --user alice`,
		settings: []string{"database-url", "local-postgres", "data-dir", "log-level", "log-format", "user"},
		flags: func(fs *flag.FlagSet, cfg *config.Config) func(context.Context, Env, []string) error {
			wait := fs.Bool("wait", false, "follow the source's events until it completes or fails")
			asJSON := fs.Bool("json", false, "print one final JSON object instead of lines")
			maxPages := fs.Int("max-pages", 50, "URL: most pages to crawl (1 fetches just the page)")
			maxDepth := fs.Int("max-depth", 0, "URL: most link hops from the start page; 0 means no limit")
			allowPrivate := fs.Bool("allow-private", false, "URL: allow crawling private and loopback addresses")
			return func(ctx context.Context, env Env, args []string) error {
				if len(args) != 1 {
					return fmt.Errorf("%w: want one PATH or URL", errUsage)
				}
				target := args[0]
				params := ingest.AddParams{UserID: cfg.User}
				var err error
				if strings.HasPrefix(target, "http://") || strings.HasPrefix(target, "https://") {
					opts := content.CrawlOptions{MaxPages: *maxPages, MaxDepth: *maxDepth, AllowPrivate: *allowPrivate}
					params.Kind, params.URI, params.Options = ingest.KindURL, target, opts
					params.Documents, params.Problems, err = content.Crawl(ctx, target, opts)
				} else {
					if target, err = filepath.Abs(target); err != nil {
						return fmt.Errorf("error resolving %s: %w", args[0], err)
					}
					params.Kind, params.URI = ingest.KindFiles, target
					params.Documents, params.Problems, err = content.LoadPath(ctx, target, content.LoadOptions{})
				}
				if err != nil {
					return err
				}
				if len(params.Documents) == 0 && len(params.Problems) == 0 {
					return fmt.Errorf("no documents found at %s", args[0])
				}

				a, err := app.New(ctx, cfg, cfg.Logger(env.Stderr), app.Options{})
				if err != nil {
					return err
				}
				defer func() { _ = a.Stop(context.WithoutCancel(ctx)) }()
				svc := ingest.Service{Pool: a.Pool, River: a.River}
				added, err := svc.Add(ctx, params)
				if err != nil {
					return err
				}
				source := added.Source
				if !*asJSON {
					verb := "created"
					if added.Refreshed {
						verb = "refreshed"
					}
					fmt.Fprintf(env.Stdout, "source %s %s: %d documents, %d could not be loaded\n", source.ID, verb, len(params.Documents), len(params.Problems))
					for _, p := range params.Problems {
						fmt.Fprintf(env.Stdout, "  not loaded: %v\n", p)
					}
				}
				if *wait {
					if err := followSource(ctx, env, a, source.ID, source.Generation, *asJSON); err != nil {
						return err
					}
					if source, err = a.Queries.GetSourceByID(ctx, source.ID); err != nil {
						return fmt.Errorf("error reading source: %w", err)
					}
				}
				if *asJSON {
					if err := printSourceJSON(env, source); err != nil {
						return err
					}
				}
				if *wait && lifecycle.StageOf(source) == lifecycle.StageFailed {
					return exitError{code: 1}
				}
				return nil
			}
		},
	}
}

// followSource follows the source generation's events until a terminal
// one: as redrawn progress bars on a terminal, as one line per event
// otherwise, or silently (quiet).
func followSource(ctx context.Context, env Env, a *app.App, sourceID uuid.UUID, generation int32, quiet bool) error {
	start := time.Now()
	var view *progressView
	if !quiet && isTerminal(env.Stdout) {
		view = newProgressView(env.Stdout, time.Now)
	}
	return events.Follow(ctx, a.Pool, sourceID, 0, 500*time.Millisecond, func(e events.Event) (bool, error) {
		if e.Generation != generation {
			return false, nil
		}
		switch {
		case view != nil:
			view.event(e)
		case !quiet:
			fmt.Fprintf(env.Stdout, "%6.1fs  %-20s %s\n", time.Since(start).Seconds(), e.Stage, describeEvent(e))
		}
		return e.Stage.Terminal(), nil
	})
}

func describeEvent(e events.Event) string {
	var p map[string]any
	if json.Unmarshal(e.Payload, &p) != nil {
		return string(e.Payload)
	}
	num := func(k string) string { return fmt.Sprint(p[k]) }
	switch e.Stage {
	case lifecycle.StageProgress:
		return fmt.Sprintf("documents %s/%s, chunks embedded %s/%s", num("documents_processed"), num("documents_total"), num("chunks_embedded"), num("chunks_written"))
	case lifecycle.StageSummaryGenerated:
		return fmt.Sprintf("keywords %v", p["keywords"])
	case lifecycle.StageFailed:
		return fmt.Sprint(p["error"])
	default:
		parts := []string{}
		for _, k := range []string{"documents", "batches", "chunks", "failed_documents"} {
			if v, ok := p[k]; ok {
				if _, isList := v.([]any); isList {
					v = len(v.([]any))
				}
				parts = append(parts, fmt.Sprintf("%s %v", strings.ReplaceAll(k, "_", " "), v))
			}
		}
		return strings.Join(parts, ", ")
	}
}

func printSourceJSON(env Env, s store.Source) error {
	out := map[string]any{
		"source_id": s.ID, "stage": s.Stage, "documents": s.DocumentCount,
		"chunks": s.ChunkCount, "failed_documents": s.FailedDocumentCount,
	}
	if s.Error != nil {
		out["error"] = *s.Error
	}
	enc := json.NewEncoder(env.Stdout)
	if err := enc.Encode(out); err != nil {
		return errors.Join(errors.New("error writing JSON"), err)
	}
	return nil
}
