package app

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/riverqueue/river"

	"github.com/kollektiv/kollektiv/internal/embed"
	"github.com/kollektiv/kollektiv/internal/summarize"
)

// providerMetrics counts calls to the embedding and summary providers.
type providerMetrics struct {
	calls  *prometheus.CounterVec
	errors *prometheus.CounterVec
}

func newProviderMetrics(reg prometheus.Registerer) (*providerMetrics, error) {
	m := &providerMetrics{
		calls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kollektiv_provider_calls_total", Help: "Calls to the embedding and summary providers.",
		}, []string{"provider", "model"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kollektiv_provider_errors_total", Help: "Failed calls to the embedding and summary providers.",
		}, []string{"provider", "model"}),
	}
	for _, c := range []prometheus.Collector{m.calls, m.errors} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("error registering provider metrics: %w", err)
		}
	}
	return m, nil
}

func (m *providerMetrics) record(provider, model string, err error) {
	m.calls.WithLabelValues(provider, model).Inc()
	if err != nil {
		m.errors.WithLabelValues(provider, model).Inc()
	}
}

// countingEmbedder counts an embedder's calls and errors.
type countingEmbedder struct {
	embed.Embedder
	metrics *providerMetrics
}

func (e countingEmbedder) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	vectors, err := e.Embedder.Embed(ctx, texts)
	e.metrics.record("embedder", e.Model(), err)
	return vectors, err
}

// countingSummarizer counts a summarizer's calls and errors.
type countingSummarizer struct {
	summarize.Summarizer
	metrics *providerMetrics
}

func (s countingSummarizer) Summarize(ctx context.Context, d summarize.Digest) (summarize.Summary, error) {
	summary, err := s.Summarizer.Summarize(ctx, d)
	s.metrics.record("summarizer", s.Model(), err)
	return summary, err
}

// jobMetrics records how River's jobs end in this process, by kind.
type jobMetrics struct {
	duration *prometheus.HistogramVec
}

func newJobMetrics(reg prometheus.Registerer) (*jobMetrics, error) {
	m := &jobMetrics{duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "kollektiv_job_duration_seconds",
		Help:    "Time jobs worked in this process spent running, by kind and outcome.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 18),
	}, []string{"kind", "outcome"})}
	if err := reg.Register(m.duration); err != nil {
		return nil, fmt.Errorf("error registering job metrics: %w", err)
	}
	return m, nil
}

// follow observes the client's job events until the subscription closes.
func (m *jobMetrics) follow(events <-chan *river.Event) {
	for e := range events {
		if e.Job == nil || e.JobStats == nil {
			continue
		}
		m.duration.WithLabelValues(e.Job.Kind, string(e.Kind)).Observe(e.JobStats.RunDuration.Seconds())
	}
}

// startMetrics serves the registry at /metrics on cfg.MetricsAddr.
func (a *App) startMetrics(ctx context.Context) error {
	var lc net.ListenConfig
	listener, err := lc.Listen(ctx, "tcp", a.config.MetricsAddr)
	if err != nil {
		return fmt.Errorf("error listening on %s: %w", a.config.MetricsAddr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.Registry, promhttp.HandlerOpts{}))
	a.metricsServer = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	a.metricsAddr = listener.Addr().String()
	go func() { _ = a.metricsServer.Serve(listener) }()
	a.logger.InfoContext(ctx, "metrics listening", slog.String("addr", a.metricsAddr))
	return nil
}

// MetricsAddr is the address of the metrics listener, if any.
func (a *App) MetricsAddr() string { return a.metricsAddr }
