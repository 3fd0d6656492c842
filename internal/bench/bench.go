// Package bench measures Kollektiv against what its parts can do alone:
// River's raw throughput against pipeline-shaped work, an end-to-end
// ingest against a floor (chunk, embed, one COPY, a bulk index build),
// event latency, and search latency. Every mode works in databases of its
// own, created and migrated on the configured server and dropped after, and
// reports figures measured in the same run next to each other, so their
// ratio means something on a shared machine where absolute numbers drift.
//
// This package holds SQL of its own (databases, index builds, reading
// River's timestamps): it administers throw-away databases, which the
// store's queries never do.
package bench

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kollektiv/kollektiv/internal/store"
)

// database is a throw-away database of a bench run.
type database struct {
	// URL connects to it.
	URL string
	// Name is its name on the server.
	Name string

	adminURL string
}

// createDatabase creates a database named after prefix and a random suffix
// on the server of serverURL and applies both migration sets.
func createDatabase(ctx context.Context, serverURL, prefix string, logger *slog.Logger) (*database, error) {
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	name := "kollektiv_bench_" + prefix + "_" + hex.EncodeToString(suffix)
	adminURL, err := withDatabase(serverURL, "postgres")
	if err != nil {
		return nil, err
	}
	dbURL, err := withDatabase(serverURL, name)
	if err != nil {
		return nil, err
	}
	if err := adminExec(ctx, adminURL, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return nil, fmt.Errorf("error creating database %s: %w", name, err)
	}
	db := &database{URL: dbURL, Name: name, adminURL: adminURL}
	if err := store.NewMigrator(dbURL, logger).Up(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("error migrating %s: %w", name, err), db.drop(context.WithoutCancel(ctx)))
	}
	return db, nil
}

// drop drops the database, closing whatever is still connected to it.
func (d *database) drop(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := adminExec(ctx, d.adminURL, "DROP DATABASE IF EXISTS "+pgx.Identifier{d.Name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("error dropping database %s: %w", d.Name, err)
	}
	return nil
}

// release drops the database unless keep, in which case it says where the
// database is.
func (d *database) release(ctx context.Context, keep bool, logger *slog.Logger) error {
	if keep {
		logger.InfoContext(ctx, "kept bench database", slog.String("database", d.Name))
		return nil
	}
	return d.drop(context.WithoutCancel(ctx))
}

// withDatabase returns serverURL naming database name instead of its own.
func withDatabase(serverURL, name string) (string, error) {
	u, err := url.Parse(serverURL)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("database URL must be a postgres:// URL for the bench to create its own databases on the server, got %q", redact(serverURL))
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String(), nil
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}

func adminExec(ctx context.Context, adminURL, stmt string) error {
	conn, err := pgx.Connect(ctx, adminURL)
	if err != nil {
		return fmt.Errorf("error connecting to the server: %w", err)
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	_, err = conn.Exec(ctx, stmt)
	return err
}

// seconds turns a duration into float seconds, the unit of every report.
func seconds(d time.Duration) float64 { return d.Seconds() }

// median returns the median of xs (the mean of the middle two for an even
// count), 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// quantile returns the q-quantile (0..1) of ds by the nearest-rank method,
// 0 for none.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(q*float64(len(s))+0.999999) - 1
	return s[min(max(rank, 0), len(s)-1)]
}

// ms turns a duration into float milliseconds.
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// ratio returns a/b, 0 when b is 0.
func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// table writes rows of label and value columns, aligned.
type table struct {
	title string
	rows  [][]string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (t *table) write(w io.Writer) error {
	fmt.Fprintf(w, "%s\n%s\n", t.title, strings.Repeat("-", len(t.title)))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, r := range t.rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// runs returns n, or 1 when n is not positive.
func runs(n int) int { return cmp.Or(max(n, 0), 1) }
