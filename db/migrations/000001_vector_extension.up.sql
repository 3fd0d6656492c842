-- pgvector must exist before any table uses its types. Installing the
-- extension needs the shared library on the server (scripts/install-pgvector.sh).
CREATE EXTENSION IF NOT EXISTS vector;
