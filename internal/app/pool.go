package app

import (
	"fmt"
	"log/slog"

	"github.com/kollektiv/kollektiv/internal/store"
)

// How a process's pool is sized (PoolInputs.Size). A job needs a
// connection only for its short reads and its final transaction: a
// chunking job chunks, an embedding job waits on its provider, with none
// held (River's executor holds none while Work runs either). So the pool
// is sized for the transactions that usefully run at once, not for the
// workers; a job past its work waits in the pool's queue for a moment
// instead of opening a connection of its own, and 200 workers a queue no
// longer ask the server for 600 connections.
const (
	// poolBase are the process's own queries: the heartbeat, the CLI's
	// one transaction, the API's event hub listening.
	poolBase = 4
	// riverConns are River's own besides one fetch per queue: its
	// notifier's LISTEN, its leader election and maintenance, its
	// completer.
	riverConns = 3
	// transactionsPerCPU and minTransactions bound the jobs' transactions
	// at once: a database on the same kind of machine runs no more in
	// parallel to any profit.
	transactionsPerCPU = 4
	minTransactions    = 16
	// apiConns serve the API's requests.
	apiConns = 16
	// poolFloor is the least pool a process runs with, even when the
	// server says it has fewer connections free: River needs its
	// notifier and one more to make progress.
	poolFloor = 4
)

// PoolInputs are what sizes a process's database pool.
type PoolInputs struct {
	// Workers is the concurrency of each queue the process works; empty
	// for a process that runs no jobs.
	Workers map[string]int
	// API is true when the process serves the HTTP API.
	API bool
	// CPUs is the number of CPUs of this machine.
	CPUs int
	// Override, when positive, is the size, whatever the rest says
	// (KOLLEKTIV_DB_MAX_CONNS).
	Override int
	// Server are the server's connection slots as read at start; nil
	// when they could not be read.
	Server *store.ServerConnections
}

// PoolSize is the pool's size and how it was chosen.
type PoolSize struct {
	// MaxConns is the pool's size.
	MaxConns int
	// Wanted is what the process would take with no server limit; Workers
	// and Transactions are the jobs' share of it.
	Wanted, Workers, Transactions int
	// Ceiling is the most the server's free connections allow (half of
	// them); 0 when not known or not applied.
	Ceiling int
	// Reason says in words how MaxConns was chosen, for the log.
	Reason string
}

// Size sizes the pool: poolBase, plus for a worker River's connections
// and one for each of its jobs' transactions that may usefully run at once
// (transactionsPerCPU a CPU, at least minTransactions, at most its
// workers), plus apiConns for the API; then at most half of the
// connections the server has free, so that the processes starting next
// (the API, other workers, the CLI) find some; never under poolFloor.
// Override replaces all of it.
func (in PoolInputs) Size() PoolSize {
	var s PoolSize
	s.Wanted = poolBase
	for _, n := range in.Workers {
		s.Workers += n
	}
	if len(in.Workers) > 0 {
		s.Transactions = min(s.Workers, max(minTransactions, transactionsPerCPU*in.CPUs))
		s.Wanted += riverConns + len(in.Workers) + s.Transactions
	}
	if in.API {
		s.Wanted += apiConns
	}
	what := "the process's own queries"
	if in.API {
		what = "the API and " + what
	}
	if len(in.Workers) > 0 {
		what = fmt.Sprintf("%d transactions of %d workers, River, %s", s.Transactions, s.Workers, what)
	}
	s.Reason = fmt.Sprintf("wanted %d for %s", s.Wanted, what)
	switch {
	case in.Override > 0:
		s.MaxConns = in.Override
		s.Reason = fmt.Sprintf("set by KOLLEKTIV_DB_MAX_CONNS (%s)", s.Reason)
		if in.Server != nil && in.Override > in.Server.Free() {
			s.Reason += fmt.Sprintf("; above the %d connections the server has free", in.Server.Free())
		}
	case in.Server == nil:
		s.MaxConns = s.Wanted
		s.Reason += "; the server's limit could not be read"
	default:
		srv := *in.Server
		s.Ceiling = srv.Free() / 2
		s.MaxConns = max(poolFloor, min(s.Wanted, s.Ceiling))
		limits := fmt.Sprintf("max_connections %d, %d reserved, %d in use: %d free", srv.Max, srv.Reserved, srv.InUse, srv.Free())
		switch {
		case s.Wanted <= s.Ceiling:
			s.Reason += fmt.Sprintf("; within half the server's free connections (%s)", limits)
		case s.Ceiling >= poolFloor:
			s.Reason += fmt.Sprintf("; capped at half the server's free connections (%s)", limits)
		default:
			s.Reason += fmt.Sprintf("; the server has almost no connection free (%s): the least pool that works, %d", limits, poolFloor)
		}
	}
	return s
}

// LogAttrs are the pool's size and its inputs for a log line.
func (s PoolSize) LogAttrs(in PoolInputs) []any {
	attrs := []any{slog.Int("max_conns", s.MaxConns), slog.Int("wanted", s.Wanted), slog.Int("workers", s.Workers),
		slog.Int("transactions", s.Transactions), slog.String("reason", s.Reason)}
	if in.Server != nil {
		attrs = append(attrs, slog.Int("server_max_connections", in.Server.Max), slog.Int("server_reserved", in.Server.Reserved),
			slog.Int("server_in_use", in.Server.InUse))
	}
	return attrs
}
