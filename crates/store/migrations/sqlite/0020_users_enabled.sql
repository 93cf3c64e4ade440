-- A move to or from tenant-wide counts the tenant's enabled users of a role:
-- with `disabled` in the index the count reads the index alone.
CREATE INDEX users_tenant_role_enabled ON users (tenant_id, role, disabled);
