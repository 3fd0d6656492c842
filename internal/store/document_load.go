package store

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// This file holds the COPY of a source's documents, which sqlc cannot
// generate: a new source's rows go straight into documents; a refreshed
// source's go into a staging table first, merged in one statement at the
// end (unchanged documents keep their status, vanished ones are removed).
// Ids are sent as pgtype.UUID: pgx encodes a uuid.UUID through its
// driver.Valuer string, a failed binary encode and a text parse, which
// took about half the client's CPU of a large source's Add.

// DocumentRow is one document of a source as its load writes it.
type DocumentRow struct {
	ID          uuid.UUID
	URL         string
	Title       string
	Content     string
	ContentHash []byte
	// Metadata is a JSON object.
	Metadata []byte
	// Error, when set, is why the document could not be loaded: it is
	// stored failed with this reason and no content.
	Error *string
	// Unchanged is set by MarkUnchangedDocuments for a refresh: the
	// source already has this document with the same content hash and
	// metadata, not failed. Only its id is staged, and its row is left
	// as it is.
	Unchanged bool
}

// stagedDocuments is the staging table of a refresh: temporary, dropped at
// the end of the transaction, keyed by id so that a document given twice
// is refused by the COPY. An unchanged document is staged by its id alone
// (content NULL), for the removal of those that vanished.
const stagedDocuments = "documents_staged"

var documentColumns = []string{"id", "source_id", "url", "title", "content", "content_hash", "metadata", "status", "error"}

// CopyDocuments writes rows of the source sourceID with COPY: into
// documents when staged is false (a new source, which has no rows yet),
// else into the staging table of StageDocuments.
func CopyDocuments(ctx context.Context, tx pgx.Tx, sourceID uuid.UUID, staged bool, rows []DocumentRow) (int64, error) {
	table := pgx.Identifier{"documents"}
	if staged {
		table = pgx.Identifier{stagedDocuments}
	}
	source := pgtype.UUID{Bytes: sourceID, Valid: true}
	n, err := tx.CopyFrom(ctx, table, documentColumns, pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
		r := rows[i]
		id := pgtype.UUID{Bytes: r.ID, Valid: true}
		if r.Unchanged {
			return []any{id, source, nil, nil, nil, nil, nil, nil, nil}, nil
		}
		status := "pending"
		if r.Error != nil {
			status = "failed"
		}
		return []any{id, source, r.URL, r.Title, r.Content, r.ContentHash, r.Metadata, status, r.Error}, nil
	}))
	if err != nil {
		return n, fmt.Errorf("error copying documents: %w", err)
	}
	return n, nil
}

// MarkUnchangedDocuments sets Unchanged on the rows of a refresh that the
// source sourceID already holds as they are: same content hash, same
// metadata, and not failed (a failed document is tried again). Their
// content then need not be sent to the server at all, and the merge has
// nothing to do for them. Failures to load are never unchanged.
func MarkUnchangedDocuments(ctx context.Context, tx pgx.Tx, sourceID uuid.UUID, rows []DocumentRow) error {
	ids := make([]pgtype.UUID, 0, len(rows))
	hashes := make([][]byte, 0, len(rows))
	metadata := make([]string, 0, len(rows))
	at := make([]int, 0, len(rows)) // the row of each one asked about
	for i, r := range rows {
		if r.Error != nil {
			continue
		}
		ids = append(ids, pgtype.UUID{Bytes: r.ID, Valid: true})
		hashes = append(hashes, r.ContentHash)
		metadata = append(metadata, string(r.Metadata))
		at = append(at, i)
	}
	if len(ids) == 0 {
		return nil
	}
	found, err := tx.Query(ctx, `SELECT s.ord::integer
FROM unnest($2::uuid[], $3::bytea[], $4::text[]) WITH ORDINALITY AS s(id, content_hash, metadata, ord)
JOIN documents d ON d.id = s.id
WHERE d.source_id = $1 AND d.content_hash = s.content_hash AND d.metadata = s.metadata::jsonb AND d.status <> 'failed'`,
		pgtype.UUID{Bytes: sourceID, Valid: true}, ids, hashes, metadata)
	if err != nil {
		return fmt.Errorf("error comparing staged documents: %w", err)
	}
	var ord int
	_, err = pgx.ForEachRow(found, []any{&ord}, func() error {
		if ord < 1 || ord > len(at) {
			return fmt.Errorf("comparing staged documents: position %d out of %d", ord, len(at))
		}
		rows[at[ord-1]].Unchanged = true
		return nil
	})
	if err != nil {
		return fmt.Errorf("error comparing staged documents: %w", err)
	}
	return nil
}

// CompressDocumentsFast makes tx compress the content it stores with lz4
// when the server was built with it (pglz otherwise, the default): pglz
// made most of the time of a large source's COPY (13.2 s against 5.4 s for
// 100,009 documents, BenchmarkAdd). Values compressed either way read the
// same, and a column may hold both.
func CompressDocumentsFast(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `SELECT set_config('default_toast_compression', 'lz4', true)
FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)`)
	if err != nil {
		return fmt.Errorf("error choosing the compression of documents: %w", err)
	}
	return nil
}

// StageDocuments creates the staging table of a refresh in tx; it is
// dropped when tx ends.
func StageDocuments(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, `CREATE TEMPORARY TABLE `+stagedDocuments+` (
		id uuid PRIMARY KEY, source_id uuid NOT NULL, url text, title text, content text,
		content_hash bytea, metadata jsonb, status text, error text
	) ON COMMIT DROP`)
	if err != nil {
		return fmt.Errorf("error creating the staging table of documents: %w", err)
	}
	return nil
}

// MergeStagedDocuments moves the staged documents of sourceID into
// documents and removes the source's documents that were not staged (with
// their chunks, through the foreign key). staged is the number of rows
// staged; the removal is skipped when the source holds no more documents
// than that after the merge, since none can then have vanished. It reports
// how many were removed. Unchanged documents (staged by their id alone)
// are left as they are, so the pipeline skips them. Of the others, a
// document whose content hash is unchanged keeps its status (only its
// metadata changed); a changed one goes back to pending, a staged failure
// is stored failed, and a document that had failed is tried again.
func MergeStagedDocuments(ctx context.Context, tx pgx.Tx, sourceID uuid.UUID, staged int64) (removed int64, err error) {
	_, err = tx.Exec(ctx, `INSERT INTO documents AS d (id, source_id, url, title, content, content_hash, metadata, status, error)
SELECT id, source_id, url, title, content, content_hash, metadata, status, error FROM `+stagedDocuments+`
WHERE content IS NOT NULL
ON CONFLICT (id) DO UPDATE
SET title = EXCLUDED.title,
    content = EXCLUDED.content,
    content_hash = EXCLUDED.content_hash,
    metadata = EXCLUDED.metadata,
    status = CASE WHEN EXCLUDED.status = 'failed' THEN 'failed'
                  WHEN d.content_hash = EXCLUDED.content_hash AND d.status <> 'failed' THEN d.status
                  ELSE 'pending' END,
    error = CASE WHEN EXCLUDED.status = 'failed' THEN EXCLUDED.error
                 WHEN d.content_hash = EXCLUDED.content_hash AND d.status <> 'failed' THEN d.error END,
    updated_at = now()
WHERE d.content_hash <> EXCLUDED.content_hash OR d.metadata <> EXCLUDED.metadata
   OR d.status = 'failed' OR EXCLUDED.status = 'failed'`)
	if err != nil {
		return 0, fmt.Errorf("error merging staged documents: %w", err)
	}
	// Every staged document is now one of the source's: if it has no
	// others, nothing vanished. Counting reads an index; the anti-join
	// below reads every row of the source.
	var held int64
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM documents WHERE source_id = $1`, sourceID).Scan(&held); err != nil {
		return 0, fmt.Errorf("error counting documents: %w", err)
	}
	if held <= staged {
		return 0, nil
	}
	// Statistics for the anti-join, which would otherwise be planned on a
	// guess of the staging table's size.
	if _, err := tx.Exec(ctx, `ANALYZE `+stagedDocuments); err != nil {
		return 0, fmt.Errorf("error analyzing staged documents: %w", err)
	}
	tag, err := tx.Exec(ctx, `DELETE FROM documents d
WHERE d.source_id = $1 AND NOT EXISTS (SELECT 1 FROM `+stagedDocuments+` s WHERE s.id = d.id)`, sourceID)
	if err != nil {
		return 0, fmt.Errorf("error removing vanished documents: %w", err)
	}
	return tag.RowsAffected(), nil
}
