package summarize

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/kollektiv/kollektiv/internal/provider"
)

// OpenAIConfig configures the summarizer for OpenAI-compatible chat
// completions (OpenAI, vLLM, Ollama, LM Studio) with structured outputs.
type OpenAIConfig struct {
	// BaseURL is the API root; requests go to BaseURL + "/chat/completions".
	// Default "https://api.openai.com/v1".
	BaseURL string
	// APIKey is sent as "Authorization: Bearer <key>". Empty sends no
	// Authorization header, for local servers that need none.
	APIKey string
	// Model is the chat model. Default "gpt-4o-mini".
	Model string
	// MaxTokens, when set, is sent as max_completion_tokens. Default 0:
	// not sent, the server's limit applies.
	MaxTokens int
	// Timeout bounds each HTTP attempt. Default 120s.
	Timeout time.Duration
	// Retry is the retry policy for 429, 5xx, timeouts and connection
	// errors; its fields state their defaults.
	provider.Retry
	// HTTPClient is the client used. Nil means a new http.Client.
	HTTPClient *http.Client
	// Logger receives retry warnings. Nil discards.
	Logger *slog.Logger
}

// OpenAI summarises through OpenAI-compatible chat completions with a
// strict JSON schema response format.
type OpenAI struct {
	cfg      OpenAIConfig
	endpoint string
	client   *provider.Client
}

var _ Summarizer = (*OpenAI)(nil)

// NewOpenAI returns an OpenAI-compatible summarizer. It makes no request;
// errors are configuration errors wrapping provider.ErrInvalidConfig.
func NewOpenAI(cfg OpenAIConfig) (*OpenAI, error) {
	cfg.BaseURL = strings.TrimRight(cmp.Or(cfg.BaseURL, "https://api.openai.com/v1"), "/")
	cfg.Model = cmp.Or(cfg.Model, "gpt-4o-mini")
	cfg.Timeout = cmp.Or(cfg.Timeout, 120*time.Second)
	if err := validateRemote("openai", cfg.BaseURL, cfg.MaxTokens, cfg.Timeout, cfg.Retry); err != nil {
		return nil, err
	}
	return &OpenAI{
		cfg:      cfg,
		endpoint: cfg.BaseURL + "/chat/completions",
		client: &provider.Client{
			Provider: "openai",
			HTTP:     cfg.HTTPClient,
			Timeout:  cfg.Timeout,
			Retry:    cfg.Retry,
			Logger:   cfg.Logger,
		},
	}, nil
}

// Model returns "openai:<model>".
func (o *OpenAI) Model() string { return "openai:" + o.cfg.Model }

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type chatRequest struct {
	Model               string        `json:"model"`
	Messages            []chatMessage `json:"messages"`
	ResponseFormat      any           `json:"response_format"`
	MaxCompletionTokens int           `json:"max_completion_tokens,omitempty"`
}

type chatResponse struct {
	Choices []struct {
		Message struct {
			Content *string `json:"content"`
			Refusal *string `json:"refusal"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
}

// Summarize sends the digest and decodes the JSON content of the first
// choice.
func (o *OpenAI) Summarize(ctx context.Context, d Digest) (Summary, error) {
	req := chatRequest{
		Model: o.cfg.Model,
		Messages: []chatMessage{
			{Role: "system", Content: systemPrompt},
			{Role: "user", Content: userPrompt(d)},
		},
		ResponseFormat: map[string]any{
			"type": "json_schema",
			"json_schema": map[string]any{
				"name":   summaryToolName,
				"strict": true,
				"schema": summarySchema(),
			},
		},
		MaxCompletionTokens: o.cfg.MaxTokens,
	}
	header := http.Header{}
	if o.cfg.APIKey != "" {
		header.Set("Authorization", "Bearer "+o.cfg.APIKey)
	}
	var out Summary
	err := o.client.PostJSON(ctx, "summarize", o.endpoint, header, req, func(body []byte) error {
		var resp chatResponse
		if err := json.Unmarshal(body, &resp); err != nil {
			return fmt.Errorf("error decoding chat completion: %w", err)
		}
		if len(resp.Choices) == 0 {
			return fmt.Errorf("chat completion has no choices")
		}
		c := resp.Choices[0]
		if c.Message.Refusal != nil && *c.Message.Refusal != "" {
			return &provider.Error{Provider: "openai", Op: "summarize", StatusCode: http.StatusOK, Permanent: true,
				Message: "the model refused to summarise this source: " + *c.Message.Refusal}
		}
		if c.FinishReason == "length" {
			return &provider.Error{Provider: "openai", Op: "summarize", StatusCode: http.StatusOK, Permanent: true,
				Message: fmt.Sprintf("response cut at the token limit (MaxTokens %d); raise MaxTokens", o.cfg.MaxTokens)}
		}
		if c.Message.Content == nil {
			return fmt.Errorf("chat completion has no content (finish_reason %q)", c.FinishReason)
		}
		var s Summary
		if err := json.Unmarshal([]byte(*c.Message.Content), &s); err != nil {
			return fmt.Errorf("error decoding summary JSON in message content: %w", err)
		}
		cleaned, err := clean(s)
		if err != nil {
			return err
		}
		out = cleaned
		return nil
	})
	if err != nil {
		return Summary{}, fmt.Errorf("error summarising with %s: %w", o.cfg.Model, err)
	}
	return out, nil
}
