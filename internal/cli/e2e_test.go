package cli

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kollektiv/kollektiv/internal/dbtest"
	"github.com/kollektiv/kollektiv/internal/testbin"
	"github.com/kollektiv/kollektiv/internal/testcorpus"
)

// TestBinaryAsReadmeSays builds bin/kollektiv and uses it the way README.md
// does, from an empty database: migrate, serve, ingest with --wait, search,
// sources show and rm, checking what each prints.
func TestBinaryAsReadmeSays(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs it")
	}
	t.Parallel()
	binary := testbin.Build(t)
	env := append(os.Environ(),
		"DATABASE_URL="+dbtest.EmptyDatabaseURL(t),
		"KOLLEKTIV_HTTP_ADDR=127.0.0.1:0",
		"KOLLEKTIV_USER=readme",
		"KOLLEKTIV_LOG_LEVEL=warn",
	)
	kollektiv := func(args ...string) (string, string, int) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, binary, args...)
		cmd.Env = env
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		code := 0
		if err != nil {
			code = cmd.ProcessState.ExitCode()
		}
		return stdout.String(), stderr.String(), code
	}

	if out, errOut, code := kollektiv("migrate", "up"); code != 0 || !strings.Contains(out, "current") {
		t.Fatalf("migrate up: %d %s %s", code, out, errOut)
	}
	serve := exec.Command(binary, "serve")
	serve.Env = env
	var serveLog bytes.Buffer
	serve.Stdout, serve.Stderr = &serveLog, &serveLog
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = serve.Process.Signal(os.Interrupt)
		_ = serve.Wait()
	})

	docs := filepath.Join(testcorpus.Dir(t), "rust-book")
	out, errOut, code := kollektiv("ingest", docs, "--wait")
	if code != 0 {
		t.Fatalf("ingest: %d\n%s\n%s\nserve:\n%s", code, out, errOut, serveLog.String())
	}
	id := regexp.MustCompile(`^source ([0-9a-f-]{36}) created: (\d+) documents`).FindStringSubmatch(out)
	if id == nil || !strings.Contains(out, "completed") {
		t.Fatalf("ingest output:\n%s", out)
	}

	out, _, code = kollektiv("search", "--k", "3", "ownership and borrowing")
	if code != 0 || !strings.HasPrefix(out, "1. ") || !strings.Contains(strings.ToLower(out), "ownership") {
		t.Fatalf("search: %d\n%s", code, out)
	}
	// sources ls: the source by its short id, in 80 columns; show takes
	// that short id.
	out, _, code = kollektiv("sources", "ls")
	if code != 0 || !strings.Contains(out, "\n"+id[1][:8]+"  completed ") {
		t.Fatalf("sources ls: %d\n%s", code, out)
	}
	for _, l := range strings.Split(strings.TrimRight(out, "\n"), "\n") {
		if len([]rune(l)) > 80 {
			t.Errorf("sources ls: a line wider than 80 columns: %q", l)
		}
	}
	out, _, code = kollektiv("sources", "show", id[1][:8])
	if code != 0 || !strings.Contains(out, "stage      completed") || !strings.Contains(out, "documents  "+id[2]) || !strings.Contains(out, "summary") {
		t.Fatalf("sources show: %d\n%s", code, out)
	}
	// The source's documents, five a page, in 80 columns; then one of
	// them by the short id the table shows.
	out, _, code = kollektiv("sources", "docs", id[1], "--limit", "5")
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if code != 0 || len(lines) != 7 || !strings.HasPrefix(lines[0], "ID ") || !strings.HasPrefix(lines[6], "more: kollektiv sources docs "+id[1]+" --limit 5 --cursor ") {
		t.Fatalf("sources docs: %d\n%s", code, out)
	}
	for _, l := range lines[:6] {
		if len([]rune(l)) > 80 {
			t.Errorf("sources docs: a line wider than 80 columns: %q", l)
		}
	}
	short := strings.Fields(lines[1])[0]
	if out, errOut, code := kollektiv("docs", "show", short); code != 0 || !strings.Contains(out, "status     embedded") || !strings.Contains(out, "\n[0] ") {
		t.Fatalf("docs show %s: %d\n%s\n%s", short, code, out, errOut)
	}
	// A key made without --user is for the CLI's user, and says so.
	if out, errOut, code := kollektiv("keys", "create"); code != 0 || !strings.HasPrefix(out, "kol_") || !strings.Contains(errOut, `sources of user "readme"`) {
		t.Fatalf("keys create: %d %q %q", code, out, errOut)
	}
	if out, _, code = kollektiv("check"); code != 0 || strings.TrimSpace(out) != "ok" {
		t.Fatalf("check with serve running: %d %s", code, out)
	}
	if out, _, code = kollektiv("sources", "rm", id[1]); code != 0 || !strings.Contains(out, "deleted") {
		t.Fatalf("sources rm: %d %s", code, out)
	}
	if out, _, code = kollektiv("search", "ownership"); code != 0 || !strings.HasPrefix(out, "no hits") {
		t.Fatalf("search after rm: %d %s", code, out)
	}
	if _, errOut, code := kollektiv("sources", "show", id[1]); code != 3 || !strings.Contains(errOut, "no source") {
		t.Fatalf("show after rm: %d %s", code, errOut)
	}
}
