-- References between resources (an agent's credentials, a consumer key's
-- APIs): kept as rows so moves and deletes can find what they would break.
CREATE TABLE resource_refs (
    from_id TEXT NOT NULL REFERENCES resources (id) ON DELETE CASCADE,
    field TEXT NOT NULL,
    to_id TEXT NOT NULL REFERENCES resources (id),
    PRIMARY KEY (from_id, field, to_id)
);
CREATE INDEX resource_refs_to ON resource_refs (to_id);
