//! One retention pass. Whole partitions are dropped where every row in them has expired: daily
//! `events`/`items` partitions past the longest retention of any project, minute-rollup partitions
//! once folded into hourly rollups, monthly hourly-rollup partitions past their retention, daily
//! check-result partitions past theirs that hold no result still queued for the verifier. Rows
//! are deleted (at most `delete_batch` per statement) only where a partition holds rows to keep:
//! projects with a shorter retention than the longest, issues, releases, outcomes, partial
//! partitions of rollups and check results, and monitor rollups (not partitioned).
//!
//! Event rows of the longest retention are kept until their whole day has expired, so they live
//! up to one day longer than the policy says; `event_ids` is pruned along exactly what was deleted,
//! so `get_event` and de-duplication stay consistent with the stored events.

use std::time::Duration;

use sentinel_store::{DAY_MS, HOUR_MS, Resolution, RetentionPolicy, RetentionReport, StoreError};
use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{PgPool, Postgres};

use crate::partitions::{self, Family, Partition};
use crate::{PgStore, db_err, sqlstate};

const DDL_LOCK_TIMEOUT: &str = "10s";
const MAX_ATTEMPTS: u32 = 5;

pub async fn apply(
    store: &PgStore,
    policy: &RetentionPolicy,
    now_ms: i64,
) -> Result<RetentionReport, StoreError> {
    let mut report = RetentionReport::default();
    let batch = i64::try_from(policy.delete_batch.max(1)).unwrap_or(i64::MAX);
    events_and_items(store, policy, now_ms, batch, &mut report).await?;
    issues(&store.pool, policy, now_ms, batch, &mut report).await?;
    compact_minute_rollups(store, policy, now_ms, &mut report).await?;
    hour_rollups_and_outcomes(store, policy, now_ms, batch, &mut report).await?;
    alerts(&store.pool, policy, now_ms, batch, &mut report).await?;
    check_results(store, policy, now_ms, batch, &mut report).await?;
    monitor_rollups(&store.pool, now_ms, batch, &mut report).await?;
    let cutoff = now_ms.saturating_sub(days_ms(policy.request_rollup_days));
    report.request_rollups_deleted += delete_all(&store.pool, batch, || {
        sqlx::query(
            "WITH d AS (DELETE FROM request_rollups WHERE id IN \
               (SELECT id FROM request_rollups WHERE minute_ms < $1 LIMIT $2) RETURNING 1) \
             SELECT count(*) FROM d",
        )
        .bind(cutoff)
        .bind(batch)
    })
    .await?;
    Ok(report)
}

fn days_ms(days: u32) -> i64 {
    i64::from(days) * DAY_MS
}

/// Runs a statement that answers one `count(*)`, again after a deadlock (a worker's batch and
/// this pass touching the same issue rows in different orders).
async fn count_retrying<'q>(
    pool: &PgPool,
    make: impl Fn() -> Query<'q, Postgres, PgArguments>,
) -> Result<u64, StoreError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match make().fetch_one(pool).await {
            Ok(row) => {
                let n: i64 = sqlx::Row::try_get(&row, 0).map_err(db_err)?;
                return Ok(n.max(0) as u64);
            }
            Err(e)
                if attempt < MAX_ATTEMPTS && matches!(sqlstate(&e).as_deref(), Some("40P01" | "40001")) =>
            {
                tokio::time::sleep(Duration::from_millis(10 << attempt)).await;
            }
            Err(e) => return Err(db_err(e)),
        }
    }
}

/// Repeats a batched delete (answering the number of rows it deleted) until a statement deletes
/// less than a full batch.
async fn delete_all<'q>(
    pool: &PgPool,
    batch: i64,
    make: impl Fn() -> Query<'q, Postgres, PgArguments>,
) -> Result<u64, StoreError> {
    let mut total = 0;
    loop {
        let n = count_retrying(pool, &make).await?;
        total += n;
        if n < batch as u64 {
            return Ok(total);
        }
    }
}

/// What must hold before a partition is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Guard {
    /// Nothing: its rows are simply past retention.
    None,
    /// A check results partition: kept while a result in it is still queued for the verifier.
    /// Writers of check results wait meanwhile (readers do not), locking the parent first as they
    /// do: the queue is read once every checker writing results has committed (its queue entries
    /// are seen), and a checker that comes later finds the partition gone and creates it again.
    Unverified,
}

/// Counts and drops one partition; `None` if it was already gone or the guard kept it.
async fn drop_partition(store: &PgStore, part: &Partition, guard: Guard) -> Result<Option<u64>, StoreError> {
    let name = part.name();
    let result: Result<Option<i64>, sqlx::Error> = async {
        let mut tx = store.pool.begin().await?;
        sqlx::query("SELECT set_config('lock_timeout', $1, true)")
            .bind(DDL_LOCK_TIMEOUT)
            .execute(&mut *tx)
            .await?;
        if guard == Guard::Unverified {
            sqlx::query("LOCK TABLE ONLY check_results IN SHARE ROW EXCLUSIVE MODE")
                .execute(&mut *tx)
                .await?;
            let queued: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM verify_queue WHERE slot_ms >= $1 AND slot_ms < $2)",
            )
            .bind(part.from_ms)
            .bind(part.to_ms)
            .fetch_one(&mut *tx)
            .await?;
            if queued {
                return Ok(None);
            }
        }
        let rows: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {name}")))
            .fetch_one(&mut *tx)
            .await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE {name}")))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Some(rows))
    }
    .await;
    match result {
        Ok(Some(rows)) => {
            store.partitions.forget(&name);
            tracing::info!(partition = %name, rows, "dropped expired partition");
            Ok(Some(rows.max(0) as u64))
        }
        Ok(None) => Ok(None),
        Err(e) if sqlstate(&e).as_deref() == Some("42P01") => {
            store.partitions.forget(&name);
            Ok(None)
        }
        Err(e) => {
            store.partitions.forget(&name);
            Err(db_err(e))
        }
    }
}

/// Drops the partitions of `family` that end at or before `before_ms`; returns the rows they held.
async fn drop_expired(
    store: &PgStore,
    family: Family,
    before_ms: i64,
    guard: Guard,
    report: &mut RetentionReport,
) -> Result<u64, StoreError> {
    let mut rows = 0;
    for part in partitions::list(&store.pool, family).await? {
        if part.to_ms > before_ms {
            break;
        }
        if let Some(n) = drop_partition(store, &part, guard).await? {
            rows += n;
            report.partitions_dropped.push(part.name());
        }
    }
    Ok(rows)
}

async fn events_and_items(
    store: &PgStore,
    policy: &RetentionPolicy,
    now_ms: i64,
    batch: i64,
    report: &mut RetentionReport,
) -> Result<(), StoreError> {
    let longest = policy.longest_event_days();
    let cutoff = now_ms.saturating_sub(days_ms(longest));
    let events = drop_expired(store, Family::Events, cutoff, Guard::None, report).await?;
    report.events_deleted += events;
    let items = drop_expired(store, Family::Items, cutoff, Guard::None, report).await?;
    report.items_deleted += items;
    // Every event in a partition ending at or before the cutoff is gone: their ids go too.
    let dropped_before = cutoff - cutoff.rem_euclid(DAY_MS);
    delete_all(&store.pool, batch, || {
        sqlx::query(
            "WITH d AS (DELETE FROM event_ids WHERE (project_id, event_id) IN \
               (SELECT project_id, event_id FROM event_ids WHERE received_ms < $1 LIMIT $2) RETURNING 1) \
             SELECT count(*) FROM d",
        )
        .bind(dropped_before)
        .bind(batch)
    })
    .await?;

    // Projects keeping events for less than the longest retention share partitions with those
    // keeping them longer: their rows go one batch at a time.
    let projects: Vec<i64> = sqlx::query_scalar("SELECT id FROM projects ORDER BY id")
        .fetch_all(&store.pool)
        .await
        .map_err(db_err)?;
    for project_id in projects {
        let days = policy.event_days_for(project_id);
        if days >= longest {
            continue;
        }
        let cutoff = now_ms.saturating_sub(days_ms(days));
        report.events_deleted += delete_all(&store.pool, batch, || {
            sqlx::query(
                "WITH d AS (DELETE FROM events WHERE (id, received_ms) IN \
                   (SELECT id, received_ms FROM events WHERE project_id = $1 AND received_ms < $2 LIMIT $3) \
                   RETURNING 1) \
                 SELECT count(*) FROM d",
            )
            .bind(project_id)
            .bind(cutoff)
            .bind(batch)
        })
        .await?;
        report.items_deleted += delete_all(&store.pool, batch, || {
            sqlx::query(
                "WITH d AS (DELETE FROM items WHERE (id, received_ms) IN \
                   (SELECT id, received_ms FROM items WHERE project_id = $1 AND received_ms < $2 LIMIT $3) \
                   RETURNING 1) \
                 SELECT count(*) FROM d",
            )
            .bind(project_id)
            .bind(cutoff)
            .bind(batch)
        })
        .await?;
        delete_all(&store.pool, batch, || {
            sqlx::query(
                "WITH d AS (DELETE FROM event_ids WHERE (project_id, event_id) IN \
                   (SELECT project_id, event_id FROM event_ids WHERE project_id = $1 AND received_ms < $2 LIMIT $3) \
                   RETURNING 1) \
                 SELECT count(*) FROM d",
            )
            .bind(project_id)
            .bind(cutoff)
            .bind(batch)
        })
        .await?;
    }
    Ok(())
}

/// Issues last seen before their project's cutoff and without events left (an event sent late
/// with an old timestamp outlives its issue's `last_seen`; the issue stays until that event
/// expires too, so no event points at a deleted issue), with their tag values, activity, comments
/// and rollups.
async fn issues(
    pool: &PgPool,
    policy: &RetentionPolicy,
    now_ms: i64,
    batch: i64,
    report: &mut RetentionReport,
) -> Result<(), StoreError> {
    let projects: Vec<i64> = sqlx::query_scalar("SELECT id FROM projects ORDER BY id")
        .fetch_all(pool)
        .await
        .map_err(db_err)?;
    for project_id in projects {
        let cutoff = now_ms.saturating_sub(days_ms(policy.event_days_for(project_id)));
        report.issues_deleted += delete_all(pool, batch, || {
            sqlx::query(
                "WITH gone AS (DELETE FROM issues WHERE id IN \
                   (SELECT id FROM issues WHERE project_id = $1 AND last_seen_ms < $2 \
                    AND NOT EXISTS (SELECT 1 FROM events WHERE events.issue_id = issues.id) \
                    ORDER BY last_seen_ms, id LIMIT $3) \
                   RETURNING id), \
                 tags AS (DELETE FROM issue_tag_values WHERE issue_id IN (SELECT id FROM gone)), \
                 tag_keys AS (DELETE FROM issue_tag_keys WHERE issue_id IN (SELECT id FROM gone)), \
                 acts AS (DELETE FROM activity WHERE issue_id IN (SELECT id FROM gone)), \
                 comms AS (DELETE FROM comments WHERE issue_id IN (SELECT id FROM gone)), \
                 minutes AS (DELETE FROM rollups_minute WHERE project_id = $1 AND issue_id IN (SELECT id FROM gone)), \
                 hours AS (DELETE FROM rollups_hour WHERE project_id = $1 AND issue_id IN (SELECT id FROM gone)) \
                 SELECT count(*) FROM gone",
            )
            .bind(project_id)
            .bind(cutoff)
            .bind(batch)
        })
        .await?;
        // A release's users first (the order batches lock them in), then the release once it has
        // none left.
        delete_all(pool, batch, || {
            sqlx::query(
                "WITH gone AS (DELETE FROM release_users WHERE (project_id, version, user_hash) IN \
                   (SELECT u.project_id, u.version, u.user_hash FROM releases r JOIN release_users u \
                    ON u.project_id = r.project_id AND u.version = r.version \
                    WHERE r.project_id = $1 AND r.last_seen_ms < $2 LIMIT $3) RETURNING 1) \
                 SELECT count(*) FROM gone",
            )
            .bind(project_id)
            .bind(cutoff)
            .bind(batch)
        })
        .await?;
        report.releases_deleted += delete_all(pool, batch, || {
            sqlx::query(
                "WITH gone AS (DELETE FROM releases WHERE id IN \
                   (SELECT id FROM releases WHERE project_id = $1 AND last_seen_ms < $2 AND NOT EXISTS \
                     (SELECT 1 FROM release_users u \
                      WHERE u.project_id = releases.project_id AND u.version = releases.version) \
                    LIMIT $3) RETURNING 1) \
                 SELECT count(*) FROM gone",
            )
            .bind(project_id)
            .bind(cutoff)
            .bind(batch)
        })
        .await?;
    }
    Ok(())
}

/// Folds minute rollups of hours that ended before the minute retention's cutoff into hourly
/// rollups, in one transaction
/// with their removal, so every count is in exactly one of the two tables at any time. Writers of
/// minute rollups wait meanwhile (readers do not): a late event must not land in a partition
/// between its fold and its drop.
async fn compact_minute_rollups(
    store: &PgStore,
    policy: &RetentionPolicy,
    now_ms: i64,
    report: &mut RetentionReport,
) -> Result<(), StoreError> {
    // Only whole hours are folded, so no hour is ever half minute rows, half an hourly row.
    let cutoff = now_ms.saturating_sub(days_ms(policy.minute_rollup_days));
    let cutoff = cutoff - cutoff.rem_euclid(HOUR_MS);
    let whole_before = cutoff - cutoff.rem_euclid(DAY_MS);
    let existing = partitions::list(&store.pool, Family::RollupsMinute).await?;
    let Some(oldest) = existing.first() else {
        return Ok(());
    };
    if oldest.from_ms >= cutoff {
        return Ok(());
    }
    let whole: Vec<&Partition> = existing.iter().filter(|p| p.to_ms <= whole_before).collect();
    store
        .partitions
        .ensure(&store.pool, Family::RollupsHour.covering(oldest.from_ms, cutoff)?)
        .await?;

    let mut attempt = 0;
    let compacted = loop {
        attempt += 1;
        match fold(&store.pool, &whole, whole_before, cutoff).await {
            Ok(n) => break n,
            Err(e)
                if attempt < MAX_ATTEMPTS && matches!(sqlstate(&e).as_deref(), Some("40P01" | "40001")) =>
            {
                tokio::time::sleep(Duration::from_millis(10 << attempt)).await;
            }
            Err(e) => return Err(db_err(e)),
        }
    };
    report.minute_rollups_compacted += compacted;
    for part in whole {
        store.partitions.forget(&part.name());
        report.partitions_dropped.push(part.name());
    }
    Ok(())
}

/// The start of the hour of `minute_ms` (a floor, also before 1970).
fn hour_of_minute() -> String {
    format!("minute_ms - ((minute_ms % {HOUR_MS}) + {HOUR_MS}) % {HOUR_MS}")
}

async fn fold(
    pool: &PgPool,
    whole: &[&Partition],
    whole_before: i64,
    cutoff: i64,
) -> Result<u64, sqlx::Error> {
    let hour_of_minute = hour_of_minute();
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT set_config('lock_timeout', $1, true)")
        .bind(DDL_LOCK_TIMEOUT)
        .execute(&mut *tx)
        .await?;
    sqlx::query("LOCK TABLE ONLY rollups_minute IN SHARE ROW EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    // Whole expired partitions: copy, then drop.
    let copied: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "WITH src AS (SELECT project_id, issue_id, minute_ms, count FROM rollups_minute WHERE minute_ms < $1), \
         ins AS (INSERT INTO rollups_hour (project_id, issue_id, hour_ms, count) \
                 SELECT project_id, issue_id, {hour_of_minute} AS hour, sum(count) FROM src \
                 GROUP BY project_id, issue_id, hour ORDER BY project_id, issue_id, hour \
                 ON CONFLICT (project_id, issue_id, hour_ms) DO UPDATE SET count = rollups_hour.count + excluded.count) \
         SELECT count(*) FROM src"
    )))
    .bind(whole_before)
    .fetch_one(&mut *tx)
    .await?;
    for part in whole {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP TABLE {}", part.name())))
            .execute(&mut *tx)
            .await?;
    }
    // The expired part of the partition the cutoff falls in: move row by row.
    let moved: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "WITH src AS (DELETE FROM rollups_minute WHERE minute_ms >= $1 AND minute_ms < $2 \
                      RETURNING project_id, issue_id, minute_ms, count), \
         ins AS (INSERT INTO rollups_hour (project_id, issue_id, hour_ms, count) \
                 SELECT project_id, issue_id, {hour_of_minute} AS hour, sum(count) FROM src \
                 GROUP BY project_id, issue_id, hour ORDER BY project_id, issue_id, hour \
                 ON CONFLICT (project_id, issue_id, hour_ms) DO UPDATE SET count = rollups_hour.count + excluded.count) \
         SELECT count(*) FROM src"
    )))
    .bind(whole_before)
    .bind(cutoff)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok((copied + moved).max(0) as u64)
}

async fn hour_rollups_and_outcomes(
    store: &PgStore,
    policy: &RetentionPolicy,
    now_ms: i64,
    batch: i64,
    report: &mut RetentionReport,
) -> Result<(), StoreError> {
    let cutoff = now_ms.saturating_sub(days_ms(policy.hour_rollup_days));
    let dropped = drop_expired(store, Family::RollupsHour, cutoff, Guard::None, report).await?;
    report.hour_rollups_deleted += dropped;
    report.hour_rollups_deleted += delete_all(&store.pool, batch, || {
        sqlx::query(
            "WITH d AS (DELETE FROM rollups_hour WHERE (project_id, issue_id, hour_ms) IN \
               (SELECT project_id, issue_id, hour_ms FROM rollups_hour WHERE hour_ms < $1 LIMIT $2) RETURNING 1) \
             SELECT count(*) FROM d",
        )
        .bind(cutoff)
        .bind(batch)
    })
    .await?;
    report.outcomes_deleted += delete_all(&store.pool, batch, || {
        sqlx::query(
            "WITH d AS (DELETE FROM outcomes WHERE (project_id, minute_ms, category, outcome, reason) IN \
               (SELECT project_id, minute_ms, category, outcome, reason FROM outcomes WHERE minute_ms < $1 LIMIT $2) \
               RETURNING 1) \
             SELECT count(*) FROM d",
        )
        .bind(cutoff)
        .bind(batch)
    })
    .await?;
    Ok(())
}

/// Notifications no longer pending, older than the hourly rollups (their deliveries go by
/// cascade), then rule states out of their condition since before the same cutoff, and triggers
/// no evaluator consumed (alerting off) once every project's events of their time are gone.
///
/// Every notification of a state's episodes is older than the state and is gone by then, so a
/// subject that fires again may start over at episode 1 without meeting a stored idempotency
/// key. A rule's notification still pending from before the cutoff (a notifier that never ran)
/// would keep its key: no state is deleted while one is left.
async fn alerts(
    pool: &PgPool,
    policy: &RetentionPolicy,
    now_ms: i64,
    batch: i64,
    report: &mut RetentionReport,
) -> Result<(), StoreError> {
    let cutoff = now_ms.saturating_sub(days_ms(policy.hour_rollup_days));
    report.notifications_deleted += delete_all(pool, batch, || {
        sqlx::query(
            "WITH d AS (DELETE FROM notifications WHERE id IN \
               (SELECT id FROM notifications WHERE created_ms < $1 AND status <> 'pending' LIMIT $2) \
               RETURNING 1) \
             SELECT count(*) FROM d",
        )
        .bind(cutoff)
        .bind(batch)
    })
    .await?;
    // The conditions stand outside the subquery too: a state an evaluator sets firing meanwhile
    // is checked again once its lock is released, and kept.
    report.alert_states_deleted += delete_all(pool, batch, || {
        sqlx::query(
            "WITH d AS (DELETE FROM alert_states WHERE firing = FALSE AND since_ms < $1 \
               AND (rule_id, subject) IN \
               (SELECT rule_id, subject FROM alert_states WHERE firing = FALSE AND since_ms < $1 \
                AND NOT EXISTS (SELECT 1 FROM notifications \
                 WHERE created_ms < $1 AND status = 'pending' AND rule_id IS NOT NULL) \
                LIMIT $2) \
               RETURNING 1) \
             SELECT count(*) FROM d",
        )
        .bind(cutoff)
        .bind(batch)
    })
    .await?;
    let cutoff = now_ms.saturating_sub(days_ms(policy.longest_event_days()));
    delete_all(pool, batch, || {
        sqlx::query(
            "WITH d AS (DELETE FROM alert_triggers WHERE id IN \
               (SELECT id FROM alert_triggers WHERE at_ms < $1 LIMIT $2) RETURNING 1) \
             SELECT count(*) FROM d",
        )
        .bind(cutoff)
        .bind(batch)
    })
    .await?;
    Ok(())
}

/// Check results slotted before the cutoff: whole daily partitions that end by then and hold no
/// result the verifier still has to judge are dropped, the rest deleted row by row, never a
/// queued result.
async fn check_results(
    store: &PgStore,
    policy: &RetentionPolicy,
    now_ms: i64,
    batch: i64,
    report: &mut RetentionReport,
) -> Result<(), StoreError> {
    let cutoff = now_ms.saturating_sub(days_ms(policy.check_result_days));
    report.check_results_deleted +=
        drop_expired(store, Family::CheckResults, cutoff, Guard::Unverified, report).await?;
    report.check_results_deleted += delete_all(&store.pool, batch, || {
        sqlx::query(
            "WITH d AS (DELETE FROM check_results WHERE (id, slot_ms) IN \
               (SELECT id, slot_ms FROM check_results r WHERE slot_ms < $1 \
                AND NOT EXISTS (SELECT 1 FROM verify_queue q WHERE q.result_id = r.id) LIMIT $2) \
               RETURNING 1) \
             SELECT count(*) FROM d",
        )
        .bind(cutoff)
        .bind(batch)
    })
    .await?;
    Ok(())
}

/// Monitor rollup rows (counts and latency histograms) past their resolution's retention.
async fn monitor_rollups(
    pool: &PgPool,
    now_ms: i64,
    batch: i64,
    report: &mut RetentionReport,
) -> Result<(), StoreError> {
    // (table, its key columns): statements from constants only.
    const TABLES: [(&str, &str); 2] = [
        ("monitor_rollups", "monitor_id, resolution, bucket_ms"),
        ("monitor_latency", "monitor_id, resolution, bucket_ms, bin"),
    ];
    for resolution in Resolution::ALL {
        let cutoff = now_ms.saturating_sub(days_ms(resolution.retention_days()));
        for (table, key) in TABLES {
            let sql = format!(
                "WITH d AS (DELETE FROM {table} WHERE ({key}) IN \
                   (SELECT {key} FROM {table} \
                    WHERE resolution = $1 AND bucket_ms < $2 LIMIT $3) RETURNING 1) \
                 SELECT count(*) FROM d"
            );
            report.monitor_rollups_deleted += delete_all(pool, batch, || {
                sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                    .bind(resolution.as_str())
                    .bind(cutoff)
                    .bind(batch)
            })
            .await?;
        }
    }
    Ok(())
}
