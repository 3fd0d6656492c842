package jobs

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/kollektiv/kollektiv/internal/config"
)

// BatchCommit is the end of a batch job (chunk_documents_batch,
// persist_chunks): what its transaction writes, the batch jobs it inserts,
// its completion and its fan-in.
type BatchCommit struct {
	// Job is the batch job, running; the transaction completes it.
	Job *rivertype.JobRow
	// Gen is the job's source generation.
	Gen SourceGeneration
	// Write, when set, writes the job's results in the transaction. It may
	// run twice: when a transaction shared with other jobs fails, each job
	// is committed again alone, so that one job's error does not fail the
	// others. It must leave nothing behind but what it writes in tx.
	Write func(ctx context.Context, tx pgx.Tx) error
	// Insert are the batch jobs that follow the job, in its fan-in shard,
	// inserted with River's COPY insert.
	Insert []river.InsertManyParams
	// Work is the job's fan-in work. Its Inserted counts the batch jobs
	// that Write inserts itself; Insert's are added to it.
	Work BatchJobWork
}

// CommitterConfig configures a Committer.
type CommitterConfig struct {
	// Pool is where the transactions run. Required.
	Pool *pgxpool.Pool
	// Transactions is how many transactions the committer keeps open at
	// once; jobs that finish while they all are wait and share the next
	// one. Default KOLLEKTIV_COMMIT_TRANSACTIONS's (2): one transaction
	// commits while the next gathers jobs.
	Transactions int
	// ProgressInterval is the least time between progress events of a
	// source (see fanIn). Default KOLLEKTIV_PROGRESS_INTERVAL's (300ms).
	ProgressInterval time.Duration
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// A Committer commits the ends of batch jobs (BatchCommit), and commits
// those that finish at about the same time together, in one transaction:
// each job's own writes, one after the other, then all their follow-up
// jobs with one COPY, all their completions with one statement, and their
// fan-in with one statement for all their shards. A job's writes, its
// follow-ups and its completion still commit or roll back together; what
// jobs share is the price of a transaction and of its statements, which
// is what bounds how many batch jobs a second the pipeline ends (see `kollektiv
// bench queue`).
//
// At most Transactions transactions are open at once. A job that finishes
// while one is free opens it, with every job waiting at that moment, so a
// lone job commits at once, as it would alone; jobs that finish while all
// are open wait for the next to be free and share it. The job whose call
// opens a transaction runs it (there is no goroutine of the committer's
// own), and when it is done hands the next one to a waiting job, so that
// no job runs the transactions of others for longer than one.
//
// When a shared transaction fails (one job's write failed, or one job was
// no longer running), each of its jobs is committed again alone, and each
// gets its own outcome.
type Committer struct {
	cfg CommitterConfig

	mu      sync.Mutex
	waiting []*commitRequest // not yet taken into a transaction
	open    int              // transactions open, or handed to a waiting job to open
}

// NewCommitter returns a committer.
func NewCommitter(cfg CommitterConfig) (*Committer, error) {
	if cfg.Pool == nil {
		return nil, errors.New("jobs: a committer needs a Pool")
	}
	d := config.Defaults()
	cfg.Transactions = cmp.Or(max(cfg.Transactions, 0), d.CommitTransactions)
	cfg.ProgressInterval = cmp.Or(cfg.ProgressInterval, d.ProgressInterval)
	cfg.Logger = cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler))
	return &Committer{cfg: cfg}, nil
}

// commitRequest is one job's BatchCommit on its way through the committer.
type commitRequest struct {
	BatchCommit
	rc *river.Client[pgx.Tx]
	// lead is signalled when a finishing transaction hands the next one to
	// this job to open, at most once (handed, under the committer's lock);
	// done is closed when the job's outcome is known.
	lead   chan struct{}
	handed bool
	done   chan struct{}
	result FanInResult
	err    error
}

// Commit commits c in a transaction, alone or with the ends of other jobs
// finishing at the same time, and returns what its fan-in did. It returns
// once c committed or failed; ctx must carry the River client working
// c.Job (River's work context), and its cancellation does not abandon a
// transaction that other jobs share: that one runs to its end.
func (m *Committer) Commit(ctx context.Context, c BatchCommit) (FanInResult, error) {
	rc, err := river.ClientFromContextSafely[pgx.Tx](ctx)
	if err != nil {
		return FanInResult{}, fmt.Errorf("jobs: Commit needs a River work context: %w", err)
	}
	r := &commitRequest{BatchCommit: c, rc: rc, lead: make(chan struct{}, 1), done: make(chan struct{})}
	m.mu.Lock()
	lead := m.open < m.cfg.Transactions
	if lead {
		m.open++
	}
	r.handed = lead // it opens a transaction of its own: none is handed to it
	m.waiting = append(m.waiting, r)
	m.mu.Unlock()
	if !lead {
		select {
		case <-r.done:
			// Taken by another transaction; but a transaction handed to
			// this job before that must still be opened or passed on.
			select {
			case <-r.lead:
				m.lead(ctx)
			default:
			}
			return r.result, r.err
		case <-r.lead:
		}
	}
	m.lead(ctx)
	<-r.done
	return r.result, r.err
}

// lead runs one transaction with every waiting job, then hands the right
// to open the next to the first waiting job that was not handed one yet,
// or gives it back.
func (m *Committer) lead(ctx context.Context) {
	m.mu.Lock()
	batch := m.waiting
	m.waiting = nil
	m.mu.Unlock()
	if len(batch) > 0 {
		m.run(context.WithoutCancel(ctx), batch)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.waiting {
		if !r.handed {
			r.handed = true
			r.lead <- struct{}{}
			return
		}
	}
	m.open--
}

// run commits batch in one transaction; when that fails and it holds more
// than one job, it commits each alone.
func (m *Committer) run(ctx context.Context, batch []*commitRequest) {
	defer func() {
		for _, r := range batch {
			close(r.done)
		}
	}()
	err := m.commitSafely(ctx, batch)
	if err == nil || len(batch) == 1 {
		for _, r := range batch {
			r.err = err
		}
		return
	}
	m.cfg.Logger.DebugContext(ctx, "a shared commit failed: committing its jobs one by one",
		slog.Int("jobs", len(batch)), slog.String("error", err.Error()))
	for _, r := range batch {
		r.err = m.commitSafely(ctx, []*commitRequest{r})
	}
}

// commitSafely is commit, with a panic (in a job's write) turned into the
// error of the transaction: the jobs that share it must learn that it
// failed, and the job that runs it must not die of another's bug. When
// it fails, the jobs' results are cleared: what a rolled-back fan-in did
// is undone.
func (m *Committer) commitSafely(ctx context.Context, batch []*commitRequest) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("internal error committing batch jobs: %v\n%s", p, debug.Stack())
		}
		if err != nil {
			for _, r := range batch {
				r.result = FanInResult{}
			}
		}
	}()
	return m.commit(ctx, batch)
}

// commitTimeout bounds one transaction of the committer, which runs on
// after the context of the job that opened it is cancelled.
const commitTimeout = time.Minute

// commit writes, inserts, completes and fans in batch in one transaction.
func (m *Committer) commit(ctx context.Context, batch []*commitRequest) error {
	ctx, cancel := context.WithTimeout(ctx, commitTimeout)
	defer cancel()
	return pgx.BeginFunc(ctx, m.cfg.Pool, func(tx pgx.Tx) error {
		for _, r := range batch {
			if r.Write == nil {
				continue
			}
			if err := r.Write(ctx, tx); err != nil {
				return err
			}
		}
		// One client in practice; a workers bundle shared by two clients
		// would bring jobs of both.
		byClient := map[*river.Client[pgx.Tx]][]river.InsertManyParams{}
		var queues []string // of the inserted jobs
		for _, r := range batch {
			byClient[r.rc] = append(byClient[r.rc], r.Insert...)
			for _, p := range r.Insert {
				if q := insertQueue(p); !slices.Contains(queues, q) {
					queues = append(queues, q)
				}
			}
		}
		for rc, params := range byClient {
			if len(params) == 0 {
				continue
			}
			// COPY, which unlike InsertManyTx sends no rows (chunk texts
			// and all) back.
			if _, err := rc.InsertManyFastTx(ctx, tx, params); err != nil {
				return fmt.Errorf("error inserting batch jobs: %w", err)
			}
		}
		return m.fanIn(ctx, tx, batch, queues)
	})
}

// insertQueue is the queue River inserts p into.
func insertQueue(p river.InsertManyParams) string {
	var opts river.InsertOpts
	if withOpts, ok := p.Args.(river.JobArgsWithInsertOpts); ok {
		opts = withOpts.InsertOpts()
	}
	if p.InsertOpts != nil {
		opts.Queue = cmp.Or(p.InsertOpts.Queue, opts.Queue)
	}
	return cmp.Or(opts.Queue, river.QueueDefault)
}
