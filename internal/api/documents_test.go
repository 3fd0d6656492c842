package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
)

// documentList is the body of GET /v1/sources/{id}/documents, decoded
// strictly enough that a renamed field fails.
type documentList struct {
	SourceID   string           `json:"source_id"`
	Status     string           `json:"status"`
	Documents  []map[string]any `json:"documents"`
	NextCursor string           `json:"next_cursor"`
	Next       string           `json:"next"`
}

func (b *testBundle) listDocuments(t *testing.T, key, path string) documentList {
	t.Helper()
	r := b.do(t, key, "GET", path, nil)
	if r.status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, r.status, r.body)
	}
	var l documentList
	if err := json.Unmarshal(r.body, &l); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, r.body)
	}
	return l
}

// longGuide is a document of several chunks.
func longGuide(topic string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# %s handbook\n\n", topic)
	for i := range 8 {
		fmt.Fprintf(&b, "## %s chapter %d\n\n", topic, i)
		for j := range 12 {
			fmt.Fprintf(&b, "The %s engine processes batch %d in chapter %d and reports its progress clearly to the operator. ", topic, j, i)
		}
		b.WriteString("\n\n")
	}
	return b.String()
}

// TestDocuments lists a source's documents page by page, filters them by
// status, shows a failed one's reason, and reads a document with its
// chunks, also page by page.
func TestDocuments(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	ctx := context.Background()

	// Eleven documents, sent out of order, one of them failing and one
	// with front matter.
	var docs []map[string]string
	for _, i := range []int{7, 2, 9, 0, 4, 10, 1, 6, 3, 8} {
		docs = append(docs, map[string]string{"title": fmt.Sprint("Doc ", i), "url": fmt.Sprintf("guide/%02d.md", i), "content": guide(fmt.Sprint("topic", i))})
	}
	docs[0]["content"] = longGuide("topic7")
	docs[3]["content"] = "---\ntags: [async, io]\nauthor: Ada\n---\n" + docs[3]["content"]
	docs = append(docs, map[string]string{"title": "Empty", "url": "guide/empty.md", "content": "   "})
	source := b.createInline(t, b.alice, docs...)
	id := source["id"].(string)
	if source["documents"] != float64(11) || source["failed_documents"] != float64(1) {
		t.Fatalf("source finished as %v", source)
	}
	// The language is the pipeline's; set one here to see it shown.
	if _, err := b.app.Pool.Exec(ctx, "UPDATE documents SET language = 'de' WHERE url = 'guide/04.md'"); err != nil {
		t.Fatal(err)
	}

	t.Run("Paging", func(t *testing.T) {
		var urls []string
		byURL := map[string]map[string]any{}
		path := "/v1/sources/" + id + "/documents?limit=3"
		for pages := 1; ; pages++ {
			l := b.listDocuments(t, b.alice, path)
			if l.SourceID != id || len(l.Documents) > 3 {
				t.Fatalf("page %d: source %s, %d documents", pages, l.SourceID, len(l.Documents))
			}
			for _, d := range l.Documents {
				urls = append(urls, d["url"].(string))
				byURL[d["url"].(string)] = d
			}
			if l.Next == "" {
				if l.NextCursor != "" || pages != 4 {
					t.Fatalf("last page %d: next_cursor %q", pages, l.NextCursor)
				}
				break
			}
			// next is the path of the next page; next_cursor its cursor.
			if !strings.Contains(l.Next, "cursor="+url.QueryEscape(l.NextCursor)) || !strings.Contains(l.Next, "limit=3") {
				t.Fatalf("next %q does not carry next_cursor %q and the limit", l.Next, l.NextCursor)
			}
			path = l.Next
			if pages > 5 {
				t.Fatal("paging does not end")
			}
		}
		want := []string{"guide/00.md", "guide/01.md", "guide/02.md", "guide/03.md", "guide/04.md", "guide/06.md", "guide/07.md", "guide/08.md", "guide/09.md", "guide/10.md", "guide/empty.md"}
		if !slices.Equal(urls, want) {
			t.Fatalf("pages gave %v, want every document once in url order %v", urls, want)
		}
		// The same pages again: the order is stable.
		var again []string
		for path := "/v1/sources/" + id + "/documents?limit=3"; path != ""; {
			l := b.listDocuments(t, b.alice, path)
			for _, d := range l.Documents {
				again = append(again, d["url"].(string))
			}
			path = l.Next
		}
		if !slices.Equal(again, urls) {
			t.Fatalf("second paging %v, first %v", again, urls)
		}

		d := byURL["guide/04.md"]
		var stored struct {
			id        string
			size      int
			chunks    int
			createdAt string
		}
		if err := b.app.Pool.QueryRow(ctx, "SELECT id::text, octet_length(content), chunk_count FROM documents WHERE url = 'guide/04.md'").Scan(&stored.id, &stored.size, &stored.chunks); err != nil {
			t.Fatal(err)
		}
		if d["id"] != stored.id || d["source_id"] != id || d["title"] != "Doc 4" || d["status"] != "embedded" ||
			d["chunk_count"] != float64(stored.chunks) || stored.chunks < 1 || d["size_bytes"] != float64(stored.size) ||
			d["language"] != "de" || d["created_at"] == nil || d["updated_at"] == nil {
			t.Errorf("document %v, stored %+v", d, stored)
		}
		if _, ok := d["error"]; ok {
			t.Errorf("an embedded document has an error: %v", d)
		}
		if meta, _ := byURL["guide/00.md"]["metadata"].(map[string]any); meta["author"] != "Ada" || fmt.Sprint(meta["tags"]) != "[async io]" {
			t.Errorf("front matter metadata %v", byURL["guide/00.md"]["metadata"])
		}
		if meta, ok := byURL["guide/01.md"]["metadata"].(map[string]any); !ok || meta == nil {
			t.Errorf("a document without metadata shows %v, want {}", byURL["guide/01.md"]["metadata"])
		}
		for u, d := range byURL {
			if _, ok := d["content"]; ok {
				t.Errorf("%s: the listing returns content", u)
			}
		}
	})

	t.Run("Status", func(t *testing.T) {
		failed := b.listDocuments(t, b.alice, "/v1/sources/"+id+"/documents?status=failed")
		if failed.Status != "failed" || len(failed.Documents) != 1 || failed.Next != "" {
			t.Fatalf("status=failed: %+v", failed)
		}
		f := failed.Documents[0]
		if f["url"] != "guide/empty.md" || f["status"] != "failed" || f["error"] == nil || f["error"] == "" || f["chunk_count"] != float64(0) {
			t.Errorf("failed document %v: want its reason", f)
		}
		embedded := b.listDocuments(t, b.alice, "/v1/sources/"+id+"/documents?status=embedded&limit=4")
		if len(embedded.Documents) != 4 || !strings.Contains(embedded.Next, "status=embedded") {
			t.Fatalf("status=embedded, limit 4: %d documents, next %q", len(embedded.Documents), embedded.Next)
		}
		n := 0
		for path := "/v1/sources/" + id + "/documents?status=embedded&limit=4"; path != ""; {
			l := b.listDocuments(t, b.alice, path)
			for _, d := range l.Documents {
				if d["status"] != "embedded" {
					t.Errorf("status=embedded lists %v", d)
				}
				n++
			}
			path = l.Next
		}
		if n != 10 {
			t.Errorf("status=embedded: %d documents over its pages, want 10", n)
		}
		if l := b.listDocuments(t, b.alice, "/v1/sources/"+id+"/documents?status=pending"); len(l.Documents) != 0 {
			t.Errorf("status=pending lists %v", l.Documents)
		}
	})

	t.Run("Document", func(t *testing.T) {
		var docID string
		var chunkCount int
		if err := b.app.Pool.QueryRow(ctx, "SELECT id::text, chunk_count FROM documents WHERE url = 'guide/07.md'").Scan(&docID, &chunkCount); err != nil {
			t.Fatal(err)
		}
		if chunkCount < 2 {
			t.Fatalf("guide/07.md has %d chunks; the test needs at least 2", chunkCount)
		}
		// The chunker's anchors and merged headings, set here so that their
		// display does not depend on it: none on chunk 0, both on chunk 1.
		if _, err := b.app.Pool.Exec(ctx, `UPDATE chunks SET anchor = CASE ordinal WHEN 1 THEN 'topic7-chapter-0' ELSE '' END,
			headings = CASE ordinal WHEN 1 THEN '{"Aside","Note"}'::text[] ELSE '{}' END
			WHERE document_id = $1 AND ordinal IN (0, 1)`, docID); err != nil {
			t.Fatal(err)
		}

		r := b.do(t, b.alice, "GET", "/v1/documents/"+docID, nil)
		if r.status != http.StatusOK {
			t.Fatalf("get document: %d %s", r.status, r.body)
		}
		d := r.json(t)
		if d["id"] != docID || d["source_id"] != id || d["url"] != "guide/07.md" || d["title"] != "Doc 7" || d["status"] != "embedded" || d["chunk_count"] != float64(chunkCount) {
			t.Fatalf("document %s", r.body)
		}
		if _, ok := d["content"]; ok {
			t.Errorf("content without content=true")
		}
		chunks := d["chunks"].([]any)
		if len(chunks) != chunkCount || d["next_chunk_cursor"] != nil {
			t.Fatalf("%d chunks of %d in one default page, next %v", len(chunks), chunkCount, d["next_chunk_cursor"])
		}
		var model string
		if err := b.app.Pool.QueryRow(ctx, "SELECT embedding_model FROM chunks WHERE document_id = $1 LIMIT 1", docID).Scan(&model); err != nil {
			t.Fatal(err)
		}
		for i, c := range chunks {
			c := c.(map[string]any)
			headers, _ := c["headers"].([]any)
			if c["ordinal"] != float64(i) || c["embedded"] != true || c["embedding_model"] != model || c["text"] == "" ||
				c["token_count"].(float64) < 1 || len(headers) == 0 || headers[0] != "topic7 handbook" {
				t.Errorf("chunk %d: %v", i, c)
			}
		}
		first, second := chunks[0].(map[string]any), chunks[1].(map[string]any)
		if first["url"] != "guide/07.md" || first["anchor"] != "" || fmt.Sprint(first["headings"]) != "[]" {
			t.Errorf("chunk 0 without an anchor: %v", first)
		}
		if second["url"] != "guide/07.md#topic7-chapter-0" || second["anchor"] != "topic7-chapter-0" || fmt.Sprint(second["headings"]) != "[Aside Note]" {
			t.Errorf("chunk 1 with an anchor and headings: %v", second)
		}

		// One chunk a page: every chunk once, in order.
		var ordinals []float64
		var ids []string
		path := "/v1/documents/" + docID + "?chunk_limit=1&content=true"
		for pages := 0; path != ""; pages++ {
			r := b.do(t, b.alice, "GET", path, nil)
			if r.status != http.StatusOK {
				t.Fatalf("GET %s: %d %s", path, r.status, r.body)
			}
			d := r.json(t)
			if content, _ := d["content"].(string); !strings.Contains(content, "The topic7 engine processes batch") {
				t.Fatalf("content=true: content %.100q", content)
			}
			for _, c := range d["chunks"].([]any) {
				ordinals = append(ordinals, c.(map[string]any)["ordinal"].(float64))
				ids = append(ids, c.(map[string]any)["id"].(string))
			}
			path, _ = d["next_chunks"].(string)
			if next, _ := d["next_chunk_cursor"].(string); path != "" && !strings.Contains(path, "chunk_cursor="+url.QueryEscape(next)) {
				t.Fatalf("next_chunks %q does not carry next_chunk_cursor %q", path, next)
			}
			if pages > chunkCount {
				t.Fatal("chunk paging does not end")
			}
		}
		if len(ordinals) != chunkCount || !slices.IsSorted(ordinals) || ordinals[0] != 0 || ordinals[len(ordinals)-1] != float64(chunkCount-1) {
			t.Fatalf("chunk pages gave ordinals %v of %d chunks", ordinals, chunkCount)
		}
		if len(slices.Compact(slices.Sorted(slices.Values(ids)))) != chunkCount {
			t.Fatalf("chunk pages repeat a chunk: %v", ids)
		}

		// The failed document: its reason and no chunks.
		var failedID string
		if err := b.app.Pool.QueryRow(ctx, "SELECT id::text FROM documents WHERE url = 'guide/empty.md'").Scan(&failedID); err != nil {
			t.Fatal(err)
		}
		f := b.do(t, b.alice, "GET", "/v1/documents/"+failedID, nil).json(t)
		if f["status"] != "failed" || f["error"] == nil || f["error"] == "" || len(f["chunks"].([]any)) != 0 {
			t.Errorf("failed document %v", f)
		}
	})

	t.Run("BadRequests", func(t *testing.T) {
		var docID string
		if err := b.app.Pool.QueryRow(ctx, "SELECT id::text FROM documents WHERE url = 'guide/01.md'").Scan(&docID); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct{ path, want string }{
			{"/v1/sources/not-a-uuid/documents", "id:"},
			{"/v1/sources/" + strings.ReplaceAll(id, "-", "") + "/documents", "id:"},
			{"/v1/documents/not-a-uuid", "id:"},
			{"/v1/documents/" + docID + "x", "id:"},
			{"/v1/sources/" + id + "/documents?limit=0", "limit:"},
			{"/v1/sources/" + id + "/documents?limit=1001", "limit:"},
			{"/v1/sources/" + id + "/documents?limit=abc", "limit:"},
			{"/v1/sources/" + id + "/documents?status=done", "status:"},
			{"/v1/sources/" + id + "/documents?status=FAILED", "status:"},
			{"/v1/sources/" + id + "/documents?cursor=garbage", "cursor:"},
			{"/v1/documents/" + docID + "?chunk_limit=0", "chunk_limit:"},
			{"/v1/documents/" + docID + "?chunk_limit=501", "chunk_limit:"},
			{"/v1/documents/" + docID + "?chunk_cursor=garbage", "chunk_cursor:"},
			{"/v1/documents/" + docID + "?content=maybe", "content:"},
		} {
			msg := checkError(t, tc.path, b.do(t, b.alice, "GET", tc.path, nil), http.StatusBadRequest, "invalid")
			if !strings.HasPrefix(msg, tc.want) {
				t.Errorf("%s: message %q does not name %s", tc.path, msg, tc.want)
			}
		}
		// A source's cursor is not a document's chunk cursor, nor another
		// source's cursor.
		next := b.listDocuments(t, b.alice, "/v1/sources/"+id+"/documents?limit=1").NextCursor
		checkError(t, "a document cursor as a chunk cursor", b.do(t, b.alice, "GET", "/v1/documents/"+docID+"?chunk_cursor="+next, nil), http.StatusBadRequest, "invalid")
		other := b.createInline(t, b.alice, map[string]string{"url": "other.md", "content": guide("other")})
		checkError(t, "another source's cursor", b.do(t, b.alice, "GET", "/v1/sources/"+other["id"].(string)+"/documents?cursor="+next, nil), http.StatusBadRequest, "invalid")
		// A source with documents of none of a status lists empty, not 404.
		if l := b.listDocuments(t, b.alice, "/v1/sources/"+other["id"].(string)+"/documents?status=failed"); len(l.Documents) != 0 || l.Next != "" {
			t.Errorf("no failed documents: %+v", l)
		}
	})
}

// docCursor makes a cursor in the API's format: what a client who read
// the format could craft.
func docCursor(kind string, id, rest string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(kind + id + rest))
}

// TestDocumentsIsolation: another user's source, document and cursors
// answer exactly as missing ones do, for a user key and an admin key, and a
// crafted cursor never reaches another user's rows.
func TestDocumentsIsolation(t *testing.T) {
	t.Parallel()
	b := setup(t, nil)
	ctx := context.Background()
	alice := b.createInline(t, b.alice,
		map[string]string{"title": "Secret plans", "url": "b-secret.md", "content": longGuide("zanzibar")},
		map[string]string{"title": "Secret too", "url": "d-secret.md", "content": guide("zanzibar")},
	)
	bob := b.createInline(t, b.bob,
		map[string]string{"title": "Bob A", "url": "a.md", "content": guide("bob")},
		map[string]string{"title": "Bob C", "url": "c.md", "content": guide("bob")},
	)
	aliceID, bobID := alice["id"].(string), bob["id"].(string)
	var aliceDoc, bobDoc string
	if err := b.app.Pool.QueryRow(ctx, "SELECT id::text FROM documents WHERE url = 'b-secret.md'").Scan(&aliceDoc); err != nil {
		t.Fatal(err)
	}
	if err := b.app.Pool.QueryRow(ctx, "SELECT id::text FROM documents WHERE url = 'a.md'").Scan(&bobDoc); err != nil {
		t.Fatal(err)
	}
	aliceNext := b.listDocuments(t, b.alice, "/v1/sources/"+aliceID+"/documents?limit=1").NextCursor
	aliceChunkNext, _ := b.do(t, b.alice, "GET", "/v1/documents/"+aliceDoc+"?chunk_limit=1", nil).json(t)["next_chunk_cursor"].(string)
	if aliceNext == "" || aliceChunkNext == "" {
		t.Fatal("alice's source needs more than one page of documents and of chunks")
	}

	// Bob and the admin (whose key is another user's) see alice's source,
	// document and cursors as they see random ones: 404, same body.
	random := uuid.NewString()
	for _, key := range []struct{ name, secret string }{{"bob", b.bob}, {"admin", b.admin}} {
		for _, tc := range []struct{ theirs, unknown string }{
			{"/v1/sources/" + aliceID + "/documents", "/v1/sources/" + random + "/documents"},
			{"/v1/sources/" + aliceID + "/documents?status=embedded&limit=1", "/v1/sources/" + random + "/documents?status=embedded&limit=1"},
			{"/v1/sources/" + aliceID + "/documents?cursor=" + aliceNext, "/v1/sources/" + random + "/documents?cursor=" + docCursor("d", random, "b-secret.md")},
			{"/v1/documents/" + aliceDoc, "/v1/documents/" + random},
			{"/v1/documents/" + aliceDoc + "?content=true", "/v1/documents/" + random + "?content=true"},
			{"/v1/documents/" + aliceDoc + "?chunk_cursor=" + aliceChunkNext, "/v1/documents/" + random + "?chunk_cursor=" + docCursor("c", random, "0:"+uuid.NewString())},
		} {
			theirs := b.do(t, key.secret, "GET", tc.theirs, nil)
			unknown := b.do(t, key.secret, "GET", tc.unknown, nil)
			checkError(t, key.name+" "+tc.theirs, theirs, http.StatusNotFound, "not_found")
			if !bytes.Equal(theirs.body, unknown.body) || theirs.status != unknown.status {
				t.Errorf("%s GET %s: %d %s; a random id: %d %s", key.name, tc.theirs, theirs.status, theirs.body, unknown.status, unknown.body)
			}
			for _, secret := range []string{"zanzibar", "Secret", "secret.md"} {
				if strings.Contains(string(theirs.body), secret) {
					t.Errorf("%s GET %s leaks %q: %s", key.name, tc.theirs, secret, theirs.body)
				}
			}
		}
	}

	// Alice's cursors on bob's own source and document are refused; a
	// cursor bob crafts for his source from alice's urls only positions
	// his own listing.
	checkError(t, "alice's cursor on bob's source", b.do(t, b.bob, "GET", "/v1/sources/"+bobID+"/documents?cursor="+aliceNext, nil), http.StatusBadRequest, "invalid")
	checkError(t, "alice's chunk cursor on bob's document", b.do(t, b.bob, "GET", "/v1/documents/"+bobDoc+"?chunk_cursor="+aliceChunkNext, nil), http.StatusBadRequest, "invalid")
	crafted := b.listDocuments(t, b.bob, "/v1/sources/"+bobID+"/documents?cursor="+docCursor("d", bobID, "b-secret.md"))
	if len(crafted.Documents) != 1 || crafted.Documents[0]["url"] != "c.md" {
		t.Errorf("bob's crafted cursor after b-secret.md lists %v, want only his c.md", crafted.Documents)
	}
	for _, c := range []string{
		docCursor("d", bobID, ""),
		docCursor("d", bobID, "a\x00b"),
		docCursor("d", bobID, "\xff"),
		docCursor("c", bobID, "a.md"),
		docCursor("d", bobID, "' OR 1=1 --") + "%00",
		"%00",
	} {
		checkError(t, "crafted cursor "+c, b.do(t, b.bob, "GET", "/v1/sources/"+bobID+"/documents?cursor="+c, nil), http.StatusBadRequest, "invalid")
	}
	// A chunk cursor bob crafts for his document from alice's chunk ids
	// reads only his document's chunks.
	var aliceChunk string
	if err := b.app.Pool.QueryRow(ctx, "SELECT id::text FROM chunks WHERE document_id = $1 ORDER BY ordinal LIMIT 1", aliceDoc).Scan(&aliceChunk); err != nil {
		t.Fatal(err)
	}
	r := b.do(t, b.bob, "GET", "/v1/documents/"+bobDoc+"?chunk_cursor="+docCursor("c", bobDoc, "0:"+aliceChunk), nil)
	if r.status != http.StatusOK || strings.Contains(string(r.body), "zanzibar") {
		t.Errorf("bob's crafted chunk cursor: %d %s", r.status, r.body)
	}
	for _, c := range r.json(t)["chunks"].([]any) {
		if c.(map[string]any)["ordinal"].(float64) < 0 || !strings.Contains(c.(map[string]any)["text"].(string), "bob") {
			t.Errorf("bob's crafted chunk cursor reads %v", c)
		}
	}
	for _, c := range []string{
		docCursor("c", bobDoc, "-1:"+aliceChunk),
		docCursor("c", bobDoc, "99999999999:"+aliceChunk),
		docCursor("c", bobDoc, "0:"+aliceChunk+"'--"),
		docCursor("c", bobDoc, "0"),
	} {
		checkError(t, "crafted chunk cursor "+c, b.do(t, b.bob, "GET", "/v1/documents/"+bobDoc+"?chunk_cursor="+c, nil), http.StatusBadRequest, "invalid")
	}

	// Alice still sees hers.
	if l := b.listDocuments(t, b.alice, "/v1/sources/"+aliceID+"/documents"); len(l.Documents) != 2 {
		t.Fatalf("alice's documents after bob: %+v", l)
	}
}
