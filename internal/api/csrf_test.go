package api_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// TestRiverUICrossSiteRequestForgery replays issue 13's attack: a page on
// another site auto-submits a text/plain form to River UI's cancel endpoint,
// and the browser attaches the admin key it cached at the Basic prompt. The
// request is refused and the job stays as it was; the same request from
// River UI's own page cancels the job.
func TestRiverUICrossSiteRequestForgery(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	ctx := context.Background()
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("x:"+b.admin))

	// A job no worker will take for an hour: only a cancel can change it.
	newJob := func() int64 {
		t.Helper()
		var id int64
		if err := b.app.Pool.QueryRow(ctx, `INSERT INTO river_job (kind, args, state, scheduled_at, max_attempts, queue, priority)
			VALUES ('csrf_probe', '{}', 'scheduled', now() + interval '1 hour', 1, 'default', 1) RETURNING id`).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return id
	}
	state := func(id int64) string {
		t.Helper()
		var s string
		if err := b.app.Pool.QueryRow(ctx, `SELECT state FROM river_job WHERE id = $1`, id).Scan(&s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	// The body an enctype=text/plain form with the field name
	// {"ids":["N"],"x":" and the value "} sends.
	formBody := func(id int64) string { return fmt.Sprintf(`{"ids":["%d"],"x":"="}`, id) }

	id := newJob()
	for _, tc := range []struct {
		name   string
		header []string
	}{
		{"foreign Origin", []string{"Origin", "http://evil.example"}},
		{"Sec-Fetch-Site cross-site", []string{"Sec-Fetch-Site", "cross-site", "Origin", "http://evil.example"}},
		{"Sec-Fetch-Site same-site", []string{"Sec-Fetch-Site", "same-site", "Origin", "http://sub." + strings.Split(b.baseURL, "//")[1]}},
		{"null Origin", []string{"Origin", "null"}},
	} {
		header := append([]string{"Authorization", basic, "Content-Type", "text/plain"}, tc.header...)
		r := b.do(t, "", "POST", "/riverui/api/jobs/cancel", strings.NewReader(formBody(id)), header...)
		if r.status != http.StatusForbidden || r.errorCode(t) != "forbidden" || !strings.Contains(string(r.body), "cross-origin") {
			t.Errorf("%s: %d %s, want 403 forbidden", tc.name, r.status, r.body)
		}
		if s := state(id); s != "scheduled" {
			t.Fatalf("%s: job %d is %s after a cross-site cancel, want scheduled", tc.name, id, s)
		}
	}
	// The Bearer API is covered by the same check.
	if r := b.do(t, b.alice, "POST", "/v1/sources", strings.NewReader(`{"documents":[{"content":"x"}]}`), "Sec-Fetch-Site", "cross-site"); r.status != http.StatusForbidden {
		t.Errorf("cross-site create source: %d %s", r.status, r.body)
	}

	// River UI's own button: a same-origin fetch, as a browser marks it.
	for _, tc := range []struct {
		name   string
		header []string
	}{
		{"Sec-Fetch-Site same-origin", []string{"Sec-Fetch-Site", "same-origin", "Origin", b.baseURL}},
		{"Origin matching Host (browser without Sec-Fetch-Site)", []string{"Origin", b.baseURL}},
		{"no browser headers (curl)", nil},
	} {
		id := newJob()
		header := append([]string{"Authorization", basic, "Content-Type", "application/json"}, tc.header...)
		r := b.do(t, "", "POST", "/riverui/api/jobs/cancel", strings.NewReader(fmt.Sprintf(`{"ids":["%d"]}`, id)), header...)
		if r.status != http.StatusOK {
			t.Errorf("%s: %d %s, want 200", tc.name, r.status, r.body)
		}
		if s := state(id); s != "cancelled" {
			t.Errorf("%s: job %d is %s, want cancelled", tc.name, id, s)
		}
	}

	// No page may frame River UI (nor any other response).
	for _, p := range []string{"/riverui/", "/riverui/jobs", "/v1/sources", "/healthz"} {
		r := b.do(t, b.admin, "GET", p, nil)
		if r.header.Get("X-Frame-Options") != "DENY" || r.header.Get("Content-Security-Policy") != "frame-ancestors 'none'" {
			t.Errorf("%s: %d, X-Frame-Options %q, Content-Security-Policy %q", p, r.status, r.header.Get("X-Frame-Options"), r.header.Get("Content-Security-Policy"))
		}
	}
}
