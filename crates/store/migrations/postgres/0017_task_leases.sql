-- A claim is a lease: an agent that stops reporting loses its task, which
-- returns to the queue (counted in attempts) for another claimant.
ALTER TABLE task_queue ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE task_queue ADD COLUMN lease_until TEXT;
UPDATE task_queue SET attempts = 1 WHERE status <> 'queued';
CREATE INDEX task_queue_lease ON task_queue (lease_until) WHERE status = 'running';

-- A ticket gateway's earlier secrets, still valid until their grace ends.
CREATE TABLE gateway_old_secrets (
    gateway_id TEXT NOT NULL REFERENCES resources (id) ON DELETE CASCADE,
    secret TEXT NOT NULL,
    valid_until TEXT NOT NULL
);
CREATE INDEX gateway_old_secrets_gateway ON gateway_old_secrets (gateway_id, valid_until);

-- Deliveries a ticket gateway already made a task of (an alert resent,
-- a webhook redelivered): one task each. Pruned after a week.
CREATE TABLE gateway_tickets (
    gateway_id TEXT NOT NULL REFERENCES resources (id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    task_id TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (gateway_id, key)
);
CREATE INDEX gateway_tickets_at ON gateway_tickets (at);

-- Gateway types are now the sources the server knows how to check; what
-- was free text is the generic JSON ticket, as it always was.
UPDATE resources SET fields = jsonb_set(fields::jsonb, '{type}', '"generic"')::text
WHERE kind = 'gateway'
  AND coalesce(fields::jsonb ->> 'type', '') NOT IN ('generic', 'alertmanager', 'github', 'pagerduty');

-- A job's last firing, shown beside its next one.
ALTER TABLE job_schedule ADD COLUMN last_at TEXT;
