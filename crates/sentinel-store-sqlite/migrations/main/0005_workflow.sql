-- The issue workflow: assignees, conditional resolve and ignore, regressions, comments, who did
-- what, and full-text search over issues.

ALTER TABLE issues ADD COLUMN assignee_id INTEGER;
ALTER TABLE issues ADD COLUMN is_regression INTEGER NOT NULL DEFAULT 0;
-- With status 'resolved': events of this release (or without one) do not reopen the issue.
ALTER TABLE issues ADD COLUMN resolved_in_release TEXT;
-- With status 'ignored': the first event at or after this time, or the one that brings
-- times_seen to this count, reopens the issue.
ALTER TABLE issues ADD COLUMN ignore_until_ms INTEGER;
ALTER TABLE issues ADD COLUMN ignore_until_count INTEGER;
CREATE INDEX issues_by_assignee ON issues (project_id, assignee_id);

-- NULL for the system (ingest, regressions). No foreign key to users: activity outlives accounts,
-- and readers show an empty name for a user who is gone.
ALTER TABLE activity ADD COLUMN user_id INTEGER;

CREATE TABLE comments (
    id INTEGER PRIMARY KEY,
    issue_id INTEGER NOT NULL,
    user_id INTEGER,
    body TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX comments_by_issue ON comments (issue_id, id);

-- An event's attachments without reading every attachment of the project.
CREATE INDEX items_attachments_by_event ON items (project_id, event_id) WHERE kind = 'attachment';

-- Full-text index over the issues' texts, reading the text from `issues` itself (external
-- content). Words are runs of letters and digits, case-folded; underscores and punctuation split
-- them, as PostgreSQL's parser does, so that a search answers the same on both backends.
-- Diacritics are kept: PostgreSQL's 'simple' configuration keeps them too.
CREATE VIRTUAL TABLE issues_fts USING fts5(
    title, culprit, message,
    content = 'issues', content_rowid = 'id',
    tokenize = 'unicode61 remove_diacritics 0'
);
INSERT INTO issues_fts (issues_fts) VALUES ('rebuild');

CREATE TRIGGER issues_fts_insert AFTER INSERT ON issues BEGIN
    INSERT INTO issues_fts (rowid, title, culprit, message)
    VALUES (new.id, new.title, new.culprit, new.message);
END;
CREATE TRIGGER issues_fts_delete AFTER DELETE ON issues BEGIN
    INSERT INTO issues_fts (issues_fts, rowid, title, culprit, message)
    VALUES ('delete', old.id, old.title, old.culprit, old.message);
END;
-- Only the indexed columns: the workers update counts and times of issues all the time, and those
-- updates must not rewrite the index.
CREATE TRIGGER issues_fts_update AFTER UPDATE OF title, culprit, message ON issues BEGIN
    INSERT INTO issues_fts (issues_fts, rowid, title, culprit, message)
    VALUES ('delete', old.id, old.title, old.culprit, old.message);
    INSERT INTO issues_fts (rowid, title, culprit, message)
    VALUES (new.id, new.title, new.culprit, new.message);
END;
