-- The orphan sweep asks, for every stored blob, whether a file refers to it:
-- without an index each question read the whole files table.
CREATE INDEX files_blob_key ON files (blob_key);
-- The users page walks a tenant's users in id order.
CREATE INDEX users_tenant_id ON users (tenant_id, id);
