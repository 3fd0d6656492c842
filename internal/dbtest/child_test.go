package dbtest_test

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// runChild runs TestIsolation of this test binary again with extra
// environment, and returns its output and whether it failed.
func runChild(t *testing.T, env map[string]string) (string, bool) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestIsolation$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "KOLLEKTIV_DBTEST_CHILD=1")
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) {
			t.Fatalf("error running child test process: %v", err)
		}
	}
	return string(out), err != nil
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
