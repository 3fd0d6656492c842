package embed

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/kollektiv/kollektiv/internal/provider"
)

// HashingConfig configures the hashing embedder.
type HashingConfig struct {
	// Dimensions is the length of the vectors. Default 384; at most 16,000
	// (pgvector's limit for a vector column).
	Dimensions int
}

// Hashing is a lexical embedder: it hashes the words and adjacent word pairs
// of a text into a fixed number of dimensions. It is not semantic: two texts
// are close when they share words, not when they mean the same thing with
// different words ("car" and "automobile" are unrelated to it). It needs no
// network and no data files, and its vectors are identical across runs and
// machines (no maphash, no map iteration, no floating-point reductions in
// varying order). Only a Unicode table update in a new Go release can change
// how newly assigned characters are classified; the pinned-vector test
// catches any change for the characters it covers.
//
// Method: text is split into words (runs of Unicode letters, digits and
// combining marks), lower-cased. Each word and each pair of adjacent words is
// a feature, hashed with 64-bit FNV-1a and a splitmix64 finaliser. A feature
// occurring tf times weighs 1+ln(tf) (sublinear), is added with the sign of
// its hash's top bit to the bucket chosen by the rest of the hash (signed
// hashing, so collisions cancel out on average rather than pile up), and the
// vector is L2-normalised.
//
// A text with no words (empty, or only punctuation) would give a zero
// vector, whose cosine distance in pgvector is NaN and which no search can
// rank. It gets instead a fixed unit vector, the same for every such text:
// one bucket set to ±1, chosen by hashing a reserved feature.
type Hashing struct {
	dims    int
	model   string
	scratch sync.Pool // *[]uint64, feature hashes of one text
}

var _ Embedder = (*Hashing)(nil)

// maxDimensions is pgvector's limit for a vector column.
const maxDimensions = 16000

// NewHashing returns a hashing embedder.
func NewHashing(cfg HashingConfig) (*Hashing, error) {
	dims := cfg.Dimensions
	if dims == 0 {
		dims = 384
	}
	if dims < 0 || dims > maxDimensions {
		return nil, fmt.Errorf("%w: hashing Dimensions %d out of range 1..%d", provider.ErrInvalidConfig, cfg.Dimensions, maxDimensions)
	}
	h := &Hashing{dims: dims, model: fmt.Sprintf("hashing-v1-%d", dims)}
	h.scratch.New = func() any {
		s := make([]uint64, 0, 1024)
		return &s
	}
	return h, nil
}

// Model returns "hashing-v1-<dimensions>". The version changes whenever the
// method changes in a way that changes the vectors.
func (h *Hashing) Model() string { return h.model }

// Dimensions returns the vector length.
func (h *Hashing) Dimensions() int { return h.dims }

// Embed returns one unit vector per text. It only fails when ctx is done.
func (h *Hashing) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	backing := make([]float32, len(texts)*h.dims)
	sp := h.scratch.Get().(*[]uint64)
	defer h.scratch.Put(sp)
	for i, text := range texts {
		if i%64 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("error embedding texts: %w", err)
			}
		}
		v := backing[i*h.dims : (i+1)*h.dims : (i+1)*h.dims]
		*sp = h.embed(text, v, (*sp)[:0])
		out[i] = v
	}
	return out, nil
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
	// Salts keep words, pairs and the empty-text feature in separate spaces.
	wordSalt  = 0x9e3779b97f4a7c15
	pairSalt  = 0xc2b2ae3d27d4eb4f
	emptySalt = 0x165667b19e3779f9
)

// mix is the splitmix64 finaliser: FNV-1a alone spreads short words poorly
// over the low bits that pick a bucket.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// features appends the hashes of the words and word pairs of text to feats.
func features(text string, feats []uint64) []uint64 {
	var (
		word, prev     uint64 = fnvOffset, 0
		inWord, hasPrv bool
	)
	flush := func() {
		feats = append(feats, mix(word^wordSalt))
		if hasPrv {
			feats = append(feats, mix((prev<<21|prev>>43)^word^pairSalt))
		}
		prev, hasPrv = word, true
		word, inWord = fnvOffset, false
	}
	for i := 0; i < len(text); {
		c := text[i]
		if c < utf8.RuneSelf {
			i++
			switch {
			case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
			case 'A' <= c && c <= 'Z':
				c += 'a' - 'A'
			default:
				if inWord {
					flush()
				}
				continue
			}
			word = (word ^ uint64(c)) * fnvPrime
			inWord = true
			continue
		}
		r, size := utf8.DecodeRuneInString(text[i:])
		i += size
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.Is(unicode.Mn, r) {
			if inWord {
				flush()
			}
			continue
		}
		var buf [utf8.UTFMax]byte
		n := utf8.EncodeRune(buf[:], unicode.ToLower(r))
		for _, b := range buf[:n] {
			word = (word ^ uint64(b)) * fnvPrime
		}
		inWord = true
	}
	if inWord {
		flush()
	}
	return feats
}

// embed writes the vector of text into v (zeroed, len dims) and returns the
// scratch slice for reuse.
func (h *Hashing) embed(text string, v []float32, feats []uint64) []uint64 {
	feats = features(text, feats)
	slices.Sort(feats)
	for i := 0; i < len(feats); {
		j := i + 1
		for j < len(feats) && feats[j] == feats[i] {
			j++
		}
		w := float32(1 + math.Log(float64(j-i)))
		h.add(v, feats[i], w)
		i = j
	}
	var sum float64
	for _, x := range v {
		sum += float64(x) * float64(x)
	}
	if sum == 0 {
		h.add(v, mix(emptySalt), 1)
		return feats
	}
	inv := float32(1 / math.Sqrt(sum))
	for k := range v {
		v[k] *= inv
	}
	return feats
}

// add adds ±w to the bucket of feature f: the top bit is the sign, the low
// 32 bits pick the bucket by multiply-shift (no modulo bias worth noting).
func (h *Hashing) add(v []float32, f uint64, w float32) {
	b := (f & 0xffffffff) * uint64(h.dims) >> 32
	if f>>63 == 1 {
		w = -w
	}
	v[b] += w
}
