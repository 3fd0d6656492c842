package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/kollektiv/kollektiv/internal/app"
	"github.com/kollektiv/kollektiv/internal/config"
	"github.com/kollektiv/kollektiv/internal/derr"
	"github.com/kollektiv/kollektiv/internal/eval"
	"github.com/kollektiv/kollektiv/internal/search"
	"github.com/kollektiv/kollektiv/internal/store"
)

// exitBelowMinimum is the exit status of an evaluation whose figures are
// below a --min threshold, apart from 1 (it could not run) and 2 (bad
// input) so that CI can tell them apart.
const exitBelowMinimum = 10

// minimum is one --min METRIC=VALUE.
type minimum struct {
	metric string
	value  float64
}

func evalCommand() command {
	return command{
		name:         "eval",
		usesDatabase: true,
		args:         "QUESTIONS_FILE | --headings --source ID",
		summary:      "measure search quality on labelled questions (Recall@1/5/10, MRR@10, nDCG@10)",
		settings:     []string{"database-url", "log-level", "log-format", "user", "embedder", "embedding-dimensions", "embedding-model", "openai-base-url", "openai-api-key"},
		help: `
Asks each labelled question with the same search as the API (the chunks of
--user, the configured embedder) and prints Recall@1, @5 and @10, MRR@10 and
nDCG@10, with every question not answered first: what it expected and what
ranked first. A hit answers a question when its document URL is the expected
document (or one ends with the other after a "/") and, when the question
names a heading, its chunk holds that heading. See docs/RETRIEVAL.md.

QUESTIONS_FILE ("-" for standard input) is JSONL, one
{"query": ..., "document": ..., "heading": ...} a line (heading optional), or
TSV, query<TAB>document[<TAB>heading]; blank lines and lines starting with #
are skipped. A bad line exits 2 naming it.

--headings asks instead, for the source given with --source, every section
heading that is unique within it, expecting its own section: every section
should be found first by its own heading. --write-questions saves that set.

Exit status: 0; 2 for a bad questions file or flag; 3 for an unknown source;
10 when a figure is below its --min; 1 when the evaluation could not run.`,
		example: `
kollektiv eval docs/eval/corpus-dev.jsonl
kollektiv eval --source 0f6c... --min recall@5=0.5 --json questions.tsv
kollektiv eval --headings --source 0f6c...`,
		flags: func(fs *flag.FlagSet, cfg *config.Config) func(context.Context, Env, []string) error {
			k := fs.Int("k", search.DefaultK, "hits per question, 1 to 100, as the API's k (figures at 10 count only k hits when k < 10)")
			controls := searchControlFlags(fs)
			headings := fs.Bool("headings", false, "ask every heading unique within the --source, expecting its own section")
			writeQuestions := fs.String("write-questions", "", "with --headings, also write the questions asked to this JSONL file")
			var mins []minimum
			fs.Func("min", "METRIC=VALUE: exit 10 when METRIC (recall@1, recall@5, recall@10, mrr@10, ndcg@10) is below VALUE (repeatable)", func(s string) error {
				m, err := parseMinimum(s)
				if err != nil {
					return err
				}
				mins = append(mins, m)
				return nil
			})
			asJSON := fs.Bool("json", false, "print the whole report, every question included, as JSON")
			misses := fs.Bool("misses", true, "list the questions not answered first")
			return func(ctx context.Context, env Env, args []string) error {
				if err := checkK(*k); err != nil {
					return err
				}
				template, err := controls.query(search.Query{UserID: cfg.User, K: *k})
				if err != nil {
					return err
				}
				sources := template.SourceIDs
				if *writeQuestions != "" && !*headings {
					return fmt.Errorf("%w: --write-questions needs --headings", errUsage)
				}
				var questions []eval.Question
				var file string
				switch {
				case *headings && len(args) > 0:
					return fmt.Errorf("%w: --headings generates its questions; give no QUESTIONS_FILE", errUsage)
				case *headings && len(sources) == 0:
					return fmt.Errorf("%w: --headings needs the --source whose headings to ask", errUsage)
				case !*headings && len(args) != 1:
					return fmt.Errorf("%w: want one QUESTIONS_FILE", errUsage)
				case !*headings:
					file = args[0]
					var err error
					if questions, err = readQuestionsFile(env, file); err != nil {
						return err
					}
				}

				a, err := app.New(ctx, cfg, cfg.Logger(env.Stderr), app.Options{})
				if err != nil {
					return err
				}
				defer func() { _ = a.Stop(context.WithoutCancel(ctx)) }()
				if *headings {
					if questions, err = headingQuestions(ctx, a.Queries, cfg.User, sources); err != nil {
						return err
					}
					if *writeQuestions != "" {
						if err := writeQuestionsFile(*writeQuestions, questions); err != nil {
							return err
						}
					}
				}

				searcher := search.New(a.Pool, a.Embedder)
				report, err := eval.Run(ctx, questions, func(ctx context.Context, text string) ([]search.Hit, error) {
					q := template
					q.Text = text
					result, err := searcher.Search(ctx, q)
					return result.Hits, err
				})
				if err != nil {
					return err
				}

				out := evalOutput{
					File: file, Headings: *headings, User: cfg.User, Sources: sources, K: *k,
					Embedder: fmt.Sprintf("%s (%d dimensions)", a.Embedder.Model(), a.Embedder.Dimensions()),
					Report:   report,
				}
				if out.Sources == nil {
					out.Sources = []uuid.UUID{}
				}
				if *asJSON {
					enc := json.NewEncoder(env.Stdout)
					enc.SetIndent("", "  ")
					enc.SetEscapeHTML(false)
					if err := enc.Encode(out); err != nil {
						return err
					}
				} else {
					printEval(env.Stdout, out, *misses)
				}
				return checkMinimums(env.Stderr, report.Metrics, mins)
			}
		},
	}
}

func parseMinimum(s string) (minimum, error) {
	name, value, ok := strings.Cut(s, "=")
	if !ok {
		return minimum{}, fmt.Errorf("want METRIC=VALUE, got %q", s)
	}
	if _, err := (eval.Metrics{}).Get(name); err != nil {
		return minimum{}, err
	}
	v, err := strconv.ParseFloat(value, 64)
	if err != nil || v < 0 || v > 1 {
		return minimum{}, fmt.Errorf("the minimum of %s must be a number from 0 to 1, got %q", name, value)
	}
	return minimum{metric: strings.ToLower(name), value: v}, nil
}

// checkMinimums says on w which figures are below their minimum and returns
// the exit status for it.
func checkMinimums(w io.Writer, m eval.Metrics, mins []minimum) error {
	below := false
	for _, floor := range mins {
		got, _ := m.Get(floor.metric) // parseMinimum checked the name
		if got < floor.value {
			fmt.Fprintf(w, "kollektiv eval: %s is %.3f, below the minimum %.3f\n", floor.metric, got, floor.value)
			below = true
		}
	}
	if below {
		return exitError{code: exitBelowMinimum}
	}
	return nil
}

func readQuestionsFile(env Env, name string) ([]eval.Question, error) {
	r := env.Stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, derr.Wrap(derr.Invalid, fmt.Errorf("error opening the questions file: %w", err))
		}
		defer func() { _ = f.Close() }()
		r = f
	}
	questions, err := eval.ReadQuestions(r, name)
	if errors.Is(err, eval.ErrBadQuestions) {
		return nil, derr.Wrap(derr.Invalid, err)
	}
	return questions, err
}

func writeQuestionsFile(name string, questions []eval.Question) error {
	f, err := os.Create(name)
	if err != nil {
		return fmt.Errorf("error creating %s: %w", name, err)
	}
	if err := eval.WriteQuestions(f, questions); err != nil {
		_ = f.Close()
		return fmt.Errorf("error writing %s: %w", name, err)
	}
	return f.Close()
}

// headingQuestions generates the exact-heading questions of the user's
// sources.
func headingQuestions(ctx context.Context, queries *store.Queries, user string, sources []uuid.UUID) ([]eval.Question, error) {
	var questions []eval.Question
	for _, id := range sources {
		if _, err := queries.GetSource(ctx, store.GetSourceParams{ID: id, UserID: user}); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return nil, derr.New(derr.NotFound, fmt.Sprintf("no source %s for this user", id))
			}
			return nil, fmt.Errorf("error reading source %s: %w", id, err)
		}
		rows, err := queries.ListSourceDocumentContents(ctx, store.ListSourceDocumentContentsParams{SourceID: id, UserID: user})
		if err != nil {
			return nil, fmt.Errorf("error reading the documents of source %s: %w", id, err)
		}
		docs := make([]eval.SourceDocument, len(rows))
		for i, r := range rows {
			docs[i] = eval.SourceDocument{URL: r.URL, Content: r.Content}
		}
		generated := eval.HeadingQuestions(docs)
		if len(generated) == 0 {
			return nil, derr.New(derr.Invalid, fmt.Sprintf("source %s has no heading that is unique within it (%d documents)", id, len(docs)))
		}
		questions = append(questions, generated...)
	}
	return questions, nil
}

// evalOutput is the report of `kollektiv eval` with its settings; --json
// prints it.
type evalOutput struct {
	File     string      `json:"file,omitempty"`
	Headings bool        `json:"headings"`
	User     string      `json:"user"`
	Sources  []uuid.UUID `json:"sources"`
	K        int         `json:"k"`
	Embedder string      `json:"embedder"`
	eval.Report
}

func printEval(w io.Writer, out evalOutput, listMisses bool) {
	missed := 0
	for _, r := range out.Results {
		if !r.Missed() {
			continue
		}
		missed++
		if !listMisses {
			continue
		}
		if missed == 1 {
			fmt.Fprintf(w, "Not answered first:\n\n")
		}
		where := ""
		if r.Line > 0 {
			where = fmt.Sprintf("line %d: ", r.Line)
		}
		fmt.Fprintf(w, "%s%q\n", where, r.Query)
		expected := r.Document
		if r.Heading != "" {
			expected += " § " + r.Heading
		}
		fmt.Fprintf(w, "  expected  %s\n", expected)
		switch {
		case r.Rank == 0:
			fmt.Fprintf(w, "  found     no relevant hit in %d\n", r.Hits)
		case r.Tied > 1:
			fmt.Fprintf(w, "  found     at rank %d, tied with %d other hits\n", r.Rank, r.Tied-1)
		default:
			fmt.Fprintf(w, "  found     at rank %d\n", r.Rank)
		}
		if r.Top != nil {
			fmt.Fprintf(w, "  first     %s", r.Top.DocumentURL)
			if len(r.Top.Headers) > 0 {
				fmt.Fprintf(w, " § %s", strings.Join(r.Top.Headers, " > "))
			}
			fmt.Fprintf(w, " (%.4f)\n", r.Top.Score)
		}
		fmt.Fprintln(w)
	}

	what := out.File
	if out.Headings {
		what = "the exact-heading questions of the source"
	}
	fmt.Fprintf(w, "%d questions from %s; %d not answered first\n", out.Questions, what, missed)
	fmt.Fprintf(w, "user %s, k %d, embedder %s", out.User, out.K, out.Embedder)
	for _, id := range out.Sources {
		fmt.Fprintf(w, ", source %s", id)
	}
	fmt.Fprintf(w, "\n\n")
	for _, name := range eval.MetricNames() {
		v, _ := out.Metrics.Get(name)
		fmt.Fprintf(w, "  %-10s %.3f\n", name, v)
	}
}
