package ingest

import (
	"cmp"
	"fmt"
	"strings"

	"github.com/kollektiv/kollektiv/internal/content"
	"github.com/kollektiv/kollektiv/internal/derr"
)

// DefaultCrawlPages is the page limit of a crawl whose request gives none.
const DefaultCrawlPages = 50

// CrawlRequest is a crawl as a client asks for it: the API's crawl object,
// the MCP server's ingest_url arguments.
type CrawlRequest struct {
	// PageLimit is the most pages to fetch. Default DefaultCrawlPages.
	PageLimit int `json:"page_limit"`
	// MaxDepth is how many links away from the start page to go; 0 is the
	// crawler's default.
	MaxDepth     int      `json:"max_depth"`
	IncludePaths []string `json:"include_paths"`
	ExcludePaths []string `json:"exclude_paths"`
}

// CrawlLimits are what a deployment allows its clients' crawls, never the
// clients' choice.
type CrawlLimits struct {
	// MaxPages is the ceiling of a request's page limit.
	MaxPages int
	// AllowPrivate lets crawls reach private and loopback addresses.
	AllowPrivate bool
}

// CheckCrawl checks a client's crawl request against limits and returns
// the crawl's settings. Without a request the URL's page alone is fetched.
// Its errors are of kind derr.Invalid or derr.TooLarge and name the field
// after prefix ("crawl." for the API's body).
func CheckCrawl(req *CrawlRequest, limits CrawlLimits, prefix string) (CrawlSettings, error) {
	opts := CrawlSettings{MaxPages: 1, AllowPrivate: limits.AllowPrivate}
	if req == nil {
		return opts, nil
	}
	switch {
	case req.PageLimit < 0:
		return opts, derr.New(derr.Invalid, prefix+"page_limit: must not be negative")
	case req.PageLimit > limits.MaxPages:
		return opts, derr.New(derr.TooLarge, fmt.Sprintf("%spage_limit %d is above the limit of %d pages", prefix, req.PageLimit, limits.MaxPages))
	case req.MaxDepth < 0:
		return opts, derr.New(derr.Invalid, prefix+"max_depth: must not be negative")
	}
	opts.MaxPages = cmp.Or(req.PageLimit, DefaultCrawlPages)
	opts.MaxDepth = req.MaxDepth
	opts.IncludePaths, opts.ExcludePaths = req.IncludePaths, req.ExcludePaths
	return opts, nil
}

// CheckURLCrawl is CheckCrawl for a crawl of url, which must be an http or
// https URL the crawler accepts with those settings (errors name it url).
func CheckURLCrawl(url string, req *CrawlRequest, limits CrawlLimits, prefix string) (CrawlSettings, error) {
	crawl, err := CheckCrawl(req, limits, prefix)
	if err != nil {
		return crawl, err
	}
	if !strings.HasPrefix(url, "http://") && !strings.HasPrefix(url, "https://") {
		return crawl, derr.New(derr.Invalid, "url: want an http or https URL")
	}
	if err := content.ValidateCrawl(url, crawl.ContentOptions()); err != nil {
		return crawl, derr.New(derr.Invalid, "url: "+err.Error())
	}
	return crawl, nil
}
