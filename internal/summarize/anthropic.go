package summarize

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

	"github.com/kollektiv/kollektiv/internal/provider"
)

// AnthropicConfig configures the Claude summarizer.
type AnthropicConfig struct {
	// BaseURL is the API root; requests go to BaseURL + "/v1/messages".
	// Default "https://api.anthropic.com".
	BaseURL string
	// APIKey is sent as x-api-key. Required.
	APIKey string
	// Model is the Claude model. Default "claude-haiku-4-5".
	Model string
	// MaxTokens bounds the response. Default 1024.
	MaxTokens int
	// Timeout bounds each HTTP attempt. Default 120s.
	Timeout time.Duration
	// Retry is the retry policy for 429, 529 overloaded, other 5xx,
	// timeouts and connection errors; its fields state their defaults.
	provider.Retry
	// HTTPClient is the client used. Nil means a new http.Client.
	HTTPClient *http.Client
	// Logger receives retry warnings. Nil discards.
	Logger *slog.Logger
}

// anthropicVersion is the Messages API version header value.
const anthropicVersion = "2023-06-01"

// Anthropic summarises with Claude through the Messages API, forcing a tool
// call whose input is the Summary, so the output is structured by the API
// rather than parsed out of prose.
type Anthropic struct {
	cfg      AnthropicConfig
	endpoint string
	client   *provider.Client
}

var _ Summarizer = (*Anthropic)(nil)

// NewAnthropic returns a Claude summarizer. It makes no request; errors are
// configuration errors wrapping provider.ErrInvalidConfig.
func NewAnthropic(cfg AnthropicConfig) (*Anthropic, error) {
	cfg.BaseURL = strings.TrimRight(cmp.Or(cfg.BaseURL, "https://api.anthropic.com"), "/")
	cfg.Model = cmp.Or(cfg.Model, "claude-haiku-4-5")
	cfg.MaxTokens = cmp.Or(cfg.MaxTokens, 1024)
	cfg.Timeout = cmp.Or(cfg.Timeout, 120*time.Second)
	if err := validateRemote("anthropic", cfg.BaseURL, cfg.MaxTokens, cfg.Timeout, cfg.Retry); err != nil {
		return nil, err
	}
	if cfg.APIKey == "" {
		return nil, fmt.Errorf("%w: anthropic APIKey is required", provider.ErrInvalidConfig)
	}
	return &Anthropic{
		cfg:      cfg,
		endpoint: cfg.BaseURL + "/v1/messages",
		client: &provider.Client{
			Provider: "anthropic",
			HTTP:     cfg.HTTPClient,
			Timeout:  cfg.Timeout,
			Retry:    cfg.Retry,
			Logger:   cfg.Logger,
		},
	}, nil
}

func validateRemote(name, baseURL string, maxTokens int, timeout time.Duration, r provider.Retry) error {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: %s BaseURL %q is not an http(s) URL", provider.ErrInvalidConfig, name, baseURL)
	}
	if maxTokens < 0 || timeout < 0 {
		return fmt.Errorf("%w: %s MaxTokens and Timeout must not be negative", provider.ErrInvalidConfig, name)
	}
	return r.Validate()
}

// Model returns "anthropic:<model>".
func (a *Anthropic) Model() string { return "anthropic:" + a.cfg.Model }

type anthropicMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type anthropicTool struct {
	Name        string         `json:"name"`
	Description string         `json:"description"`
	InputSchema map[string]any `json:"input_schema"`
}

type anthropicRequest struct {
	Model      string             `json:"model"`
	MaxTokens  int                `json:"max_tokens"`
	System     string             `json:"system"`
	Messages   []anthropicMessage `json:"messages"`
	Tools      []anthropicTool    `json:"tools"`
	ToolChoice map[string]string  `json:"tool_choice"`
}

type anthropicResponse struct {
	Type    string `json:"type"`
	Content []struct {
		Type  string          `json:"type"`
		Name  string          `json:"name"`
		Input json.RawMessage `json:"input"`
		Text  string          `json:"text"`
	} `json:"content"`
	StopReason string `json:"stop_reason"`
}

// Summarize sends the digest to Claude and returns the input of its forced
// record_summary tool call.
func (a *Anthropic) Summarize(ctx context.Context, d Digest) (Summary, error) {
	req := anthropicRequest{
		Model:     a.cfg.Model,
		MaxTokens: a.cfg.MaxTokens,
		System:    systemPrompt,
		Messages:  []anthropicMessage{{Role: "user", Content: userPrompt(d)}},
		Tools: []anthropicTool{{
			Name:        summaryToolName,
			Description: "Record the summary and keywords of the documentation source.",
			InputSchema: summarySchema(),
		}},
		ToolChoice: map[string]string{"type": "tool", "name": summaryToolName},
	}
	header := http.Header{}
	header.Set("x-api-key", a.cfg.APIKey)
	header.Set("anthropic-version", anthropicVersion)
	var out Summary
	err := a.client.PostJSON(ctx, "summarize", a.endpoint, header, req, func(body []byte) error {
		var resp anthropicResponse
		if err := json.Unmarshal(body, &resp); err != nil {
			return fmt.Errorf("error decoding messages response: %w", err)
		}
		switch resp.StopReason {
		case "max_tokens":
			return &provider.Error{Provider: "anthropic", Op: "summarize", StatusCode: http.StatusOK, Permanent: true,
				Message: fmt.Sprintf("response cut at max_tokens %d; raise MaxTokens", a.cfg.MaxTokens)}
		case "refusal":
			return &provider.Error{Provider: "anthropic", Op: "summarize", StatusCode: http.StatusOK, Permanent: true,
				Message: "the model refused to summarise this source"}
		}
		for _, c := range resp.Content {
			if c.Type != "tool_use" || c.Name != summaryToolName {
				continue
			}
			var s Summary
			if err := json.Unmarshal(c.Input, &s); err != nil {
				return fmt.Errorf("error decoding %s input: %w", summaryToolName, err)
			}
			cleaned, err := clean(s)
			if err != nil {
				return fmt.Errorf("error in %s input: %w", summaryToolName, err)
			}
			out = cleaned
			return nil
		}
		return fmt.Errorf("no %s tool_use block in response (stop_reason %q)", summaryToolName, resp.StopReason)
	})
	if err != nil {
		return Summary{}, fmt.Errorf("error summarising with %s: %w", a.cfg.Model, err)
	}
	return out, nil
}
