package ingest

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/kollektiv/kollektiv/internal/derr"
	"github.com/kollektiv/kollektiv/jobs"
)

// OptionsVersion is the version of the options shape this code writes.
const OptionsVersion = 1

// ErrInvalidOptions is returned for stored source options that cannot be
// read: the source cannot be refreshed until they are repaired.
var ErrInvalidOptions = derr.New(derr.Conflict, "invalid source options")

// Options are what a source keeps of how it was ingested, stored as
// versioned JSON in sources.options: {"version": 1, "crawl": {...}}.
type Options struct {
	Version int `json:"version"`
	// Crawl is set for a URL source.
	Crawl *jobs.CrawlSettings `json:"crawl,omitempty"`
}

// legacyDefaultPages is the page limit both legacy writers used when a
// crawl gave none.
const legacyDefaultPages = 50

// DecodeOptions reads a source's stored options. Besides the current shape
// it reads the two written before it, so sources stored by earlier versions
// refresh as they were created:
//
//   - the API's (no version): {"page_limit", "max_depth", "include_paths",
//     "exclude_paths"}, or null when the request had no crawl object, which
//     meant the page alone;
//   - the CLI's (no version, Go field names): {"MaxPages", "MaxDepth",
//     "Include", "Exclude", "AllowPrivate", ...}.
//
// A URL source always gets Crawl. Anything else is an error naming what is
// wrong, wrapping ErrInvalidOptions.
func DecodeOptions(kind string, raw []byte) (Options, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		raw = []byte("{}")
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(raw, &keys); err != nil {
		return Options{}, fmt.Errorf("%w: want a JSON object: %w", ErrInvalidOptions, err)
	}
	opts := Options{Version: OptionsVersion}
	var err error
	switch {
	case keys["version"] != nil:
		err = decodeStrict(raw, &opts)
		if err == nil && opts.Version != OptionsVersion {
			err = fmt.Errorf("version %d is not known to this version of Kollektiv (it reads %d)", opts.Version, OptionsVersion)
		}
	case keys["page_limit"] != nil || keys["max_depth"] != nil || keys["include_paths"] != nil || keys["exclude_paths"] != nil:
		var api struct {
			PageLimit    int      `json:"page_limit"`
			MaxDepth     int      `json:"max_depth"`
			IncludePaths []string `json:"include_paths"`
			ExcludePaths []string `json:"exclude_paths"`
		}
		if err = decodeStrict(raw, &api); err == nil {
			opts.Crawl = &jobs.CrawlSettings{
				MaxPages: cmp.Or(api.PageLimit, legacyDefaultPages), MaxDepth: api.MaxDepth,
				IncludePaths: api.IncludePaths, ExcludePaths: api.ExcludePaths,
			}
		}
	case keys["MaxPages"] != nil:
		// content.CrawlOptions as the CLI stored it; its tuning fields
		// (Concurrency, Timeout, ...) were never set by the CLI.
		var cli struct {
			MaxPages     int
			MaxDepth     int
			Include      []string
			Exclude      []string
			AllowPrivate bool
		}
		if err = json.Unmarshal(raw, &cli); err == nil {
			opts.Crawl = &jobs.CrawlSettings{
				MaxPages: cmp.Or(cli.MaxPages, legacyDefaultPages), MaxDepth: max(cli.MaxDepth, 0),
				IncludePaths: cli.Include, ExcludePaths: cli.Exclude, AllowPrivate: cli.AllowPrivate,
			}
		}
	case len(keys) > 0:
		err = fmt.Errorf("unknown fields %s", keyList(keys))
	}
	if err != nil {
		return Options{}, fmt.Errorf("%w: %w", ErrInvalidOptions, err)
	}
	if kind == KindURL && opts.Crawl == nil {
		// The API stored null for a URL sent without a crawl object: the
		// page alone.
		opts.Crawl = &jobs.CrawlSettings{MaxPages: 1}
	}
	if opts.Crawl != nil {
		if err := opts.Crawl.Validate(); err != nil {
			return Options{}, fmt.Errorf("%w: crawl: %w", ErrInvalidOptions, err)
		}
	}
	return opts, nil
}

func decodeStrict(raw []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	return dec.Decode(v)
}

func keyList(keys map[string]json.RawMessage) string {
	var b bytes.Buffer
	for _, k := range slices.Sorted(maps.Keys(keys)) {
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q", k)
	}
	return b.String()
}

// CrawlSettings are a URL source's crawl settings (see jobs.CrawlSettings).
type CrawlSettings = jobs.CrawlSettings
