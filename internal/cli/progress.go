package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/creack/pty"

	"github.com/kollektiv/kollektiv/internal/events"
	"github.com/kollektiv/kollektiv/internal/lifecycle"
)

// isTerminal reports whether w is a terminal, where progress is drawn as
// one status line redrawn in place rather than printed as lines.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// terminalColumns returns the width of the terminal w, or 0 when it
// cannot be told.
func terminalColumns(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok {
		return 0
	}
	_, cols, err := pty.Getsize(f)
	if err != nil {
		return 0
	}
	return cols
}

// The status line's tuning.
const (
	// defaultColumns is assumed when a terminal does not tell its width.
	defaultColumns = 80
	// rateWindow is how far back rates are measured: recent enough to
	// follow a change of pace, long enough to smooth the throttled events.
	rateWindow = 10 * time.Second
	// etaMinSpan is the least observed time an estimate is made from.
	etaMinSpan = 3 * time.Second
	// plainInterval is the least time between two progress lines when
	// the output is not a terminal (a log, a pipe).
	plainInterval = 5 * time.Second
	// barMin and barMax bound a bar's width with its brackets.
	barMin, barMax = 8, 22
)

// progressView shows a source's progress as it follows its events. On a
// terminal it keeps one status line at the bottom, redrawn in place (\r and
// clear to the end of the line) and cut to the terminal's width: the stage
// really running, documents chunked and chunks embedded with bars and
// rates, the elapsed time and an estimate. Stage events and notes are
// printed above it. Elsewhere it prints the stage events and, at most every
// plainInterval, a plain progress line when the counts have moved.
//
// Its methods are safe to call from the goroutine following the events and
// from the one that ticks, resizes and notes.
type progressView struct {
	mu    sync.Mutex
	out   io.Writer // stage lines and the status line
	notes io.Writer // notes (stderr)
	term  bool
	cols  int
	now   func() time.Time
	start time.Time

	stage                     lifecycle.Stage
	documents, documentsTotal int
	written, embedded         int
	pagesFetched, pagesLimit  int
	buildingIndex             bool
	buildingSince             time.Time
	samples                   []progressSample // for rates, over rateWindow
	drawn                     string           // the status line on screen, "" for none

	plainKey           string // the counts of the last plain line
	plainAt            time.Time
	plainBuildingIndex bool // the plain output said the index build began
}

// progressSample is the counts as they were at one time, for rates.
type progressSample struct {
	at                  time.Time
	documents, embedded int
}

// newProgressView returns a view writing to out, and notes to notes. cols
// is the terminal's width (0: not a terminal).
func newProgressView(out, notes io.Writer, cols int, now func() time.Time) *progressView {
	return &progressView{out: out, notes: notes, term: cols > 0, cols: cols, now: now, start: now(), stage: lifecycle.StageCreated}
}

// event updates the view with one event of the followed generation.
func (p *progressView) event(e events.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var payload map[string]any
	_ = json.Unmarshal(e.Payload, &payload)
	number := func(k string) int {
		f, _ := payload[k].(float64)
		return int(f)
	}
	now := p.now()
	switch e.Stage {
	case lifecycle.StageProgress:
		if _, crawling := payload["pages_fetched"]; crawling {
			p.pagesFetched, p.pagesLimit = number("pages_fetched"), number("pages_limit")
			break
		}
		p.documents, p.documentsTotal = number("documents_processed"), number("documents_total")
		p.embedded, p.written = number("chunks_embedded"), number("chunks_written")
		p.samples = append(p.samples, progressSample{at: now, documents: p.documents, embedded: p.embedded})
		if building, _ := payload["building_index"].(bool); building && !p.buildingIndex {
			p.buildingIndex, p.buildingSince = true, now
		}
	default:
		p.stage = e.Stage
		switch e.Stage {
		case lifecycle.StageProcessingScheduled:
			p.documentsTotal = number("documents")
			p.samples = append(p.samples[:0], progressSample{at: now, documents: p.documents, embedded: p.embedded})
		case lifecycle.StageChunksGenerated, lifecycle.StageCompleted:
			p.documents = p.documentsTotal
			p.embedded, p.written = number("chunks"), number("chunks")
			p.buildingIndex = false
		}
		p.clear()
		fmt.Fprintf(p.out, "%6.1fs  %-20s %s\n", now.Sub(p.start).Seconds(), e.Stage, describeEvent(e))
	}
	switch {
	case e.Stage.Terminal():
	case p.term:
		p.draw()
	case e.Stage == lifecycle.StageProgress:
		p.plain()
	}
}

// tick redraws the status line (its times move on) or, on other outputs,
// prints a plain progress line when one is due.
func (p *progressView) tick() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stage.Terminal() {
		return
	}
	if p.term {
		p.draw()
		return
	}
	p.plain()
}

// resize redraws the status line for a terminal now cols wide.
func (p *progressView) resize(cols int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.term || cols <= 0 {
		return
	}
	p.cols = cols
	if !p.stage.Terminal() {
		p.drawn = "" // drawn again, cut to the new width
		p.draw()
	}
}

// note prints msg (one or more lines, no trailing newline) to the notes
// stream above the status line. On a terminal each line is wrapped to its
// width.
func (p *progressView) note(msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
	if p.term {
		msg = wrapText(msg, p.cols-1)
	}
	fmt.Fprintln(p.notes, msg)
	if p.term && !p.stage.Terminal() {
		p.draw()
	}
}

// close takes the status line off the screen, so that what follows (an
// error, the interrupt's hint, the shell's prompt) starts on a clean line.
func (p *progressView) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.clear()
}

func (p *progressView) clear() {
	if p.drawn != "" {
		fmt.Fprint(p.out, "\r\x1b[K")
		p.drawn = ""
	}
}

// draw puts the status line on screen, unless it is there already. It
// stays two columns short of the width: a line in the last column leaves
// some terminals about to wrap, and the ^C a terminal echoes on Ctrl-C
// would wrap it.
func (p *progressView) draw() {
	line := p.line(max(p.cols, 2) - 2)
	if line == p.drawn {
		return
	}
	fmt.Fprintf(p.out, "\r%s\x1b[K", line)
	p.drawn = line
}

// plain prints the progress as one line when the counts moved since the
// last one and plainInterval has passed.
func (p *progressView) plain() {
	now := p.now()
	if p.stage != lifecycle.StageProcessingScheduled && p.stage != lifecycle.StageCrawling {
		return
	}
	if p.buildingIndex {
		// Said once; the next stage line says when it is done.
		if !p.plainBuildingIndex {
			p.plainBuildingIndex = true
			fmt.Fprintf(p.out, "%6.1fs  %-20s building the search index\n", now.Sub(p.start).Seconds(), lifecycle.StageProgress)
		}
		return
	}
	key := fmt.Sprint(p.stage, p.documents, p.documentsTotal, p.written, p.embedded, p.pagesFetched, p.pagesLimit)
	if key == p.plainKey || (!p.plainAt.IsZero() && now.Sub(p.plainAt) < plainInterval) {
		return
	}
	p.plainKey, p.plainAt = key, now
	// The time is in the first column already.
	l := p.status(now)
	var parts []string
	for _, s := range l.segs[1:] {
		if text := s.text(); text != "" && s != l.elapsed {
			parts = append(parts, text)
		}
	}
	fmt.Fprintf(p.out, "%6.1fs  %-20s %s: %s\n", now.Sub(p.start).Seconds(), lifecycle.StageProgress, l.segs[0].text(), strings.Join(parts, ", "))
}

// label names what the pipeline is doing now, from the last stage event
// and the counts: the stage event alone stays processing_scheduled from
// the first chunk to the last vector.
func (p *progressView) label(now time.Time) string {
	switch p.stage {
	case lifecycle.StageCreated:
		return "queued"
	case lifecycle.StageCrawling:
		return "crawling"
	case lifecycle.StageProcessingScheduled:
		switch {
		case p.buildingIndex:
			return "building the search index (" + formatSeconds(now.Sub(p.buildingSince)) + ")"
		case p.documents < p.documentsTotal:
			return "chunking"
		case p.embedded < p.written:
			return "embedding"
		default:
			return "finishing"
		}
	case lifecycle.StageChunksGenerated:
		return "summarising"
	case lifecycle.StageSummaryGenerated:
		return "finishing"
	default:
		return string(p.stage)
	}
}

// segment is one item of the status line.
type segment struct {
	sep   string   // before it: two spaces between items, one within
	forms []string // fullest first; left out once its forms are used up
	form  int
	isBar bool
	bar   float64 // a bar's fraction
}

func (s *segment) text() string {
	if s == nil || s.form >= len(s.forms) {
		return ""
	}
	return s.forms[s.form]
}

// shorten moves s to its next shorter form, or leaves it out.
func (s *segment) shorten() {
	if s != nil {
		s.form++
	}
}

// statusLine is the status line's items in display order, with the ones
// that line shortens by name (nil when not shown).
type statusLine struct {
	segs              []*segment
	count, countRate  *segment // documents (or pages) and their rate
	chunks, chunkRate *segment
	elapsed, eta      *segment
}

func (l *statusLine) add(sep string, forms ...string) *segment {
	s := &segment{sep: sep, forms: forms}
	l.segs = append(l.segs, s)
	return s
}

func (l *statusLine) addBar(f float64) {
	l.segs = append(l.segs, &segment{sep: " ", isBar: true, bar: f})
}

// render joins the items; bars are barWidth wide, or left out at 0.
func (l *statusLine) render(barWidth int) string {
	var b strings.Builder
	for _, s := range l.segs {
		text := s.text()
		if s.isBar && barWidth > 0 {
			text = renderBar(s.bar, barWidth)
		}
		if text == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(s.sep)
		}
		b.WriteString(text)
	}
	return b.String()
}

// status returns the status line's items as of now.
func (p *progressView) status(now time.Time) *statusLine {
	l := &statusLine{}
	l.add("", p.label(now))
	switch p.stage {
	case lifecycle.StageCrawling:
		pages := thousands(p.pagesFetched) + "/" + thousands(p.pagesLimit)
		l.count = l.add("  ", "pages fetched "+pages, "pages "+pages)
		l.addBar(fraction(p.pagesFetched, p.pagesLimit))
	case lifecycle.StageProcessingScheduled, lifecycle.StageChunksGenerated, lifecycle.StageSummaryGenerated:
		docRate, chunkRate, measured := p.rates(now)
		running := measured && !p.buildingIndex && p.stage == lifecycle.StageProcessingScheduled
		docs := thousands(p.documents) + "/" + thousands(p.documentsTotal)
		l.count = l.add("  ", "documents "+docs, "docs "+docs)
		l.addBar(fraction(p.documents, p.documentsTotal))
		if running && p.documents < p.documentsTotal {
			l.countRate = l.add(" ", formatRate(docRate)+" docs/s", formatRate(docRate)+"/s")
		}
		chunks := thousands(p.embedded) + "/" + thousands(p.written)
		l.chunks = l.add("  ", "chunks embedded "+chunks, "chunks "+chunks)
		l.addBar(fraction(p.embedded, p.written))
		if running {
			l.chunkRate = l.add(" ", formatRate(chunkRate)+" chunks/s", formatRate(chunkRate)+"/s")
		}
	}
	elapsed := formatSeconds(now.Sub(p.start))
	l.elapsed = l.add("  ", elapsed+" elapsed", elapsed)
	if eta, ok := p.eta(now); ok {
		left := formatSeconds(eta)
		l.eta = l.add("  ", "about "+left+" left", "~"+left+" left", "~"+left)
	}
	return l
}

// line is the status line for a terminal width columns wide: every item
// when they fit, with bars in the room left; else items shortened and then
// left out, the least telling first, so that the stage and the estimate
// stay longest.
func (p *progressView) line(width int) string {
	l := p.status(p.now())
	steps := []*segment{
		l.count, l.chunks, l.elapsed, l.eta, l.countRate, l.chunkRate, // shorter words
		l.elapsed, l.chunkRate, l.countRate, l.eta, l.chunks, l.eta, l.count, l.count, // fewer items
	}
	text := l.render(0)
	for _, s := range steps {
		if len(text) <= width {
			break
		}
		s.shorten()
		text = l.render(0)
	}
	if len(text) > width {
		return text[:max(width, 0)]
	}
	// The bars share the room left, each with its separator.
	bars := 0
	for _, s := range l.segs {
		if s.isBar {
			bars++
		}
	}
	if bars > 0 {
		if w := min(barMax, (width-len(text))/bars-1); w >= barMin {
			return l.render(w)
		}
	}
	return text
}

// rates returns documents chunked and chunks embedded per second over the
// recent window, and whether enough time is observed to tell.
func (p *progressView) rates(now time.Time) (docs, chunks float64, ok bool) {
	// Keep the newest sample older than the window as the base.
	cut := 0
	for i, s := range p.samples {
		if now.Sub(s.at) > rateWindow {
			cut = i
		}
	}
	p.samples = p.samples[cut:]
	if len(p.samples) == 0 {
		return 0, 0, false
	}
	base := p.samples[0]
	span := now.Sub(base.at)
	if span < etaMinSpan {
		return 0, 0, false
	}
	return float64(p.documents-base.documents) / span.Seconds(), float64(p.embedded-base.embedded) / span.Seconds(), true
}

// eta estimates the time left for chunking and embedding at the recent
// rates. The chunks still to come are estimated from the chunks per
// document so far. There is no estimate before rates can be measured,
// while nothing moves, or once the counts are done (an index build and
// the summary follow, of no measurable pace).
func (p *progressView) eta(now time.Time) (time.Duration, bool) {
	if p.stage != lifecycle.StageProcessingScheduled || p.buildingIndex || p.documents == 0 {
		return 0, false
	}
	docRate, chunkRate, ok := p.rates(now)
	if !ok {
		return 0, false
	}
	docsLeft := float64(p.documentsTotal - p.documents)
	chunksTotal := float64(p.written)
	if p.documents < p.documentsTotal {
		chunksTotal = float64(p.written) * float64(p.documentsTotal) / float64(p.documents)
	}
	chunksLeft := chunksTotal - float64(p.embedded)
	if docsLeft <= 0 && chunksLeft <= 0 {
		return 0, false
	}
	var seconds float64
	for _, w := range []struct{ left, rate float64 }{{docsLeft, docRate}, {chunksLeft, chunkRate}} {
		if w.left <= 0 {
			continue
		}
		if w.rate <= 0 {
			return 0, false // stalled: no honest estimate
		}
		seconds = max(seconds, w.left/w.rate)
	}
	// Rounded up: work remains, so never "0s left".
	return time.Duration(math.Ceil(seconds)) * time.Second, true
}

func fraction(n, total int) float64 {
	if total <= 0 {
		return 0
	}
	return min(1, float64(n)/float64(total))
}

// renderBar draws f as a bar width columns wide, brackets included.
func renderBar(f float64, width int) string {
	inner := width - 2
	full := int(f * float64(inner))
	return "[" + strings.Repeat("#", full) + strings.Repeat(".", inner-full) + "]"
}

// thousands writes n with commas between groups of three digits.
func thousands(n int) string {
	s := strconv.Itoa(n)
	if n < 0 {
		return "-" + thousands(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// formatRate writes a rate per second: one decimal below 10.
func formatRate(r float64) string {
	if r < 10 {
		return strconv.FormatFloat(r, 'f', 1, 64)
	}
	return thousands(int(math.Round(r)))
}

// formatSeconds writes d to the second: 45s, 2m05s, 1h02m.
func formatSeconds(d time.Duration) string {
	s := int(max(d, 0) / time.Second)
	switch {
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	default:
		return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
	}
}

// wrapText wraps each line of text at spaces to at most width columns;
// continuation lines are indented by two spaces.
func wrapText(text string, width int) string {
	if width < 20 {
		return text
	}
	var out []string
	for _, line := range strings.Split(text, "\n") {
		indent := ""
		for len(line) > width {
			cut := strings.LastIndex(line[:width+1], " ")
			if cut <= len(indent) {
				break
			}
			out = append(out, line[:cut])
			indent = "  "
			line = indent + strings.TrimLeft(line[cut:], " ")
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}
