package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/kollektiv/kollektiv/internal/config"
	"github.com/kollektiv/kollektiv/internal/dbtest"
)

// TestIngestProgressOnTerminal runs `ingest --wait` with its output on a
// pseudo-terminal: it must draw progress bars redrawn in place, and print
// each stage on a line of its own.
func TestIngestProgressOnTerminal(t *testing.T) {
	t.Parallel()
	url := dbtest.DatabaseURL(t)
	startWorker(t, url, func(cfg *config.Config) {
		cfg.BatchDocuments = 1
		cfg.EmbedBatchChunks = 2
		cfg.ProgressInterval = time.Millisecond
	})
	ctx := context.Background()

	dir := t.TempDir()
	for i := range 6 {
		text := fmt.Sprintf("# Part %d\n\n", i) + strings.Repeat(fmt.Sprintf("Paragraph about topic %d and its details.\n\n", i), 40)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("p%d.md", i)), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	defer ptmx.Close()
	var mu sync.Mutex
	var screen bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			mu.Lock()
			screen.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()

	var stderr bytes.Buffer
	code := Main(ctx, []string{"ingest", "--wait", dir}, Env{
		Stdin: strings.NewReader(""), Stdout: tty, Stderr: &stderr,
		Getenv: func(k string) string { return map[string]string{"DATABASE_URL": url, "KOLLEKTIV_LOG_LEVEL": "warn"}[k] },
	})
	_ = tty.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	mu.Lock()
	out := screen.String()
	mu.Unlock()
	for _, want := range []string{
		"\r\x1b[K",                         // redrawn in place
		"documents [",                      // the documents bar
		"chunks embedded [",                // the chunks bar
		"elapsed, about",                   // time and estimate
		"processing_scheduled",             // a stage line
		"completed            documents 6", // the last stage line
	} {
		if !strings.Contains(out, want) {
			t.Errorf("terminal output lacks %q:\n%q", want, out)
		}
	}
}

func TestProgressLine(t *testing.T) {
	t.Parallel()
	now := time.Unix(100, 0)
	var out bytes.Buffer
	v := newProgressView(&out, func() time.Time { return now })
	v.documents, v.documentsTotal, v.embedded, v.written = 5, 10, 10, 20
	v.stage = "processing_scheduled"
	now = now.Add(10 * time.Second)
	line := v.line()
	for _, want := range []string{"[##########..........] 5/10", "[##########..........] 10/20", "10s elapsed, about 10s left"} {
		if !strings.Contains(line, want) {
			t.Errorf("line %q lacks %q", line, want)
		}
	}
}
