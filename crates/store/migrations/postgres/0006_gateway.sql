-- Where the gateway finds an API definition: its listen path, one per tenant.
CREATE TABLE gateway_routes (
    api_id TEXT PRIMARY KEY REFERENCES resources (id) ON DELETE CASCADE,
    tenant_id TEXT NOT NULL,
    listen_path TEXT NOT NULL,
    UNIQUE (tenant_id, listen_path)
);

-- When a consumer key was last used (written in batches, not per request).
CREATE TABLE key_usage (
    key_id TEXT PRIMARY KEY REFERENCES resources (id) ON DELETE CASCADE,
    last_used_at TEXT NOT NULL
);

CREATE UNIQUE INDEX resources_consumer_token ON resources (secret) WHERE kind = 'consumer_key';
