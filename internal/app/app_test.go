package app

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kollektiv/kollektiv/internal/config"
	"github.com/kollektiv/kollektiv/internal/dbtest"
)

func TestNew(t *testing.T) {
	t.Parallel()

	t.Run("RefusesUnmigratedDatabase", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cfg := config.MustLoadDefaults()
		cfg.DatabaseURL = dbtest.EmptyDatabaseURL(t)

		_, err := New(ctx, cfg, nil, Options{})
		if !errors.Is(err, ErrSchemaNotCurrent) || !strings.Contains(err.Error(), "kollektiv migrate up") {
			t.Fatalf("want ErrSchemaNotCurrent naming the fix, got %v", err)
		}
	})

	t.Run("StartsAndStopsTwice", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cfg := config.MustLoadDefaults()
		cfg.DatabaseURL = dbtest.DatabaseURL(t)

		a, err := New(ctx, cfg, nil, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Start(ctx); err != nil {
			t.Fatal(err)
		}
		var one int
		if err := a.Pool.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
			t.Fatalf("pool does not answer: %v", err)
		}
		if err := a.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if err := a.Stop(ctx); err != nil {
			t.Fatalf("second Stop: %v", err)
		}
		if err := a.Pool.Ping(ctx); err == nil {
			t.Fatal("pool still open after Stop")
		}
	})
}

func TestWorkerMetrics(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := config.MustLoadDefaults()
	cfg.DatabaseURL = dbtest.DatabaseURL(t)
	cfg.MetricsAddr = "127.0.0.1:0"
	a, err := New(ctx, cfg, nil, Options{Worker: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = a.Stop(context.Background()) }()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+a.MetricsAddr()+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "go_goroutines") {
		t.Fatalf("worker metrics: %d\n%s", resp.StatusCode, body)
	}
}
