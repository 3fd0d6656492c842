package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/kollektiv/kollektiv/internal/content"
	"github.com/kollektiv/kollektiv/internal/derr"
	"github.com/kollektiv/kollektiv/internal/store"
)

// A DocumentStream loads a source's documents one at a time and hands
// each to emit as soon as it is read: a document, or the problem that kept
// one from loading (doc nil). It stops at emit's first error and returns
// it. content.Walk over a directory is one.
type DocumentStream func(ctx context.Context, emit content.Visit) error

// A batch of documents is written (COPY) when it holds this many documents
// or this many bytes of content, whichever comes first. One batch is
// written while the next is loaded, so a load holds at most two in
// memory, whatever the size of the source.
const (
	batchDocuments = 1000
	batchBytes     = 4 << 20
)

// emptyHash is the content hash of a document that could not be loaded.
var emptyHash = func() []byte { h := sha256.Sum256(nil); return h[:] }()

// documentWriter writes a source's documents in batches as they are
// loaded, in the transaction that adds the source. Each full batch is
// written by a goroutine of its own while the caller loads (reads, hashes)
// the next one, so the server's work and the client's overlap; the
// transaction is used by one goroutine at a time, and by none once
// close returns.
type documentWriter struct {
	tx       pgx.Tx
	sourceID uuid.UUID
	// staged: the source existed, so its rows go to the staging table of
	// a refresh and are merged at the end.
	staged bool
	// ids are the documents written so far, to refuse a name given twice
	// with its name (16 bytes a document).
	ids map[uuid.UUID]struct{}

	batch      []store.DocumentRow
	batchBytes int
	// writing is the batch being written, nil when none is; its outcome
	// comes on written. spare is the one written before, reused.
	writing []store.DocumentRow
	written chan error
	spare   []store.DocumentRow

	// Documents counts the documents written; Problems are the failures
	// written, kept for the caller to report.
	Documents int
	Problems  []*content.DocumentError
}

func newDocumentWriter(ctx context.Context, tx pgx.Tx, sourceID uuid.UUID, staged bool) (*documentWriter, error) {
	if err := store.CompressDocumentsFast(ctx, tx); err != nil {
		return nil, err
	}
	if staged {
		if err := store.StageDocuments(ctx, tx); err != nil {
			return nil, err
		}
	}
	return &documentWriter{tx: tx, sourceID: sourceID, staged: staged, ids: map[uuid.UUID]struct{}{}, written: make(chan error, 1)}, nil
}

// add queues one document, or the problem that kept one from loading, and
// writes the batch when it is full.
func (w *documentWriter) add(ctx context.Context, doc *content.Document, problem *content.DocumentError) error {
	var row store.DocumentRow
	if doc != nil {
		hash := doc.ContentSum()
		metadata, err := json.Marshal(doc.Metadata)
		if err != nil || doc.Metadata == nil {
			metadata = []byte("{}")
		}
		row = store.DocumentRow{URL: doc.URL, Title: doc.Title, Content: doc.Content, ContentHash: hash[:], Metadata: metadata}
		w.Documents++
	} else {
		msg := problem.Error()
		row = store.DocumentRow{URL: problem.URL, Title: problem.URL, ContentHash: emptyHash, Metadata: []byte("{}"), Error: &msg}
		w.Problems = append(w.Problems, problem)
	}
	row.ID = content.DocumentID(w.sourceID, row.URL)
	if _, dup := w.ids[row.ID]; dup {
		return &derr.Error{Kind: derr.Invalid, Message: fmt.Sprintf("document %q is given twice in one source", row.URL)}
	}
	w.ids[row.ID] = struct{}{}
	w.batch = append(w.batch, row)
	w.batchBytes += len(row.Content)
	if len(w.batch) >= batchDocuments || w.batchBytes >= batchBytes {
		return w.flush(ctx)
	}
	return nil
}

// flush starts writing the batch, once the one before is written.
func (w *documentWriter) flush(ctx context.Context) error {
	if len(w.batch) == 0 {
		return nil
	}
	if err := w.wait(); err != nil {
		return err
	}
	rows := w.batch
	w.writing, w.batch, w.spare, w.batchBytes = rows, w.spare, nil, 0
	go func() { w.written <- w.write(ctx, rows) }()
	return nil
}

// write writes one batch: a refresh stages by their id alone the
// documents the source already has unchanged, which spares sending and
// storing their content again.
func (w *documentWriter) write(ctx context.Context, rows []store.DocumentRow) error {
	if w.staged {
		if err := store.MarkUnchangedDocuments(ctx, w.tx, w.sourceID, rows); err != nil {
			return err
		}
	}
	_, err := store.CopyDocuments(ctx, w.tx, w.sourceID, w.staged, rows)
	return err
}

// wait waits for the batch being written, if any, and returns its error.
func (w *documentWriter) wait() error {
	if w.writing == nil {
		return nil
	}
	err := <-w.written
	clear(w.writing) // let the contents go
	w.spare, w.writing = w.writing[:0], nil
	return err
}

// close waits for the batch being written, so that the transaction is
// free for its caller again, whether the load finished or failed.
func (w *documentWriter) close() {
	_ = w.wait()
}

// finish writes the last batch and, for a refresh, merges the staged
// documents into the source's and removes those that vanished.
func (w *documentWriter) finish(ctx context.Context) error {
	if err := w.flush(ctx); err != nil {
		return err
	}
	if err := w.wait(); err != nil {
		return err
	}
	if !w.staged {
		return nil
	}
	_, err := store.MergeStagedDocuments(ctx, w.tx, w.sourceID, int64(w.Documents+len(w.Problems)))
	return err
}
