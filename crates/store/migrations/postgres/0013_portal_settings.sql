-- How an org's portal looks and whether it takes sign-ups, set by the org's
-- managers. No row: the org's name, no introduction, sign-up open.
CREATE TABLE portal_settings (
    org_id TEXT PRIMARY KEY REFERENCES orgs(id) ON DELETE CASCADE,
    title TEXT,
    intro TEXT,
    accent TEXT NOT NULL,
    signup_open INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);
