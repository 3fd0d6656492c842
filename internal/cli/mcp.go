package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/kollektiv/kollektiv/internal/app"
	"github.com/kollektiv/kollektiv/internal/config"
	"github.com/kollektiv/kollektiv/internal/ingest"
	"github.com/kollektiv/kollektiv/internal/mcpserver"
	"github.com/kollektiv/kollektiv/internal/search"
)

func mcpCommand() command {
	return command{
		name:         "mcp",
		usesDatabase: true,
		summary:      "serve the knowledge base of --user to an MCP client (agent, IDE) over stdio",
		settings: []string{
			"database-url", "log-level", "log-format", "user", "embedder", "embedding-dimensions", "embedding-model",
			"openai-base-url", "openai-api-key", "api-max-crawl-pages", "crawl-allow-private",
		},
		help: `
Speaks the Model Context Protocol on stdin and stdout, for an MCP client that
starts it (Claude Desktop, an IDE, an agent): tools to search the chunks of
--user, list and show sources and documents, add a web site (ingest_url) and
refresh a source, and each document as the resource kollektiv://documents/{id}.
Logs go to stderr; stdout carries the protocol alone. Ingestion runs on the
workers of ` + "`kollektiv serve`" + ` or ` + "`kollektiv worker`" + `, not in this process.

The API serves the same tools over HTTP at /mcp, for the user of the API key
each request carries.`,
		example: `
kollektiv mcp --user alice
KOLLEKTIV_USER=alice DATABASE_URL=postgres://... kollektiv mcp`,
		flags: func(_ *flag.FlagSet, cfg *config.Config) func(context.Context, Env, []string) error {
			return func(ctx context.Context, env Env, args []string) error {
				if len(args) > 0 {
					return fmt.Errorf("%w: mcp takes no arguments", errUsage)
				}
				logger := cfg.Logger(env.Stderr)
				a, err := app.New(ctx, cfg, logger, app.Options{})
				if err != nil {
					return err
				}
				defer func() { _ = a.Stop(context.WithoutCancel(ctx)) }()
				searcher := search.New(a.Pool, a.Embedder)
				srv, err := mcpserver.New(mcpserver.Config{
					Queries: a.Queries,
					Search: func(ctx context.Context, q search.Query) (search.Result, error) {
						result, err := searcher.Search(ctx, q)
						for _, w := range result.Warnings {
							logger.WarnContext(ctx, "search warning", slog.String("user_id", q.UserID), slog.String("code", w.Code), slog.String("warning", w.Message))
						}
						return result, err
					},
					Ingest:  &ingest.Service{Pool: a.Pool, River: a.River, Logger: logger},
					Crawl:   ingest.CrawlLimits{MaxPages: cfg.APIMaxCrawlPages, AllowPrivate: cfg.CrawlAllowPrivate},
					User:    cfg.User,
					Version: Version(),
					Logger:  logger,
				})
				if err != nil {
					return err
				}
				logger.InfoContext(ctx, "MCP server on stdio", slog.String("user_id", cfg.User))
				err = srv.Run(ctx, &mcp.IOTransport{Reader: io.NopCloser(env.Stdin), Writer: nopWriteCloser{env.Stdout}})
				if err == nil || errors.Is(err, io.EOF) || errors.Is(err, mcp.ErrConnectionClosed) || ctx.Err() != nil {
					return nil // the client left, or we were told to stop
				}
				return fmt.Errorf("error serving MCP: %w", err)
			}
		},
	}
}

// nopWriteCloser is a writer whose Close leaves it open: stdout outlives
// the MCP connection.
type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
