package app

import (
	"context"
	"errors"
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
