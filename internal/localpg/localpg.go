// Package localpg runs a private PostgreSQL server in a data directory of
// Kollektiv's own, for a first run on a machine where PostgreSQL is
// installed but no server answers on the default address. It uses the
// installed binaries (initdb, pg_ctl); pgvector must be installed for them.
package localpg

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ErrNoBinaries is returned when no PostgreSQL installation is found.
var ErrNoBinaries = errors.New("no PostgreSQL binaries found (looked for initdb and pg_ctl under /usr/lib/postgresql/*/bin and on PATH)")

// Server is a private server: its data directory and connection URL.
type Server struct {
	// Dir holds the cluster (Dir/pgdata), its socket and its log.
	Dir string
	// Port is the TCP port on 127.0.0.1.
	Port int
	// Started is true when this call started it (it was not running).
	Started bool
	bin     string
}

// URL is the connection string of database name on the server.
func (s *Server) URL(name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.Port, name)
}

// Stop stops the server (fast shutdown: sessions are ended).
func (s *Server) Stop(ctx context.Context) error {
	return s.run(ctx, filepath.Join(s.bin, "pg_ctl"), "-D", s.pgdata(), "-m", "fast", "-w", "stop")
}

// Restart restarts the server (fast: sessions are ended), as a crash test
// of the clients would.
func (s *Server) Restart(ctx context.Context) error {
	// -l: without a log file the server would write to, and hold open,
	// pg_ctl's output.
	return s.run(ctx, filepath.Join(s.bin, "pg_ctl"), "-D", s.pgdata(), "-l", filepath.Join(s.Dir, "postgresql.log"), "-m", "fast", "-w", "restart")
}

func (s *Server) pgdata() string { return filepath.Join(s.Dir, "pgdata") }

// Ensure returns the private server in dir, initialising the cluster the
// first time and starting the server when it is not running. The server
// keeps running after the process exits, so later commands reuse it.
func Ensure(ctx context.Context, dir string) (*Server, error) {
	bin, err := findBinaries()
	if err != nil {
		return nil, err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, bin: bin}
	// The parents must stay searchable: as root, the server runs as the
	// postgres user, who has to reach dir.
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return nil, fmt.Errorf("error creating %s: %w", filepath.Dir(dir), err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("error creating %s: %w", dir, err)
	}
	if os.Geteuid() == 0 {
		for p := filepath.Dir(dir); p != filepath.Dir(p); p = filepath.Dir(p) {
			if info, err := os.Stat(p); err == nil && info.Mode().Perm()&0o001 == 0 {
				return nil, fmt.Errorf("the postgres user cannot reach %s: %s is not searchable by others; choose another KOLLEKTIV_DATA_DIR", dir, p)
			}
		}
	}
	if err := s.chown(dir); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(s.pgdata(), "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if err := s.run(ctx, filepath.Join(bin, "initdb"), "-D", s.pgdata(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-instructions"); err != nil {
			return nil, fmt.Errorf("error initialising a private cluster in %s: %w", s.pgdata(), err)
		}
	}
	if port, ok := s.runningPort(ctx); ok {
		s.Port = port
		return s, nil
	}
	if s.Port, err = freePort(ctx); err != nil {
		return nil, err
	}
	err = s.run(ctx, filepath.Join(bin, "pg_ctl"), "-D", s.pgdata(), "-l", filepath.Join(dir, "postgresql.log"), "-w", "-t", "60",
		"-o", fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1", s.Port, dir), "start")
	if err != nil {
		return nil, fmt.Errorf("error starting the private server (log: %s): %w", filepath.Join(dir, "postgresql.log"), err)
	}
	s.Started = true
	return s, nil
}

// runningPort reads postmaster.pid: a live server's port.
func (s *Server) runningPort(ctx context.Context) (int, bool) {
	raw, err := os.ReadFile(filepath.Join(s.pgdata(), "postmaster.pid"))
	if err != nil {
		return 0, false
	}
	lines := strings.Split(string(raw), "\n")
	if len(lines) < 4 {
		return 0, false
	}
	port, err := strconv.Atoi(strings.TrimSpace(lines[3]))
	if err != nil {
		return 0, false
	}
	d := net.Dialer{Timeout: time.Second}
	conn, err := d.DialContext(ctx, "tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return 0, false
	}
	_ = conn.Close()
	return port, true
}

// findBinaries returns the bin directory of the newest installation.
func findBinaries() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if executable(filepath.Join(d, "initdb")) && executable(filepath.Join(d, "pg_ctl")) {
			return d, nil
		}
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil && executable(filepath.Join(filepath.Dir(p), "initdb")) {
		return filepath.Dir(p), nil
	}
	return "", ErrNoBinaries
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func executable(path string) bool {
	info, err := os.Stat(path)
	return err == nil && info.Mode()&0o111 != 0
}

func freePort(ctx context.Context) (int, error) {
	var lc net.ListenConfig
	l, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("error finding a free port: %w", err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// PostgreSQL refuses to run as root: as root, the server runs as the
// postgres user, who must own the directory.
func (s *Server) chown(dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return fmt.Errorf("running as root needs a postgres user to run the private server: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return filepath.Walk(dir, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, uid, gid)
	})
}

func (s *Server) run(ctx context.Context, name string, args ...string) error {
	var cmd *exec.Cmd
	if os.Geteuid() == 0 {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", "postgres", "--", name}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, name, args...)
	}
	cmd.Dir = s.Dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", filepath.Base(name), err, strings.TrimSpace(string(out)))
	}
	return nil
}
