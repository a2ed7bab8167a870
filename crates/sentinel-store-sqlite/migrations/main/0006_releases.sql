-- Releases and release health, maintained by the workers with every batch.

-- The release of an issue's first event: the issues a release introduced.
ALTER TABLE issues ADD COLUMN first_release TEXT;
CREATE INDEX issues_by_first_release ON issues (project_id, first_release, first_seen_ms)
    WHERE first_release IS NOT NULL;

-- One row per (project, version) named by an event or a session. first/last_seen span both;
-- first/last_event_ms only events. Session counts follow sentinel_protocol::session's rule.
CREATE TABLE releases (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL,
    version TEXT NOT NULL,
    first_seen_ms INTEGER NOT NULL,
    last_seen_ms INTEGER NOT NULL,
    first_event_ms INTEGER,
    last_event_ms INTEGER,
    events INTEGER NOT NULL DEFAULT 0,
    new_issues INTEGER NOT NULL DEFAULT 0,
    sessions INTEGER NOT NULL DEFAULT 0,
    sessions_errored INTEGER NOT NULL DEFAULT 0,
    sessions_abnormal INTEGER NOT NULL DEFAULT 0,
    sessions_crashed INTEGER NOT NULL DEFAULT 0,
    users INTEGER NOT NULL DEFAULT 0,
    users_crashed INTEGER NOT NULL DEFAULT 0,
    UNIQUE (project_id, version)
);
CREATE INDEX releases_by_first_seen ON releases (project_id, first_seen_ms, id);
CREATE INDEX releases_by_last_seen ON releases (project_id, last_seen_ms);

-- The distinct users of a release (a 64-bit hash of the session's `did`), for exact crash-free
-- user rates: one small row per user and release, deleted with the release.
CREATE TABLE release_users (
    project_id INTEGER NOT NULL,
    version TEXT NOT NULL,
    user_hash INTEGER NOT NULL,
    crashed INTEGER NOT NULL,
    PRIMARY KEY (project_id, version, user_hash)
) WITHOUT ROWID;
