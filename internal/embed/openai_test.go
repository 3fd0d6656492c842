package embed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kollektiv/kollektiv/internal/provider"
)

// fakeOpenAI speaks the wire format of POST /v1/embeddings. Each request is
// recorded; respond decides the reply, by default a valid one in which
// embedding[0] is the number at the end of the input text ("text-7" -> 7)
// and data comes back in reverse order, as the API does not promise order.
type fakeOpenAI struct {
	mu       sync.Mutex
	requests []recordedRequest
	inFlight atomic.Int32
	maxSeen  atomic.Int32
	// holdUntil, when set, holds each request until that many have
	// arrived (or 10s have passed), so that concurrent requests are surely
	// in flight together, however slowly the client's goroutines start.
	holdUntil int
	allIn     chan struct{}
	respond   func(w http.ResponseWriter, n int, req embeddingsRequest) bool // true: handled
}

func (f *fakeOpenAI) reqs() []recordedRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]recordedRequest(nil), f.requests...)
}

type recordedRequest struct {
	Method, Path, Auth, ContentType string
	Body                            embeddingsRequest
}

func (f *fakeOpenAI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cur := f.inFlight.Add(1)
	defer f.inFlight.Add(-1)
	for {
		m := f.maxSeen.Load()
		if cur <= m || f.maxSeen.CompareAndSwap(m, cur) {
			break
		}
	}
	var req embeddingsRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	f.requests = append(f.requests, recordedRequest{r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), req})
	n := len(f.requests)
	if f.holdUntil > 0 && f.allIn == nil {
		f.allIn = make(chan struct{})
	}
	if f.holdUntil > 0 && n == f.holdUntil {
		close(f.allIn)
	}
	allIn := f.allIn
	f.mu.Unlock()
	if allIn != nil {
		select {
		case <-allIn:
		case <-time.After(10 * time.Second): // a client that never sends them together fails the test
		case <-r.Context().Done():
			return
		}
	}
	if f.respond != nil && f.respond(w, n, req) {
		return
	}
	writeEmbeddings(w, req, 8)
}

func writeEmbeddings(w http.ResponseWriter, req embeddingsRequest, dims int) {
	type datum struct {
		Object    string    `json:"object"`
		Index     int       `json:"index"`
		Embedding []float32 `json:"embedding"`
	}
	data := make([]datum, 0, len(req.Input))
	for i := len(req.Input) - 1; i >= 0; i-- {
		v := make([]float32, dims)
		num := req.Input[i][strings.LastIndexByte(req.Input[i], '-')+1:]
		f, _ := strconv.ParseFloat(num, 32)
		v[0] = float32(f)
		data = append(data, datum{"embedding", i, v})
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"object": "list",
		"data":   data,
		"model":  req.Model,
		"usage":  map[string]int{"prompt_tokens": 3 * len(req.Input), "total_tokens": 3 * len(req.Input)},
	})
}

func writeOpenAIError(w http.ResponseWriter, status int, typ, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": code}})
}

type testBundle struct {
	fake   *fakeOpenAI
	server *httptest.Server
	mu     *sync.Mutex
	waits  *[]time.Duration
}

func (b *testBundle) recordedWaits() []time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]time.Duration(nil), *b.waits...)
}

// setup starts a fake server and returns a config pointing at it, with
// retries that record their waits instead of sleeping.
func setup(t *testing.T) (*testBundle, OpenAIConfig) {
	t.Helper()
	fake := &fakeOpenAI{}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	var (
		mu    sync.Mutex
		waits []time.Duration
	)
	cfg := OpenAIConfig{
		BaseURL:     srv.URL + "/v1",
		Model:       "text-embedding-3-small",
		APIKey:      "sk-test",
		Dimensions:  8,
		CountTokens: func(s string) int { return len(strings.Fields(s)) },
		Retry: provider.Retry{
			MinBackoff: time.Millisecond,
			MaxBackoff: 4 * time.Millisecond,
			Sleep: func(ctx context.Context, d time.Duration) error {
				mu.Lock()
				waits = append(waits, d)
				mu.Unlock()
				return ctx.Err()
			},
		},
	}
	return &testBundle{fake: fake, server: srv, mu: &mu, waits: &waits}, cfg
}

func newOpenAI(t *testing.T, cfg OpenAIConfig) *OpenAI {
	t.Helper()
	e, err := NewOpenAI(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func texts(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("text-%d", i)
	}
	return out
}

func TestOpenAIEmbedRequestsAndOrder(t *testing.T) {
	t.Parallel()
	bundle, cfg := setup(t)
	cfg.MaxBatchInputs = 4
	cfg.Concurrency = 2
	bundle.fake.holdUntil = 2 // the first two batches are in flight together
	e := newOpenAI(t, cfg)

	in := texts(10)
	vecs, err := e.Embed(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	for i, v := range vecs {
		if len(v) != 8 || v[0] != float32(i) {
			t.Fatalf("vector %d = %v, want the vector of text-%d", i, v, i)
		}
	}
	reqs := bundle.fake.reqs()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3 batches (4+4+2)", len(reqs))
	}
	sizes := map[int]int{}
	for _, r := range reqs {
		sizes[len(r.Body.Input)]++
		if r.Method != http.MethodPost || r.Path != "/v1/embeddings" {
			t.Errorf("request %s %s, want POST /v1/embeddings", r.Method, r.Path)
		}
		if r.Auth != "Bearer sk-test" || r.ContentType != "application/json" {
			t.Errorf("headers Authorization=%q Content-Type=%q", r.Auth, r.ContentType)
		}
		if r.Body.Model != "text-embedding-3-small" || r.Body.Dimensions != 8 || r.Body.EncodingFormat != "float" {
			t.Errorf("body %+v, want model, dimensions 8 and encoding_format float", r.Body)
		}
	}
	if sizes[4] != 2 || sizes[2] != 1 {
		t.Errorf("batch sizes %v, want two of 4 and one of 2", sizes)
	}
	if m := bundle.fake.maxSeen.Load(); m != 2 {
		t.Errorf("max requests in flight = %d, want Concurrency 2", m)
	}
}

func TestOpenAIEmbedTokenBatches(t *testing.T) {
	t.Parallel()
	bundle, cfg := setup(t)
	cfg.MaxBatchTokens = 10
	cfg.Concurrency = 1
	cfg.APIKey = ""
	cfg.OmitDimensions = true
	e := newOpenAI(t, cfg)

	in := []string{"a b c text-0", "a b c text-1", "a b c text-2", strings.Repeat("w ", 14) + "text-3", "text-4"}
	if _, err := e.Embed(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	var got []int
	for _, r := range bundle.fake.reqs() {
		got = append(got, len(r.Body.Input))
		if r.Auth != "" || r.Body.Dimensions != 0 {
			t.Errorf("without key and with OmitDimensions: Authorization %q, dimensions %d", r.Auth, r.Body.Dimensions)
		}
	}
	// 4+4 tokens fit in 10; the third text starts a new batch; the 15-token
	// text goes alone; the last one follows it.
	if fmt.Sprint(got) != "[2 1 1 1]" {
		t.Fatalf("batch sizes %v, want [2 1 1 1]", got)
	}
}

func TestOpenAIEmbedRejectedKey(t *testing.T) {
	t.Parallel()
	bundle, cfg := setup(t)
	bundle.fake.respond = func(w http.ResponseWriter, _ int, _ embeddingsRequest) bool {
		writeOpenAIError(w, http.StatusUnauthorized, "invalid_request_error", "invalid_api_key", "Incorrect API key provided: sk-test.")
		return true
	}
	_, err := newOpenAI(t, cfg).Embed(context.Background(), texts(3))
	var pe *provider.Error
	if !errors.As(err, &pe) || !provider.IsPermanent(err) || pe.StatusCode != http.StatusUnauthorized {
		t.Fatalf("err = %v, want a permanent *provider.Error with status 401", err)
	}
	if !strings.Contains(err.Error(), "API key was rejected") || !strings.Contains(err.Error(), "Incorrect API key provided") {
		t.Fatalf("err = %q, want it to say the key was rejected and carry the server's message", err)
	}
	if n := len(bundle.fake.reqs()); n != 1 {
		t.Fatalf("%d requests, want 1: a rejected key is not retried", n)
	}
}

func TestOpenAIEmbedBadRequestIsPermanent(t *testing.T) {
	t.Parallel()
	bundle, cfg := setup(t)
	bundle.fake.respond = func(w http.ResponseWriter, _ int, _ embeddingsRequest) bool {
		writeOpenAIError(w, http.StatusBadRequest, "invalid_request_error", "", "This model's maximum context length is 8192 tokens.")
		return true
	}
	_, err := newOpenAI(t, cfg).Embed(context.Background(), texts(1))
	if !provider.IsPermanent(err) || !strings.Contains(err.Error(), "maximum context length") {
		t.Fatalf("err = %v, want a permanent error with the server's message", err)
	}
	if n := len(bundle.fake.reqs()); n != 1 {
		t.Fatalf("%d requests, want 1", n)
	}
}

func TestOpenAIEmbedRetryAfter(t *testing.T) {
	t.Parallel()
	for _, header := range []string{"2", "date"} {
		t.Run(header, func(t *testing.T) {
			t.Parallel()
			bundle, cfg := setup(t)
			bundle.fake.respond = func(w http.ResponseWriter, n int, _ embeddingsRequest) bool {
				if n > 1 {
					return false
				}
				v := header
				if v == "date" {
					v = time.Now().Add(3 * time.Second).UTC().Format(http.TimeFormat)
				}
				w.Header().Set("Retry-After", v)
				writeOpenAIError(w, http.StatusTooManyRequests, "requests", "rate_limit_exceeded", "Rate limit reached for requests")
				return true
			}
			vecs, err := newOpenAI(t, cfg).Embed(context.Background(), texts(2))
			if err != nil || len(vecs) != 2 {
				t.Fatalf("Embed = %d vectors, %v; want success after one retry", len(vecs), err)
			}
			waits := bundle.recordedWaits()
			if len(waits) != 1 || len(bundle.fake.reqs()) != 2 {
				t.Fatalf("waits %v over %d requests, want one wait and two requests", waits, len(bundle.fake.reqs()))
			}
			lo, hi := 2*time.Second, 2*time.Second
			if header == "date" {
				lo, hi = 1*time.Second, 3*time.Second // HTTP-date has one-second resolution
			}
			if waits[0] < lo || waits[0] > hi {
				t.Fatalf("waited %v, want Retry-After honoured (%v..%v)", waits[0], lo, hi)
			}
		})
	}
}

func TestOpenAIEmbedRetryAfterTooLong(t *testing.T) {
	t.Parallel()
	bundle, cfg := setup(t)
	bundle.fake.respond = func(w http.ResponseWriter, _ int, _ embeddingsRequest) bool {
		w.Header().Set("Retry-After", "600")
		writeOpenAIError(w, http.StatusTooManyRequests, "tokens", "rate_limit_exceeded", "Rate limit reached for tokens")
		return true
	}
	_, err := newOpenAI(t, cfg).Embed(context.Background(), texts(1))
	if provider.IsPermanent(err) || provider.RetryAfter(err) != 600*time.Second {
		t.Fatalf("err = %v (retry after %v), want a transient error carrying 600s for the job to snooze", err, provider.RetryAfter(err))
	}
	if len(bundle.fake.reqs()) != 1 || len(bundle.recordedWaits()) != 0 {
		t.Fatalf("%d requests, waits %v: a wait above MaxRetryAfter must not be slept in process", len(bundle.fake.reqs()), bundle.recordedWaits())
	}
}

func TestOpenAIEmbedServerErrors(t *testing.T) {
	t.Parallel()
	t.Run("recovers", func(t *testing.T) {
		t.Parallel()
		bundle, cfg := setup(t)
		bundle.fake.respond = func(w http.ResponseWriter, n int, _ embeddingsRequest) bool {
			if n <= 2 {
				writeOpenAIError(w, http.StatusInternalServerError, "server_error", "", "The server had an error while processing your request.")
				return true
			}
			return false
		}
		if _, err := newOpenAI(t, cfg).Embed(context.Background(), texts(1)); err != nil {
			t.Fatal(err)
		}
		waits := bundle.recordedWaits()
		if len(waits) != 2 || waits[0] >= time.Millisecond || waits[1] >= 2*time.Millisecond {
			t.Fatalf("waits %v, want two jittered backoffs below 1ms and 2ms", waits)
		}
	})
	t.Run("gives up", func(t *testing.T) {
		t.Parallel()
		bundle, cfg := setup(t)
		cfg.MaxRetries = 2
		bundle.fake.respond = func(w http.ResponseWriter, _ int, _ embeddingsRequest) bool {
			writeOpenAIError(w, http.StatusInternalServerError, "server_error", "", "The server had an error while processing your request.")
			return true
		}
		_, err := newOpenAI(t, cfg).Embed(context.Background(), texts(1))
		var pe *provider.Error
		if !errors.As(err, &pe) || pe.Permanent || pe.StatusCode != http.StatusInternalServerError {
			t.Fatalf("err = %v, want a transient 500", err)
		}
		if n := len(bundle.fake.reqs()); n != 3 {
			t.Fatalf("%d requests, want 1 + MaxRetries 2", n)
		}
	})
}

func TestOpenAIEmbedTimeout(t *testing.T) {
	t.Parallel()
	bundle, cfg := setup(t)
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	bundle.fake.respond = func(w http.ResponseWriter, _ int, _ embeddingsRequest) bool {
		<-release
		return true
	}
	cfg.Timeout = 30 * time.Millisecond
	cfg.MaxRetries = 1
	// Attempts are counted as the client sends them: on a loaded machine
	// an attempt can time out before the fake server has read it.
	var attempts atomic.Int32
	cfg.HTTPClient = &http.Client{Transport: countingTransport{&attempts, http.DefaultTransport}}
	_, err := newOpenAI(t, cfg).Embed(context.Background(), texts(1))
	if err == nil || provider.IsPermanent(err) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("err = %v, want a transient timeout", err)
	}
	if n := attempts.Load(); n != 2 {
		t.Fatalf("%d attempts, want the timeout retried once", n)
	}
}

type countingTransport struct {
	n    *atomic.Int32
	next http.RoundTripper
}

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return c.next.RoundTrip(r)
}

func TestOpenAIEmbedMalformedJSON(t *testing.T) {
	t.Parallel()
	bundle, cfg := setup(t)
	cfg.MaxRetries = -1
	bundle.fake.respond = func(w http.ResponseWriter, _ int, _ embeddingsRequest) bool {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.1,`))
		return true
	}
	_, err := newOpenAI(t, cfg).Embed(context.Background(), texts(1))
	var pe *provider.Error
	if !errors.As(err, &pe) || pe.Permanent || !strings.Contains(err.Error(), "malformed response") {
		t.Fatalf("err = %v, want a transient malformed-response error", err)
	}

	// A truncated body is usually a broken connection or proxy: retried.
	bundle, cfg = setup(t)
	bundle.fake.respond = func(w http.ResponseWriter, n int, _ embeddingsRequest) bool {
		if n == 1 {
			_, _ = w.Write([]byte(`<html>502 Bad Gateway</html>`))
			return true
		}
		return false
	}
	if _, err := newOpenAI(t, cfg).Embed(context.Background(), texts(1)); err != nil || len(bundle.fake.reqs()) != 2 {
		t.Fatalf("err = %v after %d requests, want success on the retry", err, len(bundle.fake.reqs()))
	}
}

func TestOpenAIEmbedWrongDimensions(t *testing.T) {
	t.Parallel()
	bundle, cfg := setup(t)
	bundle.fake.respond = func(w http.ResponseWriter, _ int, req embeddingsRequest) bool {
		writeEmbeddings(w, req, 768)
		return true
	}
	_, err := newOpenAI(t, cfg).Embed(context.Background(), texts(1))
	if !provider.IsPermanent(err) || !strings.Contains(err.Error(), "768 dimensions") {
		t.Fatalf("err = %v, want a permanent dimension mismatch", err)
	}
}

func TestOpenAIEmbedCancelled(t *testing.T) {
	t.Parallel()
	bundle, cfg := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	bundle.fake.respond = func(w http.ResponseWriter, _ int, _ embeddingsRequest) bool {
		cancel()
		writeOpenAIError(w, http.StatusServiceUnavailable, "server_error", "", "overloaded")
		return true
	}
	_, err := newOpenAI(t, cfg).Embed(ctx, texts(1))
	if !errors.Is(err, context.Canceled) || len(bundle.fake.reqs()) != 1 {
		t.Fatalf("err = %v after %d requests, want context.Canceled and no retry", err, len(bundle.fake.reqs()))
	}
}

func TestNewOpenAIValidation(t *testing.T) {
	t.Parallel()
	count := func(s string) int { return len(s) }
	cases := map[string]OpenAIConfig{
		"bad url":             {BaseURL: "localhost:11434", CountTokens: count},
		"unknown model":       {Model: "nomic-embed-text", CountTokens: count},
		"negative dimensions": {Dimensions: -3, CountTokens: count},
		"negative batch":      {MaxBatchInputs: -1, CountTokens: count},
		"backoff order":       {Retry: provider.Retry{MinBackoff: time.Minute, MaxBackoff: time.Second}, CountTokens: count},
	}
	for name, cfg := range cases {
		if _, err := NewOpenAI(cfg); !errors.Is(err, provider.ErrInvalidConfig) || !provider.IsPermanent(err) {
			t.Errorf("%s: err = %v, want ErrInvalidConfig", name, err)
		}
	}
	e, err := NewOpenAI(OpenAIConfig{BaseURL: "http://localhost:11434/v1/", Model: "nomic-embed-text", Dimensions: 768, CountTokens: count})
	if err != nil || e.endpoint != "http://localhost:11434/v1/embeddings" || e.Model() != "openai:nomic-embed-text:768" {
		t.Fatalf("Ollama config: %v, %v", e, err)
	}
}

func TestOpenAIEmbedEmptyInputs(t *testing.T) {
	t.Parallel()
	bundle, cfg := setup(t)
	e := newOpenAI(t, cfg)
	vecs, err := e.Embed(context.Background(), nil)
	if err != nil || len(vecs) != 0 || len(bundle.fake.reqs()) != 0 {
		t.Fatalf("no texts: %d vectors, %v, %d requests; want nothing sent", len(vecs), err, len(bundle.fake.reqs()))
	}
	if _, err := e.Embed(context.Background(), []string{"", "text-1"}); err != nil {
		t.Fatal(err)
	}
	if in := bundle.fake.reqs()[0].Body.Input; in[0] != " " || in[1] != "text-1" {
		t.Fatalf("input %q, want the empty text sent as a space", in)
	}
}
