package documents

import (
	"context"
	"encoding/base64"
	"errors"
	"testing"

	"github.com/google/uuid"
	"go.uber.org/goleak"

	"github.com/kollektiv/kollektiv/internal/dbtest"
	"github.com/kollektiv/kollektiv/internal/derr"
	"github.com/kollektiv/kollektiv/internal/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestCursors(t *testing.T) {
	t.Parallel()
	source, other := uuid.New(), uuid.New()
	for _, u := range []string{"a.md", "docs/ü ñ/页面.md", "https://example.com/a?b=c#d", "x:y:z"} {
		got, err := decodeDocumentCursor(encodeDocumentCursor(source, u), source)
		if err != nil || got != u {
			t.Errorf("document cursor of %q: %q, %v", u, got, err)
		}
		if _, err := decodeDocumentCursor(encodeDocumentCursor(source, u), other); !errors.Is(err, derr.Invalid) {
			t.Errorf("a cursor of another source: %v, want invalid", err)
		}
	}
	chunk := uuid.New()
	ordinal, id, err := decodeChunkCursor(encodeChunkCursor(source, 41, chunk), source)
	if err != nil || ordinal != 41 || id != chunk {
		t.Errorf("chunk cursor: %d %s %v", ordinal, id, err)
	}
	raw := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	for _, c := range []string{"", "!", raw("d"), raw("d" + source.String()), raw("c" + source.String() + "a.md"), raw("d" + source.String() + "a\x00"), raw("d" + source.String() + "\xff")} {
		if _, err := decodeDocumentCursor(c, source); !errors.Is(err, derr.Invalid) {
			t.Errorf("document cursor %q: %v, want invalid", c, err)
		}
	}
	for _, c := range []string{"", raw("c" + source.String()), raw("c" + source.String() + "-1:" + chunk.String()), raw("c" + source.String() + "1:" + chunk.String()[1:]),
		raw("c" + source.String() + "4294967296:" + chunk.String()), raw("c" + other.String() + "1:" + chunk.String()), raw("d" + source.String() + "1:" + chunk.String())} {
		if _, _, err := decodeChunkCursor(c, source); !errors.Is(err, derr.Invalid) {
			t.Errorf("chunk cursor %q: %v, want invalid", c, err)
		}
	}
}

// TestResolveID: a short id names the one document of the user it starts;
// another user's documents neither match nor make a prefix ambiguous.
func TestResolveID(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := dbtest.Pool(t)
	r := NewReader(store.New(pool))
	aliceSource, bobSource := uuid.New(), uuid.New()
	mustExec := func(sql string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	mustExec("INSERT INTO sources (id, user_id, kind) VALUES ($1, 'alice', 'inline'), ($2, 'bob', 'inline')", aliceSource, bobSource)
	for _, d := range []struct {
		id     string
		source uuid.UUID
	}{
		{"0b6f4f2e-0000-4000-8000-000000000001", aliceSource},
		{"0b6f4f2e-1111-4000-8000-000000000002", aliceSource},
		{"1234abcd-0000-4000-8000-000000000003", bobSource},
		{"0b6f4f2e-2222-4000-8000-000000000004", bobSource},
		{"77777777-0000-4000-8000-000000000005", bobSource},
		{"77777777-1111-4000-8000-000000000006", aliceSource},
	} {
		mustExec("INSERT INTO documents (id, source_id, url, content, content_hash) VALUES ($1::uuid, $2, $1::text, '', sha256(''::bytea))", d.id, d.source)
	}
	for _, tc := range []struct {
		user, text string
		want       string
		kind       derr.Kind
	}{
		{"alice", "0b6f4f2e", "", derr.Invalid}, // two of alice's
		{"alice", "0b6f4f2e-1", "0b6f4f2e-1111-4000-8000-000000000002", ""},
		{"alice", "0B6F4F2E0000", "0b6f4f2e-0000-4000-8000-000000000001", ""},
		{"bob", "0b6f4f2e", "0b6f4f2e-2222-4000-8000-000000000004", ""}, // alice's do not count
		{"alice", "1234abcd", "", derr.NotFound},                        // bob's
		{"bob", "1234abcd", "1234abcd-0000-4000-8000-000000000003", ""},
		{"alice", "77777777", "77777777-1111-4000-8000-000000000006", ""},
		{"alice", "0b6f4f2", "", derr.Invalid}, // too short
		{"alice", "0b6f4f2z", "", derr.Invalid},
		{"alice", "", "", derr.Invalid},
		{"alice", "1234abcd-0000-4000-8000-000000000003", "1234abcd-0000-4000-8000-000000000003", ""}, // a whole id is not looked up
	} {
		got, err := r.ResolveID(ctx, tc.user, tc.text)
		switch {
		case tc.kind != "" && derr.KindOf(err) != tc.kind:
			t.Errorf("%s %q: %s, %v; want %s", tc.user, tc.text, got, err, tc.kind)
		case tc.kind == "" && (err != nil || got.String() != tc.want):
			t.Errorf("%s %q: %s, %v; want %s", tc.user, tc.text, got, err, tc.want)
		}
	}
}
