// Package content turns documentation into documents and documents into
// chunks. It is pure: no database, no job queue, and the same input and
// options always give the same output, so the pipeline can derive stable ids
// and make retries idempotent.
//
// Loading: LoadPath reads a file or a directory tree of markdown, text and
// HTML; PrepareDocument cleans a document given inline; Crawl and Fetch get
// web pages. Each gives Documents of cleaned markdown, and reports the
// documents it cannot load as *DocumentError, wrapping ErrBinary,
// ErrInvalidUTF8, ErrTooLarge, ErrEmpty and the like, without stopping.
//
// Chunking: a Chunker splits a document's markdown along its headings into
// Chunks sized in cl100k_base tokens, keeps code fences and tables whole
// when they fit, and never exceeds its hard maximum for the text that is
// embedded (Chunk.EmbedText: header path, blank line, text).
//
// Batching: BatchBySize groups documents or chunks by count and total size,
// for jobs and embedding requests.
package content
