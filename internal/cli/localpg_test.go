package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/kollektiv/kollektiv/internal/localpg"
)

// TestPrivatePostgres runs Kollektiv with no DATABASE_URL and
// KOLLEKTIV_LOCAL_POSTGRES=always (what auto does when nothing answers on
// the default address): it starts its own server in the data directory,
// migrates it, serves, and ingests through it.
func TestPrivatePostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a PostgreSQL server")
	}
	t.Parallel()
	// Under /tmp itself: as root the server runs as postgres, which must
	// reach the directory.
	dir, err := os.MkdirTemp("", "kollektiv-private-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil { //nolint:gosec // the server's user must traverse it
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if s, err := localpg.Ensure(context.Background(), filepath.Join(dir, "postgres")); err == nil {
			_ = s.Stop(context.Background())
		}
		_ = os.RemoveAll(dir)
	})
	env := map[string]string{
		"KOLLEKTIV_LOCAL_POSTGRES": "always", "KOLLEKTIV_DATA_DIR": dir,
		"KOLLEKTIV_HTTP_ADDR": "127.0.0.1:0", "KOLLEKTIV_LOG_LEVEL": "warn",
	}

	r := run(t, env, "migrate", "up")
	if strings.Contains(r.stderr, localpg.ErrNoBinaries.Error()) {
		t.Skip("no PostgreSQL binaries on this machine")
	}
	if r.code != 0 || !strings.Contains(r.stderr, "using a private PostgreSQL in "+filepath.Join(dir, "postgres")) || !strings.Contains(r.stderr, "started now") {
		t.Fatalf("migrate up: %d\nstdout %s\nstderr %s", r.code, r.stdout, r.stderr)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var serve result
	wg.Go(func() { serve = runCtx(ctx, env, "serve") })
	docs := t.TempDir()
	if err := os.WriteFile(filepath.Join(docs, "a.md"), []byte("# Private\n\nA server of its own, in its data directory.\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ingest := run(t, env, "ingest", "--wait", "--json", docs)
	cancel()
	wg.Wait()
	if ingest.code != 0 || !strings.Contains(ingest.stdout, `"stage":"completed"`) || !strings.Contains(ingest.stderr, "already running") {
		t.Fatalf("ingest through the private server: %d %s %s", ingest.code, ingest.stdout, ingest.stderr)
	}
	if serve.code != 0 {
		t.Fatalf("serve: %d %s", serve.code, serve.stderr)
	}
}
