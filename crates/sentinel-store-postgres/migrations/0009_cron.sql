-- Heartbeat and Sentry cron monitors, fed by check-ins instead of checks: a slug names one in
-- check-ins (unique within its project), `next_check_ms` is the deadline of its next expected
-- check-in, and a cron run is a job execution that checked in as in progress and has not
-- finished (a finished run leaves no row: its check result is the record). Column names and
-- meanings match the SQLite backend.

ALTER TABLE monitors ADD COLUMN slug TEXT;
CREATE UNIQUE INDEX monitors_by_slug ON monitors (project_id, slug) WHERE slug IS NOT NULL;
-- What the deadline sweep reads (sentinel_store_sql::OVERDUE_MONITORS states the same condition).
CREATE INDEX monitors_deadline ON monitors (next_check_ms, id) WHERE enabled AND kind IN ('heartbeat', 'cron');

CREATE TABLE cron_runs (
    monitor_id BIGINT NOT NULL REFERENCES monitors (id) ON DELETE CASCADE,
    check_in_id TEXT NOT NULL,
    started_ms BIGINT NOT NULL,
    -- When the run times out: started plus the monitor's longest runtime.
    deadline_ms BIGINT NOT NULL,
    PRIMARY KEY (monitor_id, check_in_id)
);
CREATE INDEX cron_runs_by_deadline ON cron_runs (deadline_ms);
