-- A source's documents of one status, in url order: the listing filtered by
-- status (GET /v1/sources/{id}/documents?status=failed) pages on this index
-- instead of walking every document of the source in url order to find the
-- few failed ones. It serves what (source_id, status) served as well.
CREATE INDEX documents_source_id_status_url_idx ON documents (source_id, status, url);
DROP INDEX documents_source_id_status_idx;
