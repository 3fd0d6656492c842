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
	// Version is the method: 2 (the default, words, word pairs and
	// character n-grams) or 1 (words and word pairs only, the method of
	// hashing-v1 vectors stored before v2 existed).
	Version int
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
	method  method
	scratch sync.Pool // *featureSet
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
	switch cfg.Version {
	case 0, 2:
		return newHashing(dims, 2, methodV2), nil
	case 1:
		return newHashing(dims, 1, methodV1), nil
	default:
		return nil, fmt.Errorf("%w: hashing Version %d unknown (valid: 1, 2)", provider.ErrInvalidConfig, cfg.Version)
	}
}

// methodV1 is hashing-v1: words and adjacent word pairs, equally weighted.
var methodV1 = method{wordW: 1, pairW: 1}

// methodV2 is hashing-v2: v1 plus the character 3- to 5-grams of every
// word of four runes or more, at half weight, so that words sharing a stem
// ("configure", "configuration") share features. Chosen by
// TestRetrievalVariants; see docs/RETRIEVAL.md.
var methodV2 = method{wordW: 1, pairW: 1, minN: 3, maxN: 5, gramMin: 4, gramW: 0.5, gramTF: tfLog}

func newHashing(dims, version int, m method) *Hashing {
	h := &Hashing{dims: dims, model: fmt.Sprintf("hashing-v%d-%d", version, dims), method: m}
	h.scratch.New = func() any { return new(featureSet) }
	return h
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
	f := h.scratch.Get().(*featureSet)
	defer h.scratch.Put(f)
	for i, text := range texts {
		if i%64 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("error embedding texts: %w", err)
			}
		}
		v := backing[i*h.dims : (i+1)*h.dims : (i+1)*h.dims]
		h.embed(text, v, f)
		out[i] = v
	}
	return out, nil
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
	// Salts keep words, pairs, prefixes, n-grams and the empty-text
	// feature in separate spaces.
	wordSalt   = 0x9e3779b97f4a7c15
	pairSalt   = 0xc2b2ae3d27d4eb4f
	emptySalt  = 0x165667b19e3779f9
	prefixSalt = 0x27d4eb2f165667c5
	gramSalt   = 0x85ebca77c2b2ae63
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

// method is what a model version hashes and how much each kind of feature
// weighs.
type method struct {
	pairW   float32 // word pairs; 0 leaves them out
	wordW   float32 // whole words
	prefix  int     // words longer than this many runes also give their prefix of that length; 0 none
	prefixW float32
	minN    int // character n-grams of minN..maxN runes of "<word>"; 0 none
	maxN    int
	gramMin int // only words of at least this many runes give n-grams
	gramW   float32
	gramTF  int // how an n-gram occurring tf times weighs: gramW*(1+ln tf) (tfLog), gramW*tf (tfLinear), or gramW (tfBinary)
}

// Weightings of a feature by its count tf in the text.
const (
	tfBinary = iota
	tfLog
	tfLinear
)

// featureSet holds the hashes of one text's features by kind, and the
// current word.
type featureSet struct {
	words, pairs, prefixes, grams []uint64
	word                          []byte  // lower-cased bytes of the current word
	runes                         []int32 // byte offset in word where each rune starts
}

func (f *featureSet) reset() {
	f.words, f.pairs, f.prefixes, f.grams = f.words[:0], f.pairs[:0], f.prefixes[:0], f.grams[:0]
	f.word, f.runes = f.word[:0], f.runes[:0]
}

func fnv(h uint64, b []byte) uint64 {
	for _, c := range b {
		h = (h ^ uint64(c)) * fnvPrime
	}
	return h
}

// Bytes that stand for the start and end of a word in character n-grams;
// neither can occur inside a word.
const (
	wordStart = '<'
	wordEnd   = '>'
)

// flush adds the features of the current word, given the hash of the word
// before it (when hasPrev), and returns the word's hash.
func (f *featureSet) flush(m *method, prev uint64, hasPrev bool) uint64 {
	word := fnv(fnvOffset, f.word)
	f.words = append(f.words, mix(word^wordSalt))
	if hasPrev && m.pairW != 0 {
		f.pairs = append(f.pairs, mix((prev<<21|prev>>43)^word^pairSalt))
	}
	n := len(f.runes)
	if m.prefix > 0 && n > m.prefix {
		f.prefixes = append(f.prefixes, mix(fnv(fnvOffset, f.word[:f.runes[m.prefix]])^prefixSalt))
	}
	if m.minN > 0 && n >= m.gramMin {
		// Runes -1 and n are the word's start and end markers.
		at := func(i int) int {
			if i >= n {
				return len(f.word)
			}
			return int(f.runes[i])
		}
		for start := -1; start <= n; start++ {
			for size := m.minN; size <= m.maxN && start+size <= n+1; size++ {
				end := start + size // exclusive, in runes
				h := uint64(fnvOffset)
				if start < 0 {
					h = (h ^ wordStart) * fnvPrime
				}
				h = fnv(h, f.word[at(max(start, 0)):at(min(end, n))])
				if end > n {
					h = (h ^ wordEnd) * fnvPrime
				}
				f.grams = append(f.grams, mix(h^gramSalt))
			}
		}
	}
	f.word, f.runes = f.word[:0], f.runes[:0]
	return word
}

// features collects the features of text into f.
func (m *method) features(text string, f *featureSet) {
	f.reset()
	var (
		prev    uint64
		hasPrev bool
	)
	for i := 0; i < len(text); {
		c := text[i]
		if c < utf8.RuneSelf {
			i++
			switch {
			case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
			case 'A' <= c && c <= 'Z':
				c += 'a' - 'A'
			default:
				if len(f.runes) > 0 {
					prev, hasPrev = f.flush(m, prev, hasPrev), true
				}
				continue
			}
			f.runes = append(f.runes, int32(len(f.word)))
			f.word = append(f.word, c)
			continue
		}
		r, size := utf8.DecodeRuneInString(text[i:])
		i += size
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.Is(unicode.Mn, r) {
			if len(f.runes) > 0 {
				prev, hasPrev = f.flush(m, prev, hasPrev), true
			}
			continue
		}
		f.runes = append(f.runes, int32(len(f.word)))
		f.word = utf8.AppendRune(f.word, unicode.ToLower(r))
	}
	if len(f.runes) > 0 {
		f.flush(m, prev, hasPrev)
	}
}

// embed writes the vector of text into v (zeroed, len dims).
func (h *Hashing) embed(text string, v []float32, f *featureSet) {
	h.method.features(text, f)
	h.addAll(v, f.words, h.method.wordW)
	h.addAll(v, f.pairs, h.method.pairW)
	h.addAll(v, f.prefixes, h.method.prefixW)
	switch h.method.gramTF {
	case tfLog:
		h.addAll(v, f.grams, h.method.gramW)
	case tfLinear:
		for _, g := range f.grams {
			h.add(v, g, h.method.gramW)
		}
	default:
		h.addDistinct(v, f.grams, h.method.gramW)
	}
	var sum float64
	for _, x := range v {
		sum += float64(x) * float64(x)
	}
	if sum == 0 {
		h.add(v, mix(emptySalt), 1)
		return
	}
	inv := float32(1 / math.Sqrt(sum))
	for k := range v {
		v[k] *= inv
	}
}

// addAll sorts feats and adds each distinct feature, occurring tf times,
// with weight w*(1+ln tf). Sorting fixes the order of the additions.
func (h *Hashing) addAll(v []float32, feats []uint64, w float32) {
	slices.Sort(feats)
	for i := 0; i < len(feats); {
		j := i + 1
		for j < len(feats) && feats[j] == feats[i] {
			j++
		}
		h.add(v, feats[i], w*float32(1+math.Log(float64(j-i))))
		i = j
	}
}

// addDistinct sorts feats and adds each distinct feature once with weight w.
func (h *Hashing) addDistinct(v []float32, feats []uint64, w float32) {
	slices.Sort(feats)
	for i, f := range feats {
		if i == 0 || f != feats[i-1] {
			h.add(v, f, w)
		}
	}
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
