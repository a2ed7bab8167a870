-- Request events per project and minute (tenant detection): opaque mergeable summaries written by
-- workers, one row per processed batch and minute, merged into one row per minute by the
-- compactor. `counts` (tenants, 5xx, endpoints) and `latency` (sketches) are apart so rankings by
-- 5xx read no sketch.
CREATE TABLE request_rollups (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    minute_ms INTEGER NOT NULL,
    requests INTEGER NOT NULL,
    counts BLOB NOT NULL,
    latency BLOB NOT NULL
);
CREATE INDEX request_rollups_by_minute ON request_rollups (project_id, minute_ms);
-- Retention.
CREATE INDEX request_rollups_by_age ON request_rollups (minute_ms);
