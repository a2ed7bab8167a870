-- Apdex's T per project (the performance pages and the tenant rollups), in milliseconds: a
-- success within T satisfies, within 4 T is tolerated. 300 ms is Sentry's default.
ALTER TABLE projects ADD COLUMN apdex_threshold_ms INTEGER NOT NULL DEFAULT 300;
