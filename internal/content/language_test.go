package content

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kollektiv/kollektiv/internal/testcorpus"
)

// Short pages written for these tests, as documentation reads: a heading,
// prose, and code that must not count.
var languagePages = map[string]string{
	"en": "# Installation\n\nTo install the application, first download the package and unpack it into a directory of your choice. Then start the server with the following command.\n\n```sh\nkollektiv serve --port 8080\n```\n",
	"de": "# Installation\n\nUm die Anwendung zu installieren, laden Sie zuerst das Paket herunter und entpacken Sie es in ein Verzeichnis Ihrer Wahl. Danach starten Sie den Server mit dem folgenden Befehl. Die Einstellungen werden aus der Datei gelesen, die im Arbeitsverzeichnis liegt, und Änderungen daran gelten erst nach einem Neustart des Dienstes, den Sie selbst auslösen.\n\n```sh\nkollektiv serve --port 8080\n```\n",
	"fr": "# Premiers pas\n\nPour installer l'application, téléchargez d'abord le paquet puis décompressez-le dans le répertoire de votre choix. Ensuite, lancez le serveur avec la commande suivante. Les réglages sont lus depuis le fichier qui se trouve dans le répertoire de travail, et leurs modifications ne prennent effet qu'après une relance du service que vous effectuez vous-même.\n",
	"ru": "# Установка\n\nЧтобы установить приложение, сначала скачайте пакет и распакуйте его в любой удобный каталог. Затем запустите сервер следующей командой.\n",
	"zh": "# 安装\n\n要安装此应用程序，请先下载软件包并将其解压到您选择的目录中。然后使用以下命令启动服务器。\n",
	"ja": "# インストール\n\nアプリケーションをインストールするには、まずパッケージをダウンロードして、任意のディレクトリに展開してください。\n",
}

func TestDetectLanguage(t *testing.T) {
	t.Parallel()
	for want, page := range languagePages {
		if got := DetectLanguage(page); got != want {
			t.Errorf("%s page: detected %q", want, got)
		}
	}
	for name, page := range map[string]string{
		// Too short to trust a language other than English.
		"short German": "# Pfadparameter\n\nSie können Pfadparameter mit derselben Syntax deklarieren, die Python verwendet.\n",
		"code only":    "```go\nfunc main() {\n\tfmt.Println(\"Bonjour, le monde, comment allez-vous aujourd'hui\")\n}\n```\n",
		"one line":     "# Setup\n\nRun it.\n",
		"empty":        "",
		"inline code and links": "`kollektiv serve --port 8080 --workers 4` [x](https://example.com/ein/langer/pfad/mit/vielen/worten) " +
			"<span class=\"hinweis-auf-etwas-sehr-langes\">",
	} {
		if got := DetectLanguage(page); got != "" {
			t.Errorf("%s: detected %q, want undetermined", name, got)
		}
	}
}

func TestDocumentLanguage(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		metadata map[string]any
		want     string
	}{
		{nil, "de"},
		{map[string]any{"lang": "fr"}, "fr"},
		{map[string]any{"language": "pt-BR"}, "pt"},
		{map[string]any{"lang": "en_US"}, "en"},
		{map[string]any{"lang": "Klingon"}, "de"}, // not a code: detected
		{map[string]any{"lang": 42}, "de"},
		{map[string]any{"lang": "", "language": "RU"}, "ru"},
	} {
		if got := DocumentLanguage(tt.metadata, languagePages["de"]); got != tt.want {
			t.Errorf("metadata %v: %q, want %q", tt.metadata, got, tt.want)
		}
	}
}

func TestProse(t *testing.T) {
	t.Parallel()
	got := prose("# Title\n\nSee `code()` and [the guide](https://x.example/a) or https://y.example/b <br/> now.\n"+
		"```python\nprint('hidden')\n```\n~~~\nalso hidden\n~~~~\nafter\n", 1000)
	for _, hidden := range []string{"code()", "x.example", "y.example", "br/", "hidden"} {
		if strings.Contains(got, hidden) {
			t.Errorf("prose kept %q:\n%s", hidden, got)
		}
	}
	for _, kept := range []string{"Title", "See", "the guide", "now.", "after"} {
		if !strings.Contains(got, kept) {
			t.Errorf("prose lost %q:\n%s", kept, got)
		}
	}
	if got := prose(strings.Repeat("é", 100), 51); len(got) > 51 || !strings.HasPrefix(strings.Repeat("é", 100), got) {
		t.Errorf("prose cut mid-character or over the limit: %q", got)
	}
}

// TestDetectLanguageCorpus detects every page of the English corpus: short
// tldr pages and long book chapters alike must come out English or
// undetermined (indexed as English), since a page called Danish would be
// stemmed as Danish and missed by English queries.
func TestDetectLanguageCorpus(t *testing.T) {
	t.Parallel()
	docs, _, err := LoadPath(context.Background(), testcorpus.Dir(t), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	var wrong []string
	fast := 0
	for i, d := range docs {
		if (testing.Short() || raceEnabled) && i%10 != 0 {
			continue
		}
		lang := DocumentLanguage(d.Metadata, d.Content)
		counts[lang]++
		if looksEnglish(prose(d.Content, languageSampleBytes)) {
			fast++
			// The shortcut never overrules the detector: English or
			// undetermined (indexed as English) without it.
			if lang := detectLanguage(prose(d.Content, languageSampleBytes)); lang != "en" && lang != "" {
				wrong = append(wrong, fmt.Sprintf("%s: looks English, detected %s", d.URL, lang))
			}
		}
		if lang != "en" && lang != "" {
			wrong = append(wrong, d.URL+": "+lang)
		}
	}
	t.Logf("languages: %v; %d English by the marker words alone", counts, fast)
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		t.Logf("%q: %d", k, counts[k])
	}
	if len(wrong) > 0 {
		t.Errorf("%d English pages detected as another language:\n%s", len(wrong), strings.Join(wrong, "\n"))
	}
}

// BenchmarkDetectLanguage is DocumentLanguage over the Rust book and the
// FastAPI docs, one document at a time as the chunking job calls it, each
// right after the chunker has chunked the same document: on a shared
// machine the two see the same load, and detect/chunk is the share of
// chunking time that detection adds.
func BenchmarkDetectLanguage(b *testing.B) {
	root := testcorpus.Dir(b)
	var docs []Document
	for _, set := range []string{"rust-book", "fastapi"} {
		more, _, err := LoadPath(context.Background(), filepath.Join(root, set), LoadOptions{})
		if err != nil {
			b.Fatal(err)
		}
		docs = append(docs, more...)
	}
	c := newTestChunker(b, ChunkerOptions{})
	var chunking, detecting time.Duration
	for b.Loop() {
		for _, d := range docs {
			start := time.Now()
			if _, err := c.Chunk(testDocID, d.Content); err != nil {
				b.Fatal(err)
			}
			chunked := time.Now()
			DocumentLanguage(d.Metadata, d.Content)
			chunking += chunked.Sub(start)
			detecting += time.Since(chunked)
		}
	}
	b.ReportMetric(float64(detecting.Microseconds())/float64(b.N*len(docs)), "detect-us/doc")
	b.ReportMetric(float64(chunking.Microseconds())/float64(b.N*len(docs)), "chunk-us/doc")
	b.ReportMetric(float64(detecting)/float64(chunking), "detect/chunk")
}
