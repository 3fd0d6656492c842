package embed

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kollektiv/kollektiv/internal/testcorpus"
)

// corpusParagraphs returns the blank-line separated paragraphs of the
// markdown files under corpus/sub, in file order, up to limit.
func corpusParagraphs(tb testing.TB, sub string, limit int) []string {
	tb.Helper()
	var out []string
	root := filepath.Join(testcorpus.Dir(tb), sub)
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".md") || len(out) >= limit {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, p := range strings.Split(string(b), "\n\n") {
			if p = strings.TrimSpace(p); p != "" && len(out) < limit {
				out = append(out, p)
			}
		}
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
