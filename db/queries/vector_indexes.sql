-- name: RegisterSourceVectorIndex :exec
-- Records that a source's bulk-built index is ready for search, in place of
-- the one it had (built before indexes cast to halfvec).
INSERT INTO source_vector_indexes (source_id, dims, user_id, index_name, halfvec)
VALUES (@source_id, @dims, @user_id, @index_name, true)
ON CONFLICT (source_id, dims) DO UPDATE SET index_name = excluded.index_name, halfvec = true
WHERE source_vector_indexes.index_name <> excluded.index_name;

-- name: ListSourceVectorIndexes :many
-- The user's sources whose vectors of dims dimensions are in an index of
-- their own, restricted to source_ids unless it is empty or null, and
-- whether that index casts to halfvec.
SELECT source_id, halfvec FROM source_vector_indexes
WHERE user_id = @user_id AND dims = @dims
  AND (coalesce(cardinality(@source_ids::uuid[]), 0) = 0 OR source_id = ANY(@source_ids::uuid[]))
ORDER BY source_id;
