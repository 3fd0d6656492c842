package embed

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kollektiv/kollektiv/internal/provider"
)

func newTestHashing(t testing.TB, dims int) *Hashing {
	t.Helper()
	return newVersion(t, dims, 0)
}

func newVersion(t testing.TB, dims, version int) *Hashing {
	t.Helper()
	h, err := NewHashing(HashingConfig{Dimensions: dims, Version: version})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func embedOne(t testing.TB, e Embedder, text string) []float32 {
	t.Helper()
	v, err := e.Embed(context.Background(), []string{text})
	if err != nil {
		t.Fatal(err)
	}
	return v[0]
}

func cosine(a, b []float32) float64 {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	return dot / math.Sqrt(na*nb)
}

// TestHashingPinned fixes the vectors of known inputs for each version:
// any change to tokenising, hashing or weighting changes them, and must
// come with a new version in Model(). Version 1's vectors are those that
// hashing-v1 has always made.
func TestHashingPinned(t *testing.T) {
	t.Parallel()
	type pinned struct {
		text string
		want []float32
	}
	cases := []struct {
		version int
		model   string
		vectors []pinned
	}{
		{1, "hashing-v1-16", []pinned{
			{"The quick brown fox jumps over the lazy dog. The dog sleeps.", []float32{-0.2289721, 0.2289721, 0, -0.2289721, 0.2289721, -0.4579442, 0.25155157, -0.2289721, -0.2289721, -0.2289721, -0.38768348, 0, 0, -0.4579442, 0, 0}},
			{"", []float32{0, 0, 0, 0, 0, 0, 0, 0, 0, -1, 0, 0, 0, 0, 0, 0}},
			{"Ünïcode Straße", []float32{-0.57735026, 0.57735026, 0.57735026, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		}},
		{2, "hashing-v2-16", []pinned{
			{"The quick brown fox jumps over the lazy dog. The dog sleeps.", []float32{0.0897224, -0.0897224, 0, -0.2691672, 0.2691672, -0.5383344, 0.10741787, -0.2691672, 0.3588896, -0.2691672, -0.12438166, -0.2691672, 0.0897224, -0.2691672, 0.2691672, -0.15191323}},
			{"", []float32{0, 0, 0, 0, 0, 0, 0, 0, 0, -1, 0, 0, 0, 0, 0, 0}},
			{"Ünïcode Straße", []float32{-0.3973597, 0.52981293, 0, -0.3973597, -0.13245323, 0.13245323, -0.13245323, 0, 0.13245323, 0.26490647, 0.26490647, 0.13245323, -0.26490647, 0.13245323, -0.13245323, 0.26490647}},
			{"configure the configuration", []float32{0.6418501, -0.27199185, -0.09066395, -0.15350741, 0.15350741, 0.1813279, 0.42549926, 0.027820488, 0.21635087, 0.027820488, 0.15350741, 0.09066395, 0.30701482, 0, -0.21635087, 0.15350741}},
		}},
	}
	for _, c := range cases {
		h := newVersion(t, 16, c.version)
		if got := h.Model(); got != c.model {
			t.Fatalf("Model() = %q, want %q", got, c.model)
		}
		for _, p := range c.vectors {
			got := embedOne(t, h, p.text)
			if !slices.Equal(got, p.want) {
				t.Errorf("version %d: vector of %q changed:\n got %#v\nwant %#v", c.version, p.text, got, p.want)
			}
		}
	}
}

// TestTFWeights checks the table of sublinear weights against math.Log.
func TestTFWeights(t *testing.T) {
	t.Parallel()
	for tf := 1; tf <= len(tfWeights)+2; tf++ {
		if got, want := tfWeight(tf), float32(1+math.Log(float64(tf))); got != want {
			t.Errorf("tfWeight(%d) = %v, want %v", tf, got, want)
		}
	}
}

func TestHashingDeterministicUnitLength(t *testing.T) {
	t.Parallel()
	texts := corpusParagraphs(t, "fastapi", 300)
	a, err := newTestHashing(t, 0).Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := newTestHashing(t, 0).Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	for i := range texts {
		if len(a[i]) != 384 {
			t.Fatalf("text %d: %d dimensions, want 384", i, len(a[i]))
		}
		var norm float64
		for k := range a[i] {
			if a[i][k] != b[i][k] {
				t.Fatalf("text %d: two embedders disagree at %d: %v vs %v", i, k, a[i][k], b[i][k])
			}
			norm += float64(a[i][k]) * float64(a[i][k])
		}
		if math.Abs(math.Sqrt(norm)-1) > 1e-5 {
			t.Fatalf("text %d: norm %v, want 1", i, math.Sqrt(norm))
		}
	}
}

func TestHashingNormalisesCaseAndPunctuation(t *testing.T) {
	t.Parallel()
	h := newTestHashing(t, 0)
	a := embedOne(t, h, "Hello, World! ÜBER-Straße")
	b := embedOne(t, h, "hello world über straße")
	if c := cosine(a, b); c < 0.999999 {
		t.Fatalf("cosine = %v, want 1: case and punctuation must not matter", c)
	}
	// Word order matters in version 1, through the word pairs; version 2
	// has none, so the same words in another order are the same text.
	c := embedOne(t, h, "world hello straße über")
	if cos := cosine(a, c); cos < 0.999999 {
		t.Fatalf("reordered words, version 2: cosine = %v, want 1 (no word pairs)", cos)
	}
	v1 := newVersion(t, 384, 1)
	if cos := cosine(embedOne(t, v1, "Hello, World! ÜBER-Straße"), embedOne(t, v1, "world hello straße über")); cos > 0.9 {
		t.Fatalf("reordered words, version 1: cosine = %v, want the pairs to tell them apart", cos)
	}
}

func TestHashingEmptyFallback(t *testing.T) {
	t.Parallel()
	h := newTestHashing(t, 0)
	empty := embedOne(t, h, "")
	punct := embedOne(t, h, "  --- !!! \n")
	if c := cosine(empty, punct); c != 1 {
		t.Fatalf("texts without words should share the fallback vector, cosine = %v", c)
	}
	if c := cosine(empty, embedOne(t, h, "install the package")); math.IsNaN(c) || c > 0.2 {
		t.Fatalf("fallback vs real text: cosine = %v, want a defined small value", c)
	}
}

func TestHashingParaphraseCloserThanUnrelated(t *testing.T) {
	t.Parallel()
	h := newTestHashing(t, 0)
	cases := []struct{ text, paraphrase, unrelated string }{
		{
			"FastAPI validates the request body with Pydantic models and returns clear errors.",
			"The request body is validated by Pydantic models in FastAPI, which returns clear errors.",
			"Ownership rules in Rust ensure memory safety without a garbage collector.",
		},
		{
			"Use tar to extract a compressed archive into the current directory.",
			"To extract a compressed archive into the current directory, use tar.",
			"Path parameters are declared with the same syntax as Python format strings.",
		},
	}
	for _, c := range cases {
		v := embedOne(t, h, c.text)
		para := cosine(v, embedOne(t, h, c.paraphrase))
		unrel := cosine(v, embedOne(t, h, c.unrelated))
		if para < 0.5 || unrel > 0.2 || para <= unrel {
			t.Errorf("%q: paraphrase %.3f, unrelated %.3f; want paraphrase >= 0.5 > 0.2 >= unrelated", c.text, para, unrel)
		}
	}
}

func TestHashingCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := newTestHashing(t, 0).Embed(ctx, []string{"a"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestNew(t *testing.T) {
	t.Parallel()
	e, err := New("", Config{})
	if err != nil || e.Model() != "hashing-v2-384" {
		t.Fatalf("New(\"\") = %v, %v; want the default hashing embedder", e, err)
	}
	e, err = New("hashing", Config{Hashing: HashingConfig{Dimensions: 256}})
	if err != nil || e.Dimensions() != 256 {
		t.Fatalf("New(hashing, 256) = %v, %v", e, err)
	}
	e, err = New("openai", Config{OpenAI: OpenAIConfig{APIKey: "k", CountTokens: func(s string) int { return len(s) }}})
	if err != nil || e.Model() != "openai:text-embedding-3-small:1536" || e.Dimensions() != 1536 {
		t.Fatalf("New(openai) = %v, %v", e, err)
	}
	_, err = New("word2vec", Config{})
	if !provider.IsPermanent(err) || !strings.Contains(err.Error(), `"hashing"`) || !strings.Contains(err.Error(), `"openai"`) {
		t.Fatalf("unknown name: err = %v, want a permanent error listing the valid names", err)
	}
	for _, dims := range []int{-1, 16001} {
		if _, err := NewHashing(HashingConfig{Dimensions: dims}); !errors.Is(err, provider.ErrInvalidConfig) {
			t.Errorf("Dimensions %d: err = %v, want ErrInvalidConfig", dims, err)
		}
	}
	for version, want := range map[int]string{1: "hashing-v1-384", 2: "hashing-v2-384"} {
		if e, err := NewHashing(HashingConfig{Version: version}); err != nil || e.Model() != want {
			t.Errorf("Version %d: %v, %v; want %s", version, e, err, want)
		}
	}
	if _, err := NewHashing(HashingConfig{Version: 3}); !errors.Is(err, provider.ErrInvalidConfig) || !strings.Contains(err.Error(), "Version 3") {
		t.Errorf("Version 3: err = %v, want ErrInvalidConfig naming it", err)
	}
}

// chunks400 joins corpus paragraphs into texts of about 400 cl100k tokens
// and returns them with their mean token count.
func chunks400(b *testing.B) ([]string, float64) {
	count, err := NewTokenCounter()
	if err != nil {
		b.Fatal(err)
	}
	var (
		out    []string
		cur    strings.Builder
		tokens int
	)
	for _, p := range corpusParagraphs(b, "", 20000) {
		n := count(p)
		if tokens+n > 400 && tokens > 0 {
			out = append(out, cur.String())
			cur.Reset()
			tokens = 0
		}
		cur.WriteString(p)
		cur.WriteString("\n\n")
		tokens += n
		if len(out) == 1000 {
			break
		}
	}
	total := 0
	for _, c := range out {
		total += count(c)
	}
	return out, float64(total) / float64(len(out))
}

// BenchmarkHashingEmbed reports embeddings/s for chunks of about 400 tokens
// from the corpus, one Embed call per chunk on one goroutine, for each
// version of the method. embeddings/cpu-s counts the CPU time of the
// benchmark's thread alone, so that other processes on a shared machine
// do not move it.
func BenchmarkHashingEmbed(b *testing.B) {
	chunks, meanTokens := chunks400(b)
	var bytes int
	for _, c := range chunks {
		bytes += len(c)
	}
	for _, version := range []int{1, 2} {
		b.Run(fmt.Sprintf("v%d", version), func(b *testing.B) {
			h, err := NewHashing(HashingConfig{Version: version})
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			b.SetBytes(int64(bytes / len(chunks)))
			b.ReportAllocs()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			cpu0 := threadCPU(b)
			i := 0
			for b.Loop() {
				if _, err := h.Embed(ctx, chunks[i%len(chunks):i%len(chunks)+1]); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "embeddings/s")
			b.ReportMetric(float64(b.N)/(threadCPU(b)-cpu0).Seconds(), "embeddings/cpu-s")
			b.ReportMetric(meanTokens, "tokens/chunk")
		})
	}
}

// threadCPU returns the CPU time of the calling OS thread.
func threadCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		tb.Skipf("no per-thread CPU time here: %v", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func TestHashingConcurrentUse(t *testing.T) {
	t.Parallel()
	h := newTestHashing(t, 0)
	texts := corpusParagraphs(t, "rust-book", 200)
	want, err := h.Embed(context.Background(), texts)
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 4)
	for range 4 {
		go func() {
			got, err := h.Embed(context.Background(), texts)
			if err == nil {
				for i := range got {
					if cosine(got[i], want[i]) < 0.999999 {
						err = fmt.Errorf("text %d differs under concurrent use", i)
						break
					}
				}
			}
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
