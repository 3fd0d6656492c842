package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/kollektiv/kollektiv/internal/config"
	"github.com/kollektiv/kollektiv/internal/dbtest"
	"github.com/kollektiv/kollektiv/internal/events"
	"github.com/kollektiv/kollektiv/internal/lifecycle"
)

// TestIngestProgressOnTerminal runs `ingest --wait` with stdout and
// stderr on an 80-column pseudo-terminal while a worker runs: one status
// line redrawn in place, never wider than 78 columns, naming the stage
// really running; each stage on a line of its own; no status line left
// when it ends; and, with the notice's wait at 1ms, no word about
// workers, since one is alive.
func TestIngestProgressOnTerminal(t *testing.T) {
	t.Parallel()
	url := dbtest.DatabaseURL(t)
	startWorker(t, url, func(cfg *config.Config) {
		cfg.BatchDocuments = 1
		cfg.EmbedBatchChunks = 2
		cfg.ProgressInterval = time.Millisecond
	})
	ctx := context.Background()

	dir := t.TempDir()
	for i := range 6 {
		text := fmt.Sprintf("# Part %d\n\n", i) + strings.Repeat(fmt.Sprintf("Paragraph about topic %d and its details.\n\n", i), 40)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("p%d.md", i)), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}

	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	defer ptmx.Close()
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 24, Cols: 80}); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var screenBytes bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			mu.Lock()
			screenBytes.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()

	env := map[string]string{"DATABASE_URL": url, "KOLLEKTIV_LOG_LEVEL": "warn", "KOLLEKTIV_NO_WORKER_NOTICE": "1ms"}
	code := Main(ctx, []string{"ingest", "--wait", dir}, Env{
		Stdin: strings.NewReader(""), Stdout: tty, Stderr: tty,
		Getenv: func(k string) string { return env[k] },
	})
	_ = tty.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
	}
	mu.Lock()
	out := screenBytes.String()
	mu.Unlock()
	if code != 0 {
		t.Fatalf("exit %d: %q", code, out)
	}
	s := emulate(out, func(int) int { return 80 })
	if len(s.stacked) > 0 {
		t.Errorf("status lines stacked up: %q", s.stacked)
	}
	lines, _ := draws(out)
	stages := map[string]bool{}
	for _, l := range lines {
		if len(l) > 78 {
			t.Errorf("a status line of %d columns: %q", len(l), l)
		}
		stages[strings.Fields(l)[0]] = true
	}
	if len(lines) == 0 || !stages["chunking"] && !stages["embedding"] {
		t.Errorf("no status line while chunking or embedding: %q", lines)
	}
	shown := s.lines()
	for _, l := range shown {
		if statusRow.MatchString(l) {
			t.Errorf("a status line left on screen: %q", l)
		}
	}
	text := strings.Join(shown, "\n")
	for _, want := range []string{"processing_scheduled documents 6", "completed            documents 6"} {
		if !strings.Contains(text, want) {
			t.Errorf("screen lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(out, "worker") {
		t.Errorf("a word about workers while one runs:\n%s", text)
	}
}

// fakeClock is a clock a test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// testView returns a view cols wide (0: not a terminal) on a fake clock,
// writing to out.
func testView(cols int) (v *progressView, clock *fakeClock, out *bytes.Buffer) {
	clock, out = &fakeClock{t: time.Unix(1000, 0)}, &bytes.Buffer{}
	return newProgressView(out, out, cols, clock.now), clock, out
}

func stageEvent(stage lifecycle.Stage, payload string) events.Event {
	return events.Event{Stage: stage, Payload: json.RawMessage(payload)}
}

func progressEvent(docs, total, written, embedded int) events.Event {
	return stageEvent(lifecycle.StageProgress, fmt.Sprintf(`{"documents_processed":%d,"documents_total":%d,"chunks_written":%d,"chunks_embedded":%d}`, docs, total, written, embedded))
}

// TestStatusLineStage: the status line names what really runs, from the
// stage events and the counts: queued, chunking while documents remain,
// embedding while only chunks do, the index build with its own elapsed
// time, summarising.
func TestStatusLineStage(t *testing.T) {
	t.Parallel()
	v, clock, _ := testView(200)
	label := func() string { return v.label(clock.now()) }
	if got := label(); got != "queued" {
		t.Errorf("before any event: %q, want queued", got)
	}
	v.event(stageEvent(lifecycle.StageProcessingScheduled, `{"documents":10,"batches":10}`))
	v.event(progressEvent(4, 10, 40, 12))
	if got := label(); got != "chunking" {
		t.Errorf("4 of 10 documents chunked: %q, want chunking", got)
	}
	v.event(progressEvent(10, 10, 90, 60))
	if got := label(); got != "embedding" {
		t.Errorf("every document chunked, 60 of 90 chunks embedded: %q, want embedding", got)
	}
	v.event(stageEvent(lifecycle.StageProgress, `{"documents_processed":10,"documents_total":10,"chunks_written":90,"chunks_embedded":90,"building_index":true}`))
	clock.advance(12 * time.Second)
	if got := label(); got != "building the search index (12s)" {
		t.Errorf("during the index build: %q", got)
	}
	if line := v.line(79); strings.Contains(line, "left") || strings.Contains(line, "/s") {
		t.Errorf("during the index build the line has an estimate or rates: %q", line)
	}
	v.event(stageEvent(lifecycle.StageChunksGenerated, `{"documents":10,"chunks":90,"failed_documents":0}`))
	if got := label(); got != "summarising" {
		t.Errorf("after chunks_generated: %q, want summarising", got)
	}
}

// TestStatusLineFitsWidth: at any width the line fits one column short of
// it; wide, it has every item with bars; at 80 columns it keeps the
// stage, both counts, both rates and the estimate.
func TestStatusLineFitsWidth(t *testing.T) {
	t.Parallel()
	v, clock, _ := testView(80)
	v.event(stageEvent(lifecycle.StageProcessingScheduled, `{"documents":7425,"batches":149}`))
	for i := 1; i <= 10; i++ {
		clock.advance(time.Second)
		v.event(progressEvent(220*i, 7425, 3100*i, 3000*i))
	}
	for _, width := range []int{10, 30, 40, 59, 79, 119, 200} {
		line := v.line(width)
		t.Logf("%3d columns: %s", width+1, line)
		if len(line) > width {
			t.Errorf("width %d: %d columns: %q", width, len(line), line)
		}
		if width >= 30 && !strings.HasPrefix(line, "chunking") {
			t.Errorf("width %d: no stage first: %q", width, line)
		}
	}
	if line := v.line(79); !regexp.MustCompile(`^chunking  docs 2,200/7,425 \S+/s  chunks 30,000/31,000 \S+/s  .*~\S+`).MatchString(line) {
		t.Errorf("at 80 columns: %q", line)
	}
	wide := v.line(199)
	for _, want := range []string{"documents 2,200/7,425 [", "220 docs/s", "chunks embedded 30,000/31,000 [", "3,000 chunks/s", "10s elapsed", "about ", " left"} {
		if !strings.Contains(wide, want) {
			t.Errorf("at 200 columns the line lacks %q: %q", want, wide)
		}
	}
}

// TestStatusLineEstimate: no estimate until rates are measured over
// etaMinSpan; then the time left at the recent rates (the chunks still to
// come estimated from chunks per document); none while nothing moves; and
// never 0s while work remains.
func TestStatusLineEstimate(t *testing.T) {
	t.Parallel()
	v, clock, _ := testView(200)
	v.event(stageEvent(lifecycle.StageProcessingScheduled, `{"documents":1000,"batches":20}`))
	clock.advance(time.Second)
	v.event(progressEvent(10, 1000, 30, 20))
	if _, ok := v.eta(clock.now()); ok {
		t.Fatal("an estimate after one second")
	}
	for i := 2; i <= 5; i++ {
		clock.advance(time.Second)
		v.event(progressEvent(10*i, 1000, 30*i, 30*i-10))
	}
	// Measured from the start: 10 documents/s with 950 left, 95 s; 28
	// chunks/s with 3,000 - 140 left (3 chunks a document), 102.1 s,
	// rounded up.
	eta, ok := v.eta(clock.now())
	if !ok || eta != 103*time.Second {
		t.Fatalf("estimate %v (%v), want 1m43s", eta, ok)
	}
	if line := v.line(199); !strings.Contains(line, "about 1m43s left") || !strings.Contains(line, "10 docs/s") || !strings.Contains(line, "28 chunks/s") {
		t.Errorf("line %q", line)
	}
	// Rates are recent: after 15 s at 40 documents/s and 120 chunks/s the
	// estimate follows the new pace alone: 350 documents, 1,060 chunks left.
	for i := 1; i <= 15; i++ {
		clock.advance(time.Second)
		v.event(progressEvent(50+40*i, 1000, 150+120*i, 140+120*i))
	}
	if eta, _ := v.eta(clock.now()); eta != 9*time.Second {
		t.Errorf("estimate at 40 documents/s with 350 left: %v, want 9s", eta)
	}
	// Stalled: no estimate rather than a stale one.
	clock.advance(rateWindow + time.Second)
	if eta, ok := v.eta(clock.now()); ok {
		t.Errorf("estimate %v while nothing moved for %v", eta, rateWindow)
	}
	// Nearly done: a second, not zero.
	for i := 1; i <= 4; i++ {
		clock.advance(time.Second)
		v.event(progressEvent(650+80*i, 1000, 3*(650+80*i), 3*(650+80*i)-10))
	}
	clock.advance(time.Second)
	v.event(progressEvent(999, 1000, 2997, 2996))
	if eta, ok := v.eta(clock.now()); !ok || eta < time.Second {
		t.Errorf("estimate %v (%v) with work left", eta, ok)
	}
	if line := v.line(199); strings.Contains(line, " 0s left") {
		t.Errorf("line %q says 0s left with work left", line)
	}
}

// TestPlainProgress: when the output is not a terminal there is no escape
// sequence nor carriage return; stage lines as they come, a progress line
// at most every plainInterval when the counts moved, and the index build
// said once.
func TestPlainProgress(t *testing.T) {
	t.Parallel()
	v, clock, out := testView(0)
	v.event(stageEvent(lifecycle.StageProcessingScheduled, `{"documents":100,"batches":2}`))
	for i := 1; i <= 40; i++ {
		clock.advance(250 * time.Millisecond)
		v.event(progressEvent(i, 100, 3*i, 2*i))
		v.tick()
	}
	v.event(stageEvent(lifecycle.StageProgress, `{"documents_processed":100,"documents_total":100,"chunks_written":300,"chunks_embedded":300,"building_index":true}`))
	for range 40 {
		clock.advance(250 * time.Millisecond)
		v.tick()
	}
	v.event(stageEvent(lifecycle.StageChunksGenerated, `{"documents":100,"chunks":300,"failed_documents":0}`))
	text := out.String()
	if strings.ContainsAny(text, "\r\x1b") {
		t.Fatalf("terminal control characters in plain output: %q", text)
	}
	lines := strings.Split(strings.TrimSpace(text), "\n")
	var progress []string
	for _, l := range lines {
		if strings.Contains(l, " progress ") {
			progress = append(progress, l)
		}
	}
	// 10 s of counts: at 0.25 s (the first) and 5.25 s; then the index
	// build, once.
	if len(progress) != 3 || !strings.Contains(progress[0], "chunking: documents 1/100") || !strings.HasSuffix(progress[2], "building the search index") {
		t.Fatalf("progress lines %q, want 3: two of counts and the index build", progress)
	}
	if !strings.Contains(lines[0], "processing_scheduled") || !strings.Contains(lines[len(lines)-1], "chunks_generated") {
		t.Errorf("stage lines missing:\n%s", text)
	}
}

func TestWrapText(t *testing.T) {
	t.Parallel()
	got := wrapText("kollektiv ingest: no worker has sent a heartbeat in the last 1m0s, so nothing is processing the source.\nshort", 40)
	for _, l := range strings.Split(got, "\n") {
		if len(l) > 40 {
			t.Errorf("line of %d columns: %q", len(l), l)
		}
	}
	if strings.ReplaceAll(strings.ReplaceAll(got, "\n  ", " "), "\n", " ") != "kollektiv ingest: no worker has sent a heartbeat in the last 1m0s, so nothing is processing the source. short" {
		t.Errorf("wrapping lost or changed words: %q", got)
	}
}
