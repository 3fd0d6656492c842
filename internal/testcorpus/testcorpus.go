// Package testcorpus finds the shared documentation corpus (tldr pages,
// FastAPI docs, the Rust book) that tests and benchmarks read. It is never
// copied into the repository: it lives in shared/corpus beside the checkout.
package testcorpus

import (
	"os"
	"path/filepath"
	"testing"
)

// Dir returns the path of shared/corpus, found in the working directory or
// one of its parents, or skips tb when there is none.
func Dir(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		candidate := filepath.Join(dir, "shared", "corpus")
		if info, err := os.Stat(candidate); err == nil && info.IsDir() {
			return candidate
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			tb.Skip("shared/corpus not found above the working directory: this test needs the documentation corpus")
		}
		dir = parent
	}
}
