-- The blob and extraction state of a file resource (its scope is the resource's).
CREATE TABLE files (
    id TEXT PRIMARY KEY REFERENCES resources (id) ON DELETE CASCADE,
    blob_key TEXT NOT NULL,
    size BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    content_type TEXT NOT NULL,
    extraction TEXT NOT NULL,
    extraction_error TEXT,
    extraction_started_at TEXT,
    entries BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX files_extraction ON files (extraction);

-- Knowledge entries: chunks of a file's text. No scope column: their scope is
-- a join on the file, so a re-scope moves them in the same statement.
CREATE TABLE knowledge (
    seq BIGSERIAL PRIMARY KEY,
    file_id TEXT NOT NULL REFERENCES files (id) ON DELETE CASCADE,
    position BIGINT NOT NULL,
    text TEXT NOT NULL,
    tsv tsvector GENERATED ALWAYS AS (to_tsvector('simple', text)) STORED
);
CREATE INDEX knowledge_file ON knowledge (file_id, position);
CREATE INDEX knowledge_tsv ON knowledge USING GIN (tsv);
