-- An org's developer portal: developers sign up there (the developer kind of
-- that org; the password's argon2 hash in resources.secret), confirm their
-- e-mail address by a link, and sign in with a portal session. Both the
-- link's and the session's secrets are kept hashed here, never in `tokens`,
-- so neither is ever a credential of the API.
CREATE TABLE portal_tokens (
    hash TEXT PRIMARY KEY,
    developer_id TEXT NOT NULL REFERENCES resources(id) ON DELETE CASCADE,
    purpose TEXT NOT NULL,
    -- A sign-up's password waiting for its confirmation (argon2 hash).
    pending_secret TEXT,
    expires_at TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX portal_tokens_developer ON portal_tokens (developer_id);
