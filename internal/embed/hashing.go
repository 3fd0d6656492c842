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
	// Version is the method: 2 (the default, words and character
	// n-grams) or 1 (words and word pairs, the method of hashing-v1
	// vectors stored before v2 existed).
	Version int
}

// Hashing is a lexical embedder: it hashes the words and character n-grams
// of a text (version 2; words and adjacent word pairs in version 1) into a
// fixed number of dimensions. It is
// not semantic: two texts are close when they share words or parts of
// words ("configure" and "configuration"), not when they mean the same
// thing with different words ("car" and "automobile" are unrelated to it).
// It needs no network and no data files, and its vectors are identical
// across runs and machines: no maphash, no map iteration, floating-point
// additions in an order fixed by the text alone, and the sublinear weights
// of small counts taken from a table rather than from math.Log (whose last
// bit may differ between architectures). Only a Unicode table update in a
// new Go release can change how newly assigned characters are classified;
// the pinned-vector test catches any change for the characters it covers.
//
// Method (version 2, model "hashing-v2-<dims>"): text is split into words
// (runs of Unicode letters, digits and combining marks), lower-cased. Each
// word and, for words of four runes or more, each character 3-, 4- and
// 5-gram of the word between start and end
// markers ("<con", "con", ..., "ion>", as fastText does) is a feature,
// hashed with 64-bit FNV-1a and a splitmix64 finaliser. A feature occurring
// tf times weighs 1+ln(tf) (sublinear), times 1/2 for n-grams, is added
// with the sign of its hash's top bit to the bucket chosen by the rest of
// the hash (signed hashing, so collisions cancel out on average rather than
// pile up), and the vector is L2-normalised. Version 1 ("hashing-v1-<dims>")
// hashes words and each pair of adjacent words, without n-grams. Pairs
// left out of version 2 found more reworded questions in both halves of
// the development set and in a probe set of its own; docs/OPERATIONS.md
// ("Embedders and semantic search") has the measurements behind the
// choice.
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

// method is what a version of the embedder hashes, and how much each kind
// of feature weighs.
type method struct {
	wordW float32 // whole words
	pairW float32 // adjacent word pairs; 0 leaves them out
	// Character n-grams of minN..maxN runes of "<word>", for words of at
	// least gramMin runes; minN 0 leaves them out.
	minN, maxN, gramMin int
	gramW               float32
	// firstSight adds features in the order they first occur, counted in
	// a table; otherwise words and pairs are sorted, as version 1 did
	// (and must still do to give the same vectors).
	firstSight bool
}

// methodV1 is hashing-v1: words and adjacent word pairs, equally weighted.
var methodV1 = method{wordW: 1, pairW: 1}

// methodV2 is hashing-v2: words and the character 3- to 5-grams of every
// word of four runes or more, at half weight, without word pairs. Chosen
// with TestRetrievalVariants (docs/OPERATIONS.md).
var methodV2 = method{wordW: 1, pairW: 0, minN: 3, maxN: 5, gramMin: 4, gramW: 0.5, firstSight: true}

func newHashing(dims, version int, m method) *Hashing {
	h := &Hashing{dims: dims, model: fmt.Sprintf("hashing-v%d-%d", version, dims), method: m}
	h.scratch.New = func() any { return new(featureSet) }
	return h
}

// Model returns "hashing-v<version>-<dimensions>". The version changes
// whenever the method changes in a way that changes the vectors.
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
	// Salts keep words, pairs, n-grams and the empty-text feature in
	// separate spaces.
	wordSalt  = 0x9e3779b97f4a7c15
	pairSalt  = 0xc2b2ae3d27d4eb4f
	emptySalt = 0x165667b19e3779f9
	gramSalt  = 0x85ebca77c2b2ae63
	// Bytes that stand for the start and end of a word in n-grams; neither
	// occurs inside a word.
	wordStart = '<'
	wordEnd   = '>'
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

func fnv(h uint64, b []byte) uint64 {
	for _, c := range b {
		h = (h ^ uint64(c)) * fnvPrime
	}
	return h
}

// featureSet is the scratch space of one text: the hashes of its words and
// pairs, the counts of its n-grams, and the current word.
type featureSet struct {
	words, pairs []uint64 // sorted methods
	// counted methods: words, pairs and n-grams
	wordCounts, pairCounts, grams counter
	word                          []byte  // lower-cased bytes of the current word
	runes                         []int32 // where each rune of word starts
	// The distinct words long enough for n-grams, counted, with their
	// bytes and rune starts kept in order of first sight: a word's
	// n-grams are made once and counted as often as the word occurs.
	gramWords counter
	wordBytes []byte
	wordRunes []int32
	wordEnds  []int // end of each distinct word in wordBytes and wordRunes
}

// counter counts features in an open-addressing table and remembers the
// order in which each was first seen. Counting n-grams this way instead of
// sorting them is what keeps version 2 within reach of version 1's speed;
// the order of first sight depends on the text alone, not on the table.
type counter struct {
	slots []counterSlot // a power of two long, at most half full
	order []uint32      // slots in order of first sight
}

type counterSlot struct {
	key   uint64
	count uint32
}

// reset empties c.
func (c *counter) reset() {
	for _, i := range c.order {
		c.slots[i].count = 0
	}
	c.order = c.order[:0]
	if c.slots == nil {
		c.slots = make([]counterSlot, 1024)
	}
}

func (c *counter) add(key uint64) {
	c.addN(key, 1)
}

func (c *counter) addN(key uint64, n uint32) {
	mask := uint64(len(c.slots) - 1)
	for i := key >> 32 & mask; ; i = (i + 1) & mask {
		s := &c.slots[i]
		switch {
		case s.count == 0:
			s.key, s.count = key, n
			c.order = append(c.order, uint32(i))
			if 2*len(c.order) > len(c.slots) {
				c.grow()
			}
			return
		case s.key == key:
			s.count += n
			return
		}
	}
}

// grow doubles the table, keeping the order of first sight.
func (c *counter) grow() {
	old, order := c.slots, c.order
	c.slots, c.order = make([]counterSlot, 2*len(old)), make([]uint32, 0, cap(order))
	for _, i := range order {
		c.addN(old[i].key, old[i].count)
	}
}

// features collects the features of text into f.
func (m *method) features(text string, f *featureSet) {
	f.words, f.pairs, f.word, f.runes = f.words[:0], f.pairs[:0], f.word[:0], f.runes[:0]
	f.grams.reset()
	f.wordCounts.reset()
	f.pairCounts.reset()
	f.gramWords.reset()
	f.wordBytes, f.wordRunes, f.wordEnds = f.wordBytes[:0], f.wordRunes[:0], f.wordEnds[:0]
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
					prev, hasPrev = m.flush(f, prev, hasPrev), true
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
				prev, hasPrev = m.flush(f, prev, hasPrev), true
			}
			continue
		}
		f.runes = append(f.runes, int32(len(f.word)))
		f.word = utf8.AppendRune(f.word, unicode.ToLower(r))
	}
	if len(f.runes) > 0 {
		m.flush(f, prev, hasPrev)
	}
}

// flush adds the features of the current word, given the hash of the word
// before it (when hasPrev), empties it and returns its hash.
func (m *method) flush(f *featureSet, prev uint64, hasPrev bool) uint64 {
	word := fnv(fnvOffset, f.word)
	if m.firstSight {
		f.wordCounts.add(mix(word ^ wordSalt))
		if hasPrev && m.pairW != 0 {
			f.pairCounts.add(mix((prev<<21 | prev>>43) ^ word ^ pairSalt))
		}
	} else {
		f.words = append(f.words, mix(word^wordSalt))
		if hasPrev && m.pairW != 0 {
			f.pairs = append(f.pairs, mix((prev<<21|prev>>43)^word^pairSalt))
		}
	}
	if m.minN > 0 && len(f.runes) >= m.gramMin {
		seen := len(f.gramWords.order)
		f.gramWords.add(word)
		if len(f.gramWords.order) > seen {
			f.wordBytes = append(f.wordBytes, f.word...)
			f.wordRunes = append(f.wordRunes, f.runes...)
			f.wordEnds = append(f.wordEnds, len(f.wordBytes), len(f.wordRunes))
		}
	}
	f.word, f.runes = f.word[:0], f.runes[:0]
	return word
}

// countGrams counts the n-grams of the distinct words in f.gramWords, in
// the order the words were first seen, each as often as its word occurs.
// The order of first sight of the n-grams is the one of the text.
func (m *method) countGrams(f *featureSet) {
	bytesStart, runesStart := 0, 0
	for k, slot := range f.gramWords.order {
		word := f.wordBytes[bytesStart:f.wordEnds[2*k]]
		runes := f.wordRunes[runesStart:f.wordEnds[2*k+1]]
		bytesStart, runesStart = f.wordEnds[2*k], f.wordEnds[2*k+1]
		tf := f.gramWords.slots[slot].count
		n := len(runes)
		// Position -1 is the start marker, n the end marker; each n-gram's
		// hash extends the one of the n-gram one rune shorter.
		for start := -1; start+m.minN <= n+1; start++ {
			h := uint64(fnvOffset)
			for pos := start; pos < start+m.maxN && pos <= n; pos++ {
				switch {
				case pos < 0:
					h = (h ^ wordStart) * fnvPrime
				case pos == n:
					h = (h ^ wordEnd) * fnvPrime
				case pos+1 == n:
					h = fnv(h, word[runes[pos]:])
				default:
					h = fnv(h, word[runes[pos]:runes[pos+1]])
				}
				if pos-start+1 >= m.minN {
					f.grams.addN(mix(h^gramSalt), tf)
				}
			}
		}
	}
}

// embed writes the vector of text into v (zeroed, len dims).
func (h *Hashing) embed(text string, v []float32, f *featureSet) {
	m := &h.method
	m.features(text, f)
	if m.firstSight {
		h.addCounted(v, &f.wordCounts, m.wordW)
		h.addCounted(v, &f.pairCounts, m.pairW)
	} else {
		h.addSorted(v, f.words, m.wordW)
		h.addSorted(v, f.pairs, m.pairW)
	}
	if m.minN > 0 {
		m.countGrams(f)
		h.addCounted(v, &f.grams, m.gramW)
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

// addSorted sorts feats and adds each distinct feature with weight w times
// tfWeight of its count. Sorting fixes the order of the additions.
func (h *Hashing) addSorted(v []float32, feats []uint64, w float32) {
	slices.Sort(feats)
	for i := 0; i < len(feats); {
		j := i + 1
		for j < len(feats) && feats[j] == feats[i] {
			j++
		}
		h.add(v, feats[i], w*tfWeight(j-i))
		i = j
	}
}

// addCounted adds each feature of c, in order of first sight, with weight
// w times tfWeight of its count.
func (h *Hashing) addCounted(v []float32, c *counter, w float32) {
	for _, i := range c.order {
		s := c.slots[i]
		h.add(v, s.key, w*tfWeight(int(s.count)))
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

// tfWeight returns 1+ln(tf) in float32: from a table for the counts that
// almost every feature has, the same on every machine, and from math.Log
// above it.
func tfWeight(tf int) float32 {
	if tf <= len(tfWeights) {
		return tfWeights[tf-1]
	}
	return float32(1 + math.Log(float64(tf)))
}

// tfWeights[i] is float32(1+ln(i+1)); TestTFWeights checks it.
var tfWeights = [...]float32{
	1.0, 1.6931471824645996, 2.0986123085021973, 2.386294364929199,
	2.609437942504883, 2.791759490966797, 2.9459102153778076, 3.079441547393799,
	3.1972246170043945, 3.3025851249694824, 3.397895336151123, 3.4849066734313965,
	3.5649492740631104, 3.6390573978424072, 3.70805025100708, 3.7725887298583984,
	3.8332133293151855, 3.890371799468994, 3.944438934326172, 3.995732307434082,
	4.044522285461426, 4.091042518615723, 4.135494232177734, 4.178053855895996,
	4.218875885009766, 4.258096694946289, 4.295836925506592, 4.332204341888428,
	4.367295742034912, 4.40119743347168, 4.433987140655518, 4.465735912322998,
	4.49650764465332, 4.526360511779785, 4.555347919464111, 4.583518981933594,
	4.610918045043945, 4.6375861167907715, 4.663561820983887, 4.688879489898682,
	4.713572025299072, 4.737669467926025, 4.761199951171875, 4.784189701080322,
	4.806662559509277, 4.828641414642334, 4.850147724151611, 4.871201038360596,
	4.891820430755615, 4.912023067474365, 4.931825637817383, 4.951243877410889,
	4.970292091369629, 4.988984107971191, 5.007333278656006, 5.025351524353027,
	5.043051242828369, 5.060442924499512, 5.077537536621094, 5.094344615936279,
	5.110873699188232, 5.127134323120117, 5.143134593963623, 5.158883094787598,
}
