package embed

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/kollektiv/kollektiv/internal/provider"
)

// OpenAIConfig configures an embedder for any OpenAI-compatible
// /v1/embeddings endpoint: OpenAI, Ollama, vLLM, text-embeddings-inference,
// LM Studio.
type OpenAIConfig struct {
	// BaseURL is the API root; requests go to BaseURL + "/embeddings".
	// Default "https://api.openai.com/v1". Ollama: "http://localhost:11434/v1".
	BaseURL string
	// Model is the model name sent in requests. Default "text-embedding-3-small".
	Model string
	// APIKey is sent as "Authorization: Bearer <key>". Empty sends no
	// Authorization header, for local servers that need none.
	APIKey string
	// Dimensions is the vector length. Zero means the native length of
	// OpenAI's own models (text-embedding-3-small and text-embedding-ada-002:
	// 1536, text-embedding-3-large: 3072); it is required for any other
	// model. When set it is sent as "dimensions" unless OmitDimensions. Every
	// vector received is checked against it.
	Dimensions int
	// OmitDimensions keeps "dimensions" out of requests, for servers and
	// models that reject it (text-embedding-ada-002, some local servers).
	OmitDimensions bool
	// MaxBatchInputs bounds the texts per request. Default 256; OpenAI
	// accepts up to 2,048.
	MaxBatchInputs int
	// MaxBatchTokens bounds the cl100k_base tokens per request. Default
	// 100,000 (OpenAI accepts 300,000; text-embeddings-inference defaults to
	// 16,384). A single text above it is sent alone.
	MaxBatchTokens int
	// Concurrency bounds the requests in flight for one Embed call. Default 4.
	Concurrency int
	// Timeout bounds each HTTP attempt. Default 60s.
	Timeout time.Duration
	// Retry is the retry policy for 429, 5xx, timeouts and connection
	// errors; its fields (MaxRetries, MinBackoff, MaxBackoff, ...) state
	// their defaults.
	provider.Retry
	// HTTPClient is the client used. Nil means a new http.Client.
	HTTPClient *http.Client
	// Logger receives retry warnings. Nil discards.
	Logger *slog.Logger
	// CountTokens counts tokens for batching. Nil means cl100k_base.
	CountTokens func(string) int
}

// nativeDimensions are the default vector lengths of OpenAI's models.
func nativeDimensions(model string) int {
	switch model {
	case "text-embedding-3-small", "text-embedding-ada-002":
		return 1536
	case "text-embedding-3-large":
		return 3072
	}
	return 0
}

// OpenAI embeds through an OpenAI-compatible /v1/embeddings endpoint.
type OpenAI struct {
	cfg         OpenAIConfig
	endpoint    string
	dims        int
	sendDims    bool
	countTokens func(string) int
	client      *provider.Client
}

var _ Embedder = (*OpenAI)(nil)

// NewOpenAI returns an OpenAI-compatible embedder. It makes no request;
// errors are configuration errors wrapping provider.ErrInvalidConfig.
func NewOpenAI(cfg OpenAIConfig) (*OpenAI, error) {
	cfg.BaseURL = strings.TrimRight(cmp.Or(cfg.BaseURL, "https://api.openai.com/v1"), "/")
	cfg.Model = cmp.Or(cfg.Model, "text-embedding-3-small")
	cfg.MaxBatchInputs = cmp.Or(cfg.MaxBatchInputs, 256)
	cfg.MaxBatchTokens = cmp.Or(cfg.MaxBatchTokens, 100_000)
	cfg.Concurrency = cmp.Or(cfg.Concurrency, 4)
	cfg.Timeout = cmp.Or(cfg.Timeout, 60*time.Second)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	e := &OpenAI{
		cfg:         cfg,
		endpoint:    cfg.BaseURL + "/embeddings",
		dims:        cmp.Or(cfg.Dimensions, nativeDimensions(cfg.Model)),
		sendDims:    cfg.Dimensions != 0 && !cfg.OmitDimensions,
		countTokens: cfg.CountTokens,
		client: &provider.Client{
			Provider: "openai",
			HTTP:     cfg.HTTPClient,
			Timeout:  cfg.Timeout,
			Retry:    cfg.Retry,
			Logger:   cfg.Logger,
		},
	}
	if e.countTokens == nil {
		count, err := NewTokenCounter()
		if err != nil {
			return nil, err
		}
		e.countTokens = count
	}
	return e, nil
}

func (c OpenAIConfig) validate() error {
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: openai BaseURL %q is not an http(s) URL", provider.ErrInvalidConfig, c.BaseURL)
	}
	if c.Dimensions < 0 || c.Dimensions > maxDimensions {
		return fmt.Errorf("%w: openai Dimensions %d out of range 1..%d", provider.ErrInvalidConfig, c.Dimensions, maxDimensions)
	}
	if c.Dimensions == 0 && nativeDimensions(c.Model) == 0 {
		return fmt.Errorf("%w: openai Dimensions is required for model %q", provider.ErrInvalidConfig, c.Model)
	}
	if c.MaxBatchInputs < 0 || c.MaxBatchTokens < 0 || c.Concurrency < 0 || c.Timeout < 0 {
		return fmt.Errorf("%w: openai batch, concurrency and timeout settings must not be negative", provider.ErrInvalidConfig)
	}
	return c.Validate()
}

// Model returns "openai:<model>:<dimensions>": the same model truncated to
// other dimensions gives vectors that must not be mixed.
func (e *OpenAI) Model() string { return fmt.Sprintf("openai:%s:%d", e.cfg.Model, e.dims) }

// Dimensions returns the vector length.
func (e *OpenAI) Dimensions() int { return e.dims }

type embeddingsRequest struct {
	Model          string   `json:"model"`
	Input          []string `json:"input"`
	Dimensions     int      `json:"dimensions,omitempty"`
	EncodingFormat string   `json:"encoding_format"`
}

type embeddingsResponse struct {
	Object string `json:"object"`
	Data   []struct {
		Object    string    `json:"object"`
		Index     int       `json:"index"`
		Embedding []float32 `json:"embedding"`
	} `json:"data"`
	Model string `json:"model"`
}

// Embed splits texts into batches bounded by MaxBatchInputs and
// MaxBatchTokens, sends up to Concurrency of them at once, and returns the
// vectors in the order of texts. The first failing batch cancels the others.
// Empty texts, which the OpenAI API rejects, are sent as a single space.
func (e *OpenAI) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(e.cfg.Concurrency)
	for _, b := range e.batches(texts) {
		g.Go(func() error { return e.embedBatch(gctx, texts[b.start:b.end], out[b.start:b.end]) })
	}
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("error embedding %d texts: %w", len(texts), err)
	}
	return out, nil
}

type span struct{ start, end int }

func (e *OpenAI) batches(texts []string) []span {
	var (
		spans  []span
		start  int
		tokens int
	)
	for i, t := range texts {
		// A cl100k token is at least one byte: count only when the byte
		// length could overflow the batch, since counting is the slow part.
		n := len(t)
		if tokens+n > e.cfg.MaxBatchTokens {
			n = e.countTokens(t)
		}
		if i > start && (i-start >= e.cfg.MaxBatchInputs || tokens+n > e.cfg.MaxBatchTokens) {
			spans = append(spans, span{start, i})
			start, tokens = i, 0
		}
		tokens += n
	}
	if start < len(texts) {
		spans = append(spans, span{start, len(texts)})
	}
	return spans
}

func (e *OpenAI) embedBatch(ctx context.Context, texts []string, out [][]float32) error {
	input := make([]string, len(texts))
	for i, t := range texts {
		input[i] = cmp.Or(t, " ")
	}
	req := embeddingsRequest{Model: e.cfg.Model, Input: input, EncodingFormat: "float"}
	if e.sendDims {
		req.Dimensions = e.dims
	}
	header := http.Header{}
	if e.cfg.APIKey != "" {
		header.Set("Authorization", "Bearer "+e.cfg.APIKey)
	}
	return e.client.PostJSON(ctx, "embed", e.endpoint, header, req, func(body []byte) error {
		var resp embeddingsResponse
		if err := json.Unmarshal(body, &resp); err != nil {
			return fmt.Errorf("error decoding embeddings response: %w", err)
		}
		if len(resp.Data) != len(texts) {
			return fmt.Errorf("got %d embeddings for %d inputs", len(resp.Data), len(texts))
		}
		got := make([][]float32, len(texts))
		for _, d := range resp.Data {
			if d.Index < 0 || d.Index >= len(texts) || got[d.Index] != nil {
				return fmt.Errorf("embedding index %d out of range or repeated", d.Index)
			}
			if len(d.Embedding) != e.dims {
				return &provider.Error{
					Provider: "openai", Op: "embed", StatusCode: http.StatusOK, Permanent: true,
					Message: fmt.Sprintf("model %q returned %d dimensions, configured %d; set Dimensions to match the model", e.cfg.Model, len(d.Embedding), e.dims),
				}
			}
			got[d.Index] = d.Embedding
		}
		copy(out, got)
		return nil
	})
}
