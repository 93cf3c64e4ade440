-- An org's portal logo: a small raster image its managers upload (kept
-- beside the settings so a settings change never touches it).
CREATE TABLE portal_logos (
    org_id TEXT PRIMARY KEY REFERENCES orgs(id) ON DELETE CASCADE,
    content_type TEXT NOT NULL,
    image BYTEA NOT NULL,
    updated_at TEXT NOT NULL
);
