package content

// Batch sizes used when a caller passes zero, the same as the
// configuration's defaults (internal/config). Every job costs the
// pipeline a few milliseconds of CPU in the worker and in PostgreSQL
// whatever its size (its fetch, its transaction and commit, its COPY
// statement's setup), so fewer, larger jobs make an ingest cheaper
// (docs/BENCHMARKS.md, ingest).
const (
	// DefaultDocumentBatchSize is how many documents one chunking job takes.
	DefaultDocumentBatchSize = 200
	// DefaultDocumentBatchBytes bounds the content one chunking job loads.
	DefaultDocumentBatchBytes = 8 << 20
	// DefaultEmbedBatchSize is how many chunks one embedding job takes: the
	// openai embedder's default request size (internal/embed), so a job
	// sends one request.
	DefaultEmbedBatchSize = 256
	// DefaultEmbedBatchTokens bounds the tokens of one embedding request,
	// well under the 300,000 OpenAI accepts.
	DefaultEmbedBatchTokens = 50_000
)

// Span is the half-open index range [Start, End) of one batch.
type Span struct {
	Start, End int
}

// Len returns the number of items in the span.
func (s Span) Len() int { return s.End - s.Start }

// BatchBySize groups consecutive items into batches of at most maxItems
// items whose sizes add up to at most maxTotal. An item larger than
// maxTotal goes alone in its batch. A limit of zero or less means no limit
// on that dimension. Sizes below zero count as zero. Every index is in
// exactly one span, in order.
func BatchBySize(sizes []int, maxItems, maxTotal int) []Span {
	var (
		spans []Span
		start int
		total int
	)
	for i, size := range sizes {
		size = max(size, 0)
		full := maxItems > 0 && i-start >= maxItems
		over := maxTotal > 0 && total+size > maxTotal
		if i > start && (full || over) {
			spans = append(spans, Span{start, i})
			start, total = i, 0
		}
		total += size
	}
	if start < len(sizes) {
		spans = append(spans, Span{start, len(sizes)})
	}
	return spans
}

// BatchDocuments batches documents, given their content sizes in bytes,
// with DefaultDocumentBatchSize and DefaultDocumentBatchBytes.
func BatchDocuments(contentBytes []int) []Span {
	return BatchBySize(contentBytes, DefaultDocumentBatchSize, DefaultDocumentBatchBytes)
}

// BatchChunks batches chunks for embedding, given their token counts, with
// DefaultEmbedBatchSize and DefaultEmbedBatchTokens.
func BatchChunks(tokens []int) []Span {
	return BatchBySize(tokens, DefaultEmbedBatchSize, DefaultEmbedBatchTokens)
}
