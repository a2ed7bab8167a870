-- Alerting: notification channels, alert rules with their per-subject state, the triggers the
-- workers leave for event-driven rules, and the notification outbox with its delivery log.
--
-- Ids that other rows or notification idempotency keys name (channels, rules, triggers,
-- notifications) are AUTOINCREMENT: SQLite would otherwise hand the id of the newest deleted row
-- to the next one, and a new rule could find its first notification already "sent" under the
-- deleted rule's key.

-- project_id NULL: an instance channel (self-monitoring alerts). Secrets are a JSON object that
-- is written, never shown.
CREATE TABLE channels (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER REFERENCES projects(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    config_json TEXT NOT NULL,
    secrets_json TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE INDEX channels_by_project ON channels (project_id, id);

-- project_id NULL: an instance rule. `kind` repeats the condition's tag, for picking the rules an
-- evaluator handles; condition_json is the whole tagged condition.
CREATE TABLE alert_rules (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER REFERENCES projects(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    condition_json TEXT NOT NULL,
    cooldown_ms INTEGER NOT NULL,
    reminder_ms INTEGER,
    notify_recovery INTEGER NOT NULL,
    enabled INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE INDEX alert_rules_by_project ON alert_rules (project_id, id);
CREATE INDEX alert_rules_by_kind ON alert_rules (kind, id);

-- Deleting a channel takes it off its rules.
CREATE TABLE alert_rule_channels (
    rule_id INTEGER NOT NULL REFERENCES alert_rules(id) ON DELETE CASCADE,
    channel_id INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    PRIMARY KEY (rule_id, channel_id)
) WITHOUT ROWID;
CREATE INDEX alert_rule_channels_by_channel ON alert_rule_channels (channel_id);

CREATE TABLE alert_states (
    rule_id INTEGER NOT NULL REFERENCES alert_rules(id) ON DELETE CASCADE,
    subject TEXT NOT NULL,
    firing INTEGER NOT NULL,
    episode INTEGER NOT NULL,
    since_ms INTEGER NOT NULL,
    last_notified_ms INTEGER,
    streak INTEGER NOT NULL,
    value REAL,
    PRIMARY KEY (rule_id, subject)
) WITHOUT ROWID;

-- Written by apply_batch, claimed (leased until claimed_until_ms) and deleted by the evaluator.
CREATE TABLE alert_triggers (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id INTEGER NOT NULL,
    issue_id INTEGER NOT NULL,
    kind TEXT NOT NULL,
    at_ms INTEGER NOT NULL,
    claimed_until_ms INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX alert_triggers_by_age ON alert_triggers (at_ms, id);

-- The outbox. rule_id NULL: a test notification, or its rule was deleted (the log keeps it).
-- Deleting a channel deletes its notifications.
CREATE TABLE notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,
    group_key TEXT NOT NULL,
    rule_id INTEGER REFERENCES alert_rules(id) ON DELETE SET NULL,
    channel_id INTEGER NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    project_id INTEGER,
    subject TEXT NOT NULL,
    transition TEXT NOT NULL,
    message_json TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_attempt_ms INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    delivered_ms INTEGER,
    last_error TEXT
);
-- What the notifier claims next.
CREATE INDEX notifications_due ON notifications (next_attempt_ms) WHERE status = 'pending';
-- The notification log of a project (or of the instance), newest first.
CREATE INDEX notifications_by_project ON notifications (project_id, id);
CREATE INDEX notifications_by_channel ON notifications (channel_id);
CREATE INDEX notifications_by_rule ON notifications (rule_id);
-- Retention, by age.
CREATE INDEX notifications_by_created ON notifications (created_ms);

CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY,
    notification_id INTEGER NOT NULL REFERENCES notifications(id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    at_ms INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    status_code INTEGER,
    error TEXT,
    UNIQUE (notification_id, attempt)
);

-- Instance rules total the outcomes of every project over the last minutes.
CREATE INDEX outcomes_by_minute ON outcomes (minute_ms);
