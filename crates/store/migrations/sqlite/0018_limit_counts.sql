-- Limits that guard security (failed sign-ins, consumer keys' rate) are
-- counted here, so every replica sees the same count: one row per key and
-- fixed window, pruned once it has expired.
CREATE TABLE limit_counts (
    key TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    count BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (key, window_start)
);
CREATE INDEX limit_counts_expiry ON limit_counts (expires_at);
