-- Public ids for knowledge entries, chat messages and audit entries: opaque,
-- so that no tenant can watch a server-wide sequence grow with another's
-- activity. `seq` stays internal (order, full-text rowid).
ALTER TABLE knowledge ADD COLUMN id TEXT;
UPDATE knowledge SET id = 'ke_' || lower(hex(randomblob(16))) WHERE id IS NULL;
CREATE UNIQUE INDEX knowledge_id ON knowledge (id);
ALTER TABLE messages ADD COLUMN id TEXT;
UPDATE messages SET id = 'msg_' || lower(hex(randomblob(16))) WHERE id IS NULL;
CREATE UNIQUE INDEX messages_id ON messages (id);
ALTER TABLE audit ADD COLUMN id TEXT;
UPDATE audit SET id = 'aud_' || lower(hex(randomblob(16))) WHERE id IS NULL;
CREATE UNIQUE INDEX audit_id ON audit (id);
