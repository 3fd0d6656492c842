// Package summarize turns a digest of a source (titles, URLs and its most
// representative chunks) into a short summary and keywords. A Summarizer is
// chosen by name from configuration: "extractive" (the offline default),
// "anthropic" (Claude, Messages API) or "openai" (OpenAI-compatible chat
// completions).
package summarize

import (
	"context"
	"fmt"
	"strings"

	"github.com/kollektiv/kollektiv/internal/provider"
)

// Summary is what a Summarizer produces for a source.
type Summary struct {
	// Summary is a paragraph of about 100–150 words.
	Summary string `json:"summary"`
	// Keywords are 5–10 terms, most important first.
	Keywords []string `json:"keywords"`
}

// Summarizer summarises a source from its digest.
type Summarizer interface {
	// Summarize returns the summary of the source the digest describes.
	// Errors from remote providers are *provider.Error; use
	// provider.IsPermanent to tell a job to cancel rather than retry.
	Summarize(ctx context.Context, d Digest) (Summary, error)
	// Model names the method or model, stored beside the summary.
	Model() string
}

// Names of the summarizers New accepts.
const (
	NameExtractive = "extractive"
	NameAnthropic  = "anthropic"
	NameOpenAI     = "openai"
)

// Config holds the settings of every summarizer; New reads the one it builds.
type Config struct {
	// Extractive configures the "extractive" summarizer.
	Extractive ExtractiveConfig
	// Anthropic configures the "anthropic" summarizer.
	Anthropic AnthropicConfig
	// OpenAI configures the "openai" summarizer.
	OpenAI OpenAIConfig
}

// New builds the summarizer called name ("" means "extractive"). An unknown
// name or invalid settings give an error wrapping provider.ErrInvalidConfig.
func New(name string, cfg Config) (Summarizer, error) {
	switch name {
	case "", NameExtractive:
		return NewExtractive(cfg.Extractive)
	case NameAnthropic:
		return NewAnthropic(cfg.Anthropic)
	case NameOpenAI:
		return NewOpenAI(cfg.OpenAI)
	default:
		return nil, fmt.Errorf("%w: unknown summarizer %q (valid: %q, %q, %q)",
			provider.ErrInvalidConfig, name, NameExtractive, NameAnthropic, NameOpenAI)
	}
}

// maxKeywords bounds the keywords kept from any summarizer.
const maxKeywords = 10

// clean trims a model's output, drops empty and repeated keywords (ignoring
// case) and keeps at most maxKeywords. An empty summary is an error.
func clean(s Summary) (Summary, error) {
	s.Summary = strings.TrimSpace(s.Summary)
	if s.Summary == "" {
		return Summary{}, fmt.Errorf("empty summary")
	}
	seen := make(map[string]bool, len(s.Keywords))
	kw := make([]string, 0, len(s.Keywords))
	for _, k := range s.Keywords {
		k = strings.TrimSpace(k)
		if k == "" || seen[strings.ToLower(k)] {
			continue
		}
		seen[strings.ToLower(k)] = true
		kw = append(kw, k)
		if len(kw) == maxKeywords {
			break
		}
	}
	s.Keywords = kw
	return s, nil
}
