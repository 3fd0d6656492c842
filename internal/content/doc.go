// Package content turns documentation into documents and documents into
// chunks: it loads files, inline text and web pages, cleans them into
// markdown, and splits that markdown along its structure into chunks sized in
// cl100k_base tokens for embedding.
//
// The package is pure: no database, no job queue. Everything it returns is
// deterministic for the same input and options, so the pipeline can derive
// stable ids and make retries idempotent.
package content
