-- Tag distributions of an issue without aggregating all its tag values: a hot issue's near-unique
-- tags (urls, users) run to hundreds of thousands of values.

-- Per issue and tag key, the events carrying the key and its distinct values; each batch adds to
-- them in the transaction that upserts the values.
CREATE TABLE issue_tag_keys (
    issue_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    total INTEGER NOT NULL,
    unique_values INTEGER NOT NULL,
    PRIMARY KEY (issue_id, key)
) WITHOUT ROWID;

INSERT INTO issue_tag_keys (issue_id, key, total, unique_values)
SELECT issue_id, key, sum(count), count(*) FROM issue_tag_values GROUP BY issue_id, key;

-- A key's most frequent values, in the order the issue page lists them (ties by value).
CREATE INDEX issue_tag_values_by_count ON issue_tag_values (issue_id, key, count DESC, value);
