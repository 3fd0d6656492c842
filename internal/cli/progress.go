package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/kollektiv/kollektiv/internal/events"
	"github.com/kollektiv/kollektiv/internal/lifecycle"
)

// isTerminal reports whether w is a terminal, where progress is drawn as
// bars redrawn in place rather than printed as lines.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}

// progressView draws an ingest's progress on a terminal: a status line with
// two bars (documents chunked, chunks embedded), the stage, the elapsed time
// and an estimate, redrawn in place; stage changes are printed above it.
type progressView struct {
	w     io.Writer
	start time.Time
	now   func() time.Time
	stage lifecycle.Stage

	documents, documentsTotal int
	embedded, written         int
}

func newProgressView(w io.Writer, now func() time.Time) *progressView {
	return &progressView{w: w, start: now(), now: now, stage: lifecycle.StageCreated}
}

// event updates the view with one event and redraws it.
func (p *progressView) event(e events.Event) {
	var payload map[string]any
	_ = json.Unmarshal(e.Payload, &payload)
	number := func(k string) int {
		f, _ := payload[k].(float64)
		return int(f)
	}
	if e.Stage == lifecycle.StageProgress {
		p.documents, p.documentsTotal = number("documents_processed"), number("documents_total")
		p.embedded, p.written = number("chunks_embedded"), number("chunks_written")
	} else {
		p.stage = e.Stage
		switch e.Stage {
		case lifecycle.StageProcessingScheduled:
			p.documentsTotal = number("documents")
		case lifecycle.StageChunksGenerated, lifecycle.StageCompleted:
			p.documents = p.documentsTotal
			p.embedded, p.written = number("chunks"), number("chunks")
		}
		fmt.Fprintf(p.w, "\r\x1b[K%6.1fs  %-20s %s\n", p.elapsed().Seconds(), e.Stage, describeEvent(e))
	}
	if e.Stage.Terminal() {
		return
	}
	fmt.Fprintf(p.w, "\r\x1b[K%s", p.line())
}

func (p *progressView) elapsed() time.Duration { return p.now().Sub(p.start) }

// line is the status line: bars, stage, elapsed time and estimate.
func (p *progressView) line() string {
	docs := fraction(p.documents, p.documentsTotal)
	chunks := fraction(p.embedded, p.written)
	done := (docs + chunks) / 2
	eta := "--"
	if done > 0.02 && done < 1 {
		eta = (time.Duration(float64(p.elapsed())*(1-done)/done) / time.Second * time.Second).String()
	}
	return fmt.Sprintf("documents %s %d/%d  chunks embedded %s %d/%d  %s  %s elapsed, about %s left",
		bar(docs, 20), p.documents, p.documentsTotal, bar(chunks, 20), p.embedded, p.written,
		p.stage, p.elapsed().Round(100*time.Millisecond), eta)
}

func fraction(n, total int) float64 {
	if total <= 0 {
		return 0
	}
	return min(1, float64(n)/float64(total))
}

func bar(f float64, width int) string {
	full := int(f * float64(width))
	return "[" + strings.Repeat("#", full) + strings.Repeat(".", width-full) + "]"
}
