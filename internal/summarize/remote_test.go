package summarize

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kollektiv/kollektiv/internal/provider"
)

// fakeAPI records requests and replies through respond, called with the
// 1-based request number.
type fakeAPI struct {
	mu       sync.Mutex
	requests []*recorded
	respond  func(w http.ResponseWriter, n int)
}

type recorded struct {
	Path   string
	Header http.Header
	Body   map[string]any
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body)
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil || r.Method != http.MethodPost {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.requests = append(f.requests, &recorded{r.URL.Path, r.Header.Clone(), body})
	n := len(f.requests)
	f.mu.Unlock()
	f.respond(w, n)
}

func (f *fakeAPI) reqs() []*recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*recorded(nil), f.requests...)
}

type testBundle struct {
	fake  *fakeAPI
	url   string
	retry provider.Retry
	mu    sync.Mutex
	waits []time.Duration
}

func setup(t *testing.T, respond func(w http.ResponseWriter, n int)) *testBundle {
	t.Helper()
	b := &testBundle{fake: &fakeAPI{respond: respond}}
	srv := httptest.NewServer(b.fake)
	t.Cleanup(srv.Close)
	b.url = srv.URL
	b.retry = provider.Retry{
		MinBackoff: time.Millisecond,
		MaxBackoff: 2 * time.Millisecond,
		Sleep: func(ctx context.Context, d time.Duration) error {
			b.mu.Lock()
			b.waits = append(b.waits, d)
			b.mu.Unlock()
			return ctx.Err()
		},
	}
	return b
}

func (b *testBundle) recordedWaits() []time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]time.Duration(nil), b.waits...)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

var testDigest = Digest{
	Source:         "https://fastapi.tiangolo.com/",
	TotalDocuments: 10000,
	Documents:      []Document{{Title: "First Steps", URL: "https://fastapi.tiangolo.com/tutorial/first-steps/"}},
	Chunks:         []string{"FastAPI is a modern web framework for building APIs with Python."},
}

// Anthropic Messages API wire format.

func anthropicToolUse(input any) map[string]any {
	return map[string]any{
		"id": "msg_01", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
		"content": []any{
			map[string]any{"type": "text", "text": "I'll record the summary."},
			map[string]any{"type": "tool_use", "id": "toolu_01", "name": "record_summary", "input": input},
		},
		"stop_reason": "tool_use", "stop_sequence": nil,
		"usage": map[string]int{"input_tokens": 120, "output_tokens": 80},
	}
}

func anthropicError(typ, msg string) map[string]any {
	return map[string]any{"type": "error", "error": map[string]any{"type": typ, "message": msg}}
}

var goodInput = map[string]any{"summary": " FastAPI builds APIs. ", "keywords": []string{"fastapi", "api", "FastAPI", " ", "python"}}

func newAnthropic(t *testing.T, b *testBundle, mod func(*AnthropicConfig)) *Anthropic {
	t.Helper()
	cfg := AnthropicConfig{BaseURL: b.url, APIKey: "sk-ant-test", Model: "claude-haiku-4-5", Retry: b.retry}
	if mod != nil {
		mod(&cfg)
	}
	a, err := NewAnthropic(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestAnthropicRequestAndToolUse(t *testing.T) {
	t.Parallel()
	b := setup(t, func(w http.ResponseWriter, _ int) { writeJSON(w, 200, anthropicToolUse(goodInput)) })
	s, err := newAnthropic(t, b, nil).Summarize(context.Background(), testDigest)
	if err != nil {
		t.Fatal(err)
	}
	if s.Summary != "FastAPI builds APIs." || strings.Join(s.Keywords, ",") != "fastapi,api,python" {
		t.Fatalf("summary %+v, want trimmed summary and deduplicated keywords", s)
	}
	reqs := b.fake.reqs()
	if len(reqs) != 1 {
		t.Fatalf("%d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Path != "/v1/messages" || r.Header.Get("x-api-key") != "sk-ant-test" ||
		r.Header.Get("anthropic-version") != "2023-06-01" || r.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("path %s headers %v", r.Path, r.Header)
	}
	if r.Header.Get("Authorization") != "" {
		t.Fatal("Anthropic takes the key in x-api-key, not Authorization")
	}
	if r.Body["model"] != "claude-haiku-4-5" || r.Body["max_tokens"] != float64(1024) {
		t.Fatalf("model %v max_tokens %v", r.Body["model"], r.Body["max_tokens"])
	}
	choice, _ := r.Body["tool_choice"].(map[string]any)
	if choice["type"] != "tool" || choice["name"] != "record_summary" {
		t.Fatalf("tool_choice %v, want the forced record_summary tool", r.Body["tool_choice"])
	}
	tools, _ := r.Body["tools"].([]any)
	tool, _ := tools[0].(map[string]any)
	schema, _ := tool["input_schema"].(map[string]any)
	if tool["name"] != "record_summary" || schema["type"] != "object" || len(schema["required"].([]any)) != 2 {
		t.Fatalf("tool %v", tool)
	}
	msgs, _ := r.Body["messages"].([]any)
	msg, _ := msgs[0].(map[string]any)
	content, _ := msg["content"].(string)
	if msg["role"] != "user" || !strings.Contains(content, "First Steps") || !strings.Contains(content, "Documents: 10000 (titles of 1 shown)") ||
		!strings.Contains(content, testDigest.Chunks[0]) {
		t.Fatalf("user message does not carry the digest:\n%s", content)
	}
	if sys, _ := r.Body["system"].(string); !strings.Contains(sys, "100 to 150 words") {
		t.Fatalf("system prompt %q", sys)
	}
}

func TestAnthropicErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		respond   func(w http.ResponseWriter, n int)
		permanent bool
		status    int
		requests  int
		contains  string
	}{
		{
			name: "401 rejected key",
			respond: func(w http.ResponseWriter, _ int) {
				writeJSON(w, 401, anthropicError("authentication_error", "invalid x-api-key"))
			},
			permanent: true, status: 401, requests: 1, contains: "API key was rejected",
		},
		{
			name: "400 invalid request",
			respond: func(w http.ResponseWriter, _ int) {
				writeJSON(w, 400, anthropicError("invalid_request_error", "max_tokens: Field required"))
			},
			permanent: true, status: 400, requests: 1, contains: "max_tokens: Field required (invalid_request_error)",
		},
		{
			name: "529 overloaded, always",
			respond: func(w http.ResponseWriter, _ int) {
				writeJSON(w, 529, anthropicError("overloaded_error", "Overloaded"))
			},
			permanent: false, status: 529, requests: 4, contains: "Overloaded",
		},
		{
			name: "500 api_error, always",
			respond: func(w http.ResponseWriter, _ int) {
				writeJSON(w, 500, anthropicError("api_error", "Internal server error"))
			},
			permanent: false, status: 500, requests: 4, contains: "Internal server error",
		},
		{
			name: "malformed JSON",
			respond: func(w http.ResponseWriter, _ int) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write([]byte(`{"type":"message","content":[{"type":"tool_use","input":{"summary":`))
			},
			permanent: false, status: 200, requests: 4, contains: "malformed response",
		},
		{
			name: "no tool_use",
			respond: func(w http.ResponseWriter, _ int) {
				writeJSON(w, 200, map[string]any{"type": "message", "content": []any{map[string]any{"type": "text", "text": "Here is a summary."}}, "stop_reason": "end_turn"})
			},
			permanent: false, status: 200, requests: 4, contains: "no record_summary tool_use",
		},
		{
			name: "max_tokens",
			respond: func(w http.ResponseWriter, _ int) {
				resp := anthropicToolUse(map[string]any{})
				resp["stop_reason"] = "max_tokens"
				writeJSON(w, 200, resp)
			},
			permanent: true, status: 200, requests: 1, contains: "raise MaxTokens",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, c.respond)
			_, err := newAnthropic(t, b, nil).Summarize(context.Background(), testDigest)
			var pe *provider.Error
			if !errors.As(err, &pe) || pe.Permanent != c.permanent || pe.StatusCode != c.status || provider.IsPermanent(err) != c.permanent {
				t.Fatalf("err = %#v, want permanent=%v status %d", err, c.permanent, c.status)
			}
			if !strings.Contains(err.Error(), c.contains) {
				t.Fatalf("err = %q, want it to contain %q", err, c.contains)
			}
			if n := len(b.fake.reqs()); n != c.requests {
				t.Fatalf("%d requests, want %d", n, c.requests)
			}
		})
	}
}

func TestAnthropicRetriesAfter429(t *testing.T) {
	t.Parallel()
	b := setup(t, func(w http.ResponseWriter, n int) {
		if n == 1 {
			w.Header().Set("retry-after", "7")
			writeJSON(w, 429, anthropicError("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"))
			return
		}
		if n == 2 {
			writeJSON(w, 529, anthropicError("overloaded_error", "Overloaded"))
			return
		}
		writeJSON(w, 200, anthropicToolUse(goodInput))
	})
	s, err := newAnthropic(t, b, nil).Summarize(context.Background(), testDigest)
	if err != nil || s.Summary == "" {
		t.Fatalf("Summarize = %+v, %v; want success on the third attempt", s, err)
	}
	waits := b.recordedWaits()
	if len(waits) != 2 || waits[0] != 7*time.Second || waits[1] >= 2*time.Millisecond {
		t.Fatalf("waits %v, want Retry-After 7s then a jittered backoff", waits)
	}
}

func TestAnthropicTimeout(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	b := setup(t, func(w http.ResponseWriter, _ int) { <-release })
	t.Cleanup(func() { close(release) })
	a := newAnthropic(t, b, func(c *AnthropicConfig) {
		c.Timeout = 30 * time.Millisecond
		c.MaxRetries = -1
	})
	_, err := a.Summarize(context.Background(), testDigest)
	if err == nil || provider.IsPermanent(err) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a transient timeout", err)
	}
}

// OpenAI chat completions wire format.

func chatCompletion(content string) map[string]any {
	return map[string]any{
		"id": "chatcmpl-1", "object": "chat.completion", "created": 1732780800, "model": "gpt-4o-mini",
		"choices": []any{map[string]any{
			"index":         0,
			"message":       map[string]any{"role": "assistant", "content": content, "refusal": nil},
			"logprobs":      nil,
			"finish_reason": "stop",
		}},
		"usage": map[string]int{"prompt_tokens": 120, "completion_tokens": 80, "total_tokens": 200},
	}
}

func openAIError(typ, code, msg string) map[string]any {
	return map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": code}}
}

func newOpenAIChat(t *testing.T, b *testBundle, mod func(*OpenAIConfig)) *OpenAI {
	t.Helper()
	cfg := OpenAIConfig{BaseURL: b.url + "/v1", APIKey: "sk-test", Model: "gpt-4o-mini", Retry: b.retry}
	if mod != nil {
		mod(&cfg)
	}
	o, err := NewOpenAI(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestOpenAIChatRequestAndResponse(t *testing.T) {
	t.Parallel()
	b := setup(t, func(w http.ResponseWriter, _ int) {
		writeJSON(w, 200, chatCompletion(`{"summary":"FastAPI builds APIs with Python.","keywords":["fastapi","python"]}`))
	})
	s, err := newOpenAIChat(t, b, func(c *OpenAIConfig) { c.MaxTokens = 500 }).Summarize(context.Background(), testDigest)
	if err != nil || s.Summary != "FastAPI builds APIs with Python." || len(s.Keywords) != 2 {
		t.Fatalf("Summarize = %+v, %v", s, err)
	}
	r := b.fake.reqs()[0]
	if r.Path != "/v1/chat/completions" || r.Header.Get("Authorization") != "Bearer sk-test" {
		t.Fatalf("path %s Authorization %q", r.Path, r.Header.Get("Authorization"))
	}
	if r.Body["model"] != "gpt-4o-mini" || r.Body["max_completion_tokens"] != float64(500) {
		t.Fatalf("model %v max_completion_tokens %v", r.Body["model"], r.Body["max_completion_tokens"])
	}
	rf, _ := r.Body["response_format"].(map[string]any)
	js, _ := rf["json_schema"].(map[string]any)
	schema, _ := js["schema"].(map[string]any)
	if rf["type"] != "json_schema" || js["name"] != "record_summary" || js["strict"] != true || schema["additionalProperties"] != false {
		t.Fatalf("response_format %v, want a strict json_schema", rf)
	}
	msgs, _ := r.Body["messages"].([]any)
	if len(msgs) != 2 || msgs[0].(map[string]any)["role"] != "system" || msgs[1].(map[string]any)["role"] != "user" {
		t.Fatalf("messages %v, want system then user", msgs)
	}
}

func TestOpenAIChatErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		respond   func(w http.ResponseWriter, n int)
		permanent bool
		requests  int
		contains  string
	}{
		{
			name: "401",
			respond: func(w http.ResponseWriter, _ int) {
				writeJSON(w, 401, openAIError("invalid_request_error", "invalid_api_key", "Incorrect API key provided: sk-test."))
			},
			permanent: true, requests: 1, contains: "API key was rejected",
		},
		{
			name: "404 unknown model",
			respond: func(w http.ResponseWriter, _ int) {
				writeJSON(w, 404, openAIError("invalid_request_error", "model_not_found", "The model `gpt-9` does not exist"))
			},
			permanent: true, requests: 1, contains: "does not exist",
		},
		{
			name: "content is not JSON",
			respond: func(w http.ResponseWriter, _ int) {
				writeJSON(w, 200, chatCompletion(`Sure! Here is the summary: FastAPI`))
			},
			permanent: false, requests: 4, contains: "error decoding summary JSON",
		},
		{
			name: "refusal",
			respond: func(w http.ResponseWriter, _ int) {
				resp := chatCompletion("")
				msg := resp["choices"].([]any)[0].(map[string]any)["message"].(map[string]any)
				msg["content"], msg["refusal"] = nil, "I can't help with that."
				writeJSON(w, 200, resp)
			},
			permanent: true, requests: 1, contains: "refused",
		},
		{
			name: "500",
			respond: func(w http.ResponseWriter, _ int) {
				writeJSON(w, 500, openAIError("server_error", "", "The server had an error while processing your request."))
			},
			permanent: false, requests: 4, contains: "status 500",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, c.respond)
			_, err := newOpenAIChat(t, b, nil).Summarize(context.Background(), testDigest)
			if err == nil || provider.IsPermanent(err) != c.permanent || !strings.Contains(err.Error(), c.contains) {
				t.Fatalf("err = %v, want permanent=%v containing %q", err, c.permanent, c.contains)
			}
			if n := len(b.fake.reqs()); n != c.requests {
				t.Fatalf("%d requests, want %d", n, c.requests)
			}
		})
	}
}

func TestOpenAIChatRetryAfter(t *testing.T) {
	t.Parallel()
	b := setup(t, func(w http.ResponseWriter, n int) {
		if n == 1 {
			w.Header().Set("Retry-After", "3")
			writeJSON(w, 429, openAIError("requests", "rate_limit_exceeded", "Rate limit reached"))
			return
		}
		writeJSON(w, 200, chatCompletion(`{"summary":"ok","keywords":[]}`))
	})
	if _, err := newOpenAIChat(t, b, nil).Summarize(context.Background(), testDigest); err != nil {
		t.Fatal(err)
	}
	if w := b.recordedWaits(); len(w) != 1 || w[0] != 3*time.Second {
		t.Fatalf("waits %v, want [3s]", w)
	}
}
