package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/kollektiv/kollektiv/internal/app"
	"github.com/kollektiv/kollektiv/internal/config"
	"github.com/kollektiv/kollektiv/internal/search"
)

func searchCommand() command {
	return command{
		name:         "search",
		usesDatabase: true,
		args:         "QUERY",
		summary:      "hybrid search of a user's chunks (vector kNN and full text, fused)",
		settings:     []string{"database-url", "log-level", "log-format", "user", "embedder", "embedding-dimensions", "embedding-model", "openai-base-url", "openai-api-key"},
		help: `
Searches the chunks of --user with the configured embedder (it must be the
one the chunks were embedded with) and full text, fused by reciprocal rank,
and prints each hit: score, document title and URL, header path and the
start of the text. --json prints the hits as the API returns them.`,
		example: `
kollektiv search "how do I declare a path parameter"
kollektiv search --k 3 --json "borrow checker"`,
		flags: func(fs *flag.FlagSet, cfg *config.Config) func(context.Context, Env, []string) error {
			k := fs.Int("k", 5, "number of hits, 1 to 100")
			sourceFlag := fs.String("source", "", "search only this source id")
			asJSON := fs.Bool("json", false, "print the hits as JSON")
			return func(ctx context.Context, env Env, args []string) error {
				if len(args) == 0 {
					return fmt.Errorf("%w: want a QUERY", errUsage)
				}
				q := search.Query{UserID: cfg.User, Text: strings.Join(args, " "), K: *k}
				if *sourceFlag != "" {
					id, err := uuid.Parse(*sourceFlag)
					if err != nil {
						return fmt.Errorf("%w: --source %q is not a source id", errUsage, *sourceFlag)
					}
					q.SourceID = uuid.NullUUID{UUID: id, Valid: true}
				}
				a, err := app.New(ctx, cfg, cfg.Logger(env.Stderr), app.Options{})
				if err != nil {
					return err
				}
				defer func() { _ = a.Stop(context.WithoutCancel(ctx)) }()
				hits, err := search.New(a.Pool, a.Embedder).Search(ctx, q)
				if err != nil {
					return err
				}
				if *asJSON {
					enc := json.NewEncoder(env.Stdout)
					enc.SetIndent("", "  ")
					return enc.Encode(hits)
				}
				if len(hits) == 0 {
					fmt.Fprintf(env.Stdout, "no hits for %q (user %s)\n", q.Text, cfg.User)
					return nil
				}
				for i, h := range hits {
					text := strings.Join(strings.Fields(h.Text), " ")
					if len(text) > 160 {
						text = text[:157] + "..."
					}
					fmt.Fprintf(env.Stdout, "%d. %.4f  %s  (%s)\n   %s\n   %s\n", i+1, h.Score, h.DocumentTitle, h.DocumentURL, strings.Join(h.Headers, " > "), text)
				}
				return nil
			}
		},
	}
}
