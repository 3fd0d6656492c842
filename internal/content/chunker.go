package content

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Chunk is one piece of a document, sized for embedding.
type Chunk struct {
	// ID is ChunkID(documentID, Ordinal, Text).
	ID uuid.UUID
	// Ordinal is the chunk's position in its document, from 0.
	Ordinal int
	// Headers is the heading path of the section the chunk starts in,
	// outermost first (h1, h2, ...); nil above the first heading. A path
	// longer than a quarter of the hard maximum is shortened here (each
	// heading cut to a share, then outer headings dropped, so the last is
	// at worst a prefix of the innermost heading); the heading lines
	// themselves stay whole in Text.
	Headers []string
	// Headings are the other headings that start inside the chunk, in
	// order: those of the small sections merged into it. Nil when the
	// chunk holds one section or part of one. Every heading of a document
	// is the last of some chunk's Headers or in some chunk's Headings.
	Headings []string
	// Anchor is the URL fragment of the section the chunk starts in: the
	// id of its heading's attribute list ("## Title { #id }"), else the
	// heading's GitHub-style slug, numbered -1, -2, ... when an earlier
	// heading of the document has the same one. "" above the first
	// heading.
	Anchor string
	// Text is the chunk's markdown, with heading attribute lists removed.
	Text string
	// Tokens is the cl100k_base token count of Text alone. The hard maximum
	// holds for EmbedText, which adds the header path: the chunker budgets
	// the header path's tokens before it fills a chunk with text.
	Tokens int
}

// EmbedText returns what is embedded for the chunk: the header path joined
// with " > ", a blank line, then the text. Without headers it is the text.
// Headings are not added: their heading lines are in the text already.
func (c Chunk) EmbedText() string {
	return embedText(c.Headers, c.Text)
}

func embedText(headers []string, text string) string {
	if len(headers) == 0 {
		return text
	}
	return strings.Join(headers, " > ") + "\n\n" + text
}

// ChunkerOptions sizes chunks in cl100k_base tokens. The zero value gives
// the defaults.
type ChunkerOptions struct {
	// TargetTokens is the size chunks are filled to. Default 400, or 4/5
	// of MaxTokens when that is smaller.
	TargetTokens int
	// MaxTokens is the hard maximum for a chunk's EmbedText; no chunk is
	// ever larger. Default 512, or TargetTokens*5/4 when TargetTokens is
	// above 512. At least 32.
	MaxTokens int
	// MinTokens: a chunk smaller than this is merged with a neighbour of
	// the same section (or an enclosing one) when the result fits
	// MaxTokens. Default TargetTokens/4 (100).
	MinTokens int
	// OverlapTokens is how much of the end of a chunk is repeated at the
	// start of the next chunk of the same section, when the boundary falls
	// in prose. Default TargetTokens/20 (20), at most 100; negative means
	// no overlap.
	OverlapTokens int
}

func (o ChunkerOptions) withDefaults() ChunkerOptions {
	if o.MaxTokens == 0 {
		o.MaxTokens = 512
		if o.TargetTokens > 512 {
			o.MaxTokens = o.TargetTokens + o.TargetTokens/4
		}
	}
	if o.TargetTokens == 0 {
		o.TargetTokens = min(400, o.MaxTokens*4/5)
	}
	o.MinTokens = cmp.Or(o.MinTokens, o.TargetTokens/4)
	switch {
	case o.OverlapTokens == 0:
		o.OverlapTokens = min(o.TargetTokens/20, 100)
	case o.OverlapTokens < 0:
		o.OverlapTokens = 0
	}
	return o
}

func (o ChunkerOptions) validate() error {
	switch {
	case o.MaxTokens < 32:
		return fmt.Errorf("MaxTokens %d is below 32", o.MaxTokens)
	case o.TargetTokens < 1 || o.TargetTokens > o.MaxTokens:
		return fmt.Errorf("TargetTokens %d must be between 1 and MaxTokens %d", o.TargetTokens, o.MaxTokens)
	case o.MinTokens < 0 || o.MinTokens > o.TargetTokens:
		return fmt.Errorf("MinTokens %d must be between 0 and TargetTokens %d", o.MinTokens, o.TargetTokens)
	case o.OverlapTokens > o.TargetTokens/4:
		return fmt.Errorf("OverlapTokens %d is above a quarter of TargetTokens %d", o.OverlapTokens, o.TargetTokens)
	}
	return nil
}

// Chunker splits markdown into chunks along its structure. It is safe for
// concurrent use.
type Chunker struct {
	opts ChunkerOptions
	tok  tokens
}

// NewChunker validates the options, fills in defaults and loads the
// tokenizer.
func NewChunker(opts ChunkerOptions) (*Chunker, error) {
	opts = opts.withDefaults()
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("invalid chunker options: %w", err)
	}
	c, err := cl100k()
	if err != nil {
		return nil, err
	}
	return &Chunker{opts: opts, tok: tokens{codec: c, cache: &segmentCache{}, ranks: cl100kRanks(c)}}, nil
}

// Options returns the options in effect, defaults filled in.
func (c *Chunker) Options() ChunkerOptions { return c.opts }

// CountTokens returns the cl100k_base token count of s (invalid UTF-8
// counted as U+FFFD). Long runs of white space that mix spaces and line
// breaks, such as " \n \n \n", take the tokenizer quadratic time; text that
// went through Chunk has none, as trailing white space is trimmed.
func (c *Chunker) CountTokens(s string) int {
	return c.tok.count(strings.ToValidUTF8(s, "\uFFFD"))
}

// Chunk splits markdown into chunks and gives them ids in the namespace
// documentID. The markdown is normalised first (invalid UTF-8 replaced,
// "\r\n" made "\n", trailing spaces trimmed); every non-blank line of the
// normalised text appears in some chunk, whole unless it alone is larger
// than a chunk, heading lines without their attribute lists. It returns
// an error wrapping ErrEmpty when nothing but whitespace is left.
func (c *Chunker) Chunk(documentID uuid.UUID, markdown string) ([]Chunk, error) {
	doc := normalizeMarkdown(markdown)
	if strings.TrimSpace(doc) == "" {
		return nil, fmt.Errorf("error chunking document %s: %w", documentID, ErrEmpty)
	}
	drafts := c.drafts(parseBlocks(doc))
	drafts = c.merge(drafts)
	chunks := make([]Chunk, 0, len(drafts))
	for _, d := range drafts {
		for _, r := range c.render(d) {
			chunks = append(chunks, Chunk{
				Ordinal:  len(chunks),
				Headers:  slices.Clone(r.sec.headers), // chunks of a section must not share one slice
				Headings: r.headings,
				Anchor:   r.sec.anchor,
				Text:     r.text,
				Tokens:   r.tokens,
			})
		}
	}
	for i := range chunks {
		chunks[i].ID = ChunkID(documentID, i, chunks[i].Text)
	}
	return chunks, nil
}

// unit is a piece of a section that is never split further when packing:
// a whole block, or a part of a block too large to keep whole.
type unit struct {
	text   string
	tokens int
	sep    string   // joins the unit to the one before it in a chunk
	sec    *section // the section the unit belongs to
	prose  bool     // prose may be repeated as overlap; code and tables not
	head   bool     // the unit is (the start of) its section's heading line
}

// draft is a chunk before rendering. Its header path and budget are those
// of its first section, the section of units[0].
type draft struct {
	sec       *section
	overlap   string
	overlapTk int
	units     []unit
	tokens    int // estimated tokens of the units joined (without overlap)
}

func (d *draft) size() int {
	if d.overlap == "" {
		return d.tokens
	}
	return d.overlapTk + 1 + d.tokens
}

// section is a heading and the blocks under it, up to the next heading.
type section struct {
	headers []string // the heading path, shortened to a quarter of MaxTokens
	path    []string // the heading path, whole
	budget  int      // tokens available for text: MaxTokens less the header path
	target  int
	title   string // the heading's text, whole; "" above the first heading
	anchor  string // the URL fragment of the heading
}

// drafts walks the blocks, tracks the heading path and packs each
// section's units into drafts.
func (c *Chunker) drafts(blocks []block) []*draft {
	var (
		out     []*draft
		stack   []block // open headings
		cuts    []map[int]string
		anchors []string // the anchors of the open headings
		slugs   slugger
		top     = c.newSection(nil)
		sec     = &top
		units   []unit
	)
	flush := func() {
		if len(units) > 0 {
			out = append(out, c.pack(sec, units)...)
			units = nil
		}
	}
	for _, b := range blocks {
		if b.kind == blockHeading {
			flush()
			for len(stack) > 0 && stack[len(stack)-1].level >= b.level {
				stack = stack[:len(stack)-1]
				cuts = cuts[:len(cuts)-1]
				anchors = anchors[:len(anchors)-1]
			}
			anchor := slugs.anchor(b.title, b.id)
			if anchor == "" && len(anchors) > 0 {
				// A heading with no text has no fragment of its own: link
				// to the one it sits in.
				anchor = anchors[len(anchors)-1]
			}
			stack = append(stack, b)
			cuts = append(cuts, nil)
			anchors = append(anchors, anchor)
			headers := make([]string, 0, len(stack))
			var memo []map[int]string // the cuts of the titles in headers
			for i, h := range stack {
				if h.title != "" {
					headers = append(headers, h.title)
					if cuts[i] == nil {
						cuts[i] = map[int]string{}
					}
					memo = append(memo, cuts[i])
				}
			}
			s := c.section(headers, memo)
			s.title, s.anchor = b.title, anchor
			sec = &s
		}
		us := c.units(sec, b)
		if b.kind == blockHeading && b.title != "" && len(us) > 0 {
			us[0].head = true
		}
		units = append(units, us...)
	}
	flush()
	return out
}

// newSection shortens the header path until it takes at most a quarter of
// MaxTokens, and works out the text budget left.
func (c *Chunker) newSection(headers []string) section {
	return c.section(headers, nil)
}

// section is newSection with, when memo is not nil, memo[i] holding the
// cuts of headers[i] by share, so that a huge heading is cut once and not
// again for every section under it.
func (c *Chunker) section(headers []string, memo []map[int]string) section {
	limit := c.opts.MaxTokens / 4
	cost := func(h []string) int {
		if len(h) == 0 {
			return 0
		}
		size := 2 + 3*(len(h)-1)
		for _, t := range h {
			size += len(t)
		}
		if size > limit*maxTokenBytes {
			return limit + 1 // surely over: no need to join and count
		}
		return c.tok.count(strings.Join(h, " > ") + "\n\n")
	}
	path := headers
	hc := cost(headers)
	if hc > limit {
		// Cut every heading to an equal share, then drop the outermost
		// ones if that is still too much.
		share := max(limit/len(headers)-2, 1)
		short := make([]string, len(headers))
		for i, h := range headers {
			cut, ok := "", false
			if memo != nil {
				cut, ok = memo[i][share]
			}
			if !ok {
				cut = strings.TrimSpace(c.tok.cut(h, share)[0].text)
				if memo != nil {
					memo[i][share] = cut
				}
			}
			short[i] = cut
		}
		headers = short
		for len(headers) > 0 && cost(headers) > limit {
			headers = headers[1:]
		}
		hc = cost(headers)
	}
	// One token of slack: a header path and text counted apart can differ
	// by one from the two counted together.
	budget := c.opts.MaxTokens - hc - 1
	return section{headers: headers, path: path, budget: budget, target: min(c.opts.TargetTokens, budget)}
}

// units turns a block into units of at most the section's budget.
func (c *Chunker) units(sec *section, b block) []unit {
	text := strings.Join(b.lines, "\n")
	// A block far larger than the budget is split without counting it
	// whole first: its lines are counted as they are packed.
	if !surelyOver(text, sec.budget) {
		if n := c.tok.count(text); n <= sec.budget {
			return []unit{{text: text, tokens: n, sep: "\n\n", prose: b.kind == blockText, sec: sec}}
		}
	}
	var parts []piece
	switch b.kind {
	case blockCode:
		parts = c.splitCode(b.lines, sec.target, sec.budget)
	case blockTable:
		parts = c.splitTable(b.lines, sec.target, sec.budget)
	}
	if parts == nil {
		parts = c.packLines(b.lines, sec.target, sec.budget, false)
	}
	us := make([]unit, 0, len(parts))
	for i, p := range parts {
		sep := "\n"
		if i == 0 || b.kind != blockText {
			sep = "\n\n"
		}
		n := p.tokens
		if n < 0 {
			n = c.tok.count(p.text)
		}
		us = append(us, unit{text: p.text, tokens: n, sep: sep, prose: b.kind == blockText, sec: sec})
	}
	return us
}

// splitCode splits a fenced block too large for one chunk at blank lines
// (else between lines) and wraps every part in the block's fences, so each
// part is a code block of its own. It returns nil when the fence lines are
// too large to repeat.
func (c *Chunker) splitCode(lines []string, target, hard int) []piece {
	open := lines[0]
	marker, _ := openFence(open)
	inner := lines[1:]
	closing := marker
	if len(inner) > 0 && closesFence(inner[len(inner)-1], marker) {
		closing = inner[len(inner)-1]
		inner = inner[:len(inner)-1]
	}
	wrap := c.tok.count(open) + c.tok.count(closing) + 2
	if wrap > target/2 || len(inner) == 0 {
		return nil
	}
	groups := c.packLines(inner, target-wrap, hard-wrap, true)
	parts := make([]piece, len(groups))
	for i, g := range groups {
		parts[i] = piece{text: open + "\n" + g.text + "\n" + closing, tokens: -1}
	}
	return parts
}

// splitTable splits a table between rows and repeats the header row and
// delimiter row at the top of every part. It returns nil when the header
// is too large to repeat.
func (c *Chunker) splitTable(lines []string, target, hard int) []piece {
	head := lines[0] + "\n" + lines[1]
	hc := c.tok.count(head) + 1
	if hc > target/2 || len(lines) < 3 {
		return nil
	}
	groups := c.packLines(lines[2:], target-hc, hard-hc, false)
	parts := make([]piece, len(groups))
	for i, g := range groups {
		parts[i] = piece{text: head + "\n" + g.text, tokens: -1}
	}
	return parts
}

// packLines groups lines into runs of at most target tokens, joined by
// "\n". Each line is counted once. A line larger than target but within
// hard is a run of its own; only a line larger than hard is cut by tokens,
// into pieces of target. With atBlank, a run that overflows is cut after its last blank
// line when it has one, so code splits between paragraphs of code. A run's
// tokens are known (a line alone, or a piece of one) or -1.
func (c *Chunker) packLines(lines []string, target, hard int, atBlank bool) []piece {
	var (
		out    []piece
		cur    []string
		curTk  []int
		total  int
		blankI = -1 // index in cur of the last blank line
	)
	emit := func(ls []string) {
		for len(ls) > 0 && strings.TrimSpace(ls[len(ls)-1]) == "" {
			ls = ls[:len(ls)-1]
		}
		switch len(ls) {
		case 0:
		case 1:
			out = append(out, piece{text: ls[0], tokens: curTk[0]})
		default:
			out = append(out, piece{text: strings.Join(ls, "\n"), tokens: -1})
		}
	}
	for _, line := range lines {
		if surelyOver(line, hard) {
			// Far too large to count first: cut it at once.
			emit(cur)
			cur, curTk, total, blankI = nil, nil, 0, -1
			out = append(out, c.tok.cut(line, target)...)
			continue
		}
		n := c.tok.count(line)
		if n > target {
			emit(cur)
			cur, curTk, total, blankI = nil, nil, 0, -1
			if n > hard {
				out = append(out, c.tok.cut(line, target)...)
			} else {
				out = append(out, piece{text: line, tokens: n})
			}
			continue
		}
		add := n
		if len(cur) > 0 {
			add++
		}
		if total+add > target {
			if atBlank && blankI > 0 {
				emit(cur[:blankI])
				cur = append([]string(nil), cur[blankI+1:]...)
				curTk = append([]int(nil), curTk[blankI+1:]...)
				total = 0
				for i, t := range curTk {
					total += t
					if i > 0 {
						total++
					}
				}
			} else {
				emit(cur)
				cur, curTk, total = nil, nil, 0
			}
			blankI = -1
			for i, l := range cur {
				if strings.TrimSpace(l) == "" {
					blankI = i
				}
			}
			add = n
			if len(cur) > 0 {
				add++
			}
			if total+add > target {
				emit(cur)
				cur, curTk, total, blankI = nil, nil, 0, -1
				add = n
			}
		}
		if strings.TrimSpace(line) == "" {
			if len(cur) == 0 {
				continue // a part never starts with a blank line
			}
			blankI = len(cur)
		}
		cur = append(cur, line)
		curTk = append(curTk, n)
		total += add
	}
	emit(cur)
	return out
}

// pack fills drafts with a section's units up to the target size, lets a
// draft grow to the budget rather than stay under MinTokens, and carries an
// overlap from one draft to the next when the boundary falls in prose.
func (c *Chunker) pack(sec *section, units []unit) []*draft {
	var out []*draft
	cur := &draft{sec: sec}
	for _, u := range units {
		add := u.tokens
		if len(cur.units) > 0 || cur.overlap != "" {
			add++
		}
		size := cur.size()
		if len(cur.units) > 0 && (size+add > sec.budget || (size+add > sec.target && size >= c.opts.MinTokens)) {
			out = append(out, cur)
			prev := cur
			cur = &draft{sec: sec}
			if last := prev.units[len(prev.units)-1]; last.prose && u.prose && c.opts.OverlapTokens > 0 {
				ov, ovTk := c.tail(last.text, c.opts.OverlapTokens)
				if ov != "" && ovTk+1+u.tokens <= sec.budget {
					cur.overlap, cur.overlapTk = ov, ovTk
				}
			}
		}
		if len(cur.units) == 0 {
			cur.units = append(cur.units, u)
			cur.tokens = u.tokens
			continue
		}
		cur.units = append(cur.units, u)
		cur.tokens += u.tokens + 1
	}
	if len(cur.units) > 0 {
		out = append(out, cur)
	}
	return out
}

// tail returns the end of text, at most limit tokens, starting at a word
// boundary when there is one.
func (c *Chunker) tail(text string, limit int) (string, int) {
	// Only the end of the text matters: no token spans 16 bytes on
	// average, so limit*16 bytes hold more than limit tokens of prose.
	cut := max(len(text)-limit*16, 0)
	for cut < len(text) && !utf8.RuneStart(text[cut]) {
		cut++
	}
	text = text[cut:]
	_, toks, err := c.tok.codec.Encode(text)
	if err != nil || len(toks) == 0 {
		return "", 0
	}
	start := max(len(toks)-limit, 0)
	s := strings.Join(toks[start:], "")
	for len(s) > 0 && !utf8.RuneStart(s[0]) {
		s = s[1:]
	}
	if i := strings.IndexAny(s, " \n"); i >= 0 && i < len(s)/2 && (start > 0 || cut > 0) {
		s = s[i:]
	}
	s = strings.TrimSpace(s)
	if s == "" {
		return "", 0
	}
	n := c.tok.count(s)
	if n > limit {
		return "", 0
	}
	return s, n
}

// merge joins a draft under MinTokens with its neighbour when one's header
// path encloses the other's and the result fits. The merged draft keeps the
// path of its first section, which the result must fit beside; the
// headings of the others stay in the text and become the chunk's Headings.
func (c *Chunker) merge(drafts []*draft) []*draft {
	var out []*draft
	for _, d := range drafts {
		if len(out) > 0 {
			prev := out[len(out)-1]
			if (prev.size() < c.opts.MinTokens || d.size() < c.opts.MinTokens) && encloses(prev.sec.path, d.sec.path) {
				if prev.size()+1+d.tokens <= prev.sec.budget {
					prev.units = append(prev.units, d.units...)
					prev.tokens += 1 + d.tokens
					continue
				}
			}
		}
		out = append(out, d)
	}
	return out
}

// encloses reports whether one heading path is a prefix of the other. It
// compares whole paths: two shortenings of a path can differ.
func encloses(a, b []string) bool {
	if len(a) > len(b) {
		a, b = b, a
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

type rendered struct {
	sec      *section
	headings []string
	text     string
	tokens   int
}

// render joins a draft's text and counts it. Token counts of parts and of
// the whole can differ slightly, so a draft that turns out over its budget
// is split again: first without the overlap, then in halves, and a single
// unit by tokens.
func (c *Chunker) render(d *draft) []rendered {
	var sb strings.Builder
	if d.overlap != "" {
		sb.WriteString(d.overlap)
	}
	var headings []string
	for i, u := range d.units {
		if i > 0 || d.overlap != "" {
			sb.WriteString(u.sep)
		}
		sb.WriteString(u.text)
		// The heading of units[0] is the first section's own: it is in
		// Headers.
		if u.head && i > 0 {
			headings = append(headings, u.sec.title)
		}
	}
	text := sb.String()
	var n int
	if d.overlap == "" && len(d.units) == 1 {
		n = d.units[0].tokens // the unit's text, counted already
	} else {
		n = c.tok.count(text)
	}
	if n <= d.sec.budget {
		return []rendered{{sec: d.sec, headings: headings, text: text, tokens: n}}
	}
	switch {
	case d.overlap != "":
		d.overlap, d.overlapTk = "", 0
		return c.render(d)
	case len(d.units) > 1:
		// Each half starts in the section of its first unit.
		mid := len(d.units) / 2
		a := &draft{sec: d.sec, units: d.units[:mid]}
		b := &draft{sec: d.units[mid].sec, units: d.units[mid:]}
		return append(c.render(a), c.render(b)...)
	}
	var out []rendered
	for _, p := range c.tok.cut(text, d.sec.budget) {
		out = append(out, rendered{sec: d.sec, text: p.text, tokens: p.tokens})
	}
	return out
}
