CREATE INDEX documents_source_id_status_idx ON documents (source_id, status);
DROP INDEX documents_source_id_status_url_idx;
