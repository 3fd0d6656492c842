package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strings"

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

In a directory, files with other extensions and directories whose name
starts with a dot (.git, .github; walked with --include-hidden) are
skipped, and listed with their reason. Files whose name starts with a dot
are loaded like the others. A symbolic link whose target is outside PATH is
not read and is recorded as a failed document, unless
--follow-external-links; links inside PATH are followed. A refresh (the
API's or ` + "`sources refresh`" + `) never follows links outside PATH.

With --wait the command follows the source's events until it completes
(exit 0) or fails (exit 1). On a terminal it keeps one status line, cut to
the terminal's width: the stage running (chunking, embedding, building the
search index, summarising), documents chunked and chunks embedded, their
rates, the elapsed time and, once the pace is known, the time left; stage
events are printed above it. Elsewhere it prints each stage event and a
progress line at most every 5 s. When nothing happens for
--no-worker-notice and no worker is alive, it says how to start one
(` + "`kollektiv worker`" + ` or ` + "`serve`" + `) and goes on waiting. With --json it prints one final JSON object:
source_id, stage, documents, chunks, failed_documents, and skipped (a
list of {path, reason}). A lost database connection (a PostgreSQL restart)
is said once on stderr; the command reconnects with backoff and resumes
where it was. Ctrl-C stops following (exit 130), not the source: ` + "`kollektiv sources watch ID`" + ` follows it again.`,
		example: `
kollektiv ingest ./docs --wait
kollektiv ingest https://example.com/docs/ --max-pages 200 --wait --json
kollektiv ingest README.md --user alice`,
		settings: []string{"database-url", "local-postgres", "data-dir", "log-level", "log-format", "user", "no-worker-notice", "check-worker-within"},
		flags: func(fs *flag.FlagSet, cfg *config.Config) func(context.Context, Env, []string) error {
			wait := fs.Bool("wait", false, "follow the source's events until it completes or fails")
			asJSON := fs.Bool("json", false, "print one final JSON object instead of lines")
			maxPages := fs.Int("max-pages", 50, "URL: most pages to crawl (1 fetches just the page)")
			maxDepth := fs.Int("max-depth", 0, "URL: most link hops from the start page; 0 means no limit")
			allowPrivate := fs.Bool("allow-private", false, "URL: allow crawling private and loopback addresses")
			followLinks := fs.Bool("follow-external-links", false, "PATH: also read symbolic links whose target is outside PATH")
			includeHidden := fs.Bool("include-hidden", false, "PATH: also walk directories whose name starts with a dot (.git, .github)")
			return func(ctx context.Context, env Env, args []string) error {
				if len(args) != 1 {
					return fmt.Errorf("%w: want one PATH or URL", errUsage)
				}
				target := args[0]
				params := ingest.AddParams{UserID: cfg.User}
				var skipped []content.Skipped
				if strings.HasPrefix(target, "http://") || strings.HasPrefix(target, "https://") {
					// A crawl_source job crawls it, as for the API: the
					// workers fetch the pages, not this process.
					crawl := ingest.CrawlSettings{MaxPages: *maxPages, MaxDepth: *maxDepth, AllowPrivate: *allowPrivate}
					if err := crawl.Validate(); err != nil {
						return fmt.Errorf("%w: %w", errUsage, err)
					}
					if err := content.ValidateCrawl(target, crawl.ContentOptions()); err != nil {
						return fmt.Errorf("%w: %w", errUsage, err)
					}
					params.Kind, params.URI, params.Crawl = ingest.KindURL, target, &crawl
				} else {
					var err error
					if target, err = filepath.Abs(target); err != nil {
						return fmt.Errorf("error resolving %s: %w", args[0], err)
					}
					params.Kind, params.URI = ingest.KindFiles, target
					load := content.LoadOptions{FollowExternalLinks: *followLinks, IncludeHidden: *includeHidden}
					// Nothing to load is said before connecting anywhere.
					found, skippedAll, err := anyDocument(ctx, target, load)
					if err != nil {
						return err
					}
					if !found {
						return fmt.Errorf("no documents found at %s (%s)", args[0], describeSkipped(skippedAll, 0))
					}
					// The files are read in Add's transaction and written in
					// batches as they are read: the tree is never held in
					// memory, only the names of what could not be loaded.
					params.Stream = func(ctx context.Context, emit content.Visit) error {
						var err error
						skipped, err = content.Walk(ctx, target, load, emit)
						return err
					}
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
					if params.Crawl != nil {
						fmt.Fprintf(env.Stdout, "source %s %s: crawling %s, up to %d pages\n", source.ID, verb, target, params.Crawl.MaxPages)
					} else {
						fmt.Fprintf(env.Stdout, "source %s %s: %d documents, %d could not be loaded\n", source.ID, verb, added.Documents, len(added.Problems))
					}
					for _, p := range added.Problems {
						fmt.Fprintf(env.Stdout, "  not loaded: %v\n", p)
					}
					if len(skipped) > 0 {
						fmt.Fprintf(env.Stdout, "  %s\n", describeSkipped(skipped, 3))
					}
				}
				if *wait {
					ended, err := followSource(ctx, env, a, cfg, "ingest", source.ID, source.Generation, *asJSON)
					if err != nil {
						return stoppedFollowing(ctx, env, "ingest", source.ID, err)
					}
					source = ended
				}
				if *asJSON {
					if err := printSourceJSON(env, source, skipped); err != nil {
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

// errFound stops anyDocument's walk at the first file it loads.
var errFound = errors.New("found a document")

// anyDocument reports whether a walk of root with opts loads anything, a
// document or a problem, stopping at the first; when it does not, skipped
// are all the entries it left out, for the message.
func anyDocument(ctx context.Context, root string, opts content.LoadOptions) (bool, []content.Skipped, error) {
	skipped, err := content.Walk(ctx, root, opts, func(*content.Document, *content.DocumentError) error { return errFound })
	if errors.Is(err, errFound) {
		return true, nil, nil
	}
	return false, skipped, err
}

func describeEvent(e events.Event) string {
	var p map[string]any
	if json.Unmarshal(e.Payload, &p) != nil {
		return string(e.Payload)
	}
	num := func(k string) string { return fmt.Sprint(p[k]) }
	switch e.Stage {
	case lifecycle.StageProgress:
		if _, crawling := p["pages_fetched"]; crawling {
			return fmt.Sprintf("pages fetched %s/%s, documents %s", num("pages_fetched"), num("pages_limit"), num("documents"))
		}
		return fmt.Sprintf("documents %s/%s, chunks embedded %s/%s", num("documents_processed"), num("documents_total"), num("chunks_embedded"), num("chunks_written"))
	case lifecycle.StageSummaryGenerated:
		return fmt.Sprintf("keywords %v", p["keywords"])
	case lifecycle.StageFailed:
		return fmt.Sprint(p["error"])
	default:
		parts := []string{}
		for _, k := range []string{"url", "pages_limit", "pages_fetched", "documents", "batches", "chunks", "failed_documents"} {
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

// printSourceJSON prints the final object of `ingest --json`; skipped are
// the entries of a directory walk left out on purpose, always a list.
func printSourceJSON(env Env, s store.Source, skipped []content.Skipped) error {
	out := map[string]any{
		"source_id": s.ID, "stage": s.Stage, "documents": s.DocumentCount,
		"chunks": s.ChunkCount, "failed_documents": s.FailedDocumentCount,
		"skipped": skipped,
	}
	if skipped == nil {
		out["skipped"] = []content.Skipped{}
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

// describeSkipped summarises a walk's skipped entries by reason, in order of
// first appearance, with up to examples paths each: "skipped 41 entries:
// 40 extension not loaded (...): logo.png, app.js, ...; 1 hidden directory
// (...): .git".
func describeSkipped(skipped []content.Skipped, examples int) string {
	if len(skipped) == 0 {
		return "nothing skipped"
	}
	var reasons []string
	byReason := map[string][]string{}
	for _, s := range skipped {
		if _, ok := byReason[s.Reason]; !ok {
			reasons = append(reasons, s.Reason)
		}
		byReason[s.Reason] = append(byReason[s.Reason], s.Path)
	}
	parts := make([]string, 0, len(reasons))
	for _, r := range reasons {
		paths := byReason[r]
		part := fmt.Sprintf("%d %s", len(paths), r)
		if examples > 0 {
			shown := paths[:min(examples, len(paths))]
			part += ": " + strings.Join(shown, ", ")
			if len(paths) > len(shown) {
				part += ", ..."
			}
		}
		parts = append(parts, part)
	}
	noun := "entries"
	if len(skipped) == 1 {
		noun = "entry"
	}
	return fmt.Sprintf("skipped %d %s: %s", len(skipped), noun, strings.Join(parts, "; "))
}
