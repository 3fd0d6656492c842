package store

import (
	"context"
	"fmt"
)

// TextStatistics is what ANALYZE found of chunks.tsv, over every user.
type TextStatistics struct {
	// Chunks is the table's estimated row count (-1 or 0 before the first
	// ANALYZE or VACUUM).
	Chunks float64
	// Shares maps each of the most common lexemes to the share of chunks
	// holding it, 0 to 1.
	Shares map[string]float64
	// MinShare is the lowest share in Shares, 0 when it is empty: a lexeme
	// missing from Shares is rarer than that.
	MinShare float64
}

// GetTextStatistics reads the planner's statistics of chunks.tsv: a catalog
// lookup that scans nothing. It lives here rather than in db/queries because
// sqlc knows no catalog tables.
func GetTextStatistics(ctx context.Context, db DBTX) (TextStatistics, error) {
	var (
		stats   TextStatistics
		lexemes []string
		shares  []float32
	)
	err := db.QueryRow(ctx, `
		SELECT c.reltuples::float8,
		       coalesce(s.most_common_elems::text, '{}')::text[],
		       coalesce(s.most_common_elem_freqs, '{}')::float4[]
		FROM pg_class c
		LEFT JOIN pg_stats s ON s.schemaname = current_schema() AND s.tablename = 'chunks' AND s.attname = 'tsv'
		WHERE c.oid = 'chunks'::regclass`).Scan(&stats.Chunks, &lexemes, &shares)
	if err != nil {
		return TextStatistics{}, fmt.Errorf("error reading text statistics: %w", err)
	}
	// For a tsvector column, most_common_elem_freqs holds one share per
	// lexeme, then the lowest and the highest share.
	stats.Shares = make(map[string]float64, len(lexemes))
	if len(shares) == len(lexemes)+2 {
		for i, l := range lexemes {
			stats.Shares[l] = float64(shares[i])
		}
		stats.MinShare = float64(shares[len(lexemes)])
	}
	return stats, nil
}
