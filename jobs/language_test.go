package jobs_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/kollektiv/kollektiv/internal/content"
	"github.com/kollektiv/kollektiv/internal/ingest"
	"github.com/kollektiv/kollektiv/internal/lifecycle"
)

// TestPipelineDocumentLanguage checks that the chunking job stores each
// document's language, detected or from front matter, on the document and
// every one of its chunks, and notes it among the user's languages.
func TestPipelineDocumentLanguage(t *testing.T) {
	t.Parallel()
	b := setup(t, testOpts{})
	ctx := context.Background()

	docs := []content.Document{
		doc(t, "de.md", "# Installation\n\nUm die Anwendung zu installieren, laden Sie zuerst das Paket herunter und entpacken Sie es in ein "+
			"Verzeichnis Ihrer Wahl. Danach starten Sie den Server mit dem folgenden Befehl. Die Einstellungen werden aus der Datei "+
			"gelesen, die im Arbeitsverzeichnis liegt, und Änderungen daran gelten erst nach einem Neustart des Dienstes, den Sie selbst auslösen.\n"),
		doc(t, "ja.md", "# インストール\n\nアプリケーションをインストールするには、まずパッケージをダウンロードして、任意のディレクトリに展開してください。\n"),
		// Front matter wins over what the text looks like.
		doc(t, "fr.md", "---\nlang: fr-CA\n---\n# Notes\n\nThis page is written in English but says it is French.\n"),
		doc(t, "code.md", "```go\nfunc main() {}\n```\n"),
	}
	added, err := b.ingest.Add(ctx, ingest.AddParams{UserID: "alice", Kind: ingest.KindInline, Documents: docs})
	if err != nil {
		t.Fatal(err)
	}
	source := waitTerminal(t, b, added.Source.ID)
	if lifecycle.Stage(source.Stage) != lifecycle.StageCompleted {
		t.Fatalf("source ended %+v", source)
	}

	rows, err := b.pool.Query(ctx, `
		SELECT d.url, d.language, count(c.id), count(c.id) FILTER (WHERE c.language = d.language)
		FROM documents d LEFT JOIN chunks c ON c.document_id = d.id
		WHERE d.source_id = $1 GROUP BY d.url, d.language`, source.ID)
	if err != nil {
		t.Fatal(err)
	}
	type stored struct {
		language       string
		chunks, copied int
	}
	got := map[string]stored{}
	for rows.Next() {
		var url string
		var s stored
		if err := rows.Scan(&url, &s.language, &s.chunks, &s.copied); err != nil {
			t.Fatal(err)
		}
		got[url] = s
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for url, want := range map[string]string{"de.md": "de", "ja.md": "ja", "fr.md": "fr", "code.md": ""} {
		s := got[url]
		if s.language != want || s.chunks == 0 || s.copied != s.chunks {
			t.Errorf("%s: language %q with %d chunks, %d of them with the document's language; want %q on all", url, s.language, s.chunks, s.copied, want)
		}
	}

	rows, err = b.pool.Query(ctx, "SELECT language FROM chunk_languages WHERE user_id = 'alice' ORDER BY language")
	if err != nil {
		t.Fatal(err)
	}
	languages, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"", "de", "fr", "ja"}; !equal(languages, want) {
		t.Errorf("alice's chunk languages %v, want %v", languages, want)
	}
}
