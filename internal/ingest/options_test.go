package ingest

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/kollektiv/kollektiv/jobs"
)

// TestDecodeOptions reads the current options shape and the two that
// earlier versions stored (the API's crawlRequest, the CLI's untagged
// content.CrawlOptions), and refuses anything else with a clear error.
func TestDecodeOptions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, kind, raw string
		want            *jobs.CrawlSettings
	}{
		{"current", KindURL, `{"version":1,"crawl":{"max_pages":20,"max_depth":2,"include_paths":["/docs/**"],"allow_private":true}}`,
			&jobs.CrawlSettings{MaxPages: 20, MaxDepth: 2, IncludePaths: []string{"/docs/**"}, AllowPrivate: true}},
		{"legacy API", KindURL, `{"page_limit":10,"max_depth":1,"include_paths":null,"exclude_paths":["/blog/**"]}`,
			&jobs.CrawlSettings{MaxPages: 10, MaxDepth: 1, ExcludePaths: []string{"/blog/**"}}},
		{"legacy API, page limit left out", KindURL, `{"page_limit":0,"max_depth":0,"include_paths":null,"exclude_paths":null}`,
			&jobs.CrawlSettings{MaxPages: 50}},
		{"legacy API without a crawl object", KindURL, `null`, &jobs.CrawlSettings{MaxPages: 1}},
		{"legacy CLI", KindURL, `{"MaxPages":200,"MaxDepth":4,"Include":["/a/*"],"Exclude":null,"Concurrency":0,"Timeout":0,"MaxBytes":0,"MaxRedirects":0,"UserAgent":"","IgnoreRobots":false,"AllowPrivate":true}`,
			&jobs.CrawlSettings{MaxPages: 200, MaxDepth: 4, IncludePaths: []string{"/a/*"}, AllowPrivate: true}},
		{"files", KindFiles, `{}`, nil},
		{"current files", KindFiles, `{"version":1}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := DecodeOptions(tc.kind, []byte(tc.raw))
			if err != nil {
				t.Fatal(err)
			}
			if got.Version != OptionsVersion || !reflect.DeepEqual(got.Crawl, tc.want) {
				t.Fatalf("decoded %+v (crawl %+v), want crawl %+v", got, got.Crawl, tc.want)
			}
		})
	}
	for _, tc := range []struct{ name, raw, want string }{
		{"not JSON", `{"page_limit":`, "want a JSON object"},
		{"an array", `[1]`, "want a JSON object"},
		{"unknown shape", `{"depth":3}`, `unknown fields "depth"`},
		{"future version", `{"version":2,"crawl":{"max_pages":3}}`, "version 2 is not known"},
		{"unknown field in current shape", `{"version":1,"crawl":{"max_pages":3,"pages":4}}`, `unknown field "pages"`},
		{"wrong type in legacy API shape", `{"page_limit":"ten"}`, "page_limit"},
		{"invalid settings", `{"version":1,"crawl":{"max_pages":0}}`, "max_pages: 0, want at least 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := DecodeOptions(KindURL, []byte(tc.raw))
			if !errors.Is(err, ErrInvalidOptions) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want ErrInvalidOptions naming %q", err, tc.want)
			}
		})
	}
}
