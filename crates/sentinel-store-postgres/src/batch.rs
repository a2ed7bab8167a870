//! Applying a processed inbox batch: one transaction that acknowledges the claimed inbox rows,
//! stores new events, upserts issues, leaves alert triggers for new and regressed issues, rolls up
//! counts and tag values and adds outcomes, so a crash leaves either all of it or none of it.
//!
//! Several workers (on several nodes) apply batches at once. To keep them from deadlocking, every
//! transaction takes its row locks in one global order: inbox rows, event ids (sorted), issues
//! sorted by (project, hash), tag values sorted, tag keys sorted, rollups sorted with the hot
//! project-wide rows last, release users sorted, releases sorted by (project, version), outcomes
//! sorted. Should a deadlock or serialization failure happen
//! anyway, the whole transaction is retried.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;

use sentinel_store::{BatchOutcome, NewEvent, OutcomeCount, ProcessedBatch, StoreError, TriggerKind};
use sentinel_store_sql::{
    IssueAgg, IssueKey, IssueState, Reopen, issue_aggregates, issue_id, key_totals, reopen, tag_counts,
};
use sqlx::{PgConnection, PgPool, Row};

use crate::partitions::{Family, Partition};
use crate::{PgStore, db_err, sqlstate};

sentinel_store_sql::outcomes_and_dicts! {
    db: sqlx::Postgres,
    db_err: crate::db_err,
}

const MAX_ATTEMPTS: u32 = 5;

/// A failed attempt: a database error (maybe worth retrying) or a verdict that is final.
enum TxError {
    Sql(sqlx::Error),
    Store(StoreError),
}

impl From<sqlx::Error> for TxError {
    fn from(e: sqlx::Error) -> Self {
        TxError::Sql(e)
    }
}

impl From<StoreError> for TxError {
    fn from(e: StoreError) -> Self {
        TxError::Store(e)
    }
}

/// Deadlock detected, serialization failure: the transaction was rolled back and can simply run
/// again.
fn retryable(e: &sqlx::Error) -> bool {
    matches!(sqlstate(e).as_deref(), Some("40P01" | "40001"))
}

/// "no partition of relation … found for row": a partition this instance believed in was dropped
/// (by retention on another node).
fn partition_missing(e: &sqlx::Error) -> bool {
    sqlstate(e).as_deref() == Some("23514")
}

pub async fn apply(store: &PgStore, batch: &ProcessedBatch) -> Result<BatchOutcome, StoreError> {
    let wanted = partitions_for(batch)?;
    let mut attempt = 0;
    loop {
        attempt += 1;
        store
            .partitions
            .ensure(&store.pool, wanted.iter().cloned())
            .await?;
        match try_apply(&store.pool, &store.holder, batch).await {
            Ok(outcome) => return Ok(outcome),
            Err(TxError::Sql(e)) if attempt < MAX_ATTEMPTS && retryable(&e) => {
                tracing::debug!(attempt, error = %e, "batch transaction conflicted, retrying");
                tokio::time::sleep(Duration::from_millis(5 << attempt)).await;
            }
            Err(TxError::Sql(e)) if attempt < MAX_ATTEMPTS && partition_missing(&e) => {
                tracing::info!(error = %e, "a partition disappeared, checking partitions again");
                store.partitions.forget_all();
            }
            Err(TxError::Sql(e)) => return Err(db_err(e)),
            Err(TxError::Store(e)) => return Err(e),
        }
    }
}

/// The partitions the batch's rows can land in.
fn partitions_for(batch: &ProcessedBatch) -> Result<BTreeSet<Partition>, StoreError> {
    let mut out = BTreeSet::new();
    for ev in &batch.events {
        out.insert(Family::Events.partition_of(ev.received_ms)?);
        out.insert(Family::RollupsMinute.partition_of(minute(ev.timestamp_ms))?);
    }
    for it in &batch.items {
        out.insert(Family::Items.partition_of(it.received_ms)?);
    }
    Ok(out)
}

async fn try_apply(pool: &PgPool, holder: &str, batch: &ProcessedBatch) -> Result<BatchOutcome, TxError> {
    let mut tx = pool.begin().await?;
    match write(&mut tx, holder, batch).await {
        Ok(outcome) => {
            tx.commit().await?;
            Ok(outcome)
        }
        Err(e) => {
            // Explicitly, so the connection is clean before it goes back to the pool.
            tx.rollback().await.ok();
            Err(e)
        }
    }
}

async fn write(tx: &mut PgConnection, holder: &str, batch: &ProcessedBatch) -> Result<BatchOutcome, TxError> {
    acknowledge(&mut *tx, holder, &batch.acknowledged).await?;
    let mut outcome = BatchOutcome::default();

    let fresh = claim_event_ids(&mut *tx, &batch.events).await?;
    outcome.duplicates = (batch.events.len() - fresh.len()) as u64;

    // Sorted by (project, hash): the lock order of issue rows.
    let aggs = issue_aggregates(&fresh);
    let keys: Vec<IssueKey> = aggs.keys().copied().collect();
    let previous = lock_issues(&mut *tx, &keys).await?;
    let upserted = upsert_issues(&mut *tx, &aggs).await?;

    let now = batch
        .events
        .iter()
        .map(|e| e.received_ms)
        .max()
        .unwrap_or_default();
    let mut activity: Vec<(i64, &'static str, Option<String>)> = Vec::new();
    let mut reopened: Vec<(i64, Reopen)> = Vec::new();
    let mut new_issue_releases: Vec<(i64, &str)> = Vec::new();
    let mut ids: HashMap<IssueKey, i64> = HashMap::with_capacity(keys.len());
    // For event-driven alert rules; written exactly once, since a batch is never applied twice.
    let mut triggers: Vec<(i64, i64, TriggerKind)> = Vec::new();
    for (key, agg) in &aggs {
        let (id, inserted) = *upserted
            .get(key)
            .ok_or_else(|| TxError::Store(StoreError::Corrupt("issue upsert returned no id".into())))?;
        ids.insert(*key, id);
        if inserted {
            outcome.new_issues.push(id);
            triggers.push((key.0, id, TriggerKind::NewIssue));
            activity.push((id, "first_seen", None));
            if let Some(release) = agg.first.release.as_deref() {
                new_issue_releases.push((key.0, release));
            }
        } else if let Some(why) = previous.get(key).and_then(|prev| reopen(prev, agg)) {
            if matches!(why, Reopen::Regression { .. }) {
                outcome.regressed_issues.push(id);
                triggers.push((key.0, id, TriggerKind::Regression));
            }
            let (kind, data) = why.activity();
            activity.push((id, kind, data));
            reopened.push((id, why));
        }
    }
    reopen_issues(&mut *tx, &reopened).await?;
    insert_activity(&mut *tx, &activity, now).await?;
    // Inserts only: new rows nobody else locks, so they need no place in the lock order.
    crate::alerts::write_triggers(&mut *tx, &triggers, now).await?;

    insert_events(&mut *tx, &fresh, &ids).await?;
    outcome.events_stored = fresh.len() as u64;
    insert_items(&mut *tx, batch).await?;
    outcome.items_stored = batch.items.len() as u64;

    tag_values(&mut *tx, &fresh, &ids).await?;
    rollups(&mut *tx, &fresh, &ids).await?;
    // Every batch of a project touches its current release's row: as hot as the project-wide
    // rollups, so locked late too.
    crate::releases::write_releases(&mut *tx, &fresh, &new_issue_releases, &batch.sessions).await?;
    upsert_outcomes(&mut *tx, &batch.outcomes).await?;
    // Inserts only, like the items.
    crate::tenants::insert_request_rollups(&mut *tx, &batch.request_rollups).await?;
    Ok(outcome)
}

/// Deletes the acknowledged inbox rows, which must all still be leased to this instance. If some
/// are gone or leased to another instance (ours expired and it took them over), the batch must
/// not be applied: that instance is processing the same items.
async fn acknowledge(tx: &mut PgConnection, holder: &str, acknowledged: &[i64]) -> Result<(), TxError> {
    let mut ids = acknowledged.to_vec();
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(());
    }
    let deleted = sqlx::query("DELETE FROM inbox WHERE id = ANY($1) AND lease_holder = $2")
        .bind(&ids)
        .bind(holder)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if deleted < ids.len() as u64 {
        return Err(TxError::Store(StoreError::Conflict(format!(
            "{} of {} inbox items were taken over or already acknowledged by another instance; \
             the batch was not applied",
            ids.len() as u64 - deleted,
            ids.len()
        ))));
    }
    Ok(())
}

/// Records the batch's event ids; the ones that were not known yet (first occurrence of each
/// `(project, event_id)`, in batch order) are the events to store. A concurrent worker inserting
/// the same id waits for this transaction and then finds it taken.
async fn claim_event_ids<'a>(
    tx: &mut PgConnection,
    events: &'a [NewEvent],
) -> Result<Vec<&'a NewEvent>, TxError> {
    let mut seen: HashSet<(i64, &[u8; 16])> = HashSet::with_capacity(events.len());
    let candidates: Vec<&NewEvent> = events
        .iter()
        .filter(|ev| seen.insert((ev.project_id, ev.event_id.as_bytes())))
        .collect();
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let mut sorted = candidates.clone();
    sorted.sort_by(|a, b| (a.project_id, a.event_id.as_bytes()).cmp(&(b.project_id, b.event_id.as_bytes())));
    let project_ids: Vec<i64> = sorted.iter().map(|e| e.project_id).collect();
    let event_ids: Vec<&[u8]> = sorted.iter().map(|e| e.event_id.as_bytes().as_slice()).collect();
    let received: Vec<i64> = sorted.iter().map(|e| e.received_ms).collect();
    let rows = sqlx::query(
        "INSERT INTO event_ids (project_id, event_id, received_ms) \
         SELECT project_id, event_id, received_ms \
         FROM unnest($1::bigint[], $2::bytea[], $3::bigint[]) WITH ORDINALITY AS t(project_id, event_id, received_ms, ord) \
         ORDER BY ord \
         ON CONFLICT (project_id, event_id) DO NOTHING \
         RETURNING project_id, event_id",
    )
    .bind(project_ids)
    .bind(event_ids)
    .bind(received)
    .fetch_all(&mut *tx)
    .await?;
    let mut new: HashSet<(i64, Vec<u8>)> = HashSet::with_capacity(rows.len());
    for row in rows {
        new.insert((row.try_get(0)?, row.try_get(1)?));
    }
    Ok(candidates
        .into_iter()
        .filter(|ev| new.contains(&(ev.project_id, ev.event_id.as_bytes().to_vec())))
        .collect())
}

/// Locks the batch's existing issues in key order and returns their state before this batch.
async fn lock_issues<'a>(
    tx: &mut PgConnection,
    keys: &[IssueKey<'a>],
) -> Result<HashMap<IssueKey<'a>, IssueState>, TxError> {
    if keys.is_empty() {
        return Ok(HashMap::new());
    }
    let project_ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
    let hashes: Vec<&str> = keys.iter().map(|k| k.1).collect();
    // ORDER BY runs before the row locks are taken, so they are taken in key order.
    let rows = sqlx::query(
        "SELECT k.ord, i.status, i.times_seen, i.resolved_in_release, i.ignore_until_ms, i.ignore_until_count \
         FROM issues i \
         JOIN unnest($1::bigint[], $2::text[]) WITH ORDINALITY AS k(project_id, hash, ord) \
           ON i.project_id = k.project_id AND i.hash = k.hash \
         ORDER BY k.ord FOR UPDATE OF i",
    )
    .bind(project_ids)
    .bind(hashes)
    .fetch_all(&mut *tx)
    .await?;
    let mut out = HashMap::with_capacity(rows.len());
    for row in rows {
        let ord: i64 = row.try_get(0)?;
        let key = usize::try_from(ord - 1)
            .ok()
            .and_then(|i| keys.get(i))
            .ok_or_else(|| {
                TxError::Store(StoreError::Corrupt("issue lock returned an unknown key".into()))
            })?;
        let state = IssueState {
            status: row.try_get(1)?,
            times_seen: row.try_get(2)?,
            resolved_in_release: row.try_get(3)?,
            ignore_until_ms: row.try_get(4)?,
            ignore_until_count: row.try_get(5)?,
        };
        out.insert(*key, state);
    }
    Ok(out)
}

/// Inserts or updates the batch's issues in key order; per key its id and whether it is new.
async fn upsert_issues<'a>(
    tx: &mut PgConnection,
    aggs: &BTreeMap<IssueKey<'a>, IssueAgg<'a>>,
) -> Result<HashMap<IssueKey<'a>, (i64, bool)>, TxError> {
    if aggs.is_empty() {
        return Ok(HashMap::new());
    }
    let keys: Vec<IssueKey> = aggs.keys().copied().collect();
    let project_ids: Vec<i64> = keys.iter().map(|k| k.0).collect();
    let hashes: Vec<&str> = keys.iter().map(|k| k.1).collect();
    let titles: Vec<&str> = aggs.values().map(|a| a.first.title.as_str()).collect();
    let culprits: Vec<&str> = aggs.values().map(|a| a.first.culprit.as_str()).collect();
    let messages: Vec<Option<&str>> = aggs.values().map(|a| a.first.message.as_deref()).collect();
    let levels: Vec<&str> = aggs.values().map(|a| a.last.level.as_str()).collect();
    let platforms: Vec<&str> = aggs.values().map(|a| a.first.platform.as_str()).collect();
    let first_seen: Vec<i64> = aggs.values().map(|a| a.first_seen).collect();
    let last_seen: Vec<i64> = aggs.values().map(|a| a.last_seen).collect();
    let counts: Vec<i64> = aggs.values().map(|a| a.count).collect();
    let first_releases: Vec<Option<&str>> = aggs.values().map(|a| a.first.release.as_deref()).collect();
    let rows = sqlx::query(
        "INSERT INTO issues (project_id, hash, title, culprit, message, level, platform, first_seen_ms, last_seen_ms, times_seen, first_release) \
         SELECT project_id, hash, title, culprit, message, level, platform, first_seen_ms, last_seen_ms, times_seen, first_release \
         FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], \
                     $8::bigint[], $9::bigint[], $10::bigint[], $11::text[]) \
           WITH ORDINALITY AS t(project_id, hash, title, culprit, message, level, platform, first_seen_ms, last_seen_ms, times_seen, first_release, ord) \
         ORDER BY ord \
         ON CONFLICT (project_id, hash) DO UPDATE SET \
           times_seen = issues.times_seen + excluded.times_seen, \
           first_seen_ms = LEAST(issues.first_seen_ms, excluded.first_seen_ms), \
           last_seen_ms = GREATEST(issues.last_seen_ms, excluded.last_seen_ms), \
           level = excluded.level \
         RETURNING id, project_id, hash, (xmax = 0) AS inserted",
    )
    .bind(project_ids)
    .bind(hashes)
    .bind(titles)
    .bind(culprits)
    .bind(messages)
    .bind(levels)
    .bind(platforms)
    .bind(first_seen)
    .bind(last_seen)
    .bind(counts)
    .bind(first_releases)
    .fetch_all(&mut *tx)
    .await?;
    let wanted: HashMap<(i64, &str), IssueKey<'a>> = keys.iter().map(|k| (*k, *k)).collect();
    let mut out = HashMap::with_capacity(rows.len());
    for row in rows {
        let project_id: i64 = row.try_get(1)?;
        let hash: String = row.try_get(2)?;
        if let Some(key) = wanted.get(&(project_id, hash.as_str())) {
            out.insert(*key, (row.try_get(0)?, row.try_get(3)?));
        }
    }
    Ok(out)
}

/// Sets reopened issues (locked by this transaction already) unresolved: regressions marked as
/// such, expired ignores without their conditions.
async fn reopen_issues(tx: &mut PgConnection, reopened: &[(i64, Reopen)]) -> Result<(), TxError> {
    let (regressed, expired): (Vec<_>, Vec<_>) = reopened
        .iter()
        .partition(|(_, why)| matches!(why, Reopen::Regression { .. }));
    let statements = [
        (
            regressed,
            "UPDATE issues SET status = 'unresolved', is_regression = TRUE, resolved_in_release = NULL \
             WHERE id = ANY($1)",
        ),
        (
            expired,
            "UPDATE issues SET status = 'unresolved', ignore_until_ms = NULL, ignore_until_count = NULL \
             WHERE id = ANY($1)",
        ),
    ];
    for (issues, sql) in statements {
        if issues.is_empty() {
            continue;
        }
        let ids: Vec<i64> = issues.iter().map(|(id, _)| *id).collect();
        sqlx::query(sql).bind(ids).execute(&mut *tx).await?;
    }
    Ok(())
}

/// The system's activity entries (no user): issue, kind, JSON data.
async fn insert_activity(
    tx: &mut PgConnection,
    rows: &[(i64, &'static str, Option<String>)],
    now: i64,
) -> Result<(), TxError> {
    if rows.is_empty() {
        return Ok(());
    }
    let issue_ids: Vec<i64> = rows.iter().map(|r| r.0).collect();
    let kinds: Vec<&str> = rows.iter().map(|r| r.1).collect();
    let data: Vec<Option<&str>> = rows.iter().map(|r| r.2.as_deref()).collect();
    sqlx::query(
        "INSERT INTO activity (issue_id, kind, data, created_ms) \
         SELECT issue_id, kind, data, $4 \
         FROM unnest($1::bigint[], $2::text[], $3::text[]) WITH ORDINALITY AS t(issue_id, kind, data, ord) \
         ORDER BY ord",
    )
    .bind(issue_ids)
    .bind(kinds)
    .bind(data)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn insert_events(
    tx: &mut PgConnection,
    events: &[&NewEvent],
    ids: &HashMap<IssueKey<'_>, i64>,
) -> Result<(), TxError> {
    if events.is_empty() {
        return Ok(());
    }
    let issue_ids: Vec<i64> = events
        .iter()
        .map(|ev| issue_id(ids, ev))
        .collect::<Result<_, _>>()?;
    sqlx::query(
        "INSERT INTO events (project_id, event_id, issue_id, timestamp_ms, received_ms, level, platform, title, \
                             message, environment, release, dict_id, payload) \
         SELECT project_id, event_id, issue_id, timestamp_ms, received_ms, level, platform, title, \
                message, environment, release, dict_id, payload \
         FROM unnest($1::bigint[], $2::bytea[], $3::bigint[], $4::bigint[], $5::bigint[], $6::text[], $7::text[], \
                     $8::text[], $9::text[], $10::text[], $11::text[], $12::bigint[], $13::bytea[]) \
           WITH ORDINALITY AS t(project_id, event_id, issue_id, timestamp_ms, received_ms, level, platform, title, \
                                message, environment, release, dict_id, payload, ord) \
         ORDER BY ord",
    )
    .bind(events.iter().map(|e| e.project_id).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.event_id.as_bytes().as_slice()).collect::<Vec<_>>())
    .bind(issue_ids)
    .bind(events.iter().map(|e| e.timestamp_ms).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.received_ms).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.level.as_str()).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.platform.as_str()).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.title.as_str()).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.message.as_deref()).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.environment.as_deref()).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.release.as_deref()).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.dict_id).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.payload.as_slice()).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn insert_items(tx: &mut PgConnection, batch: &ProcessedBatch) -> Result<(), TxError> {
    let items = &batch.items;
    if items.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO items (project_id, kind, event_id, received_ms, headers_json, payload) \
         SELECT project_id, kind, event_id, received_ms, headers_json, payload \
         FROM unnest($1::bigint[], $2::text[], $3::bytea[], $4::bigint[], $5::text[], $6::bytea[]) \
           WITH ORDINALITY AS t(project_id, kind, event_id, received_ms, headers_json, payload, ord) \
         ORDER BY ord",
    )
    .bind(items.iter().map(|i| i.project_id).collect::<Vec<_>>())
    .bind(items.iter().map(|i| i.kind.as_str()).collect::<Vec<_>>())
    .bind(
        items
            .iter()
            .map(|i| i.event_id.as_ref().map(|e| e.as_bytes().as_slice()))
            .collect::<Vec<_>>(),
    )
    .bind(items.iter().map(|i| i.received_ms).collect::<Vec<_>>())
    .bind(
        items
            .iter()
            .map(|i| i.headers_json.as_deref())
            .collect::<Vec<_>>(),
    )
    .bind(items.iter().map(|i| i.payload.as_slice()).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

pub(crate) fn minute(ms: i64) -> i64 {
    ms - ms.rem_euclid(60_000)
}

/// Upserts the batch's tag values, then adds to their keys' totals.
async fn tag_values(
    tx: &mut PgConnection,
    events: &[&NewEvent],
    ids: &HashMap<IssueKey<'_>, i64>,
) -> Result<(), TxError> {
    // Sorted: the lock order.
    let agg = tag_counts(events, ids)?;
    if agg.is_empty() {
        return Ok(());
    }
    let stored: Vec<(i64, String, String, i64)> = sqlx::query_as(
        "INSERT INTO issue_tag_values (issue_id, key, value, count, first_seen_ms, last_seen_ms) \
         SELECT issue_id, key, value, count, first_seen_ms, last_seen_ms \
         FROM unnest($1::bigint[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[]) \
           WITH ORDINALITY AS t(issue_id, key, value, count, first_seen_ms, last_seen_ms, ord) \
         ORDER BY ord \
         ON CONFLICT (issue_id, key, value) DO UPDATE SET \
           count = issue_tag_values.count + excluded.count, \
           first_seen_ms = LEAST(issue_tag_values.first_seen_ms, excluded.first_seen_ms), \
           last_seen_ms = GREATEST(issue_tag_values.last_seen_ms, excluded.last_seen_ms) \
         RETURNING issue_id, key, value, count",
    )
    .bind(agg.keys().map(|k| k.0).collect::<Vec<_>>())
    .bind(agg.keys().map(|k| k.1).collect::<Vec<_>>())
    .bind(agg.keys().map(|k| k.2).collect::<Vec<_>>())
    .bind(agg.values().map(|v| v.0).collect::<Vec<_>>())
    .bind(agg.values().map(|v| v.1).collect::<Vec<_>>())
    .bind(agg.values().map(|v| v.2).collect::<Vec<_>>())
    .fetch_all(&mut *tx)
    .await?;
    // Sorted too: keys lock after values.
    let totals = key_totals(&agg, &stored)?;
    sqlx::query(
        "INSERT INTO issue_tag_keys (issue_id, key, total, unique_values) \
         SELECT issue_id, key, total, unique_values \
         FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[]) \
           WITH ORDINALITY AS t(issue_id, key, total, unique_values, ord) \
         ORDER BY ord \
         ON CONFLICT (issue_id, key) DO UPDATE SET \
           total = issue_tag_keys.total + excluded.total, \
           unique_values = issue_tag_keys.unique_values + excluded.unique_values",
    )
    .bind(totals.keys().map(|k| k.0).collect::<Vec<_>>())
    .bind(totals.keys().map(|k| k.1).collect::<Vec<_>>())
    .bind(totals.values().map(|v| v.0).collect::<Vec<_>>())
    .bind(totals.values().map(|v| v.1).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn rollups(
    tx: &mut PgConnection,
    events: &[&NewEvent],
    ids: &HashMap<IssueKey<'_>, i64>,
) -> Result<(), TxError> {
    // Keyed (is the project-wide row, project, issue, minute): every worker touches the project
    // rows, so they sort last and their locks are held for the shortest time.
    let mut counts: BTreeMap<(bool, i64, i64, i64), i64> = BTreeMap::new();
    for ev in events {
        let m = minute(ev.timestamp_ms);
        *counts.entry((true, ev.project_id, 0, m)).or_default() += 1;
        *counts
            .entry((false, ev.project_id, issue_id(ids, ev)?, m))
            .or_default() += 1;
    }
    if counts.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO rollups_minute (project_id, issue_id, minute_ms, count) \
         SELECT project_id, issue_id, minute_ms, count \
         FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[]) \
           WITH ORDINALITY AS t(project_id, issue_id, minute_ms, count, ord) \
         ORDER BY ord \
         ON CONFLICT (project_id, issue_id, minute_ms) DO UPDATE SET count = rollups_minute.count + excluded.count",
    )
    .bind(counts.keys().map(|k| k.1).collect::<Vec<_>>())
    .bind(counts.keys().map(|k| k.2).collect::<Vec<_>>())
    .bind(counts.keys().map(|k| k.3).collect::<Vec<_>>())
    .bind(counts.values().copied().collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

async fn upsert_outcomes(tx: &mut PgConnection, outcomes: &[OutcomeCount]) -> Result<(), sqlx::Error> {
    let mut agg: BTreeMap<(i64, i64, &str, &str, &str), i64> = BTreeMap::new();
    for o in outcomes {
        *agg.entry((o.project_id, o.minute_ms, &o.category, &o.outcome, &o.reason))
            .or_default() += i64::try_from(o.quantity).unwrap_or(i64::MAX);
    }
    if agg.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO outcomes (project_id, minute_ms, category, outcome, reason, quantity) \
         SELECT project_id, minute_ms, category, outcome, reason, quantity \
         FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::bigint[]) \
           WITH ORDINALITY AS t(project_id, minute_ms, category, outcome, reason, quantity, ord) \
         ORDER BY ord \
         ON CONFLICT (project_id, minute_ms, category, outcome, reason) \
           DO UPDATE SET quantity = outcomes.quantity + excluded.quantity",
    )
    .bind(agg.keys().map(|k| k.0).collect::<Vec<_>>())
    .bind(agg.keys().map(|k| k.1).collect::<Vec<_>>())
    .bind(agg.keys().map(|k| k.2).collect::<Vec<_>>())
    .bind(agg.keys().map(|k| k.3).collect::<Vec<_>>())
    .bind(agg.keys().map(|k| k.4).collect::<Vec<_>>())
    .bind(agg.values().copied().collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    Ok(())
}

pub async fn record_outcomes(pool: &PgPool, outcomes: &[OutcomeCount]) -> Result<(), StoreError> {
    let mut conn = pool.acquire().await.map_err(db_err)?;
    // One statement: atomic on its own.
    upsert_outcomes(&mut conn, outcomes).await.map_err(db_err)
}

/// Newest by arrival: ordered like the partitions, so only the newest partitions are read.
pub async fn sample_payloads(
    pool: &PgPool,
    project_id: i64,
    limit: usize,
) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
    let rows = sqlx::query(
        "SELECT dict_id, payload FROM events WHERE project_id = $1 \
         ORDER BY received_ms DESC, id DESC LIMIT $2",
    )
    .bind(project_id)
    .bind(i64::try_from(limit).unwrap_or(i64::MAX))
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    rows.iter()
        .map(|r| Ok((r.try_get(0).map_err(db_err)?, r.try_get(1).map_err(db_err)?)))
        .collect()
}
