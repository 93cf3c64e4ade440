CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE orgs (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    slug TEXT NOT NULL,
    name TEXT NOT NULL,
    parent_id TEXT REFERENCES orgs (id),
    domain TEXT UNIQUE,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (tenant_id, slug)
);

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    tenant_id TEXT REFERENCES tenants (id),
    username TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    default_org_id TEXT REFERENCES orgs (id),
    disabled BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
-- Superusers have no tenant: their names are unique among themselves.
CREATE UNIQUE INDEX users_username ON users (COALESCE(tenant_id, ''), username);

CREATE TABLE memberships (
    org_id TEXT NOT NULL REFERENCES orgs (id),
    user_id TEXT NOT NULL REFERENCES users (id),
    can_manage BIGINT NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id, org_id);

-- Password sessions and personal tokens; only the SHA-256 of the secret is kept.
CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    hash TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    user_id TEXT NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT
);
CREATE INDEX tokens_user ON tokens (user_id, id);

-- Every scoped resource of every kind: kinds are data.
CREATE TABLE resources (
    id TEXT PRIMARY KEY,
    tenant_id TEXT NOT NULL REFERENCES tenants (id),
    kind TEXT NOT NULL,
    org_id TEXT REFERENCES orgs (id),
    name TEXT NOT NULL,
    fields TEXT NOT NULL,
    secret TEXT,
    created_by TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX resources_scope ON resources (tenant_id, kind, org_id, id);
CREATE INDEX resources_kind ON resources (tenant_id, kind, id);
CREATE UNIQUE INDEX resources_token ON resources (secret) WHERE kind = 'api_key';

CREATE TABLE audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant_id TEXT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    actor_id TEXT,
    action TEXT NOT NULL,
    kind TEXT NOT NULL,
    target TEXT NOT NULL,
    org_id TEXT,
    before TEXT,
    after TEXT
);
CREATE INDEX audit_tenant ON audit (tenant_id, seq);
