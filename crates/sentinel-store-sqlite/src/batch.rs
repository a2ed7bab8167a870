//! Applying a processed inbox batch: one transaction that stores events, upserts issues, rolls up
//! counts, updates releases, leaves alert triggers for new and regressed issues and advances the
//! worker cursor, so a crash leaves either all of it or none of it.

use std::collections::{BTreeMap, HashMap, HashSet};

use sentinel_store::{BatchOutcome, NewEvent, OutcomeCount, ProcessedBatch, StoreError, TriggerKind};
use sentinel_store_sql::{
    IssueAgg, IssueState, Reopen, issue_aggregates, issue_id, key_totals, reopen, tag_counts,
};
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection, SqlitePool};

use crate::db_err;

sentinel_store_sql::outcomes_and_dicts! {
    db: sqlx::Sqlite,
    db_err: crate::db_err,
}

const CHUNK: usize = 400;

pub async fn apply(
    pool: &SqlitePool,
    batch: &ProcessedBatch,
    max_id: Option<i64>,
) -> Result<BatchOutcome, StoreError> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await.map_err(db_err)?;
    refuse_acknowledged(&mut tx, &batch.acknowledged).await?;
    let mut outcome = BatchOutcome::default();

    let fresh = new_events(&mut tx, &batch.events).await?;
    outcome.duplicates = (batch.events.len() - fresh.len()) as u64;

    // Per (project, hash), in key order: new issue ids follow that order.
    let aggs = issue_aggregates(&fresh);
    let keys: Vec<(i64, &str)> = aggs.keys().copied().collect();
    let existing = existing_issues(&mut tx, &keys).await?;
    let ids = upsert_issues(&mut tx, &aggs).await?;

    let now = batch
        .events
        .iter()
        .map(|e| e.received_ms)
        .max()
        .unwrap_or_default();
    let mut activity: Vec<(i64, &'static str, Option<String>)> = Vec::new();
    let mut new_issue_releases: Vec<(i64, &str)> = Vec::new();
    // For event-driven alert rules; written exactly once, since a batch is never applied twice.
    let mut triggers: Vec<(i64, i64, TriggerKind)> = Vec::new();
    for (key, agg) in &aggs {
        let id = *ids
            .get(key)
            .ok_or_else(|| StoreError::Corrupt("issue upsert returned no id".into()))?;
        let Some(prev) = existing.get(key) else {
            outcome.new_issues.push(id);
            triggers.push((key.0, id, TriggerKind::NewIssue));
            activity.push((id, "first_seen", None));
            if let Some(release) = agg.first.release.as_deref() {
                new_issue_releases.push((key.0, release));
            }
            continue;
        };
        if let Some(why) = reopen(prev, agg) {
            reopen_issue(&mut tx, id, &why).await?;
            if matches!(why, Reopen::Regression { .. }) {
                outcome.regressed_issues.push(id);
                triggers.push((key.0, id, TriggerKind::Regression));
            }
            let (kind, data) = why.activity();
            activity.push((id, kind, data));
        }
    }
    insert_activity(&mut tx, &activity, now).await?;
    crate::alerts::write_triggers(&mut tx, &triggers, now)
        .await
        .map_err(db_err)?;

    insert_events(&mut tx, &fresh, &ids).await?;
    outcome.events_stored = fresh.len() as u64;
    rollups(&mut tx, &fresh, &ids).await?;
    tag_values(&mut tx, &fresh, &ids).await?;
    crate::releases::write_releases(&mut tx, &fresh, &new_issue_releases, &batch.sessions)
        .await
        .map_err(db_err)?;

    for chunk in batch.items.chunks(CHUNK) {
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO items (project_id, kind, event_id, received_ms, headers_json, payload) ",
        );
        qb.push_values(chunk, |mut b, it| {
            b.push_bind(it.project_id)
                .push_bind(it.kind.as_str())
                .push_bind(it.event_id.map(|e| e.as_bytes().to_vec()))
                .push_bind(it.received_ms)
                .push_bind(it.headers_json.clone())
                .push_bind(it.payload.clone());
        });
        qb.build().execute(&mut *tx).await.map_err(db_err)?;
    }
    outcome.items_stored = batch.items.len() as u64;

    upsert_outcomes(&mut tx, &batch.outcomes).await?;
    crate::tenants::insert_request_rollups(&mut tx, &batch.request_rollups).await?;
    if let Some(max_id) = max_id {
        sqlx::query("UPDATE worker_cursor SET inbox_id = max(inbox_id, $1) WHERE id = 1")
            .bind(max_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
    }
    tx.commit().await.map_err(db_err)?;
    Ok(outcome)
}

/// A batch acknowledging an item at or below the worker cursor was applied before (or overlaps
/// one that was): applying it again would count its outcomes twice, so nothing is applied.
async fn refuse_acknowledged(tx: &mut SqliteConnection, acknowledged: &[i64]) -> Result<(), StoreError> {
    let Some(lowest) = acknowledged.iter().copied().min() else {
        return Ok(());
    };
    let cursor: i64 = sqlx::query_scalar("SELECT inbox_id FROM worker_cursor WHERE id = 1")
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
    if lowest <= cursor {
        return Err(StoreError::Conflict(format!(
            "inbox item {lowest} was already acknowledged (the worker cursor is at {cursor}): \
             this batch was applied before, so nothing was applied again"
        )));
    }
    Ok(())
}

/// The events of the batch that are not stored yet, first occurrence of each `(project, event_id)`.
async fn new_events<'a>(
    tx: &mut SqliteConnection,
    events: &'a [NewEvent],
) -> Result<Vec<&'a NewEvent>, StoreError> {
    let mut stored: HashSet<(i64, Vec<u8>)> = HashSet::new();
    let mut by_project: BTreeMap<i64, Vec<&NewEvent>> = BTreeMap::new();
    for ev in events {
        by_project.entry(ev.project_id).or_default().push(ev);
    }
    for (project_id, evs) in &by_project {
        for chunk in evs.chunks(CHUNK) {
            let mut qb: QueryBuilder<Sqlite> =
                QueryBuilder::new("SELECT event_id FROM events WHERE project_id = ");
            qb.push_bind(*project_id).push(" AND event_id IN (");
            let mut sep = qb.separated(", ");
            for ev in chunk {
                sep.push_bind(ev.event_id.as_bytes().to_vec());
            }
            qb.push(")");
            for row in qb.build().fetch_all(&mut *tx).await.map_err(db_err)? {
                stored.insert((*project_id, row.try_get(0).map_err(db_err)?));
            }
        }
    }
    let mut fresh = Vec::with_capacity(events.len());
    for ev in events {
        if stored.insert((ev.project_id, ev.event_id.as_bytes().to_vec())) {
            fresh.push(ev);
        }
    }
    Ok(fresh)
}

/// The batch's existing issues with their state before it.
async fn existing_issues<'a>(
    tx: &mut SqliteConnection,
    keys: &[(i64, &'a str)],
) -> Result<HashMap<(i64, &'a str), IssueState>, StoreError> {
    let mut out = HashMap::new();
    for chunk in keys.chunks(CHUNK) {
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
            "SELECT project_id, hash, status, times_seen, resolved_in_release, ignore_until_ms, \
             ignore_until_count FROM issues WHERE ",
        );
        let mut sep = qb.separated(" OR ");
        for (project_id, hash) in chunk {
            sep.push("(project_id = ").push_bind_unseparated(*project_id);
            sep.push_unseparated(" AND hash = ")
                .push_bind_unseparated(hash.to_string())
                .push_unseparated(")");
        }
        let wanted: HashMap<(i64, &str), (i64, &'a str)> = chunk.iter().map(|k| (*k, *k)).collect();
        for row in qb.build().fetch_all(&mut *tx).await.map_err(db_err)? {
            let project_id: i64 = row.try_get(0).map_err(db_err)?;
            let hash: String = row.try_get(1).map_err(db_err)?;
            if let Some(key) = wanted.get(&(project_id, hash.as_str())) {
                let state = IssueState {
                    status: row.try_get(2).map_err(db_err)?,
                    times_seen: row.try_get(3).map_err(db_err)?,
                    resolved_in_release: row.try_get(4).map_err(db_err)?,
                    ignore_until_ms: row.try_get(5).map_err(db_err)?,
                    ignore_until_count: row.try_get(6).map_err(db_err)?,
                };
                out.insert(*key, state);
            }
        }
    }
    Ok(out)
}

async fn upsert_issues<'a>(
    tx: &mut SqliteConnection,
    aggs: &BTreeMap<(i64, &'a str), IssueAgg<'a>>,
) -> Result<HashMap<(i64, &'a str), i64>, StoreError> {
    let entries: Vec<(&(i64, &str), &IssueAgg)> = aggs.iter().collect();
    let mut ids = HashMap::new();
    for chunk in entries.chunks(CHUNK / 2) {
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO issues (project_id, hash, title, culprit, message, level, platform, first_seen_ms, last_seen_ms, times_seen, first_release) ",
        );
        qb.push_values(chunk, |mut b, ((project_id, hash), agg)| {
            b.push_bind(*project_id)
                .push_bind(hash.to_string())
                .push_bind(agg.first.title.clone())
                .push_bind(agg.first.culprit.clone())
                .push_bind(agg.first.message.clone())
                .push_bind(agg.last.level.as_str())
                .push_bind(agg.first.platform.clone())
                .push_bind(agg.first_seen)
                .push_bind(agg.last_seen)
                .push_bind(agg.count)
                .push_bind(agg.first.release.clone());
        });
        qb.push(
            " ON CONFLICT (project_id, hash) DO UPDATE SET \
             times_seen = issues.times_seen + excluded.times_seen, \
             first_seen_ms = min(issues.first_seen_ms, excluded.first_seen_ms), \
             last_seen_ms = max(issues.last_seen_ms, excluded.last_seen_ms), \
             level = excluded.level \
             RETURNING id, project_id, hash",
        );
        let wanted: HashMap<(i64, &str), (i64, &'a str)> = chunk.iter().map(|(k, _)| (**k, **k)).collect();
        for row in qb.build().fetch_all(&mut *tx).await.map_err(db_err)? {
            let project_id: i64 = row.try_get(1).map_err(db_err)?;
            let hash: String = row.try_get(2).map_err(db_err)?;
            if let Some(key) = wanted.get(&(project_id, hash.as_str())) {
                ids.insert(*key, row.try_get(0).map_err(db_err)?);
            }
        }
    }
    Ok(ids)
}

/// Sets a reopened issue unresolved; a regression is marked as one, an expired ignore loses its
/// conditions.
async fn reopen_issue(tx: &mut SqliteConnection, id: i64, why: &Reopen) -> Result<(), StoreError> {
    let sql = match why {
        Reopen::Regression { .. } => {
            "UPDATE issues SET status = 'unresolved', is_regression = 1, resolved_in_release = NULL \
             WHERE id = $1"
        }
        Reopen::IgnoreExpired => {
            "UPDATE issues SET status = 'unresolved', ignore_until_ms = NULL, ignore_until_count = NULL \
             WHERE id = $1"
        }
    };
    sqlx::query(sql)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// The system's activity entries (no user): issue, kind, JSON data.
async fn insert_activity(
    tx: &mut SqliteConnection,
    rows: &[(i64, &'static str, Option<String>)],
    now: i64,
) -> Result<(), StoreError> {
    for chunk in rows.chunks(CHUNK) {
        let mut qb: QueryBuilder<Sqlite> =
            QueryBuilder::new("INSERT INTO activity (issue_id, kind, data, created_ms) ");
        qb.push_values(chunk, |mut b, (issue_id, kind, data)| {
            b.push_bind(*issue_id)
                .push_bind(*kind)
                .push_bind(data.clone())
                .push_bind(now);
        });
        qb.build().execute(&mut *tx).await.map_err(db_err)?;
    }
    Ok(())
}

async fn insert_events(
    tx: &mut SqliteConnection,
    events: &[&NewEvent],
    ids: &HashMap<(i64, &str), i64>,
) -> Result<(), StoreError> {
    for chunk in events.chunks(CHUNK / 2) {
        let with_ids: Vec<(i64, &NewEvent)> = chunk
            .iter()
            .map(|ev| Ok((issue_id(ids, ev)?, *ev)))
            .collect::<Result<_, StoreError>>()?;
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO events (project_id, event_id, issue_id, timestamp_ms, received_ms, level, platform, title, message, environment, release, dict_id, payload) ",
        );
        qb.push_values(&with_ids, |mut b, (issue_id, ev)| {
            b.push_bind(ev.project_id)
                .push_bind(ev.event_id.as_bytes().to_vec())
                .push_bind(*issue_id)
                .push_bind(ev.timestamp_ms)
                .push_bind(ev.received_ms)
                .push_bind(ev.level.as_str())
                .push_bind(ev.platform.clone())
                .push_bind(ev.title.clone())
                .push_bind(ev.message.clone())
                .push_bind(ev.environment.clone())
                .push_bind(ev.release.clone())
                .push_bind(ev.dict_id)
                .push_bind(ev.payload.clone());
        });
        qb.push(" ON CONFLICT (project_id, event_id) DO NOTHING");
        qb.build().execute(&mut *tx).await.map_err(db_err)?;
    }
    Ok(())
}

fn minute(ms: i64) -> i64 {
    ms - ms.rem_euclid(60_000)
}

async fn rollups(
    tx: &mut SqliteConnection,
    events: &[&NewEvent],
    ids: &HashMap<(i64, &str), i64>,
) -> Result<(), StoreError> {
    let mut counts: BTreeMap<(i64, i64, i64), i64> = BTreeMap::new();
    for ev in events {
        let m = minute(ev.timestamp_ms);
        *counts.entry((ev.project_id, 0, m)).or_default() += 1;
        *counts.entry((ev.project_id, issue_id(ids, ev)?, m)).or_default() += 1;
    }
    let rows: Vec<_> = counts.into_iter().collect();
    for chunk in rows.chunks(CHUNK) {
        let mut qb: QueryBuilder<Sqlite> =
            QueryBuilder::new("INSERT INTO rollups_minute (project_id, issue_id, minute_ms, count) ");
        qb.push_values(chunk, |mut b, ((p, i, m), c)| {
            b.push_bind(*p).push_bind(*i).push_bind(*m).push_bind(*c);
        });
        qb.push(
            " ON CONFLICT (project_id, issue_id, minute_ms) DO UPDATE SET count = rollups_minute.count + excluded.count",
        );
        qb.build().execute(&mut *tx).await.map_err(db_err)?;
    }
    Ok(())
}

/// Upserts the batch's tag values and adds to their keys' totals.
async fn tag_values(
    tx: &mut SqliteConnection,
    events: &[&NewEvent],
    ids: &HashMap<(i64, &str), i64>,
) -> Result<(), StoreError> {
    let tags = tag_counts(events, ids)?;
    let rows: Vec<_> = tags.iter().collect();
    let mut stored: Vec<(i64, String, String, i64)> = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(CHUNK) {
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO issue_tag_values (issue_id, key, value, count, first_seen_ms, last_seen_ms) ",
        );
        qb.push_values(chunk, |mut b, ((issue, k, v), (c, first, last))| {
            b.push_bind(*issue)
                .push_bind(k.to_string())
                .push_bind(v.to_string())
                .push_bind(*c)
                .push_bind(*first)
                .push_bind(*last);
        });
        qb.push(
            " ON CONFLICT (issue_id, key, value) DO UPDATE SET count = issue_tag_values.count + excluded.count, \
             first_seen_ms = min(issue_tag_values.first_seen_ms, excluded.first_seen_ms), \
             last_seen_ms = max(issue_tag_values.last_seen_ms, excluded.last_seen_ms) \
             RETURNING issue_id, key, value, count",
        );
        for r in qb.build().fetch_all(&mut *tx).await.map_err(db_err)? {
            stored.push((
                r.try_get(0).map_err(db_err)?,
                r.try_get(1).map_err(db_err)?,
                r.try_get(2).map_err(db_err)?,
                r.try_get(3).map_err(db_err)?,
            ));
        }
    }
    let totals: Vec<_> = key_totals(&tags, &stored)?.into_iter().collect();
    for chunk in totals.chunks(CHUNK) {
        let mut qb: QueryBuilder<Sqlite> =
            QueryBuilder::new("INSERT INTO issue_tag_keys (issue_id, key, total, unique_values) ");
        qb.push_values(chunk, |mut b, ((issue, k), (total, unique))| {
            b.push_bind(*issue)
                .push_bind(k.to_string())
                .push_bind(*total)
                .push_bind(*unique);
        });
        qb.push(
            " ON CONFLICT (issue_id, key) DO UPDATE SET total = issue_tag_keys.total + excluded.total, \
             unique_values = issue_tag_keys.unique_values + excluded.unique_values",
        );
        qb.build().execute(&mut *tx).await.map_err(db_err)?;
    }
    Ok(())
}

pub async fn upsert_outcomes(tx: &mut SqliteConnection, outcomes: &[OutcomeCount]) -> Result<(), StoreError> {
    let mut agg: BTreeMap<(i64, i64, &str, &str, &str), i64> = BTreeMap::new();
    for o in outcomes {
        *agg.entry((o.project_id, o.minute_ms, &o.category, &o.outcome, &o.reason))
            .or_default() += o.quantity as i64;
    }
    let rows: Vec<_> = agg.into_iter().collect();
    for chunk in rows.chunks(CHUNK) {
        let mut qb: QueryBuilder<Sqlite> = QueryBuilder::new(
            "INSERT INTO outcomes (project_id, minute_ms, category, outcome, reason, quantity) ",
        );
        qb.push_values(chunk, |mut b, ((p, m, c, o, r), q)| {
            b.push_bind(*p)
                .push_bind(*m)
                .push_bind(c.to_string())
                .push_bind(o.to_string())
                .push_bind(r.to_string())
                .push_bind(*q);
        });
        qb.push(
            " ON CONFLICT (project_id, minute_ms, category, outcome, reason) DO UPDATE SET quantity = outcomes.quantity + excluded.quantity",
        );
        qb.build().execute(&mut *tx).await.map_err(db_err)?;
    }
    Ok(())
}

pub async fn sample_payloads(
    pool: &SqlitePool,
    project_id: i64,
    limit: usize,
) -> Result<Vec<(i64, Vec<u8>)>, StoreError> {
    let rows =
        sqlx::query("SELECT dict_id, payload FROM events WHERE project_id = $1 ORDER BY id DESC LIMIT $2")
            .bind(project_id)
            .bind(limit as i64)
            .fetch_all(pool)
            .await
            .map_err(db_err)?;
    rows.iter()
        .map(|r| Ok((r.try_get(0).map_err(db_err)?, r.try_get(1).map_err(db_err)?)))
        .collect()
}
