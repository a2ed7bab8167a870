-- Uptime monitoring: monitors, the check jobs the scheduler creates for them, the append-only
-- check results, the verifier's queue, incidents and per-monitor rollups. A monitor's rows go
-- with it (ON DELETE CASCADE), and a monitor goes with its project.
--
-- Ids that notifications or the verifier name (monitors, results, incidents) are AUTOINCREMENT,
-- so a deleted row's id is never handed to a new one.

CREATE TABLE monitors (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    config_json TEXT NOT NULL,
    interval_ms INTEGER NOT NULL,
    timeout_ms INTEGER NOT NULL,
    failure_threshold INTEGER NOT NULL,
    recovery_threshold INTEGER NOT NULL,
    enabled INTEGER NOT NULL,
    public INTEGER NOT NULL,
    status TEXT NOT NULL,
    status_since_ms INTEGER NOT NULL,
    streak INTEGER NOT NULL,
    next_check_ms INTEGER NOT NULL,
    last_check_ms INTEGER,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE INDEX monitors_by_project ON monitors (project_id, id);
-- What the scheduler reads: enabled monitors of the kinds a checker runs, by due time. Queries
-- repeat this condition word for word (sentinel_store_sql::DUE_MONITORS), or SQLite ignores it.
CREATE INDEX monitors_due ON monitors (next_check_ms, id) WHERE enabled AND kind IN ('http', 'tcp', 'dns');

-- One per (monitor, slot): a second insert of a slot is a no-op. claimed_until_ms 0: unclaimed.
CREATE TABLE check_jobs (
    monitor_id INTEGER NOT NULL REFERENCES monitors(id) ON DELETE CASCADE,
    slot_ms INTEGER NOT NULL,
    claimed_until_ms INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (monitor_id, slot_ms)
) WITHOUT ROWID;
-- What checkers claim next, oldest slot first.
CREATE INDEX check_jobs_due ON check_jobs (slot_ms, monitor_id);

-- Append-only; a monitor's results newest first through the unique index.
CREATE TABLE check_results (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    monitor_id INTEGER NOT NULL REFERENCES monitors(id) ON DELETE CASCADE,
    slot_ms INTEGER NOT NULL,
    region TEXT NOT NULL,
    started_ms INTEGER NOT NULL,
    ok INTEGER NOT NULL,
    latency_ms INTEGER NOT NULL,
    status_code INTEGER,
    error TEXT,
    details_json TEXT NOT NULL,
    UNIQUE (monitor_id, slot_ms, region)
);
-- Retention, by age.
CREATE INDEX check_results_by_slot ON check_results (slot_ms);

-- Results the verifier has not judged yet, written with them. Retention keeps a queued result.
-- No foreign key to check_results: on PostgreSQL that table's partitions are dropped whole.
CREATE TABLE verify_queue (
    result_id INTEGER PRIMARY KEY,
    monitor_id INTEGER NOT NULL REFERENCES monitors(id) ON DELETE CASCADE,
    slot_ms INTEGER NOT NULL
);
CREATE INDEX verify_queue_by_monitor ON verify_queue (monitor_id);

CREATE TABLE incidents (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    monitor_id INTEGER NOT NULL REFERENCES monitors(id) ON DELETE CASCADE,
    project_id INTEGER NOT NULL,
    opened_ms INTEGER NOT NULL,
    resolved_ms INTEGER,
    evidence_json TEXT NOT NULL
);
-- At most one open incident per monitor; also how it is found.
CREATE UNIQUE INDEX incidents_open ON incidents (monitor_id) WHERE resolved_ms IS NULL;
CREATE INDEX incidents_by_monitor ON incidents (monitor_id, id);
CREATE INDEX incidents_by_project ON incidents (project_id, id);

-- resolution: 'minute', 'hour' or 'day'; bucket_ms the bucket's start.
CREATE TABLE monitor_rollups (
    monitor_id INTEGER NOT NULL REFERENCES monitors(id) ON DELETE CASCADE,
    resolution TEXT NOT NULL,
    bucket_ms INTEGER NOT NULL,
    checks INTEGER NOT NULL,
    failures INTEGER NOT NULL,
    latency_sum_ms INTEGER NOT NULL,
    latency_max_ms INTEGER NOT NULL,
    PRIMARY KEY (monitor_id, resolution, bucket_ms)
) WITHOUT ROWID;
-- Retention, by resolution and age.
CREATE INDEX monitor_rollups_by_age ON monitor_rollups (resolution, bucket_ms);
