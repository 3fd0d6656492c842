-- name: RegisterSourceVectorIndex :exec
-- Records that a source's bulk-built index is ready for search.
INSERT INTO source_vector_indexes (source_id, dims, user_id, index_name)
VALUES (@source_id, @dims, @user_id, @index_name)
ON CONFLICT (source_id, dims) DO NOTHING;

-- name: ListSourceVectorIndexes :many
-- The user's sources whose vectors of dims dimensions are in an index of
-- their own, restricted to source_ids unless it is empty or null.
SELECT source_id FROM source_vector_indexes
WHERE user_id = @user_id AND dims = @dims
  AND (coalesce(cardinality(@source_ids::uuid[]), 0) = 0 OR source_id = ANY(@source_ids::uuid[]))
ORDER BY source_id;
