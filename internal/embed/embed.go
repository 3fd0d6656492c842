// Package embed turns chunk texts into vectors. An Embedder is chosen by
// name from configuration: "hashing" (the offline default, lexical) or
// "openai" (any OpenAI-compatible /v1/embeddings endpoint).
package embed

import (
	"context"
	"fmt"

	"github.com/kollektiv/kollektiv/internal/provider"
)

// Embedder embeds texts into vectors of a fixed dimension.
type Embedder interface {
	// Embed returns one vector per text, in the order of texts. Errors from
	// remote providers are *provider.Error; use provider.IsPermanent to tell
	// a job to cancel rather than retry.
	Embed(ctx context.Context, texts []string) ([][]float32, error)
	// Model names the model and every parameter that changes the vectors, so
	// vectors made with different settings are never stored side by side.
	Model() string
	// Dimensions is the length of every vector Embed returns.
	Dimensions() int
}

// Names of the embedders New accepts.
const (
	NameHashing = "hashing"
	NameOpenAI  = "openai"
)

// Config holds the settings of every embedder; New reads the one it builds.
type Config struct {
	// Hashing configures the "hashing" embedder.
	Hashing HashingConfig
	// OpenAI configures the "openai" embedder.
	OpenAI OpenAIConfig
}

// New builds the embedder called name ("" means "hashing"). An unknown name
// or invalid settings give an error wrapping provider.ErrInvalidConfig.
func New(name string, cfg Config) (Embedder, error) {
	switch name {
	case "", NameHashing:
		return NewHashing(cfg.Hashing)
	case NameOpenAI:
		return NewOpenAI(cfg.OpenAI)
	default:
		return nil, fmt.Errorf("%w: unknown embedder %q (valid: %q, %q)", provider.ErrInvalidConfig, name, NameHashing, NameOpenAI)
	}
}
