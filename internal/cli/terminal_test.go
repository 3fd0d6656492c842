package cli

import (
	"errors"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/creack/pty"

	"github.com/kollektiv/kollektiv/internal/config"
	"github.com/kollektiv/kollektiv/internal/dbtest"
	"github.com/kollektiv/kollektiv/internal/testbin"
)

// screen is what a terminal shows of some output, as far as the status
// line needs: printable characters wrapping at the width (a character
// written past the last column starts the next row), \r, \n, ESC[K (clear
// to the end of the line); other escape sequences and control characters
// are ignored.
type screen struct {
	rows [][]rune
	// stacked are the rows a \r could not return to: a line had wrapped
	// onto the next row, so each redraw from there leaves the rows above
	// on screen (the status line stacks up).
	stacked []string
}

// emulate plays out on a terminal whose width at each byte offset of out
// is cols(offset).
func emulate(out string, cols func(offset int) int) *screen {
	s := &screen{rows: [][]rune{nil}}
	row, col, lineRow := 0, 0, 0
	for i := 0; i < len(out); {
		r, size := utf8.DecodeRuneInString(out[i:])
		switch {
		case r == '\r':
			// The pseudo-terminal sends \n as \r\n: that \r ends a line.
			if row != lineRow && !strings.HasPrefix(out[i+1:], "\n") {
				s.stacked = append(s.stacked, string(s.rows[lineRow]))
			}
			col = 0
		case r == '\n':
			row++
			if row == len(s.rows) {
				s.rows = append(s.rows, nil)
			}
			col, lineRow = 0, row
		case r == '\x1b':
			j := i + 1
			if j < len(out) && out[j] == '[' {
				j++
				for j < len(out) && (out[j] < 0x40 || out[j] > 0x7e) {
					j++
				}
				if j < len(out) && out[j] == 'K' && col < len(s.rows[row]) {
					s.rows[row] = s.rows[row][:col]
				}
			}
			i = j + 1
			continue
		case r < ' ':
		default:
			if col >= cols(i) {
				row++
				if row == len(s.rows) {
					s.rows = append(s.rows, nil)
				}
				col = 0
			}
			for len(s.rows[row]) <= col {
				s.rows[row] = append(s.rows[row], ' ')
			}
			s.rows[row][col] = r
			col++
		}
		i += size
	}
	return s
}

// lines returns the screen's rows as text, without trailing spaces and
// trailing empty rows.
func (s *screen) lines() []string {
	var out []string
	for _, r := range s.rows {
		out = append(out, strings.TrimRight(string(r), " "))
	}
	for len(out) > 0 && out[len(out)-1] == "" {
		out = out[:len(out)-1]
	}
	return out
}

// statusDraw is one status line drawn in place: \r, the line, ESC[K.
var statusDraw = regexp.MustCompile("\r([^\r\n\x1b]+)\x1b\\[K")

// draws returns the status lines drawn in out, each with its offset.
func draws(out string) (lines []string, offsets []int) {
	for _, m := range statusDraw.FindAllStringSubmatchIndex(out, -1) {
		lines = append(lines, out[m[2]:m[3]])
		offsets = append(offsets, m[0])
	}
	return lines, offsets
}

// statusRow matches a status line left on screen.
var statusRow = regexp.MustCompile(`^(queued|crawling|chunking|embedding|finishing|summarising|building the search index)\b`)

// TestEmulatorSeesStacking: the old status line (145 columns redrawn in a
// 120-column terminal) stacks up in the emulator, and the same redraws
// within the width do not.
func TestEmulatorSeesStacking(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 145)
	out := "\r\x1b[K" + long + "\r\x1b[K" + long + "\r\x1b[K" + long
	if s := emulate(out, func(int) int { return 120 }); len(s.stacked) != 2 || len(s.lines()) != 4 {
		t.Fatalf("145 columns at 120: stacked %d, %d rows, want 2 and 4", len(s.stacked), len(s.lines()))
	}
	if s := emulate(out, func(int) int { return 150 }); len(s.stacked) != 0 || len(s.lines()) != 1 {
		t.Fatalf("145 columns at 150: stacked %d, %d rows, want 0 and 1", len(s.stacked), len(s.lines()))
	}
}

// ptyProcess is the kollektiv binary running in a pseudo-terminal.
type ptyProcess struct {
	cmd    *exec.Cmd
	ptmx   *os.File
	out    *syncBuffer
	copied chan struct{}
	exited chan int
}

// startInTerminal runs the binary with args in a cols x 24 pseudo-terminal,
// its controlling terminal, as a shell runs it: Ctrl-C typed in it
// interrupts it, a resize signals it.
func startInTerminal(t *testing.T, binary string, env []string, cols uint16, args ...string) *ptyProcess {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 24, Cols: cols})
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	p := &ptyProcess{cmd: cmd, ptmx: ptmx, out: &syncBuffer{}, copied: make(chan struct{}), exited: make(chan int, 1)}
	go func() {
		defer close(p.copied)
		buf := make([]byte, 4096)
		for {
			n, err := ptmx.Read(buf)
			_, _ = p.out.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}()
	go func() {
		err := cmd.Wait()
		var exit *exec.ExitError
		switch {
		case err == nil:
			p.exited <- 0
		case errors.As(err, &exit):
			p.exited <- exit.ExitCode()
		default:
			p.exited <- -1
		}
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = ptmx.Close()
	})
	return p
}

// exit waits for the process's exit status and the last of its output.
func (p *ptyProcess) exit(t *testing.T) int {
	t.Helper()
	select {
	case code := <-p.exited:
		select {
		case <-p.copied:
		case <-time.After(5 * time.Second):
		}
		return code
	case <-time.After(2 * time.Minute):
		t.Fatalf("still running after 2 minutes; output %q", p.out)
		return 0
	}
}

// TestIngestWaitInTerminal runs `kollektiv ingest --wait` as a new user
// meets it, in an 80-column terminal and with no worker running. It must
// say, once, that no worker is alive and how to start one; say when one
// appears; draw one status line in place, never wider than the terminal,
// also after the terminal is narrowed to 70 columns (SIGWINCH); and on
// Ctrl-C, take the status line off, say that the source goes on
// processing and how to follow it again, and exit 130. `sources watch ID`
// then follows it to the end in the same terminal, through the search
// index build, without a word about workers since one runs.
func TestIngestWaitInTerminal(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs it")
	}
	t.Parallel()
	binary := testbin.Build(t)
	url := dbtest.DatabaseURL(t)
	env := []string{"DATABASE_URL=" + url, "KOLLEKTIV_LOG_LEVEL=warn", "KOLLEKTIV_USER=local", "KOLLEKTIV_NO_WORKER_NOTICE=200ms"}
	docs := map[string]string{}
	for _, name := range []string{"install", "usage", "config", "deploy"} {
		docs[name+".md"] = "# " + name + "\n\n" + strings.Repeat("How to "+name+" the service, step by step, with examples.\n\n", 30)
	}
	dir := writeDocs(t, docs)

	ingest := startInTerminal(t, binary, env, 80, "ingest", "--wait", dir)
	const noWorker = "no worker has sent a heartbeat in the last 1m,"
	waitUntil(t, "the no-worker notice", func() (bool, string) {
		return strings.Contains(ingest.out.String(), noWorker), ingest.out.String()
	})
	worker := pausedChunkingWorker(t, url, func(cfg *config.Config) {
		cfg.BatchDocuments = 1
		cfg.ProgressInterval = time.Millisecond
		cfg.BulkIndexMinBytes = 1 // every source builds its own index
	})
	waitUntil(t, "the notice that a worker is alive", func() (bool, string) {
		return strings.Contains(ingest.out.String(), "a worker is alive now"), ingest.out.String()
	})
	// The chunking queue is paused: the source waits at chunking 0/4.
	waitUntil(t, "the status line at chunking", func() (bool, string) {
		lines, _ := draws(ingest.out.String())
		return len(lines) > 0 && strings.HasPrefix(lines[len(lines)-1], "chunking  documents 0/4"), strings.Join(lines, "\n")
	})

	narrowed := len(ingest.out.String())
	if err := pty.Setsize(ingest.ptmx, &pty.Winsize{Rows: 24, Cols: 70}); err != nil {
		t.Fatal(err)
	}
	redrawn := 0 // the offset of the first draw at the new width
	waitUntil(t, "a redraw at 70 columns", func() (bool, string) {
		lines, offsets := draws(ingest.out.String())
		for i := range lines {
			if offsets[i] >= narrowed && len(lines[i]) < 70 && strings.HasPrefix(lines[i], "chunking") {
				redrawn = offsets[i]
				return true, lines[i]
			}
		}
		return false, strings.Join(lines, "\n")
	})
	if _, err := ingest.ptmx.Write([]byte{3}); err != nil { // Ctrl-C
		t.Fatal(err)
	}
	if code := ingest.exit(t); code != 130 {
		t.Fatalf("exit %d after Ctrl-C, want 130; output %q", code, ingest.out)
	}
	out := ingest.out.String()
	id := sourceCreated.FindStringSubmatch(out)
	if id == nil {
		t.Fatalf("no source id in %q", out)
	}
	width := func(offset int) int {
		if offset < narrowed {
			return 80
		}
		return 70
	}
	s := emulate(out, width)
	if len(s.stacked) > 0 {
		t.Errorf("status lines stacked up: %q", s.stacked)
	}
	lines, offsets := draws(out)
	for i, l := range lines {
		if max := width(offsets[i]); offsets[i] >= redrawn && len(l) >= max || len(l) >= 80 {
			t.Errorf("a status line of %d columns at %d: %q", len(l), max, l)
		}
	}
	shown := s.lines()
	if n := strings.Count(strings.Join(shown, "\n"), noWorker); n != 1 {
		t.Errorf("the no-worker notice shown %d times:\n%s", n, strings.Join(shown, "\n"))
	}
	tail := strings.Join(shown[max(0, len(shown)-3):], "\n")
	wantTail := "kollektiv ingest: stopped following; the source goes on processing.\nFollow it again with:\n  kollektiv sources watch " + id[1]
	if tail != wantTail {
		t.Errorf("screen ends with\n%s\nwant\n%s", tail, wantTail)
	}
	for _, l := range shown {
		if statusRow.MatchString(l) {
			t.Errorf("a status line left on screen: %q", l)
		}
	}
	t.Logf("screen after Ctrl-C:\n%s", strings.Join(shown, "\n"))

	// Followed again, with the worker running: to the end, no notice.
	if err := worker.River.QueueResume(t.Context(), "chunking", nil); err != nil {
		t.Fatal(err)
	}
	watch := startInTerminal(t, binary, append(env, "KOLLEKTIV_NO_WORKER_NOTICE=1ms"), 80, "sources", "watch", id[1])
	if code := watch.exit(t); code != 0 {
		t.Fatalf("sources watch: exit %d, output %q", code, watch.out)
	}
	out = watch.out.String()
	s = emulate(out, func(int) int { return 80 })
	shown = s.lines()
	if len(s.stacked) > 0 {
		t.Errorf("sources watch: status lines stacked up: %q", s.stacked)
	}
	lines, _ = draws(out)
	building := false
	for _, l := range lines {
		if len(l) >= 80 {
			t.Errorf("sources watch: a status line of %d columns: %q", len(l), l)
		}
		building = building || strings.HasPrefix(l, "building the search index (")
	}
	if !building {
		t.Errorf("sources watch never showed the index build:\n%s", strings.Join(lines, "\n"))
	}
	if strings.Contains(out, "no worker") || !regexp.MustCompile(`s  completed +documents 4, chunks \d+`).MatchString(shown[len(shown)-1]) {
		t.Errorf("sources watch screen:\n%s", strings.Join(shown, "\n"))
	}
	t.Logf("sources watch screen:\n%s", strings.Join(shown, "\n"))
}
