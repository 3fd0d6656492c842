package jobs_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
)

// rescueClock measures how long the jobs of a killed worker stay running
// before River's rescuer hands them back. A worker's River client id is its
// worker id (see app.buildRiver), so the jobs a kill orphans are the
// running ones whose last attempt is the killed worker's.
type rescueClock struct {
	t        *testing.T
	b        *testBundle
	orphaned []orphanedJob
}

// orphanedJob is one attempt of a job cut by a kill.
type orphanedJob struct {
	id          int64
	attempt     int
	attemptedAt time.Time // start of the attempt, from which rescue-after counts
	killedAt    time.Time
}

// workerOf returns the worker id of process i, from its heartbeat row.
func (c *rescueClock) workerOf(p *processes, i int) uuid.UUID {
	c.t.Helper()
	var id uuid.UUID
	// A process killed before its first heartbeat ran no job: uuid.Nil.
	_ = c.b.pool.QueryRow(context.Background(), "SELECT id FROM workers WHERE pid = $1 ORDER BY started_at DESC LIMIT 1",
		p.procs[i].cmd.Process.Pid).Scan(&id)
	return id
}

// killed records the running jobs of worker, which has just been killed.
func (c *rescueClock) killed(worker uuid.UUID) {
	c.t.Helper()
	if worker == uuid.Nil {
		return
	}
	now := time.Now()
	rows, err := c.b.pool.Query(context.Background(), `
		SELECT id, attempt, attempted_at FROM river_job
		WHERE state = 'running' AND attempted_by[array_length(attempted_by, 1)] = $1`, worker.String())
	if err != nil {
		c.t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		j := orphanedJob{killedAt: now}
		if err := rows.Scan(&j.id, &j.attempt, &j.attemptedAt); err != nil {
			c.t.Fatal(err)
		}
		c.orphaned = append(c.orphaned, j)
	}
	if err := rows.Err(); err != nil {
		c.t.Fatal(err)
	}
}

// report logs, for the orphaned attempts, the delay from the kill to the
// rescue and the delay of the rescue beyond rescueAfter counted from the
// attempt's start (River's rescuer runs every 30s; a killed leader adds an
// election).
func (c *rescueClock) report(rescueAfter time.Duration) {
	c.t.Helper()
	var fromKill, beyond []time.Duration
	for _, j := range c.orphaned {
		var at time.Time
		err := c.b.pool.QueryRow(context.Background(), `
			SELECT (e->>'at')::timestamptz FROM river_job, unnest(errors) e
			WHERE id = $1 AND (e->>'attempt')::int = $2 AND e->>'error' LIKE 'Stuck job rescued%'`, j.id, j.attempt).Scan(&at)
		if err != nil {
			continue // not rescued: the source was deleted, or no entry
		}
		fromKill = append(fromKill, at.Sub(j.killedAt))
		beyond = append(beyond, at.Sub(j.attemptedAt)-rescueAfter)
	}
	if len(fromKill) == 0 {
		c.t.Logf("rescue: no job of a killed worker was rescued (%d orphaned)", len(c.orphaned))
		return
	}
	slices.Sort(fromKill)
	slices.Sort(beyond)
	pick := func(d []time.Duration, q float64) time.Duration {
		return d[int(q*float64(len(d)-1))].Round(100 * time.Millisecond)
	}
	c.t.Logf("rescue: %d of %d orphaned attempts rescued; kill to rescue min %s, median %s, max %s; rescue beyond rescue-after %s from the attempt's start: min %s, median %s, max %s",
		len(fromKill), len(c.orphaned), pick(fromKill, 0), pick(fromKill, 0.5), pick(fromKill, 1),
		rescueAfter, pick(beyond, 0), pick(beyond, 0.5), pick(beyond, 1))
}
