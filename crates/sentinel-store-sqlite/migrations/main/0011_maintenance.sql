-- Maintenance windows: planned work on a project's monitors (all, or those listed as a JSON
-- array in monitor_ids_json). One-off: [starts_ms, ends_ms). Recurring: each occurrence begins
-- at a time of the crontab `schedule` in `timezone`, lasts duration_ms, within [starts_ms,
-- ends_ms).
CREATE TABLE maintenance_windows (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    monitor_ids_json TEXT NOT NULL,
    starts_ms INTEGER NOT NULL,
    ends_ms INTEGER NOT NULL,
    schedule TEXT,
    duration_ms INTEGER NOT NULL,
    timezone TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX maintenance_windows_by_project ON maintenance_windows (project_id, id);
