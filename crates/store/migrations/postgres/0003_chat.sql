-- Who may select a persona (empty = everyone who can see it).
CREATE TABLE persona_assignments (
    persona_id TEXT NOT NULL REFERENCES resources (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (persona_id, user_id)
);
CREATE INDEX persona_assignments_user ON persona_assignments (user_id);

-- A chat session's turns. The session is a resource (its org fixed at start).
CREATE TABLE messages (
    seq BIGSERIAL PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES resources (id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    content TEXT NOT NULL,
    mode TEXT,
    citations TEXT NOT NULL DEFAULT '[]',
    author TEXT,
    created_at TEXT NOT NULL
);
CREATE INDEX messages_session ON messages (session_id, seq);
