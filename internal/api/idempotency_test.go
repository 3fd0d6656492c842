package api_test

import (
	"bytes"
	"context"
	"fmt"
	"mime/multipart"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
)

// TestIdempotencyKeyWithAnotherRequest: the same Idempotency-Key with the
// same request (however it is spelled) returns the first source; with
// another request it is refused with 422 and creates nothing (issue 13: it
// silently returned the first source).
func TestIdempotencyKeyWithAnotherRequest(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	ctx := context.Background()
	sources := func() int {
		t.Helper()
		var n int
		if err := b.app.Pool.QueryRow(ctx, "SELECT count(*) FROM sources").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	first := b.do(t, b.alice, "POST", "/v1/sources", strings.NewReader(`{"documents": [{"title": "A", "url": "a.md", "content": "# A\n\nAlpha."}]}`), "Idempotency-Key", "k1")
	if first.status != http.StatusAccepted {
		t.Fatalf("create: %d %s", first.status, first.body)
	}
	id := first.json(t)["id"].(string)
	// The same request, spelled with other spacing and key order.
	same := b.do(t, b.alice, "POST", "/v1/sources", strings.NewReader(`{"documents":[{"content":"# A\n\nAlpha.","url":"a.md","title":"A"}]}`), "Idempotency-Key", "k1")
	if same.status != http.StatusAccepted || same.json(t)["id"] != id {
		t.Fatalf("same request again: %d %s, want 202 with source %s", same.status, same.body, id)
	}
	for name, body := range map[string]string{
		"other content": `{"documents": [{"title": "A", "url": "a.md", "content": "# A\n\nBeta."}]}`,
		"other title":   `{"documents": [{"title": "B", "url": "a.md", "content": "# A\n\nAlpha."}]}`,
		"a url":         `{"url": "http://127.0.0.1:1/"}`,
	} {
		r := b.do(t, b.alice, "POST", "/v1/sources", strings.NewReader(body), "Idempotency-Key", "k1")
		if r.status != http.StatusUnprocessableEntity || r.errorCode(t) != "idempotency_key_reused" ||
			!strings.Contains(string(r.body), `Idempotency-Key \"k1\" was already used with different parameters (the key was first used for source `+id+`)`) {
			t.Errorf("%s with a used key: %d %s, want 422 idempotency_key_reused", name, r.status, r.body)
		}
	}
	if n := sources(); n != 1 {
		t.Fatalf("%d sources after reusing a key, want 1", n)
	}

	// Uploads: the same files in another order are the same request.
	upload := func(key string, files ...[2]string) response {
		t.Helper()
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		for _, f := range files {
			fw, err := mw.CreateFormFile("files", f[0])
			if err != nil {
				t.Fatal(err)
			}
			_, _ = fw.Write([]byte(f[1]))
		}
		_ = mw.Close()
		return b.do(t, b.alice, "POST", "/v1/sources/upload", &body, "Content-Type", mw.FormDataContentType(), "Idempotency-Key", key)
	}
	a, c := [2]string{"a.md", "# A\n\nAlpha."}, [2]string{"c.md", "# C\n\nGamma."}
	up := upload("k2", a, c)
	if up.status != http.StatusAccepted {
		t.Fatalf("upload: %d %s", up.status, up.body)
	}
	upID := up.json(t)["id"].(string)
	if r := upload("k2", c, a); r.status != http.StatusAccepted || r.json(t)["id"] != upID {
		t.Fatalf("same upload again: %d %s", r.status, r.body)
	}
	if r := upload("k2", a, [2]string{"c.md", "# C\n\nChanged."}); r.status != http.StatusUnprocessableEntity || r.errorCode(t) != "idempotency_key_reused" {
		t.Errorf("upload with other content: %d %s", r.status, r.body)
	}
	if r := upload("k1", a); r.status != http.StatusUnprocessableEntity {
		t.Errorf("upload with the JSON request's key: %d %s", r.status, r.body)
	}
	if r := b.do(t, b.alice, "POST", "/v1/sources", strings.NewReader(`{"documents": [{"content": "x"}]}`), "Idempotency-Key", "k2"); r.status != http.StatusUnprocessableEntity {
		t.Errorf("JSON create with the upload's key: %d %s", r.status, r.body)
	}
	if n := sources(); n != 2 {
		t.Fatalf("%d sources, want 2", n)
	}
}

// TestIdempotencyKeyRace: two different requests with one new key at once.
// Whichever commits first gets 202; the other, whether it finds the source
// before inserting or loses the insert to the unique index, gets 422.
func TestIdempotencyKeyRace(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	for i := range 5 {
		key := fmt.Sprint("race-", i)
		statuses := make([]int, 2)
		var wg sync.WaitGroup
		for j := range 2 {
			wg.Go(func() {
				body := fmt.Sprintf(`{"documents": [{"url": "a.md", "content": "# Request %d\n\nText."}]}`, j)
				statuses[j] = b.do(t, b.alice, "POST", "/v1/sources", strings.NewReader(body), "Idempotency-Key", key).status
			})
		}
		wg.Wait()
		slices.Sort(statuses)
		if statuses[0] != http.StatusAccepted || statuses[1] != http.StatusUnprocessableEntity {
			t.Errorf("key %s: statuses %v, want one 202 and one 422", key, statuses)
		}
	}
}
