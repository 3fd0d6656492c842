// Package testbin builds the kollektiv binary for tests that run it as a
// process, the way users and CI do.
package testbin

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Build compiles ./cmd/kollektiv into a temporary directory of tb and
// returns the binary's path.
func Build(tb testing.TB) string {
	tb.Helper()
	gomod, err := exec.CommandContext(tb.Context(), "go", "env", "GOMOD").Output()
	if err != nil {
		tb.Fatal(err)
	}
	binary := filepath.Join(tb.TempDir(), "kollektiv")
	build := exec.CommandContext(tb.Context(), "go", "build", "-o", binary, "./cmd/kollektiv")
	build.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	if out, err := build.CombinedOutput(); err != nil {
		tb.Fatalf("building kollektiv: %v\n%s", err, out)
	}
	return binary
}
