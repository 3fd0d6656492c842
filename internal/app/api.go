package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kollektiv/kollektiv/internal/api"
	"github.com/kollektiv/kollektiv/internal/events"
	"github.com/kollektiv/kollektiv/internal/ingest"
	"github.com/kollektiv/kollektiv/internal/search"
	"github.com/kollektiv/kollektiv/internal/store"
)

// sseHeartbeat keeps idle event streams (and proxies) alive.
const sseHeartbeat = 15 * time.Second

// buildAPI builds the event hub and the HTTP API on the app's services.
func (a *App) buildAPI() error {
	a.Hub = events.NewHub(a.Pool, a.logger, events.HubOptions{})
	searcher := search.New(a.Pool, a.Embedder)
	registry := a.Registry
	registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "kollektiv_sse_subscribers", Help: "Clients following a source's events in this process.",
		}, func() float64 { return float64(a.Hub.Subscribers()) }),
	)
	cfg := a.config
	server, err := api.New(api.Config{
		Pool:   a.Pool,
		River:  a.River,
		Ingest: &ingest.Service{Pool: a.Pool, River: a.River, Logger: a.logger},
		Search: func(ctx context.Context, q search.Query) (search.Result, error) {
			// An invalid query is of kind derr.Invalid: the API answers 400.
			result, err := searcher.Search(ctx, q)
			for _, w := range result.Warnings {
				a.logger.WarnContext(ctx, "search warning", slog.String("user_id", q.UserID), slog.String("code", w.Code), slog.String("warning", w.Message))
			}
			return result, err
		},
		Events: func(w http.ResponseWriter, r *http.Request, sourceID uuid.UUID, generation int32, snapshot any) error {
			err := events.ServeSSE(w, r, events.SSEOptions{
				Pool: a.Pool, Hub: a.Hub, SourceID: sourceID, Generation: generation, Snapshot: snapshot, Heartbeat: sseHeartbeat,
			})
			// A bad Last-Event-ID is of kind derr.Invalid: the API answers 400.
			switch {
			case errors.Is(err, events.ErrSubscriptionDropped), errors.Is(err, events.ErrHubStopped):
				// The stream was cut (a slow reader, or shutdown): the
				// client resumes with Last-Event-ID and misses nothing.
				a.logger.InfoContext(r.Context(), "event stream cut", slog.String("source_id", sourceID.String()), slog.String("reason", err.Error()))
				return nil
			}
			return err
		},
		Ready: func(ctx context.Context) error {
			status, err := store.MigrationStatusOf(ctx, a.Pool)
			if err != nil {
				return err
			}
			if !status.Current() {
				return fmt.Errorf("%w: %v", ErrSchemaNotCurrent, status.Problems())
			}
			return nil
		},
		Registry: registry,
		Limits: api.Limits{
			MaxBodyBytes: int64(cfg.APIMaxBodyBytes), MaxDocuments: cfg.APIMaxDocuments, MaxCrawlPages: cfg.APIMaxCrawlPages,
			RateLimit: cfg.APIRateLimit, RateBurst: cfg.APIRateBurst, CrawlAllowPrivate: cfg.CrawlAllowPrivate,
		},
		Console: api.ConsoleOptions{SessionTTL: cfg.ConsoleSessionTTL, AllowHTTP: cfg.ConsoleAllowHTTP},
		Logger:  a.logger,
	})
	if err != nil {
		return err
	}
	a.API = server
	a.httpServer = &http.Server{
		Handler:           server,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(a.logger.Handler(), slog.LevelWarn),
	}
	return nil
}

// startAPI starts the hub and River UI, and serves HTTP on cfg.HTTPAddr.
func (a *App) startAPI(ctx context.Context) error {
	if err := a.Hub.Start(ctx); err != nil {
		return fmt.Errorf("error starting event hub: %w", err)
	}
	if err := a.API.Start(ctx); err != nil {
		return err
	}
	var lc net.ListenConfig
	listener, err := lc.Listen(ctx, "tcp", a.config.HTTPAddr)
	if err != nil {
		return fmt.Errorf("error listening on %s: %w", a.config.HTTPAddr, err)
	}
	a.apiAddr = listener.Addr().String()
	a.httpDone = make(chan struct{})
	go func() {
		defer close(a.httpDone)
		if err := a.httpServer.Serve(listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.logger.ErrorContext(ctx, "HTTP server failed", slog.String("error", err.Error()))
		}
	}()
	a.logger.InfoContext(ctx, "API listening", slog.String("addr", a.apiAddr))
	return nil
}

// APIAddr is the address the API listens on (useful with port 0).
func (a *App) APIAddr() string { return a.apiAddr }

func (a *App) stopAPI(ctx context.Context) error {
	if a.httpServer == nil || a.httpDone == nil {
		return nil
	}
	// Event streams never end on their own: stopping the hub ends them.
	a.Hub.Stop()
	err := a.httpServer.Shutdown(ctx)
	<-a.httpDone
	a.API.Stop()
	if err != nil {
		return fmt.Errorf("error stopping HTTP server: %w", err)
	}
	return nil
}
