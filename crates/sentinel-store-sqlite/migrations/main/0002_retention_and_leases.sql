-- Retention and leader election.

-- Minute rollups older than the minute retention are folded into these; issue_id 0 is the whole
-- project, as in rollups_minute.
CREATE TABLE rollups_hour (
    project_id INTEGER NOT NULL,
    issue_id INTEGER NOT NULL,
    hour_ms INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (project_id, issue_id, hour_ms)
) WITHOUT ROWID;

-- Singleton leases: the node holding one runs that job (retention, …) until it expires.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_ms INTEGER NOT NULL
);

-- Retention deletes by age per project. Without these a pass reads every row (payloads included);
-- an entry is ~20 bytes against 2–4 KB of payload, appended near the end of each project's range.
CREATE INDEX events_by_received ON events (project_id, received_ms);
CREATE INDEX items_by_received ON items (project_id, received_ms);
