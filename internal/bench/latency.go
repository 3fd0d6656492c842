package bench

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/kollektiv/kollektiv/internal/apikeys"
	"github.com/kollektiv/kollektiv/internal/app"
	"github.com/kollektiv/kollektiv/internal/config"
	"github.com/kollektiv/kollektiv/internal/events"
	"github.com/kollektiv/kollektiv/internal/lifecycle"
)

// LatencyOptions configure the latency benchmark.
type LatencyOptions struct {
	// Config gives the database server and the settings of the API and
	// worker the bench runs in its process (hashing embedder, extractive
	// summarizer). Required.
	Config *config.Config
	// Runs is the number of documents sent, one after the other. Default
	// 50.
	Runs int
	// Keep leaves the bench database in place.
	Keep bool
	// Logger defaults to discarding.
	Logger *slog.Logger
}

// LatencyReport is the outcome of Latency, in milliseconds.
type LatencyReport struct {
	Runs int `json:"runs"`
	// CommitToEvent runs from the commit of a source's last persist_chunks
	// job to its chunks_generated event reaching the SSE client;
	// CommitSamples is how many runs it was measured in (a run whose event
	// was stored before the stream opened has no sample).
	CommitToEventP50 float64 `json:"commit_to_event_p50_ms"`
	CommitToEventP95 float64 `json:"commit_to_event_p95_ms"`
	CommitSamples    int     `json:"commit_samples"`
	// PostToCompleted runs from POST /v1/sources of one small document to
	// its completed event on SSE.
	PostToCompletedP50 float64 `json:"post_to_completed_p50_ms"`
	PostToCompletedP95 float64 `json:"post_to_completed_p95_ms"`
}

// WriteTable writes the report as a table.
func (r *LatencyReport) WriteTable(w io.Writer) error {
	t := &table{title: fmt.Sprintf("latency: %d one-document sources through the HTTP API and SSE", r.Runs)}
	t.add("measure", "samples", "p50", "p95")
	t.add("last persist_chunks commit → chunks_generated on SSE (target p50 < 100 ms)", fmt.Sprint(r.CommitSamples),
		fmt.Sprintf("%.1f ms", r.CommitToEventP50), fmt.Sprintf("%.1f ms", r.CommitToEventP95))
	t.add("POST /v1/sources → completed on SSE", fmt.Sprint(r.Runs),
		fmt.Sprintf("%.1f ms", r.PostToCompletedP50), fmt.Sprintf("%.1f ms", r.PostToCompletedP95))
	return t.write(w)
}

// Latency starts the API and the workers in this process on a fresh
// database and sends Runs one-document sources through POST /v1/sources,
// each followed on GET /v1/sources/{id}/events.
func Latency(ctx context.Context, opts LatencyOptions) (_ *LatencyReport, err error) {
	if opts.Config == nil {
		return nil, errors.New("bench latency: a Config is required")
	}
	if opts.Runs < 0 {
		return nil, fmt.Errorf("bench latency: --runs must be positive, got %d", opts.Runs)
	}
	opts.Runs = cmp.Or(opts.Runs, 50)
	logger := cmp.Or(opts.Logger, slog.New(slog.DiscardHandler))

	db, err := createDatabase(ctx, opts.Config.DatabaseURL, "latency", logger)
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, db.release(ctx, opts.Keep, logger)) }()
	cfg := *opts.Config
	cfg.DatabaseURL, cfg.HTTPAddr, cfg.MetricsAddr = db.URL, "127.0.0.1:0", ""
	cfg.Embedder, cfg.EmbeddingDimensions, cfg.Summarizer, cfg.WebhookURLs = "hashing", 0, "extractive", nil
	// One request pair per run: the bench is one client, not an abuser.
	cfg.APIRateLimit, cfg.APIRateBurst = max(cfg.APIRateLimit, 1000), max(cfg.APIRateBurst, 1000)
	a, err := app.New(ctx, &cfg, logger, app.Options{Worker: true, API: true})
	if err != nil {
		return nil, err
	}
	defer func() { err = errors.Join(err, a.Stop(context.WithoutCancel(ctx))) }()
	if err := a.Start(ctx); err != nil {
		return nil, err
	}
	secret, _, err := apikeys.Create(ctx, a.Pool, apikeys.CreateParams{UserID: "bench", Name: "bench latency"})
	if err != nil {
		return nil, err
	}
	client := &latencyClient{base: "http://" + a.APIAddr(), key: secret, http: &http.Client{}}

	var toEvent, toCompleted []time.Duration
	for run := range opts.Runs {
		s, err := client.run(ctx, run)
		if err != nil {
			return nil, fmt.Errorf("run %d: %w", run+1, err)
		}
		toCompleted = append(toCompleted, s.completed.Sub(s.posted))
		if s.eventStored.Before(s.streamOpen) {
			continue // replayed, not live: no sample
		}
		var committed *time.Time
		if err := a.Pool.QueryRow(ctx, `
			SELECT max(finalized_at) FROM river_job
			WHERE kind = $1 AND args @> jsonb_build_object('source_id', $2::text)`,
			lifecycle.KindPersistChunks, s.sourceID.String()).Scan(&committed); err != nil {
			return nil, fmt.Errorf("error reading persist_chunks jobs: %w", err)
		}
		if committed == nil {
			return nil, fmt.Errorf("source %s has no finished persist_chunks job", s.sourceID)
		}
		toEvent = append(toEvent, s.chunksGenerated.Sub(*committed))
	}
	return &LatencyReport{
		Runs:             opts.Runs,
		CommitToEventP50: ms(quantile(toEvent, 0.5)), CommitToEventP95: ms(quantile(toEvent, 0.95)), CommitSamples: len(toEvent),
		PostToCompletedP50: ms(quantile(toCompleted, 0.5)), PostToCompletedP95: ms(quantile(toCompleted, 0.95)),
	}, nil
}

type latencyClient struct {
	base, key string
	http      *http.Client
}

// latencySample is what one run saw, in this process's clock.
type latencySample struct {
	sourceID        uuid.UUID
	posted          time.Time
	streamOpen      time.Time
	eventStored     time.Time // created_at of chunks_generated
	chunksGenerated time.Time // when it reached the client
	completed       time.Time
}

// run posts one document and follows its events to completed.
func (c *latencyClient) run(ctx context.Context, n int) (*latencySample, error) {
	body, _ := json.Marshal(map[string]any{"documents": []map[string]string{{
		"title":   fmt.Sprintf("Latency %d", n),
		"url":     fmt.Sprintf("https://bench.example/latency/%d-%s", n, uuid.NewString()),
		"content": fmt.Sprintf("# Latency %d\n\nOne small document, sent to measure how soon its events arrive.\n\n## Details\n\nRun %d of the latency bench.", n, n),
	}}})
	s := &latencySample{posted: time.Now()}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/v1/sources", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	var created struct {
		ID uuid.UUID `json:"id"`
	}
	if err := c.do(req, http.StatusAccepted, &created); err != nil {
		return nil, err
	}
	s.sourceID = created.ID

	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	req, err = http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/v1/sources/"+created.ID.String()+"/events", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("error opening the event stream: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	s.streamOpen = time.Now()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET events: %s", resp.Status)
	}
	scanner := bufio.NewScanner(resp.Body)
	scanner.Buffer(make([]byte, 64<<10), 4<<20)
	var name string
	for scanner.Scan() {
		line := scanner.Text()
		if v, ok := strings.CutPrefix(line, "event: "); ok {
			name = v
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		switch lifecycle.Stage(name) {
		case lifecycle.StageChunksGenerated:
			s.chunksGenerated = time.Now()
			var e events.Event
			if err := json.Unmarshal([]byte(data), &e); err != nil {
				return nil, fmt.Errorf("error decoding chunks_generated: %w", err)
			}
			s.eventStored = e.CreatedAt
		case lifecycle.StageCompleted:
			s.completed = time.Now()
			if s.chunksGenerated.IsZero() {
				return nil, errors.New("completed came without chunks_generated")
			}
			return s, nil
		case lifecycle.StageFailed:
			return nil, fmt.Errorf("source %s failed: %s", created.ID, data)
		}
	}
	if err := scanner.Err(); err != nil {
		return nil, fmt.Errorf("error reading the event stream: %w", err)
	}
	return nil, errors.New("event stream ended before completed")
}

// do sends req with the key and decodes a JSON answer of status want.
func (c *latencyClient) do(req *http.Request, want int, into any) error {
	req.Header.Set("Authorization", "Bearer "+c.key)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", req.Method, req.URL.Path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %s: %s", req.Method, req.URL.Path, resp.Status, body)
	}
	if err := json.Unmarshal(body, into); err != nil {
		return fmt.Errorf("error decoding %s %s: %w", req.Method, req.URL.Path, err)
	}
	return nil
}
