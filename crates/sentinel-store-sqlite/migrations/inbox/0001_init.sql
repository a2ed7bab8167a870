-- The durable inbox (its own SQLite file so ingest commits never wait on the worker's writes).
-- AUTOINCREMENT: ids must never be reused, because the worker's cursor is an id.
CREATE TABLE inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    event_id BLOB,
    received_ms INTEGER NOT NULL,
    sent_at TEXT,
    headers_json TEXT,
    dict_id INTEGER NOT NULL DEFAULT 0,
    payload BLOB NOT NULL
);
