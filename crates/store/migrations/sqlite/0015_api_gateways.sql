-- What each API gateway last reported when it asked the check (written by
-- the check, a few seconds late, like consumer keys' last use).
CREATE TABLE api_gateway_seen (
    gateway_id TEXT PRIMARY KEY REFERENCES resources(id) ON DELETE CASCADE,
    last_seen_at TEXT NOT NULL,
    version TEXT
);

-- Whether the tenant's consumer keys pass the shared check that names no
-- API gateway. Tenants made before API gateways keep it (1) until their
-- admins turn it off; new tenants start without it (tenant_create sets 0).
ALTER TABLE tenants ADD COLUMN shared_gateway_check INTEGER NOT NULL DEFAULT 1;

-- Listen paths repeat across orgs now (each org's gateways serve their
-- own): the check in the write decides, so the unique pair goes.
CREATE TABLE gateway_routes_next (
    api_id TEXT PRIMARY KEY REFERENCES resources (id) ON DELETE CASCADE,
    tenant_id TEXT NOT NULL,
    listen_path TEXT NOT NULL
);
INSERT INTO gateway_routes_next (api_id, tenant_id, listen_path)
    SELECT api_id, tenant_id, listen_path FROM gateway_routes;
DROP TABLE gateway_routes;
ALTER TABLE gateway_routes_next RENAME TO gateway_routes;
CREATE INDEX gateway_routes_path ON gateway_routes (tenant_id, listen_path);
