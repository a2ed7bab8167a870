//! One retention pass on SQLite: row deletes in short statements of at most `delete_batch` rows,
//! yielding between them so the single writer connection is shared with ingest and the workers,
//! and folding old minute rollups into hourly ones without changing any count.

use sentinel_store::{DAY_MS, HOUR_MS, Resolution, RetentionPolicy, RetentionReport, StoreError};
use sqlx::{SqliteConnection, SqlitePool};

use crate::db_err;

/// Each statement deletes at most `$3` rows of project `$1` older than `$2`.
const OLD_EVENTS: &str = "DELETE FROM events WHERE id IN \
     (SELECT id FROM events WHERE project_id = $1 AND received_ms < $2 LIMIT $3)";
const OLD_ITEMS: &str = "DELETE FROM items WHERE id IN \
     (SELECT id FROM items WHERE project_id = $1 AND received_ms < $2 LIMIT $3)";
const OLD_HOUR_ROLLUPS: &str = "DELETE FROM rollups_hour WHERE project_id = $1 AND (issue_id, hour_ms) IN \
     (SELECT issue_id, hour_ms FROM rollups_hour WHERE project_id = $1 AND hour_ms < $2 LIMIT $3)";
const OLD_OUTCOMES: &str = "DELETE FROM outcomes WHERE project_id = $1 \
     AND (minute_ms, category, outcome, reason) IN (SELECT minute_ms, category, outcome, reason \
     FROM outcomes WHERE project_id = $1 AND minute_ms < $2 LIMIT $3)";
/// The users of project `$1`'s releases last seen before `$2`, then (once they have none left)
/// the releases themselves.
const OLD_RELEASE_USERS: &str = "DELETE FROM release_users WHERE (project_id, version, user_hash) IN \
     (SELECT u.project_id, u.version, u.user_hash FROM releases r JOIN release_users u \
      ON u.project_id = r.project_id AND u.version = r.version \
      WHERE r.project_id = $1 AND r.last_seen_ms < $2 LIMIT $3)";
const OLD_RELEASES: &str = "DELETE FROM releases WHERE id IN \
     (SELECT id FROM releases WHERE project_id = $1 AND last_seen_ms < $2 AND NOT EXISTS \
      (SELECT 1 FROM release_users u WHERE u.project_id = releases.project_id AND u.version = releases.version) \
      LIMIT $3)";
/// Each statement deletes at most `$2` rows older than `$1`: notifications no longer pending
/// (their deliveries go by cascade), and triggers no evaluator consumed (alerting off).
const OLD_NOTIFICATIONS: &str = "DELETE FROM notifications WHERE id IN \
     (SELECT id FROM notifications WHERE created_ms < $1 AND status <> 'pending' LIMIT $2)";
const OLD_TRIGGERS: &str = "DELETE FROM alert_triggers WHERE id IN \
     (SELECT id FROM alert_triggers WHERE at_ms < $1 LIMIT $2)";
/// At most `$2` rule states out of their condition since before `$1`, deleted after the
/// notifications: every notification of their episodes is older than the state and went with
/// them, so a subject that fires again may start over at episode 1 without meeting a stored
/// idempotency key. A rule's notification still pending from before `$1` (a notifier that never
/// ran) would keep its key: none is deleted while one is left.
const OLD_ALERT_STATES: &str = "DELETE FROM alert_states WHERE (rule_id, subject) IN \
     (SELECT rule_id, subject FROM alert_states WHERE firing = FALSE AND since_ms < $1 \
      AND NOT EXISTS (SELECT 1 FROM notifications \
       WHERE created_ms < $1 AND status = 'pending' AND rule_id IS NOT NULL) \
      LIMIT $2)";

/// At most `$2` check results slotted before `$1` that the verifier has judged: a queued result is
/// kept until it is verified, however old.
const OLD_CHECK_RESULTS: &str = "DELETE FROM check_results WHERE id IN \
     (SELECT id FROM check_results WHERE slot_ms < $1 \
      AND NOT EXISTS (SELECT 1 FROM verify_queue q WHERE q.result_id = check_results.id) LIMIT $2)";
/// At most `$3` monitor rollup rows of resolution `$1` with buckets starting before `$2`.
const OLD_MONITOR_ROLLUPS: &str = "DELETE FROM monitor_rollups WHERE (monitor_id, resolution, bucket_ms) IN \
     (SELECT monitor_id, resolution, bucket_ms FROM monitor_rollups \
      WHERE resolution = $1 AND bucket_ms < $2 LIMIT $3)";
/// At most `$3` latency histogram rows of resolution `$1` with buckets starting before `$2`.
const OLD_MONITOR_LATENCY: &str = "DELETE FROM monitor_latency \
     WHERE (monitor_id, resolution, bucket_ms, bin) IN \
     (SELECT monitor_id, resolution, bucket_ms, bin FROM monitor_latency \
      WHERE resolution = $1 AND bucket_ms < $2 LIMIT $3)";

/// At most `$2` request rollup rows of minutes before `$1`.
const OLD_REQUEST_ROLLUPS: &str = "DELETE FROM request_rollups WHERE id IN \
     (SELECT id FROM request_rollups WHERE minute_ms < $1 LIMIT $2)";

/// The issues of project `$1` last seen before `$2` that have no events left, at most `$3`.
/// (An event sent late with an old timestamp outlives its issue's `last_seen`: the issue stays
/// until that event expires too, so no event ever points at a deleted issue.) Each statement of a
/// transaction evaluates it again and finds the same issues: only the last one deletes them.
macro_rules! stale_issues {
    () => {
        "SELECT id FROM issues WHERE project_id = $1 AND last_seen_ms < $2 \
         AND NOT EXISTS (SELECT 1 FROM events WHERE events.issue_id = issues.id) \
         ORDER BY last_seen_ms, id LIMIT $3"
    };
}

/// What belongs to a stale issue only. The rollups go too: SQLite may give the id of a deleted
/// issue to the next new one, which must not inherit anything.
const ISSUE_CHILDREN: [&str; 6] = [
    concat!(
        "DELETE FROM issue_tag_values WHERE issue_id IN (",
        stale_issues!(),
        ")"
    ),
    concat!(
        "DELETE FROM issue_tag_keys WHERE issue_id IN (",
        stale_issues!(),
        ")"
    ),
    concat!("DELETE FROM activity WHERE issue_id IN (", stale_issues!(), ")"),
    concat!("DELETE FROM comments WHERE issue_id IN (", stale_issues!(), ")"),
    concat!(
        "DELETE FROM rollups_minute WHERE project_id = $1 AND issue_id IN (",
        stale_issues!(),
        ")"
    ),
    concat!(
        "DELETE FROM rollups_hour WHERE project_id = $1 AND issue_id IN (",
        stale_issues!(),
        ")"
    ),
];
const STALE_ISSUES: &str = concat!("DELETE FROM issues WHERE id IN (", stale_issues!(), ")");

/// The oldest (by issue, then minute) `$4` minute rows of project `$1` from issue `$2` on, in
/// hours that ended before `$3`.
macro_rules! foldable_minutes {
    () => {
        "SELECT issue_id, minute_ms, count FROM rollups_minute \
         WHERE project_id = $1 AND issue_id >= $2 AND minute_ms < $3 ORDER BY issue_id, minute_ms LIMIT $4"
    };
}
// `WHERE true` keeps SQLite from reading `ON CONFLICT` as a join constraint.
const FOLD_MINUTES: &str = concat!(
    "INSERT INTO rollups_hour (project_id, issue_id, hour_ms, count) \
     SELECT $1, issue_id, minute_ms - minute_ms % $5 AS hour, sum(count) FROM (",
    foldable_minutes!(),
    ") WHERE true GROUP BY issue_id, hour \
     ON CONFLICT (project_id, issue_id, hour_ms) DO UPDATE SET count = rollups_hour.count + excluded.count \
     RETURNING issue_id"
);
const FOLDED_MINUTES: &str = concat!(
    "DELETE FROM rollups_minute WHERE project_id = $1 AND (issue_id, minute_ms) IN (SELECT issue_id, minute_ms FROM (",
    foldable_minutes!(),
    "))"
);

fn days(n: u32) -> i64 {
    i64::from(n) * DAY_MS
}

pub async fn apply(
    pool: &SqlitePool,
    policy: &RetentionPolicy,
    now_ms: i64,
) -> Result<RetentionReport, StoreError> {
    let batch = i64::try_from(policy.delete_batch.max(1)).unwrap_or(i64::MAX);
    let minute_cutoff = now_ms - days(policy.minute_rollup_days);
    // Only whole hours are folded, so no hour is ever half minutes, half hourly row.
    let fold_before = minute_cutoff - minute_cutoff.rem_euclid(HOUR_MS);
    let hour_cutoff = now_ms - days(policy.hour_rollup_days);
    let projects: Vec<i64> = sqlx::query_scalar("SELECT id FROM projects ORDER BY id")
        .fetch_all(pool)
        .await
        .map_err(db_err)?;
    let mut report = RetentionReport::default();
    for project_id in projects {
        let cutoff = now_ms - days(policy.event_days_for(project_id));
        report.events_deleted += drain(pool, OLD_EVENTS, project_id, cutoff, batch).await?;
        report.items_deleted += drain(pool, OLD_ITEMS, project_id, cutoff, batch).await?;
        report.issues_deleted += delete_stale_issues(pool, project_id, cutoff, batch).await?;
        drain(pool, OLD_RELEASE_USERS, project_id, cutoff, batch).await?;
        report.releases_deleted += drain(pool, OLD_RELEASES, project_id, cutoff, batch).await?;
        report.minute_rollups_compacted += fold_minutes(pool, project_id, fold_before, batch).await?;
        report.hour_rollups_deleted += drain(pool, OLD_HOUR_ROLLUPS, project_id, hour_cutoff, batch).await?;
        report.outcomes_deleted += drain(pool, OLD_OUTCOMES, project_id, hour_cutoff, batch).await?;
    }
    report.notifications_deleted += drain_all(pool, OLD_NOTIFICATIONS, hour_cutoff, batch).await?;
    report.alert_states_deleted += drain_all(pool, OLD_ALERT_STATES, hour_cutoff, batch).await?;
    // A trigger outliving every project's events has nothing left to show.
    let trigger_cutoff = now_ms - days(policy.longest_event_days());
    drain_all(pool, OLD_TRIGGERS, trigger_cutoff, batch).await?;
    let result_cutoff = now_ms - days(policy.check_result_days);
    report.check_results_deleted += drain_all(pool, OLD_CHECK_RESULTS, result_cutoff, batch).await?;
    for resolution in Resolution::ALL {
        let cutoff = now_ms - days(resolution.retention_days());
        for sql in [OLD_MONITOR_ROLLUPS, OLD_MONITOR_LATENCY] {
            report.monitor_rollups_deleted +=
                drain_of(pool, sql, Of::Resolution(resolution.as_str()), cutoff, batch).await?;
        }
    }
    let request_cutoff = now_ms - days(policy.request_rollup_days);
    report.request_rollups_deleted += drain_all(pool, OLD_REQUEST_ROLLUPS, request_cutoff, batch).await?;
    Ok(report)
}

/// What a bounded delete's first parameter (if any) names, before its cutoff and batch size.
#[derive(Clone, Copy)]
enum Of<'a> {
    /// No such parameter: the statement covers every project.
    All,
    Project(i64),
    /// A monitor rollup resolution.
    Resolution(&'a str),
}

/// Runs `sql` (a bounded delete) until it deletes less than a full batch; each run commits on
/// its own and lets other writers in before the next.
async fn drain_of(
    pool: &SqlitePool,
    sql: &'static str,
    of: Of<'_>,
    before: i64,
    batch: i64,
) -> Result<u64, StoreError> {
    let mut total = 0;
    loop {
        let query = sqlx::query(sql);
        let query = match of {
            Of::All => query,
            Of::Project(id) => query.bind(id),
            Of::Resolution(r) => query.bind(r),
        };
        let deleted = query
            .bind(before)
            .bind(batch)
            .execute(pool)
            .await
            .map_err(db_err)?
            .rows_affected();
        total += deleted;
        tokio::task::yield_now().await;
        if deleted < batch as u64 {
            return Ok(total);
        }
    }
}

/// [`drain_of`] one project.
async fn drain(
    pool: &SqlitePool,
    sql: &'static str,
    project_id: i64,
    before: i64,
    batch: i64,
) -> Result<u64, StoreError> {
    drain_of(pool, sql, Of::Project(project_id), before, batch).await
}

/// [`drain_of`] a statement over all projects.
async fn drain_all(pool: &SqlitePool, sql: &'static str, before: i64, batch: i64) -> Result<u64, StoreError> {
    drain_of(pool, sql, Of::All, before, batch).await
}

/// Deletes issues last seen before `before` with everything that is theirs only, `batch` issues
/// per transaction.
async fn delete_stale_issues(
    pool: &SqlitePool,
    project_id: i64,
    before: i64,
    batch: i64,
) -> Result<u64, StoreError> {
    let mut issues = 0;
    loop {
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
        for sql in ISSUE_CHILDREN {
            stale_delete(&mut tx, sql, project_id, before, batch).await?;
        }
        let deleted = stale_delete(&mut tx, STALE_ISSUES, project_id, before, batch).await?;
        tx.commit().await.map_err(db_err)?;
        issues += deleted;
        tokio::task::yield_now().await;
        if deleted < batch as u64 {
            return Ok(issues);
        }
    }
}

async fn stale_delete(
    tx: &mut SqliteConnection,
    sql: &'static str,
    project_id: i64,
    before: i64,
    batch: i64,
) -> Result<u64, StoreError> {
    Ok(sqlx::query(sql)
        .bind(project_id)
        .bind(before)
        .bind(batch)
        .execute(tx)
        .await
        .map_err(db_err)?
        .rows_affected())
}

/// Folds minute rollups of hours that ended before `before` into hourly rollups, `batch` minute
/// rows per transaction (adding to the hour where a previous chunk already started it). Walks the
/// project's issues in key order, so each minute row is read about once per pass.
async fn fold_minutes(
    pool: &SqlitePool,
    project_id: i64,
    before: i64,
    batch: i64,
) -> Result<u64, StoreError> {
    let mut from_issue = i64::MIN;
    let mut total = 0;
    loop {
        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
        let touched: Vec<i64> = sqlx::query_scalar(FOLD_MINUTES)
            .bind(project_id)
            .bind(from_issue)
            .bind(before)
            .bind(batch)
            .bind(HOUR_MS)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        let folded = sqlx::query(FOLDED_MINUTES)
            .bind(project_id)
            .bind(from_issue)
            .bind(before)
            .bind(batch)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?
            .rows_affected();
        tx.commit().await.map_err(db_err)?;
        total += folded;
        tokio::task::yield_now().await;
        match touched.into_iter().max() {
            Some(last) if folded >= batch as u64 => from_issue = last,
            _ => return Ok(total),
        }
    }
}

#[cfg(test)]
mod tests {
    use sentinel_store::Store;
    use sqlx::Row;

    use super::*;
    use crate::{SqliteOptions, SqliteStore};

    /// Retention runs beside ingest: every statement must reach its rows through an index, never
    /// by reading a whole table (of payloads, for events).
    #[tokio::test]
    async fn retention_statements_search_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&SqliteOptions::new(dir.path())).await.unwrap();
        store.migrate().await.unwrap();
        let statements = [
            OLD_EVENTS,
            OLD_ITEMS,
            OLD_HOUR_ROLLUPS,
            OLD_OUTCOMES,
            STALE_ISSUES,
            FOLD_MINUTES,
            FOLDED_MINUTES,
            OLD_NOTIFICATIONS,
            OLD_TRIGGERS,
            OLD_ALERT_STATES,
            OLD_CHECK_RESULTS,
            OLD_MONITOR_ROLLUPS,
        ];
        for sql in statements.iter().chain(&ISSUE_CHILDREN) {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")));
            for i in (1..=5).filter(|i| sql.contains(&format!("${i}"))) {
                query = query.bind(i);
            }
            let plan: Vec<String> = query
                .fetch_all(&store.main_w)
                .await
                .unwrap()
                .iter()
                .map(|step| step.try_get(3).unwrap())
                .collect();
            for detail in &plan {
                assert!(
                    !detail.starts_with("SCAN ") || detail.starts_with("SCAN (subquery"),
                    "{detail} in the plan of {sql}"
                );
            }
            // By age, not every row of the project.
            for table in ["events", "items"] {
                if sql.contains(&format!("FROM {table} WHERE project_id")) {
                    assert!(
                        plan.iter().any(|d| d.contains("received_ms<?")),
                        "{plan:?} for {sql}"
                    );
                }
            }
        }
    }
}
