-- Lists in time order (the files page's default, newest first) read the
-- first page off an index instead of sorting every visible row: one for
-- "all my organizations" (walked in order, each row's membership probed),
-- one for a single org or tenant-wide (`org_id = ?` / `IS NULL`).
-- Measured by crates/server/examples/files_page_load.rs (PERFORMANCE.md).
CREATE INDEX resources_kind_time ON resources (tenant_id, kind, created_at, id);
CREATE INDEX resources_org_time ON resources (tenant_id, kind, org_id, created_at, id);
