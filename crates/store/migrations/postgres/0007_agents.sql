-- A task's place in its agent's queue (its scope is the task resource's).
CREATE TABLE task_queue (
    id TEXT PRIMARY KEY REFERENCES resources (id) ON DELETE CASCADE,
    agent_id TEXT NOT NULL,
    status TEXT NOT NULL,
    claimed_by TEXT,
    claimed_at TEXT,
    finished_at TEXT,
    output TEXT,
    exit_code BIGINT
);
CREATE INDEX task_queue_agent ON task_queue (agent_id, status, id);

-- When each job fires next; replicas race to advance it, one wins per firing.
CREATE TABLE job_schedule (
    id TEXT PRIMARY KEY REFERENCES resources (id) ON DELETE CASCADE,
    next_at TEXT
);
CREATE INDEX job_schedule_next ON job_schedule (next_at);
