package content

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// CrawlOptions are the options of Crawl and Fetch. The zero value gives the
// defaults.
type CrawlOptions struct {
	// MaxPages is the most pages requested. Default 50. Fetch requests one.
	MaxPages int
	// MaxDepth is how many links away from the start page the crawl goes.
	// Default 3; negative means only the start page.
	MaxDepth int
	// Include lists path patterns a page must match (any of them) to be
	// crawled; the start page is always crawled. "*" matches within one
	// path segment, "**" across segments: "/docs/**". Default: all paths.
	Include []string
	// Exclude lists path patterns of pages not crawled, in the syntax of
	// Include. Default: none.
	Exclude []string
	// Concurrency is the most requests in flight. Default 4.
	Concurrency int
	// Timeout bounds each request, body included. Default 15s.
	Timeout time.Duration
	// MaxBytes is the size limit of one page. Default
	// DefaultMaxDocumentBytes.
	MaxBytes int
	// MaxRedirects is the most redirects followed for one request; they
	// must stay on the site. Default 5.
	MaxRedirects int
	// UserAgent is sent with every request and matched against robots.txt.
	// Default "KollektivBot/1.0".
	UserAgent string
	// IgnoreRobots skips robots.txt. Default false: robots.txt is obeyed.
	IgnoreRobots bool
	// AllowPrivate allows requests to loopback, private, link-local and
	// other non-public addresses. Default false: such addresses are
	// refused when dialling, after DNS resolution, so a name that resolves
	// to one is refused too.
	AllowPrivate bool
	// BatchPages is how many pages CrawlFrom fetches between two calls of
	// its batch func. Default twice Concurrency.
	BatchPages int
}

func (o CrawlOptions) withDefaults() CrawlOptions {
	o.MaxPages = cmp.Or(o.MaxPages, 50)
	o.MaxDepth = cmp.Or(o.MaxDepth, 3)
	o.Concurrency = cmp.Or(o.Concurrency, 4)
	o.Timeout = cmp.Or(o.Timeout, 15*time.Second)
	o.MaxBytes = cmp.Or(o.MaxBytes, DefaultMaxDocumentBytes)
	o.MaxRedirects = cmp.Or(o.MaxRedirects, 5)
	o.UserAgent = cmp.Or(o.UserAgent, "KollektivBot/1.0")
	o.BatchPages = cmp.Or(o.BatchPages, 2*o.Concurrency)
	return o
}

// Crawl fetches startURL and the pages of the same site it links to,
// breadth first, and returns them as documents in the order they were
// found. Pages that fail (status, content type, size, robots.txt, binary,
// empty) are returned as problems and the crawl goes on. err is for an
// invalid start URL, bad options or a cancelled ctx.
func Crawl(ctx context.Context, startURL string, opts CrawlOptions) (docs []Document, problems []*DocumentError, err error) {
	_, err = CrawlFrom(ctx, startURL, opts, nil, func(b CrawlBatch) error {
		docs = append(docs, b.Documents...)
		problems = append(problems, b.Problems...)
		return nil
	})
	return docs, problems, err
}

// CrawlState is where a crawl stands between two batches: the pages of
// the current depth still to fetch, those found for the next one, and
// what was seen and stored. As JSON it is a checkpoint: CrawlFrom given it
// goes on where the crawl stopped, without fetching a page of an earlier
// batch again, and finds the same pages as a crawl that never stopped.
type CrawlState struct {
	// Depth is the link distance of Level from the start page.
	Depth int `json:"depth"`
	// Level are the URLs of Depth not fetched yet, in link order.
	Level []string `json:"level,omitempty"`
	// Next are the URLs found so far for Depth+1, in link order.
	Next []string `json:"next,omitempty"`
	// Seen are the URLs queued or reached after redirects.
	Seen []string `json:"seen"`
	// Stored are the URLs of the documents returned so far.
	Stored []string `json:"stored,omitempty"`
	// Failed are the URLs of the problems returned so far.
	Failed []string `json:"failed,omitempty"`
	// Requests counts the pages queued, the start page included; it stops
	// at MaxPages.
	Requests int `json:"requests"`
	// Fetched counts the pages requested.
	Fetched int `json:"fetched"`
}

// Done reports whether nothing is left to fetch.
func (s *CrawlState) Done() bool { return len(s.Level) == 0 && len(s.Next) == 0 }

// CrawlBatch is what one batch of a crawl found, and the state after it.
type CrawlBatch struct {
	Documents []Document
	Problems  []*DocumentError
	State     *CrawlState
}

// CrawlFrom crawls as Crawl does, from state (nil: from startURL), and
// hands each batch of at most BatchPages pages to batch, in order, with
// the state after it. An error from batch stops the crawl and is
// returned. It returns the final state.
func CrawlFrom(ctx context.Context, startURL string, opts CrawlOptions, state *CrawlState, batch func(CrawlBatch) error) (*CrawlState, error) {
	c, start, err := newCrawler(startURL, opts)
	if err != nil {
		return nil, err
	}
	defer c.transport.CloseIdleConnections()
	if state == nil {
		state = &CrawlState{Level: []string{start.String()}, Seen: []string{start.String()}, Requests: 1}
	}
	return c.run(ctx, start, state, batch)
}

// ValidateCrawl checks a start URL and options as Crawl would, without any
// request.
func ValidateCrawl(startURL string, opts CrawlOptions) error {
	c, _, err := newCrawler(startURL, opts)
	if err != nil {
		return err
	}
	c.transport.CloseIdleConnections()
	return nil
}

// Fetch fetches one page as a document. Its error is a *DocumentError for
// a page that cannot be loaded.
func Fetch(ctx context.Context, pageURL string, opts CrawlOptions) (Document, error) {
	opts.MaxPages = 1
	docs, problems, err := Crawl(ctx, pageURL, opts)
	switch {
	case err != nil:
		return Document{}, err
	case len(problems) > 0:
		return Document{}, problems[0]
	case len(docs) == 0:
		return Document{}, docError(pageURL, "no document", ErrEmpty)
	}
	return docs[0], nil
}

type crawler struct {
	opts      CrawlOptions
	site      *url.URL
	include   []*regexp.Regexp
	exclude   []*regexp.Regexp
	client    *http.Client
	transport *http.Transport

	robotsMu sync.Mutex
	robots   map[string]*robotsRules // by scheme://host
}

func newCrawler(startURL string, opts CrawlOptions) (*crawler, *url.URL, error) {
	opts = opts.withDefaults()
	start, err := url.Parse(strings.TrimSpace(startURL))
	if err != nil {
		return nil, nil, fmt.Errorf("invalid start URL %q: %w", startURL, err)
	}
	if start.Scheme != "http" && start.Scheme != "https" || start.Host == "" {
		return nil, nil, fmt.Errorf("invalid start URL %q: want an http or https URL", startURL)
	}
	start = normalizeURL(start)
	c := &crawler{opts: opts, site: start, robots: map[string]*robotsRules{}}
	for _, p := range opts.Include {
		c.include = append(c.include, globRegexp(p))
	}
	for _, p := range opts.Exclude {
		c.exclude = append(c.exclude, globRegexp(p))
	}
	dialer := &net.Dialer{Timeout: opts.Timeout, KeepAlive: 30 * time.Second}
	if !opts.AllowPrivate {
		dialer.Control = refusePrivate
	}
	c.transport = &http.Transport{
		Proxy:                 nil, // a proxy would dial for us and bypass the address check
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConnsPerHost:   opts.Concurrency,
		TLSHandshakeTimeout:   opts.Timeout,
		ResponseHeaderTimeout: opts.Timeout,
	}
	c.client = &http.Client{
		Transport: c.transport,
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if len(via) > opts.MaxRedirects {
				return fmt.Errorf("more than %d redirects: %w", opts.MaxRedirects, ErrDisallowed)
			}
			if !c.onSite(req.URL) {
				return fmt.Errorf("redirect to %s leaves the site: %w", req.URL.Redacted(), ErrDisallowed)
			}
			return nil
		},
	}
	return c, start, nil
}

// refusePrivate is a net.Dialer Control func: it sees the address actually
// dialled, after DNS, so DNS rebinding cannot slip a private address past.
func refusePrivate(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("bad address %q: %w", address, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("bad address %q: %w", address, err)
	}
	if !publicAddr(ip) {
		return fmt.Errorf("address %s is not public: %w", ip, ErrDisallowed)
	}
	return nil
}

var nonPublic = []netip.Prefix{
	netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),  // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"), // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),   // reserved
	netip.MustParsePrefix("64:ff9b::/96"),  // NAT64 can reach private IPv4
	netip.MustParsePrefix("2001:db8::/32"), // documentation
	netip.MustParsePrefix("0.0.0.0/8"),     // "this network"
	netip.MustParsePrefix("255.255.255.255/32"),
}

func publicAddr(ip netip.Addr) bool {
	ip = ip.Unmap()
	if ip.IsLoopback() || ip.IsPrivate() || ip.IsUnspecified() || ip.IsLinkLocalUnicast() ||
		ip.IsLinkLocalMulticast() || ip.IsInterfaceLocalMulticast() || ip.IsMulticast() {
		return false
	}
	for _, p := range nonPublic {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// normalizeURL gives the form used to de-duplicate pages and as document
// URL: lower-case scheme and host, no default port, no fragment, a path of
// at least "/", sorted query.
func normalizeURL(u *url.URL) *url.URL {
	n := *u
	n.Scheme = strings.ToLower(n.Scheme)
	n.Host = strings.ToLower(n.Host)
	if p := n.Port(); (p == "80" && n.Scheme == "http") || (p == "443" && n.Scheme == "https") {
		n.Host = n.Hostname()
	}
	n.Fragment, n.RawFragment = "", ""
	n.User = nil
	if n.Path == "" {
		n.Path = "/"
	}
	n.RawPath = ""
	if n.RawQuery != "" {
		if q, err := url.ParseQuery(n.RawQuery); err == nil {
			n.RawQuery = q.Encode()
		}
	}
	return &n
}

// onSite reports whether u is on the crawled site: same scheme family and
// host, "www." aside, and same port.
func (c *crawler) onSite(u *url.URL) bool {
	if u.Scheme != "http" && u.Scheme != "https" {
		return false
	}
	bare := func(h string) string { return strings.TrimPrefix(strings.ToLower(h), "www.") }
	return bare(u.Hostname()) == bare(c.site.Hostname()) && u.Port() == c.site.Port()
}

// wanted reports whether a link should be crawled.
func (c *crawler) wanted(u *url.URL) bool {
	if !c.onSite(u) {
		return false
	}
	if skippedExt[strings.ToLower(path.Ext(u.Path))] {
		return false
	}
	for _, re := range c.exclude {
		if re.MatchString(u.Path) {
			return false
		}
	}
	if len(c.include) == 0 {
		return true
	}
	for _, re := range c.include {
		if re.MatchString(u.Path) {
			return true
		}
	}
	return false
}

// skippedExt are links not worth a request: they are never documentation.
var skippedExt = map[string]bool{
	".png": true, ".jpg": true, ".jpeg": true, ".gif": true, ".svg": true, ".ico": true,
	".webp": true, ".css": true, ".js": true, ".woff": true, ".woff2": true, ".ttf": true,
	".mp3": true, ".mp4": true, ".webm": true, ".zip": true, ".gz": true, ".tgz": true,
}

// globRegexp compiles a path pattern: "**" matches anything, "*" anything
// but "/", "?" one character but "/"; the rest is literal.
func globRegexp(pattern string) *regexp.Regexp {
	var sb strings.Builder
	sb.WriteString("^")
	for i := 0; i < len(pattern); i++ {
		switch {
		case strings.HasPrefix(pattern[i:], "**"):
			sb.WriteString(".*")
			i++
		case pattern[i] == '*':
			sb.WriteString("[^/]*")
		case pattern[i] == '?':
			sb.WriteString("[^/]")
		default:
			sb.WriteString(regexp.QuoteMeta(pattern[i : i+1]))
		}
	}
	sb.WriteString("$")
	return regexp.MustCompile(sb.String()) // quoted, so it always compiles
}

// result is the outcome of fetching one URL.
type result struct {
	doc     *Document
	problem *DocumentError
	links   []*url.URL
	final   *url.URL // after redirects
}

// run crawls breadth first, one depth level at a time, in batches of
// BatchPages; within a batch, pages are fetched concurrently and their
// results kept in link order, so the output is deterministic for a given
// site whatever the batch size.
func (c *crawler) run(ctx context.Context, start *url.URL, st *CrawlState, batch func(CrawlBatch) error) (*CrawlState, error) {
	seen := setOf(st.Seen)
	stored := setOf(st.Stored)
	for !st.Done() {
		if len(st.Level) == 0 {
			st.Level, st.Next = st.Next, nil
			st.Depth++
		}
		level := make([]*url.URL, 0, min(c.opts.BatchPages, len(st.Level)))
		for _, raw := range st.Level[:cap(level)] {
			u, err := url.Parse(raw)
			if err != nil {
				return st, fmt.Errorf("invalid crawl state: URL %q: %w", raw, err)
			}
			level = append(level, u)
		}
		results := make([]result, len(level))
		var (
			wg    sync.WaitGroup
			claim atomic.Int64 // index of the next URL of the batch to fetch
		)
		for range min(c.opts.Concurrency, len(level)) {
			wg.Go(func() {
				for i := int(claim.Add(1) - 1); i < len(level) && ctx.Err() == nil; i = int(claim.Add(1) - 1) {
					results[i] = c.fetch(ctx, level[i])
				}
			})
		}
		wg.Wait()
		if err := ctx.Err(); err != nil {
			return st, fmt.Errorf("crawl of %s stopped: %w", start.Redacted(), err)
		}
		var out CrawlBatch
		for _, r := range results {
			if r.problem != nil {
				out.Problems = append(out.Problems, r.problem)
				st.Failed = append(st.Failed, r.problem.URL)
			}
			if r.final != nil && !seen[r.final.String()] {
				seen[r.final.String()] = true
				st.Seen = append(st.Seen, r.final.String())
			}
			if r.doc != nil && !stored[r.doc.URL] {
				stored[r.doc.URL] = true
				st.Stored = append(st.Stored, r.doc.URL)
				out.Documents = append(out.Documents, *r.doc)
			}
			if st.Depth >= max(c.opts.MaxDepth, 0) {
				continue
			}
			for _, l := range r.links {
				key := l.String()
				if seen[key] || st.Requests >= c.opts.MaxPages || !c.wanted(l) {
					continue
				}
				seen[key] = true
				st.Seen = append(st.Seen, key)
				st.Requests++
				st.Next = append(st.Next, key)
			}
		}
		st.Level = st.Level[len(level):]
		st.Fetched += len(level)
		out.State = st
		if err := batch(out); err != nil {
			return st, err
		}
	}
	return st, nil
}

func setOf(items []string) map[string]bool {
	m := make(map[string]bool, len(items))
	for _, it := range items {
		m[it] = true
	}
	return m
}

// markdownTypes are the content types read as markdown; text/plain too,
// since raw files are often served so.
var markdownTypes = map[string]bool{
	"text/markdown": true, "text/x-markdown": true, "text/plain": true,
}

// fetch gets one page and turns it into a document and links.
func (c *crawler) fetch(ctx context.Context, u *url.URL) result {
	name := u.String()
	if !c.opts.IgnoreRobots && !c.robotsAllow(ctx, u) {
		return result{problem: docError(name, "robots.txt disallows it", ErrDisallowed)}
	}
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, name, nil)
	if err != nil {
		return result{problem: docError(name, "cannot build request", err)}
	}
	req.Header.Set("User-Agent", c.opts.UserAgent)
	req.Header.Set("Accept", "text/html, text/markdown;q=0.9, text/plain;q=0.8")
	resp, err := c.client.Do(req)
	if err != nil {
		return result{problem: docError(name, "request failed", err)}
	}
	defer resp.Body.Close()
	final := normalizeURL(resp.Request.URL)
	if resp.StatusCode != http.StatusOK {
		return result{final: final, problem: docError(name, "status "+resp.Status, ErrHTTPStatus)}
	}
	mediaType, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	format := FormatHTML
	switch {
	case mediaType == "text/html" || mediaType == "application/xhtml+xml":
	case markdownTypes[mediaType]:
		format = FormatMarkdown
		if mediaType == "text/plain" && !strings.HasSuffix(final.Path, ".md") {
			format = FormatText
		}
	default:
		return result{final: final, problem: docError(name, "content type "+cmp.Or(mediaType, "missing"), ErrUnsupportedType)}
	}
	if resp.ContentLength > int64(c.opts.MaxBytes) {
		return result{final: final, problem: docError(name, fmt.Sprintf("%d bytes, limit %d", resp.ContentLength, c.opts.MaxBytes), ErrTooLarge)}
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, int64(c.opts.MaxBytes)+1))
	if err != nil {
		return result{final: final, problem: docError(name, "cannot read body", err)}
	}
	text, derr := decodeText(final.String(), raw, c.opts.MaxBytes)
	if derr != nil {
		return result{final: final, problem: derr}
	}
	if format != FormatHTML {
		meta, body, err := splitFrontMatter(text)
		if err != nil {
			return result{final: final, problem: docError(final.String(), "cannot parse front matter", err)}
		}
		doc, derr := finish(final.String(), body, format, meta, "")
		if derr != nil {
			return result{final: final, problem: derr}
		}
		return result{final: final, doc: &doc}
	}
	page, err := convertHTML(text, final.String())
	if err != nil {
		return result{final: final, problem: docError(final.String(), "cannot convert HTML", err)}
	}
	r := result{final: final}
	for _, href := range page.links {
		if l, err := final.Parse(href); err == nil {
			r.links = append(r.links, normalizeURL(l))
		}
	}
	docURL := final
	if page.canonical != "" {
		if cu, err := final.Parse(page.canonical); err == nil && c.onSite(cu) {
			docURL = normalizeURL(cu)
		}
	}
	doc, derr := finish(docURL.String(), page.markdown, FormatHTML, nil, page.title)
	if derr != nil {
		r.problem = derr
		return r
	}
	doc.Metadata["fetched_url"] = final.String()
	r.doc = &doc
	return r
}

// robotsAllow fetches and caches robots.txt per host. A robots.txt that
// cannot be fetched or is missing allows everything.
func (c *crawler) robotsAllow(ctx context.Context, u *url.URL) bool {
	key := u.Scheme + "://" + u.Host
	c.robotsMu.Lock()
	rules, ok := c.robots[key]
	c.robotsMu.Unlock()
	if !ok {
		rules = c.fetchRobots(ctx, key)
		c.robotsMu.Lock()
		c.robots[key] = rules
		c.robotsMu.Unlock()
	}
	return rules.allows(u.EscapedPath())
}

func (c *crawler) fetchRobots(ctx context.Context, origin string) *robotsRules {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, origin+"/robots.txt", nil)
	if err != nil {
		return &robotsRules{}
	}
	req.Header.Set("User-Agent", c.opts.UserAgent)
	resp, err := c.client.Do(req)
	if err != nil {
		return &robotsRules{}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return &robotsRules{}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 512<<10))
	if err != nil && !errors.Is(err, io.EOF) {
		return &robotsRules{}
	}
	return parseRobots(string(body), c.opts.UserAgent)
}
