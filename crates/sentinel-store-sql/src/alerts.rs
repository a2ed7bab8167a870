//! Alerting: channels, rules and their states. The checks a rule must pass and the column codecs
//! are plain functions here; the statements are stamped out per backend by
//! [`alerts!`](crate::alerts!), which includes the outbox half from `outbox.rs`.

use std::collections::BTreeMap;

use sentinel_store::{ChannelKind, Condition, StoreError};

/// `SELECT` of channels, in the order [`alerts!`](crate::alerts!) maps them.
pub const CHANNEL_COLUMNS: &str =
    "SELECT id, project_id, name, kind, config_json, secrets_json, enabled, created_ms FROM channels";

/// `SELECT` of rules (without their channels), in the order [`alerts!`](crate::alerts!) maps them.
pub const RULE_COLUMNS: &str = "SELECT id, project_id, name, condition_json, cooldown_ms, reminder_ms, \
     notify_recovery, enabled, created_ms, updated_ms FROM alert_rules";

/// `SELECT` of rule states, in the order [`alerts!`](crate::alerts!) maps them.
pub const STATE_COLUMNS: &str = "SELECT rule_id, subject, firing, episode, since_ms, last_notified_ms, \
     streak, value FROM alert_states";

/// Which rules to read.
#[derive(Debug, Clone, Copy)]
pub enum RuleFilter<'a> {
    Id(i64),
    /// A project's rules; `None`: the instance rules.
    Scope(Option<i64>),
    /// Enabled rules of these kinds, anywhere.
    EnabledKinds(&'a [&'a str]),
}

/// The channel ids a rule may have: each one a channel of the rule's scope (`channels` are the
/// requested channels that exist, with their projects), sorted and without repeats. `Conflict`
/// when the condition does not suit the scope or a channel is missing or of another scope.
pub fn rule_channels(
    project_id: Option<i64>,
    condition: &Condition,
    requested: &[i64],
    channels: &[(i64, Option<i64>)],
) -> Result<Vec<i64>, StoreError> {
    match (condition.is_instance(), project_id) {
        (true, Some(p)) => {
            return Err(StoreError::Conflict(format!(
                "a {} rule watches the instance: it cannot belong to project {p}",
                condition.kind()
            )));
        }
        (false, None) => {
            return Err(StoreError::Conflict(format!(
                "a {} rule watches a project: it needs one",
                condition.kind()
            )));
        }
        _ => {}
    }
    let scopes: BTreeMap<i64, Option<i64>> = channels.iter().copied().collect();
    let mut ids = requested.to_vec();
    ids.sort_unstable();
    ids.dedup();
    for id in &ids {
        match scopes.get(id) {
            Some(scope) if *scope == project_id => {}
            Some(_) | None => {
                let whose = match project_id {
                    Some(p) => format!("of project {p}"),
                    None => "of the instance".to_owned(),
                };
                return Err(StoreError::Conflict(format!(
                    "channel {id} is not a channel {whose}"
                )));
            }
        }
    }
    Ok(ids)
}

pub fn condition_json(condition: &Condition) -> Result<String, StoreError> {
    serde_json::to_string(condition).map_err(|e| StoreError::Corrupt(format!("condition as JSON: {e}")))
}

pub fn parse_condition(json: &str) -> Result<Condition, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("condition_json {json:?}: {e}")))
}

/// A JSON object column (`config_json`, `secrets_json`). Never quotes the text in the error: it may
/// be a secret.
pub fn parse_object(column: &str, json: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("{column} is not JSON: {e}")))
}

pub fn channel_kind(s: &str) -> Result<ChannelKind, StoreError> {
    ChannelKind::parse(s).ok_or_else(|| StoreError::Corrupt(format!("unknown channel kind {s:?}")))
}

/// Stamps out, in the invoking module, one function per `AlertStore` method (same name, the pool
/// first): channels, rules and states here (with `write_alert_commit`, the body of
/// `commit_alerts`, which [`uptime!`](crate::uptime!) calls inside its own transaction); triggers
/// (with `write_triggers`, which `apply_batch` calls inside its transaction), the outbox and
/// threshold reads through `__alerts_outbox!` (in `outbox.rs`).
///
/// - `db`: the sqlx database (`sqlx::Sqlite`, `sqlx::Postgres`);
/// - `db_err`: the backend's `fn(sqlx::Error) -> StoreError`;
/// - `begin`: how a write transaction starts on a `&Pool<db>`, e.g. `|pool| pool.begin()`;
/// - `for_update`: appended to the `SELECT` of the rule row an update reads first (`" FOR UPDATE"`,
///   or `""` where write transactions are serialized anyway);
/// - `skip_locked`: appended to the `SELECT` that picks triggers and notifications to claim, so
///   concurrent claimers take disjoint rows (`" FOR UPDATE SKIP LOCKED"`, or `""` where claims are
///   serialized anyway).
///
/// Writes of several rows (states, notifications) go in key order, so two evaluators committing
/// at once lock rows in the same order.
#[macro_export]
macro_rules! alerts {
    (
        db: $db:ty,
        db_err: $db_err:path,
        begin: |$pool:ident| $begin:expr,
        for_update: $for_update:literal,
        skip_locked: $skip_locked:literal $(,)?
    ) => {
        type AlertsPool = $crate::__private::sqlx::Pool<$db>;
        type AlertsRow = <$db as $crate::__private::sqlx::Database>::Row;
        type AlertsConn = <$db as $crate::__private::sqlx::Database>::Connection;
        type AlertsResult<T> = ::std::result::Result<T, $crate::__private::sentinel_store::StoreError>;

        /// Ids per statement: far below both backends' limits on bound parameters.
        const ALERT_IDS_PER_STATEMENT: usize = 500;

        async fn begin_alerts(
            pool: &AlertsPool,
        ) -> AlertsResult<$crate::__private::sqlx::Transaction<'static, $db>> {
            let $pool = pool;
            $begin.await.map_err($db_err)
        }

        fn sql_count(n: usize) -> i64 {
            i64::try_from(n).unwrap_or(i64::MAX)
        }

        fn alert_not_found(what: &'static str, id: i64) -> $crate::__private::sentinel_store::StoreError {
            $crate::__private::sentinel_store::StoreError::NotFound {
                what,
                id: id.to_string(),
            }
        }

        /// A channel from `CHANNEL_COLUMNS`' eight columns starting at `at`.
        fn channel_row(
            r: &AlertsRow,
            at: usize,
        ) -> AlertsResult<$crate::__private::sentinel_store::Channel> {
            use $crate::__private::sqlx::Row as _;
            let kind: String = r.try_get(at + 3).map_err($db_err)?;
            let config: String = r.try_get(at + 4).map_err($db_err)?;
            let secrets: String = r.try_get(at + 5).map_err($db_err)?;
            Ok($crate::__private::sentinel_store::Channel {
                id: r.try_get(at).map_err($db_err)?,
                project_id: r.try_get(at + 1).map_err($db_err)?,
                name: r.try_get(at + 2).map_err($db_err)?,
                kind: $crate::channel_kind(&kind)?,
                config: $crate::parse_object("config_json", &config)?,
                secrets: $crate::__private::sentinel_store::ChannelSecrets($crate::parse_object(
                    "secrets_json",
                    &secrets,
                )?),
                enabled: r.try_get(at + 6).map_err($db_err)?,
                created_ms: r.try_get(at + 7).map_err($db_err)?,
            })
        }

        /// A rule from `RULE_COLUMNS`, its channels still empty.
        fn rule_row(r: &AlertsRow) -> AlertsResult<$crate::__private::sentinel_store::AlertRule> {
            use $crate::__private::sqlx::Row as _;
            let condition: String = r.try_get(3).map_err($db_err)?;
            Ok($crate::__private::sentinel_store::AlertRule {
                id: r.try_get(0).map_err($db_err)?,
                project_id: r.try_get(1).map_err($db_err)?,
                name: r.try_get(2).map_err($db_err)?,
                condition: $crate::parse_condition(&condition)?,
                channel_ids: Vec::new(),
                cooldown_ms: r.try_get(4).map_err($db_err)?,
                reminder_ms: r.try_get(5).map_err($db_err)?,
                notify_recovery: r.try_get(6).map_err($db_err)?,
                enabled: r.try_get(7).map_err($db_err)?,
                created_ms: r.try_get(8).map_err($db_err)?,
                updated_ms: r.try_get(9).map_err($db_err)?,
            })
        }

        fn state_row(r: &AlertsRow) -> AlertsResult<$crate::__private::sentinel_store::AlertState> {
            use $crate::__private::sqlx::Row as _;
            Ok($crate::__private::sentinel_store::AlertState {
                rule_id: r.try_get(0).map_err($db_err)?,
                subject: r.try_get(1).map_err($db_err)?,
                firing: r.try_get(2).map_err($db_err)?,
                episode: r.try_get(3).map_err($db_err)?,
                since_ms: r.try_get(4).map_err($db_err)?,
                last_notified_ms: r.try_get(5).map_err($db_err)?,
                streak: r.try_get(6).map_err($db_err)?,
                value: r.try_get(7).map_err($db_err)?,
            })
        }

        /// ` project_id = x` or ` project_id IS NULL`, qualified by `column`.
        fn push_scope(
            qb: &mut $crate::__private::sqlx::QueryBuilder<$db>,
            column: &'static str,
            project_id: Option<i64>,
        ) {
            qb.push(column);
            match project_id {
                Some(p) => {
                    qb.push(" = ").push_bind(p);
                }
                None => {
                    qb.push(" IS NULL");
                }
            }
        }

        // ---- channels ----

        pub async fn create_channel(
            pool: &AlertsPool,
            new: &$crate::__private::sentinel_store::NewChannel,
            now_ms: i64,
        ) -> AlertsResult<$crate::__private::sentinel_store::Channel> {
            use $crate::__private::sentinel_store::{Channel, StoreError};
            use $crate::__private::sqlx;
            let mut tx = begin_alerts(pool).await?;
            if let Some(p) = new.project_id {
                let found: Option<i64> = sqlx::query_scalar("SELECT id FROM projects WHERE id = $1")
                    .bind(p)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err($db_err)?;
                if found.is_none() {
                    return Err(StoreError::Conflict(format!("project {p} does not exist")));
                }
            }
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO channels (project_id, name, kind, config_json, secrets_json, enabled, \
                 created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            )
            .bind(new.project_id)
            .bind(&new.name)
            .bind(new.kind.as_str())
            .bind(new.config.to_string())
            .bind(new.secrets.0.to_string())
            .bind(new.enabled)
            .bind(now_ms)
            .fetch_one(&mut *tx)
            .await
            .map_err($db_err)?;
            tx.commit().await.map_err($db_err)?;
            Ok(Channel {
                id,
                project_id: new.project_id,
                name: new.name.clone(),
                kind: new.kind,
                config: new.config.clone(),
                secrets: new.secrets.clone(),
                enabled: new.enabled,
                created_ms: now_ms,
            })
        }

        pub async fn list_channels(
            pool: &AlertsPool,
            project_id: Option<i64>,
        ) -> AlertsResult<Vec<$crate::__private::sentinel_store::Channel>> {
            let mut qb: $crate::__private::sqlx::QueryBuilder<$db> =
                $crate::__private::sqlx::QueryBuilder::new($crate::CHANNEL_COLUMNS);
            push_scope(&mut qb, " WHERE project_id", project_id);
            qb.push(" ORDER BY id");
            let rows = qb.build().fetch_all(pool).await.map_err($db_err)?;
            rows.iter().map(|r| channel_row(r, 0)).collect()
        }

        pub async fn get_channel(
            pool: &AlertsPool,
            channel_id: i64,
        ) -> AlertsResult<Option<$crate::__private::sentinel_store::Channel>> {
            use $crate::__private::sqlx;
            sqlx::query(sqlx::AssertSqlSafe(format!("{} WHERE id = $1", $crate::CHANNEL_COLUMNS)))
                .bind(channel_id)
                .fetch_optional(pool)
                .await
                .map_err($db_err)?
                .map(|r| channel_row(&r, 0))
                .transpose()
        }

        pub async fn update_channel(
            pool: &AlertsPool,
            channel_id: i64,
            update: &$crate::__private::sentinel_store::ChannelUpdate,
        ) -> AlertsResult<$crate::__private::sentinel_store::Channel> {
            use $crate::__private::sqlx;
            let row = sqlx::query(
                "UPDATE channels SET name = COALESCE($2, name), enabled = COALESCE($3, enabled), \
                 config_json = COALESCE($4, config_json), secrets_json = COALESCE($5, secrets_json) \
                 WHERE id = $1 \
                 RETURNING id, project_id, name, kind, config_json, secrets_json, enabled, created_ms",
            )
            .bind(channel_id)
            .bind(update.name.as_deref())
            .bind(update.enabled)
            .bind(update.config.as_ref().map(|c| c.to_string()))
            .bind(update.secrets.as_ref().map(|s| s.0.to_string()))
            .fetch_optional(pool)
            .await
            .map_err($db_err)?;
            match row {
                Some(r) => channel_row(&r, 0),
                None => Err(alert_not_found("channel", channel_id)),
            }
        }

        /// Its rule memberships and notifications (with their deliveries) go by cascade.
        pub async fn delete_channel(pool: &AlertsPool, channel_id: i64) -> AlertsResult<bool> {
            let done = $crate::__private::sqlx::query("DELETE FROM channels WHERE id = $1")
                .bind(channel_id)
                .execute(pool)
                .await
                .map_err($db_err)?;
            Ok(done.rows_affected() > 0)
        }

        // ---- rules ----

        /// The rules `filter` selects, in id order, with their channels.
        async fn load_rules(
            conn: &mut AlertsConn,
            filter: $crate::RuleFilter<'_>,
        ) -> AlertsResult<Vec<$crate::__private::sentinel_store::AlertRule>> {
            use $crate::__private::sqlx::{QueryBuilder, Row as _};
            let mut qb: QueryBuilder<$db> = QueryBuilder::new($crate::RULE_COLUMNS);
            match filter {
                $crate::RuleFilter::Id(id) => {
                    qb.push(" WHERE id = ").push_bind(id);
                }
                $crate::RuleFilter::Scope(project_id) => push_scope(&mut qb, " WHERE project_id", project_id),
                $crate::RuleFilter::EnabledKinds(kinds) => {
                    if kinds.is_empty() {
                        return Ok(Vec::new());
                    }
                    qb.push(" WHERE enabled = TRUE AND kind IN (");
                    let mut sep = qb.separated(", ");
                    for kind in kinds {
                        sep.push_bind(kind.to_string());
                    }
                    qb.push(")");
                }
            }
            qb.push(" ORDER BY id");
            let rows = qb.build().fetch_all(&mut *conn).await.map_err($db_err)?;
            let mut rules = rows.iter().map(rule_row).collect::<AlertsResult<Vec<_>>>()?;
            let ids: Vec<i64> = rules.iter().map(|r| r.id).collect();
            let mut channels: ::std::collections::HashMap<i64, Vec<i64>> = ::std::collections::HashMap::new();
            for chunk in ids.chunks(ALERT_IDS_PER_STATEMENT) {
                let mut qb: QueryBuilder<$db> = QueryBuilder::new(
                    "SELECT rule_id, channel_id FROM alert_rule_channels WHERE rule_id IN (",
                );
                let mut sep = qb.separated(", ");
                for id in chunk {
                    sep.push_bind(*id);
                }
                qb.push(") ORDER BY rule_id, channel_id");
                for row in qb.build().fetch_all(&mut *conn).await.map_err($db_err)? {
                    let rule_id: i64 = row.try_get(0).map_err($db_err)?;
                    channels
                        .entry(rule_id)
                        .or_default()
                        .push(row.try_get(1).map_err($db_err)?);
                }
            }
            for rule in &mut rules {
                rule.channel_ids = channels.remove(&rule.id).unwrap_or_default();
            }
            Ok(rules)
        }

        /// Checks `rule` against its scope (`project_id`, which must exist) and returns the
        /// channel ids to store.
        async fn checked_channels(
            conn: &mut AlertsConn,
            project_id: Option<i64>,
            rule: &$crate::__private::sentinel_store::NewAlertRule,
        ) -> AlertsResult<Vec<i64>> {
            use $crate::__private::sentinel_store::StoreError;
            use $crate::__private::sqlx::{self, QueryBuilder, Row as _};
            if let Some(p) = project_id {
                let found: Option<i64> = sqlx::query_scalar("SELECT id FROM projects WHERE id = $1")
                    .bind(p)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err($db_err)?;
                if found.is_none() {
                    return Err(StoreError::Conflict(format!("project {p} does not exist")));
                }
            }
            let mut found: Vec<(i64, Option<i64>)> = Vec::new();
            for chunk in rule.channel_ids.chunks(ALERT_IDS_PER_STATEMENT) {
                let mut qb: QueryBuilder<$db> =
                    QueryBuilder::new("SELECT id, project_id FROM channels WHERE id IN (");
                let mut sep = qb.separated(", ");
                for id in chunk {
                    sep.push_bind(*id);
                }
                qb.push(")");
                for row in qb.build().fetch_all(&mut *conn).await.map_err($db_err)? {
                    found.push((row.try_get(0).map_err($db_err)?, row.try_get(1).map_err($db_err)?));
                }
            }
            $crate::rule_channels(project_id, &rule.condition, &rule.channel_ids, &found)
        }

        async fn insert_rule_channels(
            conn: &mut AlertsConn,
            rule_id: i64,
            channel_ids: &[i64],
        ) -> AlertsResult<()> {
            for chunk in channel_ids.chunks(ALERT_IDS_PER_STATEMENT) {
                let mut qb: $crate::__private::sqlx::QueryBuilder<$db> =
                    $crate::__private::sqlx::QueryBuilder::new(
                        "INSERT INTO alert_rule_channels (rule_id, channel_id) ",
                    );
                qb.push_values(chunk, |mut b, channel_id| {
                    b.push_bind(rule_id).push_bind(*channel_id);
                });
                qb.build().execute(&mut *conn).await.map_err($db_err)?;
            }
            Ok(())
        }

        async fn one_rule(
            conn: &mut AlertsConn,
            rule_id: i64,
        ) -> AlertsResult<$crate::__private::sentinel_store::AlertRule> {
            load_rules(conn, $crate::RuleFilter::Id(rule_id))
                .await?
                .into_iter()
                .next()
                .ok_or_else(|| alert_not_found("alert rule", rule_id))
        }

        pub async fn create_rule(
            pool: &AlertsPool,
            rule: &$crate::__private::sentinel_store::NewAlertRule,
            now_ms: i64,
        ) -> AlertsResult<$crate::__private::sentinel_store::AlertRule> {
            let mut tx = begin_alerts(pool).await?;
            let channel_ids = checked_channels(&mut tx, rule.project_id, rule).await?;
            let id: i64 = $crate::__private::sqlx::query_scalar(
                "INSERT INTO alert_rules (project_id, name, kind, condition_json, cooldown_ms, reminder_ms, \
                 notify_recovery, enabled, created_ms, updated_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) RETURNING id",
            )
            .bind(rule.project_id)
            .bind(&rule.name)
            .bind(rule.condition.kind())
            .bind($crate::condition_json(&rule.condition)?)
            .bind(rule.cooldown_ms)
            .bind(rule.reminder_ms)
            .bind(rule.notify_recovery)
            .bind(rule.enabled)
            .bind(now_ms)
            .fetch_one(&mut *tx)
            .await
            .map_err($db_err)?;
            insert_rule_channels(&mut tx, id, &channel_ids).await?;
            let created = one_rule(&mut tx, id).await?;
            tx.commit().await.map_err($db_err)?;
            Ok(created)
        }

        pub async fn list_rules(
            pool: &AlertsPool,
            project_id: Option<i64>,
        ) -> AlertsResult<Vec<$crate::__private::sentinel_store::AlertRule>> {
            let mut conn = pool.acquire().await.map_err($db_err)?;
            load_rules(&mut conn, $crate::RuleFilter::Scope(project_id)).await
        }

        pub async fn get_rule(
            pool: &AlertsPool,
            rule_id: i64,
        ) -> AlertsResult<Option<$crate::__private::sentinel_store::AlertRule>> {
            let mut conn = pool.acquire().await.map_err($db_err)?;
            Ok(load_rules(&mut conn, $crate::RuleFilter::Id(rule_id))
                .await?
                .into_iter()
                .next())
        }

        pub async fn enabled_rules(
            pool: &AlertsPool,
            kinds: &[&str],
        ) -> AlertsResult<Vec<$crate::__private::sentinel_store::AlertRule>> {
            let mut conn = pool.acquire().await.map_err($db_err)?;
            load_rules(&mut conn, $crate::RuleFilter::EnabledKinds(kinds)).await
        }

        pub async fn update_rule(
            pool: &AlertsPool,
            rule_id: i64,
            rule: &$crate::__private::sentinel_store::NewAlertRule,
            now_ms: i64,
        ) -> AlertsResult<$crate::__private::sentinel_store::AlertRule> {
            use $crate::__private::sqlx;
            let mut tx = begin_alerts(pool).await?;
            let current: Option<(Option<i64>, String)> = sqlx::query_as(concat!(
                "SELECT project_id, kind FROM alert_rules WHERE id = $1",
                $for_update
            ))
            .bind(rule_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err($db_err)?;
            let Some((project_id, kind)) = current else {
                return Err(alert_not_found("alert rule", rule_id));
            };
            let channel_ids = checked_channels(&mut tx, project_id, rule).await?;
            sqlx::query(
                "UPDATE alert_rules SET name = $2, kind = $3, condition_json = $4, cooldown_ms = $5, \
                 reminder_ms = $6, notify_recovery = $7, enabled = $8, updated_ms = $9 WHERE id = $1",
            )
            .bind(rule_id)
            .bind(&rule.name)
            .bind(rule.condition.kind())
            .bind($crate::condition_json(&rule.condition)?)
            .bind(rule.cooldown_ms)
            .bind(rule.reminder_ms)
            .bind(rule.notify_recovery)
            .bind(rule.enabled)
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .map_err($db_err)?;
            sqlx::query("DELETE FROM alert_rule_channels WHERE rule_id = $1")
                .bind(rule_id)
                .execute(&mut *tx)
                .await
                .map_err($db_err)?;
            insert_rule_channels(&mut tx, rule_id, &channel_ids).await?;
            // States of another kind measure something else: each subject is out of the new
            // condition from now on. Its episode stays: a new one numbered from 1 would reuse the
            // idempotency keys of notifications still stored, and they would never be sent.
            if kind != rule.condition.kind() {
                sqlx::query(
                    "UPDATE alert_states SET firing = FALSE, since_ms = $2, last_notified_ms = NULL, \
                     streak = 0, value = NULL WHERE rule_id = $1",
                )
                .bind(rule_id)
                .bind(now_ms)
                .execute(&mut *tx)
                .await
                .map_err($db_err)?;
            }
            let updated = one_rule(&mut tx, rule_id).await?;
            tx.commit().await.map_err($db_err)?;
            Ok(updated)
        }

        /// Its states and channel links go by cascade; its notifications keep `rule_id` NULL.
        pub async fn delete_rule(pool: &AlertsPool, rule_id: i64) -> AlertsResult<bool> {
            let done = $crate::__private::sqlx::query("DELETE FROM alert_rules WHERE id = $1")
                .bind(rule_id)
                .execute(pool)
                .await
                .map_err($db_err)?;
            Ok(done.rows_affected() > 0)
        }

        // ---- rule state ----

        pub async fn alert_states(
            pool: &AlertsPool,
            rule_id: i64,
        ) -> AlertsResult<Vec<$crate::__private::sentinel_store::AlertState>> {
            use $crate::__private::sqlx;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "{} WHERE rule_id = $1 ORDER BY subject",
                $crate::STATE_COLUMNS
            )))
            .bind(rule_id)
            .fetch_all(pool)
            .await
            .map_err($db_err)?
            .iter()
            .map(state_row)
            .collect()
        }

        /// Through the primary key: an event-driven rule has a state per issue it fired for.
        pub async fn get_alert_state(
            pool: &AlertsPool,
            rule_id: i64,
            subject: &str,
        ) -> AlertsResult<Option<$crate::__private::sentinel_store::AlertState>> {
            use $crate::__private::sqlx;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "{} WHERE rule_id = $1 AND subject = $2",
                $crate::STATE_COLUMNS
            )))
            .bind(rule_id)
            .bind(subject)
            .fetch_optional(pool)
            .await
            .map_err($db_err)?
            .map(|r| state_row(&r))
            .transpose()
        }

        pub async fn commit_alerts(
            pool: &AlertsPool,
            commit: &$crate::__private::sentinel_store::AlertCommit,
        ) -> AlertsResult<u64> {
            let mut tx = begin_alerts(pool).await?;
            let new = write_alert_commit(&mut tx, commit).await?;
            tx.commit().await.map_err($db_err)?;
            Ok(new)
        }

        /// Writes `commit` in `conn`'s transaction (`commit_alerts`', or another write's that
        /// must be atomic with it, such as the uptime verifier's); returns how many notifications
        /// were new. The rule and channel checks are `EXISTS` conditions of each insert, so what
        /// was deleted meanwhile is skipped.
        pub async fn write_alert_commit(
            conn: &mut AlertsConn,
            commit: &$crate::__private::sentinel_store::AlertCommit,
        ) -> AlertsResult<u64> {
            use $crate::__private::sqlx::{self, QueryBuilder};
            let mut states: Vec<&$crate::__private::sentinel_store::AlertState> =
                commit.states.iter().collect();
            states.sort_by(|a, b| (a.rule_id, &a.subject).cmp(&(b.rule_id, &b.subject)));
            let mut notifications: Vec<&$crate::__private::sentinel_store::NewNotification> =
                commit.notifications.iter().collect();
            notifications.sort_by(|a, b| a.idempotency_key.cmp(&b.idempotency_key));
            let mut triggers = commit.consumed_triggers.clone();
            triggers.sort_unstable();
            triggers.dedup();

            for s in states {
                sqlx::query(
                    "INSERT INTO alert_states (rule_id, subject, firing, episode, since_ms, \
                     last_notified_ms, streak, value) \
                     SELECT $1, $2, $3, $4, $5, $6, $7, $8 \
                     WHERE EXISTS (SELECT 1 FROM alert_rules WHERE id = $1) \
                     ON CONFLICT (rule_id, subject) DO UPDATE SET firing = excluded.firing, \
                     episode = excluded.episode, since_ms = excluded.since_ms, \
                     last_notified_ms = excluded.last_notified_ms, streak = excluded.streak, \
                     value = excluded.value",
                )
                .bind(s.rule_id)
                .bind(&s.subject)
                .bind(s.firing)
                .bind(s.episode)
                .bind(s.since_ms)
                .bind(s.last_notified_ms)
                .bind(s.streak)
                .bind(s.value)
                .execute(&mut *conn)
                .await
                .map_err($db_err)?;
            }
            let mut new = 0;
            for n in notifications {
                new += sqlx::query(
                    "INSERT INTO notifications (idempotency_key, group_key, rule_id, channel_id, project_id, \
                     subject, transition, message_json, status, attempts, next_attempt_ms, created_ms) \
                     SELECT $1, $2, $3, $4, $5, $6, $7, $8, 'pending', 0, $9, $9 \
                     WHERE EXISTS (SELECT 1 FROM channels WHERE id = $4) \
                     AND ($3 IS NULL OR EXISTS (SELECT 1 FROM alert_rules WHERE id = $3)) \
                     ON CONFLICT (idempotency_key) DO NOTHING",
                )
                .bind(&n.idempotency_key)
                .bind(&n.group_key)
                .bind(n.rule_id)
                .bind(n.channel_id)
                .bind(n.project_id)
                .bind(&n.subject)
                .bind(n.transition.as_str())
                .bind($crate::message_json(&n.message)?)
                .bind(n.created_ms)
                .execute(&mut *conn)
                .await
                .map_err($db_err)?
                .rows_affected();
            }
            for chunk in triggers.chunks(ALERT_IDS_PER_STATEMENT) {
                let mut qb: QueryBuilder<$db> = QueryBuilder::new("DELETE FROM alert_triggers WHERE id IN (");
                let mut sep = qb.separated(", ");
                for id in chunk {
                    sep.push_bind(*id);
                }
                qb.push(")");
                qb.build().execute(&mut *conn).await.map_err($db_err)?;
            }
            Ok(new)
        }

        $crate::__alerts_outbox! {
            db: $db,
            db_err: $db_err,
            skip_locked: $skip_locked,
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_channels_must_share_the_rules_scope_and_come_back_sorted() {
        let issue = Condition::NewIssue {};
        let disk = Condition::DiskFree { percent: 5.0 };
        let known = [(3, Some(1)), (1, Some(1)), (2, Some(2)), (4, None)];
        assert_eq!(
            rule_channels(Some(1), &issue, &[3, 1, 3], &known).unwrap(),
            vec![1, 3]
        );
        assert_eq!(rule_channels(None, &disk, &[4], &known).unwrap(), vec![4]);
        assert_eq!(
            rule_channels(None, &disk, &[], &known).unwrap(),
            Vec::<i64>::new()
        );
        for (project, condition, ids) in [
            (Some(1), &issue, &[1, 2][..]),
            (Some(1), &issue, &[4]),
            (Some(1), &issue, &[9]),
            (None, &disk, &[1]),
            (None, &issue, &[]),
            (Some(1), &disk, &[]),
        ] {
            assert!(
                matches!(
                    rule_channels(project, condition, ids, &known),
                    Err(StoreError::Conflict(_))
                ),
                "{project:?} {condition:?} {ids:?}"
            );
        }
    }

    #[test]
    fn column_codecs_reject_what_they_do_not_know() {
        assert!(matches!(channel_kind("pager"), Err(StoreError::Corrupt(_))));
        assert!(matches!(
            parse_condition(r#"{"kind":"nope"}"#),
            Err(StoreError::Corrupt(_))
        ));
        let err = parse_object("secrets_json", "{\"url\": \"https://s3cret").unwrap_err();
        assert!(
            !err.to_string().contains("s3cret"),
            "a secret never ends up in an error: {err}"
        );
    }
}
