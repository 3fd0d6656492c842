package provider

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// maxResponseBytes bounds what a response body may hold. A batch of 2,048
// embeddings of 3,072 dimensions written as JSON floats is about 75 MB.
const maxResponseBytes = 128 << 20

// Client posts JSON to a provider's HTTP API with a per-attempt timeout and
// the Retry policy, turning every failure into an *Error.
type Client struct {
	// Provider names the provider in errors and logs.
	Provider string
	// HTTP is the client used. Nil means a new http.Client without timeout
	// (the per-attempt Timeout applies instead).
	HTTP *http.Client
	// Timeout bounds each attempt, including reading the body. Zero means
	// no per-attempt timeout beyond the caller's context.
	Timeout time.Duration
	// Retry is the retry policy.
	Retry Retry
	// Logger receives a warning per retry. Nil discards.
	Logger *slog.Logger
}

// PostJSON sends in as a JSON POST to url with header added, and hands a 2xx
// body to decode. A non-2xx status becomes a StatusError carrying the
// server's error message; a decode error that is not already an *Error is
// treated as a transient malformed response. Transient failures are retried.
func (c *Client) PostJSON(ctx context.Context, op, url string, header http.Header, in any, decode func(body []byte) error) error {
	payload, err := json.Marshal(in)
	if err != nil {
		return &Error{Provider: c.Provider, Op: op, Permanent: true, Message: "cannot encode request", Err: err}
	}
	httpClient := c.HTTP
	if httpClient == nil {
		httpClient = &http.Client{}
	}
	return c.Retry.Do(ctx, c.Logger, func(ctx context.Context) error {
		if c.Timeout > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, c.Timeout)
			defer cancel()
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
		if err != nil {
			return &Error{Provider: c.Provider, Op: op, Permanent: true, Message: "cannot build request", Err: err}
		}
		for k, vs := range header {
			for _, v := range vs {
				req.Header.Add(k, v)
			}
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		resp, err := httpClient.Do(req)
		if err != nil {
			return transportError(c.Provider, op, err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
		if err != nil {
			return transportError(c.Provider, op, fmt.Errorf("error reading response body: %w", err))
		}
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			retryAfter := ParseRetryAfter(resp.Header, time.Now())
			return StatusError(c.Provider, op, resp.StatusCode, retryAfter, serverMessage(body))
		}
		if err := decode(body); err != nil {
			var pe *Error
			if errors.As(err, &pe) {
				return err
			}
			return &Error{Provider: c.Provider, Op: op, StatusCode: resp.StatusCode, Message: "malformed response", Err: err}
		}
		return nil
	})
}

// serverMessage extracts the message of an error body. OpenAI sends
// {"error":{"message","type","param","code"}} and Anthropic sends
// {"type":"error","error":{"type","message"}}; both put message and type
// under "error". Anything else is returned as short raw text.
func serverMessage(body []byte) string {
	var e struct {
		Error struct {
			Message string `json:"message"`
			Type    string `json:"type"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
		if e.Error.Type != "" {
			return fmt.Sprintf("%s (%s)", e.Error.Message, e.Error.Type)
		}
		return e.Error.Message
	}
	s := strings.ToValidUTF8(strings.TrimSpace(string(body)), "")
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	return s
}
