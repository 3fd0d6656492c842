package api_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/kollektiv/kollektiv/internal/config"
	"github.com/kollektiv/kollektiv/internal/dbtest"
)

// TestRequestsRightAfterBackendsTerminated terminates every database
// connection of the running service (API, hub, workers) with
// pg_terminate_backend, waits until the backends are gone, and at once
// reconnects to a source's event stream with Last-Event-ID and reads the
// source: every answer is a success, never a 500 from a pooled connection
// killed a moment earlier (an EventSource gives up on a 500).
func TestRequestsRightAfterBackendsTerminated(t *testing.T) {
	t.Parallel()
	const appName = "kollektiv_api_terminate_probe"
	url := dbtest.DatabaseURL(t)
	b := setup(t, func(c *config.Config) { c.DatabaseURL = url + "&application_name=" + appName })
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = admin.Close(context.Background()) }()

	src := b.createInline(t, b.alice, map[string]string{"url": "a.md", "content": guide("alpacas")})
	id := src["id"].(string)
	b.waitFinished(t, b.alice, id)
	stream, ended := b.readSSE(t, b.alice, id, 0, 0)
	if !ended || len(stream) < 2 {
		t.Fatalf("stream of the finished source: %d events, ended %v", len(stream), ended)
	}

	for round := 1; round <= 3; round++ {
		var terminated int
		if err := admin.QueryRow(ctx, `
			SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000))
			FROM pg_stat_activity WHERE application_name = $1`, appName).Scan(&terminated); err != nil {
			t.Fatal(err)
		}
		if terminated == 0 {
			t.Fatalf("round %d: no connection terminated", round)
		}
		// Reconnect as an EventSource does after a cut: Last-Event-ID
		// before the end, so the stream replays the rest and ends.
		resumed, ended := b.readSSE(t, b.alice, id, stream[0].id, 0)
		if !ended || len(resumed) != len(stream)-1 {
			t.Fatalf("round %d: resumed stream: %d events, ended %v, want %d", round, len(resumed), ended, len(stream)-1)
		}
		for _, path := range []string{"/v1/sources/" + id, "/v1/sources", "/v1/search?q=alpacas"} {
			if r := b.do(t, b.alice, http.MethodGet, path, nil); r.status != http.StatusOK {
				t.Fatalf("round %d (%d connections terminated): GET %s: %d %s", round, terminated, path, r.status, r.body)
			}
		}
		t.Logf("round %d: %d connections terminated, then %s events resumed and 3 reads answered", round, terminated, strconv.Itoa(len(resumed)))
	}
}
