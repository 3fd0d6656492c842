package summarize

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kollektiv/kollektiv/internal/testcorpus"
)

// corpusFile is one markdown document of the corpus.
type corpusFile struct {
	path, title, text string
}

// corpusFiles returns up to limit markdown files under corpus/sub, sorted
// by path, with their first heading as title.
func corpusFiles(tb testing.TB, sub string, limit int) []corpusFile {
	tb.Helper()
	var out []corpusFile
	root := filepath.Join(testcorpus.Dir(tb), sub)
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".md") || len(out) >= limit {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		title := filepath.Base(path)
		for line := range strings.Lines(string(b)) {
			if t, ok := strings.CutPrefix(line, "# "); ok {
				title = strings.TrimSpace(t)
				break
			}
		}
		out = append(out, corpusFile{path: path, title: title, text: string(b)})
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	if len(out) == 0 {
		tb.Skipf("no markdown under %s", root)
	}
	return out
}

// splitChunks splits markdown at headings and blank lines into pieces of at
// most about maxBytes, a stand-in for the real chunker.
func splitChunks(text string, maxBytes int) []string {
	var (
		out []string
		cur strings.Builder
	)
	for _, p := range strings.Split(text, "\n\n") {
		if cur.Len() > 0 && (cur.Len()+len(p) > maxBytes || strings.HasPrefix(p, "#")) {
			out = append(out, cur.String())
			cur.Reset()
		}
		cur.WriteString(p)
		cur.WriteString("\n\n")
	}
	if strings.TrimSpace(cur.String()) != "" {
		out = append(out, cur.String())
	}
	return out
}
