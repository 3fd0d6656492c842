package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"strings"
	"unicode/utf8"

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
and prints each hit: score, document title and link to its section
(url#anchor), header path (and the other headings the chunk holds) and the
start of the text. --json prints the answer as the API returns it.

--mode vector or text runs one list alone. --rrf-k and the weights tune the
fusion: each list adds weight/(rrf-k + rank) to a hit's score. Filters
narrow the search, in both lists: --source (repeatable), --path-prefix (of
the document's URL or path), --lang (ISO 639-1, "und" for undetermined;
repeatable or comma-separated) and --meta (repeatable): key=value matches a
document whose metadata value is that string or a list holding it; a JSON
object such as '{"draft":false}' gives typed values.

A warning (chunks embedded by another model than this embedder, which the
vector list cannot see) goes to stderr.`,
		example: `
kollektiv search "how do I declare a path parameter"
kollektiv search --k 3 --json "borrow checker"
kollektiv search --mode text --path-prefix tutorial/ --meta tags=security "oauth2 scopes"`,
		flags: func(fs *flag.FlagSet, cfg *config.Config) func(context.Context, Env, []string) error {
			controls := searchControlFlags(fs)
			k := fs.Int("k", 5, "number of hits, 1 to 100")
			asJSON := fs.Bool("json", false, "print the answer as JSON")
			return func(ctx context.Context, env Env, args []string) error {
				if len(args) == 0 {
					return fmt.Errorf("%w: want a QUERY", errUsage)
				}
				if err := checkK(*k); err != nil {
					return err
				}
				q, err := controls.query(search.Query{UserID: cfg.User, Text: strings.Join(args, " "), K: *k})
				if err != nil {
					return err
				}

				a, err := app.New(ctx, cfg, cfg.Logger(env.Stderr), app.Options{})
				if err != nil {
					return err
				}
				defer func() { _ = a.Stop(context.WithoutCancel(ctx)) }()
				result, err := search.New(a.Pool, a.Embedder).Search(ctx, q)
				if err != nil {
					return err
				}
				for _, w := range result.Warnings {
					fmt.Fprintf(env.Stderr, "kollektiv search: warning: %s\n", w.Message)
				}
				if *asJSON {
					return printSearchJSON(env, result)
				}
				if len(result.Hits) == 0 {
					fmt.Fprintf(env.Stdout, "no hits for %q (user %s)\n", result.Query.Text, cfg.User)
					return nil
				}
				for i, h := range result.Hits {
					breadcrumb := strings.Join(h.Headers, " > ")
					if len(h.Headings) > 0 {
						breadcrumb += "  (also: " + strings.Join(h.Headings, "; ") + ")"
					}
					fmt.Fprintf(env.Stdout, "%d. %.4f  %s  (%s)\n   %s\n", i+1, h.Score, h.DocumentTitle, h.URL, breadcrumb)
					// The start of the text, in two lines of 80 columns.
					for _, line := range wrapWords(oneLine(h.Text), tableWidth-3, 2) {
						fmt.Fprintf(env.Stdout, "   %s\n", line)
					}
				}
				return nil
			}
		},
	}
}

// wrapWords breaks text into at most lines lines of at most width
// characters at spaces; text left over ends the last line with "...". A
// word longer than a line is cut.
func wrapWords(text string, width, lines int) []string {
	var out []string
	words := strings.Fields(text)
	for len(words) > 0 && len(out) < lines {
		line := ""
		for len(words) > 0 {
			w := words[0]
			if line == "" && utf8.RuneCountInString(w) > width {
				w = string([]rune(w)[:width])
				words[0] = string([]rune(words[0])[width:])
			} else if line != "" && utf8.RuneCountInString(line)+1+utf8.RuneCountInString(w) > width {
				break
			} else {
				words = words[1:]
			}
			if line != "" {
				line += " "
			}
			line += w
		}
		out = append(out, line)
	}
	if len(words) > 0 {
		last := []rune(out[len(out)-1])
		out[len(out)-1] = string(last[:min(len(last), width-3)]) + "..."
	}
	return out
}

// checkK refuses a --k the API refuses as k, in its words: the searcher
// would take 0 for its default.
func checkK(k int) error {
	if k < 1 || k > search.MaxK {
		return fmt.Errorf("%w: --k: want a whole number from 1 to %d, got %d", errUsage, search.MaxK, k)
	}
	return nil
}

// searchControls are the flags that shape a search beyond its text and k,
// shared by the commands that search (search, eval).
type searchControls struct {
	mode                     *string
	rrfK                     *int
	vectorWeight, textWeight *float64
	sources, langs, metas    stringList
	pathPrefix               *string
}

// searchControlFlags registers the search controls on fs.
func searchControlFlags(fs *flag.FlagSet) *searchControls {
	c := &searchControls{
		mode:         fs.String("mode", "hybrid", "lists to run: hybrid, vector or text"),
		rrfK:         fs.Int("rrf-k", search.DefaultRRFK, "rank constant of the fusion, 1 to 1000"),
		vectorWeight: fs.Float64("vector-weight", 1, "weight of the vector list in the fusion, above 0"),
		textWeight:   fs.Float64("text-weight", 1, "weight of the full-text list in the fusion, above 0"),
		pathPrefix:   fs.String("path-prefix", "", "search only documents whose URL or path starts with this"),
	}
	fs.Var(&c.sources, "source", "search only this source id (repeatable)")
	fs.Var(&c.langs, "lang", "search only chunks in this language, such as en (repeatable)")
	fs.Var(&c.metas, "meta", "search only documents with this metadata: key=value or a JSON object (repeatable)")
	return c
}

// query returns q with the controls set, or a usage error naming the flag
// that is wrong. The searcher validates the rest, as it does for the API.
func (c *searchControls) query(q search.Query) (search.Query, error) {
	for name, w := range map[string]float64{"--vector-weight": *c.vectorWeight, "--text-weight": *c.textWeight} {
		if !(w > 0) {
			return q, fmt.Errorf("%w: %s %v: want a weight above 0 (--mode leaves a list out)", errUsage, name, w)
		}
	}
	if *c.rrfK < 1 {
		// Zero would mean the default to the searcher.
		return q, fmt.Errorf("%w: --rrf-k %d: want a rank constant from 1 to %d", errUsage, *c.rrfK, search.MaxRRFK)
	}
	q.Mode, q.RRFK, q.VectorWeight, q.TextWeight = search.Mode(*c.mode), *c.rrfK, *c.vectorWeight, *c.textWeight
	q.PathPrefix = *c.pathPrefix
	for _, s := range c.sources {
		id, err := uuid.Parse(s)
		if err != nil {
			return q, fmt.Errorf("%w: --source %q is not a source id", errUsage, s)
		}
		q.SourceIDs = append(q.SourceIDs, id)
	}
	for _, l := range c.langs {
		for part := range strings.SplitSeq(l, ",") {
			q.Languages = append(q.Languages, strings.TrimSpace(part))
		}
	}
	metadata, err := metadataFilter(c.metas)
	if err != nil {
		return q, fmt.Errorf("%w: %w", errUsage, err)
	}
	q.Metadata = metadata
	return q, nil
}

// printSearchJSON prints a search's answer as the API answers it.
func printSearchJSON(env Env, result search.Result) error {
	return writeJSONTo(env, result.Response())
}

// metadataFilter merges --meta values into one JSON object: key=value
// gives the string value, a JSON object its keys. A key given twice is an
// error rather than a silent choice.
func metadataFilter(metas []string) (json.RawMessage, error) {
	if len(metas) == 0 {
		return nil, nil
	}
	merged := map[string]json.RawMessage{}
	add := func(key string, value json.RawMessage) error {
		if _, ok := merged[key]; ok {
			return fmt.Errorf("--meta: key %q given twice", key)
		}
		merged[key] = value
		return nil
	}
	for _, m := range metas {
		if strings.HasPrefix(strings.TrimSpace(m), "{") {
			var object map[string]json.RawMessage
			dec := json.NewDecoder(strings.NewReader(m))
			if err := dec.Decode(&object); err != nil || dec.More() {
				return nil, fmt.Errorf("--meta %s: not a JSON object", m)
			}
			for key, value := range object {
				if err := add(key, value); err != nil {
					return nil, err
				}
			}
			continue
		}
		key, value, ok := strings.Cut(m, "=")
		if !ok || key == "" {
			return nil, fmt.Errorf("--meta %q: want key=value or a JSON object", m)
		}
		quoted, err := json.Marshal(value)
		if err != nil {
			return nil, fmt.Errorf("--meta %q: %w", m, err)
		}
		if err := add(key, quoted); err != nil {
			return nil, err
		}
	}
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(merged); err != nil {
		return nil, fmt.Errorf("--meta: %w", err)
	}
	return bytes.TrimSpace(buf.Bytes()), nil
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}
