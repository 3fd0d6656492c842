package eval

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/kollektiv/kollektiv/internal/testcorpus"
)

func TestReadQuestions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, text string
		want       []Question
	}{
		{
			name: "JSONL",
			text: `{"query": "declare a path variable", "document": "tutorial/path-params.md", "heading": "Path Parameters { #path-parameters }"}

{"query":"  borrow twice ","document":"ch04.md"}
`,
			want: []Question{
				{Query: "declare a path variable", Document: "tutorial/path-params.md", Heading: "Path Parameters { #path-parameters }", Line: 1},
				{Query: "borrow twice", Document: "ch04.md", Line: 3},
			},
		},
		{
			name: "TSV with comments and CRLF",
			text: "# query\tdocument\theading\r\n" +
				"declare a path variable\ttutorial/path-params.md\tPath Parameters\r\n" +
				"\r\n" +
				"  # an indented comment\n" +
				"borrow twice\tch04.md\n" +
				"no heading\tch05.md\t\n",
			want: []Question{
				{Query: "declare a path variable", Document: "tutorial/path-params.md", Heading: "Path Parameters", Line: 2},
				{Query: "borrow twice", Document: "ch04.md", Line: 5},
				{Query: "no heading", Document: "ch05.md", Line: 6},
			},
		},
		{
			name: "a JSONL file may start with comments",
			text: "# made by hand\n{\"query\": \"q\", \"document\": \"d.md\"}\n",
			want: []Question{{Query: "q", Document: "d.md", Line: 2}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ReadQuestions(strings.NewReader(tc.text), "q")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestReadQuestionsRefusesBadLines(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, text, want string
	}{
		{"empty file", "\n# only a comment\n", "set.tsv holds no question"},
		{"one field", "a question alone\n", "set.tsv:1: want query<TAB>document[<TAB>heading], got 1 tab-separated fields"},
		{"four fields", "q\td.md\th\textra\n", "set.tsv:1: want query<TAB>document[<TAB>heading], got 4 tab-separated fields"},
		{"empty query", "ok\td.md\n\td.md\n", "set.tsv:2: the query is empty"},
		{"empty document", "q\t \n", "set.tsv:1: the document is empty"},
		{"JSON in a TSV file", "q\td.md\n{\"query\": \"q\", \"document\": \"d.md\"}\n", "set.tsv:2: want query<TAB>document"},
		{"TSV in a JSONL file", "{\"query\": \"q\", \"document\": \"d.md\"}\nq\td.md\n", "set.tsv:2: not a question object"},
		{"missing document", `{"query": "q"}`, `set.tsv:1: want an object with "query" and "document"`},
		{"misspelt field", `{"query": "q", "document": "d.md", "headng": "H"}`, `set.tsv:1: not a question object: json: unknown field "headng"`},
		{"wrong type", `{"query": 3, "document": "d.md"}`, "set.tsv:1: not a question object"},
		{"two objects", `{"query": "q", "document": "d.md"} {"query": "r", "document": "d.md"}`, "set.tsv:1: more than one JSON value"},
		{"truncated", `{"query": "q", "document": "d.md"`, "set.tsv:1: not a question object"},
		{"too long", strings.Repeat("w", 1001) + "\td.md\n", "set.tsv:1: the query has 1001 characters, more than the 1000"},
		{"NUL", "q\x00\td.md\n", "set.tsv:1: the query is not valid UTF-8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ReadQuestions(strings.NewReader(tc.text), "set.tsv")
			if !errors.Is(err, ErrBadQuestions) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one wrapping ErrBadQuestions with %q", err, tc.want)
			}
		})
	}
}

// TestDevelopmentSet reads the development set of docs/eval: it parses and
// holds at least 60 questions over both books, each with a heading.
func TestDevelopmentSet(t *testing.T) {
	t.Parallel()
	questions := developmentSet(t)
	books := map[string]int{}
	for _, q := range questions {
		books[strings.SplitN(q.Document, "/", 2)[0]]++
		if q.Heading == "" {
			t.Errorf("line %d: no heading", q.Line)
		}
	}
	if len(questions) < 60 || books["fastapi"] < 30 || books["rust-book"] < 30 || len(books) != 2 {
		t.Fatalf("%d questions by book %v", len(questions), books)
	}
}

// TestDevelopmentSetLabels checks every label of the development set
// against the shared corpus: its document exists and holds its heading
// exactly once.
func TestDevelopmentSetLabels(t *testing.T) {
	t.Parallel()
	corpus := testcorpus.Dir(t)
	for _, q := range developmentSet(t) {
		text, err := os.ReadFile(filepath.Join(corpus, q.Document))
		if err != nil {
			t.Errorf("line %d: %v", q.Line, err)
			continue
		}
		n := 0
		for _, h := range HeadingQuestions([]SourceDocument{{URL: q.Document, Content: string(text)}}) {
			if normalizeHeading(h.Heading) == normalizeHeading(q.Heading) {
				n++
			}
		}
		if n != 1 {
			t.Errorf("line %d: %q is not a heading found once in %s", q.Line, q.Heading, q.Document)
		}
	}
}

func developmentSet(t *testing.T) []Question {
	t.Helper()
	f, err := os.Open("../../docs/eval/corpus-dev.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	questions, err := ReadQuestions(f, "corpus-dev.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	return questions
}

func TestWriteQuestionsRoundTrip(t *testing.T) {
	t.Parallel()
	in := []Question{
		{Query: "a <b> & c", Document: "d.md", Heading: "Use `HTTPException`", Line: 7},
		{Query: "q", Document: "e.md"},
	}
	var buf bytes.Buffer
	if err := WriteQuestions(&buf, in); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"query":"a <b> & c"`) || strings.Contains(buf.String(), "line") {
		t.Errorf("written %s", buf.String())
	}
	out, err := ReadQuestions(&buf, "written")
	if err != nil {
		t.Fatal(err)
	}
	in[0].Line, in[1].Line = 1, 2
	if !reflect.DeepEqual(out, in) {
		t.Errorf("read back %+v, want %+v", out, in)
	}
}
