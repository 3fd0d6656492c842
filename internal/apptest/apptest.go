// Package apptest starts the whole service in a test's process, the way
// the tests of the surfaces above internal/app (the API, the MCP server,
// the CLI) meet it: a fresh migrated database, a free port, real workers.
package apptest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/kollektiv/kollektiv/internal/app"
	"github.com/kollektiv/kollektiv/internal/config"
	"github.com/kollektiv/kollektiv/internal/dbtest"
)

// Config is the configuration of a test's service: a database of its own
// migrated with the production migrations, the API on a free loopback
// port, the fan-in safety net and retries quick, and the API's rate limit
// lifted (tests send requests as fast as the machine allows; a test of the
// limiter sets its own).
func Config(t testing.TB) *config.Config {
	t.Helper()
	cfg := config.MustLoadDefaults()
	cfg.DatabaseURL = dbtest.DatabaseURL(t)
	cfg.HTTPAddr = "127.0.0.1:0"
	cfg.FanInSafetyInterval = 200 * time.Millisecond
	cfg.RetryBase = 10 * time.Millisecond
	cfg.SoftStopTimeout = time.Second
	cfg.APIRateLimit, cfg.APIRateBurst = 100_000, 100_000
	return cfg
}

// Start builds and starts the service of cfg with opts, and stops it when
// the test ends. A nil logger discards the logs.
func Start(t testing.TB, cfg *config.Config, logger *slog.Logger, opts app.Options) *app.App {
	t.Helper()
	ctx := context.Background()
	a, err := app.New(ctx, cfg, logger, opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := a.Stop(ctx); err != nil {
			t.Errorf("stopping: %v", err)
		}
	})
	return a
}
