package api

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

type httpMetrics struct {
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg *prometheus.Registry) (*httpMetrics, error) {
	m := &httpMetrics{duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "kollektiv_http_request_duration_seconds",
		Help:    "HTTP request latency by route and status.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
	}, []string{"route", "code"})}
	if err := reg.Register(m.duration); err != nil {
		return nil, fmt.Errorf("error registering HTTP metrics: %w", err)
	}
	return m, nil
}

func (m *httpMetrics) observe(route string, code int, d time.Duration) {
	m.duration.WithLabelValues(route, strconv.Itoa(code)).Observe(d.Seconds())
}

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) error {
	promhttp.HandlerFor(s.Registry, promhttp.HandlerOpts{}).ServeHTTP(w, r)
	return nil
}

// DatabaseCollector reports, at each scrape, River's jobs by kind and state
// and the documents and chunks stored: numbers that live in PostgreSQL and
// are the same whichever process is scraped.
type DatabaseCollector struct {
	Pool *pgxpool.Pool
}

var (
	jobsDesc      = prometheus.NewDesc("kollektiv_jobs", "River jobs by kind and state.", []string{"kind", "state"}, nil)
	documentsDesc = prometheus.NewDesc("kollektiv_documents", "Documents by status.", []string{"status"}, nil)
	chunksDesc    = prometheus.NewDesc("kollektiv_chunks", "Chunks stored, and how many have a vector.", []string{"embedded"}, nil)
)

// Describe implements prometheus.Collector.
func (c DatabaseCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- jobsDesc
	ch <- documentsDesc
	ch <- chunksDesc
}

// Collect implements prometheus.Collector.
func (c DatabaseCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	collect := func(desc *prometheus.Desc, sql string) {
		rows, err := c.Pool.Query(ctx, sql)
		if err != nil {
			ch <- prometheus.NewInvalidMetric(desc, err)
			return
		}
		defer rows.Close()
		for rows.Next() {
			var labels []any
			var n int64
			switch desc {
			case jobsDesc:
				var kind, state string
				if err := rows.Scan(&kind, &state, &n); err != nil {
					ch <- prometheus.NewInvalidMetric(desc, err)
					return
				}
				labels = []any{kind, state}
			default:
				var label string
				if err := rows.Scan(&label, &n); err != nil {
					ch <- prometheus.NewInvalidMetric(desc, err)
					return
				}
				labels = []any{label}
			}
			values := make([]string, len(labels))
			for i, l := range labels {
				values[i] = fmt.Sprint(l)
			}
			ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, float64(n), values...)
		}
	}
	collect(jobsDesc, "SELECT kind, state::text, count(*) FROM river_job GROUP BY 1, 2")
	collect(documentsDesc, "SELECT status, count(*) FROM documents GROUP BY 1")
	collect(chunksDesc, "SELECT (embedding IS NOT NULL)::text, count(*) FROM chunks GROUP BY 1")
}
