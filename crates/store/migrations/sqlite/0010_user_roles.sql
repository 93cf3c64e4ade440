-- Who has access, and why: a tenant's users by role (the groups' counts and
-- pages), and the users page (`tenant_id = ? AND id > ?`).
CREATE INDEX users_tenant_role ON users (tenant_id, role, id);
