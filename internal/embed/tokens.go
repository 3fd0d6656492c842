package embed

import (
	"fmt"

	"github.com/tiktoken-go/tokenizer"
)

// NewTokenCounter returns a counter of cl100k_base tokens, the encoding of
// OpenAI's embedding models and the one the chunker uses. It is safe for
// concurrent use. Building it loads the vocabulary once per process.
func NewTokenCounter() (func(string) int, error) {
	codec, err := tokenizer.Get(tokenizer.Cl100kBase)
	if err != nil {
		return nil, fmt.Errorf("error loading cl100k_base tokenizer: %w", err)
	}
	return func(s string) int {
		n, err := codec.Count(s)
		if err != nil {
			// Count only fails on invalid UTF-8 in strict mode, which is
			// not the mode used; a byte-based estimate is a safe fallback.
			return len(s)/3 + 1
		}
		return n
	}, nil
}
