-- Sentinel main database (SQLite). Times are epoch milliseconds, UTC.

CREATE TABLE organizations (
    id INTEGER PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);

CREATE TABLE projects (
    id INTEGER PRIMARY KEY,
    org_id INTEGER NOT NULL REFERENCES organizations(id),
    name TEXT NOT NULL,
    slug TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    rate_limit_per_minute INTEGER,
    UNIQUE (org_id, slug)
);

CREATE TABLE project_keys (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects(id),
    public_key TEXT NOT NULL UNIQUE,
    label TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1,
    created_ms INTEGER NOT NULL,
    rate_limit_per_minute INTEGER
);

CREATE TABLE api_tokens (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    token_sha256 TEXT NOT NULL UNIQUE,
    scope TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);

CREATE TABLE issues (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL REFERENCES projects(id),
    hash TEXT NOT NULL,
    title TEXT NOT NULL,
    culprit TEXT NOT NULL,
    message TEXT,
    level TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'unresolved',
    platform TEXT NOT NULL,
    first_seen_ms INTEGER NOT NULL,
    last_seen_ms INTEGER NOT NULL,
    times_seen INTEGER NOT NULL,
    UNIQUE (project_id, hash)
);
CREATE INDEX issues_by_last_seen ON issues (project_id, last_seen_ms, id);
CREATE INDEX issues_by_first_seen ON issues (project_id, first_seen_ms, id);
CREATE INDEX issues_by_times_seen ON issues (project_id, times_seen, id);

-- Raw payloads are zstd-compressed; listing uses the extracted columns.
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL,
    event_id BLOB NOT NULL,
    issue_id INTEGER NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    received_ms INTEGER NOT NULL,
    level TEXT NOT NULL,
    platform TEXT NOT NULL,
    title TEXT NOT NULL,
    message TEXT,
    environment TEXT,
    release TEXT,
    dict_id INTEGER NOT NULL DEFAULT 0,
    payload BLOB NOT NULL
);
CREATE UNIQUE INDEX events_by_event_id ON events (project_id, event_id);
CREATE INDEX events_by_issue ON events (issue_id, timestamp_ms, id);

-- zstd dictionaries trained per project; payloads refer to them by id (0 = no dictionary).
CREATE TABLE compression_dicts (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    dict BLOB NOT NULL
);

-- Items kept for later features: transactions, spans, check-ins, sessions, attachments.
CREATE TABLE items (
    id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    event_id BLOB,
    received_ms INTEGER NOT NULL,
    headers_json TEXT,
    payload BLOB NOT NULL
);
CREATE INDEX items_by_kind ON items (project_id, kind, received_ms);

-- issue_id 0 is the whole project.
CREATE TABLE rollups_minute (
    project_id INTEGER NOT NULL,
    issue_id INTEGER NOT NULL,
    minute_ms INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (project_id, issue_id, minute_ms)
) WITHOUT ROWID;

CREATE TABLE issue_tag_values (
    issue_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    count INTEGER NOT NULL,
    first_seen_ms INTEGER NOT NULL,
    last_seen_ms INTEGER NOT NULL,
    PRIMARY KEY (issue_id, key, value)
) WITHOUT ROWID;

CREATE TABLE outcomes (
    project_id INTEGER NOT NULL,
    minute_ms INTEGER NOT NULL,
    category TEXT NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT NOT NULL,
    quantity INTEGER NOT NULL,
    PRIMARY KEY (project_id, minute_ms, category, outcome, reason)
) WITHOUT ROWID;

CREATE TABLE activity (
    id INTEGER PRIMARY KEY,
    issue_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    data TEXT,
    created_ms INTEGER NOT NULL
);
CREATE INDEX activity_by_issue ON activity (issue_id, id);

-- The highest inbox id whose processing is committed here. The inbox lives in its own file, so the
-- worker's commit advances this cursor and deletes inbox rows afterwards (idempotently).
CREATE TABLE worker_cursor (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    inbox_id INTEGER NOT NULL
);
INSERT INTO worker_cursor (id, inbox_id) VALUES (1, 0);
