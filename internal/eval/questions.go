package eval

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/kollektiv/kollektiv/internal/search"
)

// Question is one labelled question: what a user asks, and where the answer
// is.
type Question struct {
	// Query is the text searched for.
	Query string `json:"query"`
	// Document is the expected document's path: a hit's document URL
	// equals it, or one of the two ends with "/" and the other (see
	// Relevant).
	Document string `json:"document"`
	// Heading, when set, is the expected section: a hit must also hold this
	// heading (see Relevant). Empty: any chunk of the document answers.
	Heading string `json:"heading,omitempty"`
	// Line is the question's 1-based line in its file, 0 for a generated
	// question.
	Line int `json:"line,omitempty"`
}

// ErrBadQuestions is wrapped by every error ReadQuestions returns for a file
// it cannot read as questions; the message names the file and line.
var ErrBadQuestions = errors.New("invalid questions file")

// maxLine bounds one line of a questions file: a query is at most
// search.MaxTextLength characters, a path and a heading a few hundred.
const maxLine = 64 << 10

// ReadQuestions reads labelled questions, one a line, in either format:
//
//   - JSONL: {"query": "...", "document": "...", "heading": "..."}, heading
//     optional, no other field;
//   - TSV: query<TAB>document[<TAB>heading].
//
// The first line that is neither blank nor a comment ('#' first) decides the
// format; blank and comment lines are skipped in both. name (the file's
// name) prefixes errors, which wrap ErrBadQuestions and give the line.
func ReadQuestions(r io.Reader, name string) ([]Question, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxLine)
	var questions []Question
	jsonl, decided := false, false
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSuffix(sc.Text(), "\r")
		trimmed := strings.TrimSpace(line)
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if !decided {
			jsonl, decided = strings.HasPrefix(trimmed, "{"), true
		}
		var q Question
		var err error
		if jsonl {
			q, err = parseJSONLine(trimmed)
		} else {
			q, err = parseTSVLine(line)
		}
		if err == nil {
			err = q.validate()
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %s:%d: %w", ErrBadQuestions, name, n, err)
		}
		q.Line = n
		questions = append(questions, q)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%w: %s: a line is longer than %d bytes", ErrBadQuestions, name, maxLine)
		}
		return nil, fmt.Errorf("error reading %s: %w", name, err)
	}
	if len(questions) == 0 {
		return nil, fmt.Errorf("%w: %s holds no question", ErrBadQuestions, name)
	}
	return questions, nil
}

func parseJSONLine(line string) (Question, error) {
	var q struct {
		Query    *string `json:"query"`
		Document *string `json:"document"`
		Heading  string  `json:"heading"`
	}
	dec := json.NewDecoder(strings.NewReader(line))
	// A misspelt "heading" must not silently widen the expectation.
	dec.DisallowUnknownFields()
	if err := dec.Decode(&q); err != nil {
		return Question{}, fmt.Errorf("not a question object: %w", err)
	}
	if dec.More() {
		return Question{}, errors.New("more than one JSON value on the line")
	}
	if q.Query == nil || q.Document == nil {
		return Question{}, errors.New(`want an object with "query" and "document" (and optionally "heading")`)
	}
	return Question{Query: *q.Query, Document: *q.Document, Heading: q.Heading}, nil
}

func parseTSVLine(line string) (Question, error) {
	fields := strings.Split(line, "\t")
	if len(fields) < 2 || len(fields) > 3 {
		return Question{}, fmt.Errorf("want query<TAB>document[<TAB>heading], got %d tab-separated fields", len(fields))
	}
	q := Question{Query: fields[0], Document: fields[1]}
	if len(fields) == 3 {
		q.Heading = fields[2]
	}
	return q, nil
}

// validate trims q's fields and checks that the search can run it.
func (q *Question) validate() error {
	q.Query = strings.TrimSpace(q.Query)
	q.Document = strings.TrimSpace(q.Document)
	q.Heading = strings.TrimSpace(q.Heading)
	switch {
	case q.Query == "":
		return errors.New("the query is empty")
	case q.Document == "":
		return errors.New("the document is empty")
	case !utf8.ValidString(q.Query) || strings.ContainsRune(q.Query, 0):
		return errors.New("the query is not valid UTF-8 without NUL characters")
	case utf8.RuneCountInString(q.Query) > search.MaxTextLength:
		return fmt.Errorf("the query has %d characters, more than the %d a search takes", utf8.RuneCountInString(q.Query), search.MaxTextLength)
	}
	return nil
}

// WriteQuestions writes questions as JSONL, the format ReadQuestions reads.
func WriteQuestions(w io.Writer, questions []Question) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for _, q := range questions {
		q.Line = 0
		if err := enc.Encode(q); err != nil {
			return fmt.Errorf("error encoding question %q: %w", q.Query, err)
		}
	}
	_, err := w.Write(buf.Bytes())
	return err
}
