//! Reading issues and events, and the issue workflow. Event counts read minute and hourly
//! rollups together, so retention's compaction never changes them.

use sentinel_protocol::event::Level;
use sentinel_protocol::ids::EventId;
use sentinel_store::{
    CountScope, Cursor, EventRow, Issue, IssueQuery, IssueSort, IssueStatus, Page, StoreError, StoredEvent,
    TagDistribution, TagValueCount,
};
use sqlx::{PgPool, Postgres, QueryBuilder, Row, postgres::PgRow};

use crate::{db_err, event_id as parse_event_id, parse_col};

const ISSUE_COLUMNS: &str = "SELECT id, project_id, title, culprit, message, level, status, platform, \
     first_seen_ms, last_seen_ms, times_seen FROM issues";

fn level(s: &str) -> Result<Level, StoreError> {
    Level::parse(s).ok_or_else(|| StoreError::Corrupt(format!("unknown level {s:?}")))
}

fn issue(r: &PgRow) -> Result<Issue, StoreError> {
    let lvl: String = r.try_get(5).map_err(db_err)?;
    let status: String = r.try_get(6).map_err(db_err)?;
    Ok(Issue {
        id: r.try_get(0).map_err(db_err)?,
        project_id: r.try_get(1).map_err(db_err)?,
        title: r.try_get(2).map_err(db_err)?,
        culprit: r.try_get(3).map_err(db_err)?,
        message: r.try_get(4).map_err(db_err)?,
        level: level(&lvl)?,
        status: parse_col(&status)?,
        platform: r.try_get(7).map_err(db_err)?,
        first_seen_ms: r.try_get(8).map_err(db_err)?,
        last_seen_ms: r.try_get(9).map_err(db_err)?,
        times_seen: r.try_get::<i64, _>(10).map_err(db_err)? as u64,
    })
}

/// Escapes `%`, `_` and `\` for an ILIKE pattern used with `ESCAPE '\'`.
fn like_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

pub async fn list(pool: &PgPool, q: &IssueQuery) -> Result<Page<Issue>, StoreError> {
    let col = match q.sort {
        IssueSort::LastSeen => "last_seen_ms",
        IssueSort::FirstSeen => "first_seen_ms",
        IssueSort::TimesSeen => "times_seen",
    };
    let mut qb: QueryBuilder<Postgres> = QueryBuilder::new(ISSUE_COLUMNS);
    qb.push(" WHERE project_id = ").push_bind(q.project_id);
    if let Some(status) = q.status {
        qb.push(" AND status = ").push_bind(status.as_str());
    }
    if let Some(level) = q.level {
        qb.push(" AND level = ").push_bind(level.as_str());
    }
    for (key, value) in [("environment", &q.environment), ("release", &q.release)] {
        if let Some(value) = value {
            qb.push(
                " AND EXISTS (SELECT 1 FROM issue_tag_values t WHERE t.issue_id = issues.id AND t.key = ",
            )
            .push_bind(key)
            .push(" AND t.value = ")
            .push_bind(value.clone())
            .push(")");
        }
    }
    if let Some(text) = q.text.as_deref().filter(|t| !t.is_empty()) {
        let pat = like_pattern(text);
        qb.push(" AND (title ILIKE ")
            .push_bind(pat.clone())
            .push(" ESCAPE '\\' OR culprit ILIKE ")
            .push_bind(pat.clone())
            .push(" ESCAPE '\\' OR message ILIKE ")
            .push_bind(pat)
            .push(" ESCAPE '\\')");
    }
    if let Some(c) = q.cursor {
        qb.push(format_args!(" AND ({col} < "))
            .push_bind(c.value)
            .push(format_args!(" OR ({col} = "))
            .push_bind(c.value)
            .push(" AND id < ")
            .push_bind(c.id)
            .push("))");
    }
    let limit = q.limit.clamp(1, 1000);
    qb.push(format_args!(" ORDER BY {col} DESC, id DESC LIMIT "))
        .push_bind(limit as i64 + 1);
    let rows = qb.build().fetch_all(pool).await.map_err(db_err)?;
    let mut items: Vec<Issue> = rows.iter().map(issue).collect::<Result<_, _>>()?;
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|i| Cursor {
            value: match q.sort {
                IssueSort::LastSeen => i.last_seen_ms,
                IssueSort::FirstSeen => i.first_seen_ms,
                IssueSort::TimesSeen => i.times_seen as i64,
            },
            id: i.id,
        })
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}

pub async fn get(pool: &PgPool, id: i64) -> Result<Option<Issue>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("{ISSUE_COLUMNS} WHERE id = $1")))
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(db_err)?;
    row.as_ref().map(issue).transpose()
}

pub async fn set_status(
    pool: &PgPool,
    id: i64,
    status: IssueStatus,
    now_ms: i64,
) -> Result<Issue, StoreError> {
    let mut tx = pool.begin().await.map_err(db_err)?;
    let done = sqlx::query("UPDATE issues SET status = $1 WHERE id = $2")
        .bind(status.as_str())
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    if done.rows_affected() == 0 {
        tx.rollback().await.map_err(db_err)?;
        return Err(StoreError::NotFound {
            what: "issue",
            id: id.to_string(),
        });
    }
    let kind = match status {
        IssueStatus::Resolved => "set_resolved",
        IssueStatus::Unresolved => "set_unresolved",
        IssueStatus::Ignored => "set_ignored",
    };
    sqlx::query("INSERT INTO activity (issue_id, kind, created_ms) VALUES ($1, $2, $3)")
        .bind(id)
        .bind(kind)
        .bind(now_ms)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("{ISSUE_COLUMNS} WHERE id = $1")))
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
    let updated = issue(&row)?;
    tx.commit().await.map_err(db_err)?;
    Ok(updated)
}

pub async fn tags(pool: &PgPool, issue_id: i64, top: usize) -> Result<Vec<TagDistribution>, StoreError> {
    let totals = sqlx::query(
        "SELECT key, sum(count)::bigint, count(*) FROM issue_tag_values WHERE issue_id = $1 GROUP BY key ORDER BY key",
    )
    .bind(issue_id)
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    let mut out = Vec::with_capacity(totals.len());
    for t in &totals {
        let key: String = t.try_get(0).map_err(db_err)?;
        let values = sqlx::query(
            "SELECT value, count, first_seen_ms, last_seen_ms FROM issue_tag_values \
             WHERE issue_id = $1 AND key = $2 ORDER BY count DESC, value LIMIT $3",
        )
        .bind(issue_id)
        .bind(&key)
        .bind(top as i64)
        .fetch_all(pool)
        .await
        .map_err(db_err)?;
        let top = values
            .iter()
            .map(|v| {
                Ok(TagValueCount {
                    value: v.try_get(0).map_err(db_err)?,
                    count: v.try_get::<i64, _>(1).map_err(db_err)? as u64,
                    first_seen_ms: v.try_get(2).map_err(db_err)?,
                    last_seen_ms: v.try_get(3).map_err(db_err)?,
                })
            })
            .collect::<Result<_, StoreError>>()?;
        out.push(TagDistribution {
            key,
            total: t.try_get::<i64, _>(1).map_err(db_err)? as u64,
            unique_values: t.try_get::<i64, _>(2).map_err(db_err)? as u64,
            top,
        });
    }
    Ok(out)
}

const EVENT_COLUMNS: &str = "SELECT id, event_id, project_id, issue_id, title, message, level, platform, \
     timestamp_ms, received_ms, environment, release";

fn event_row(r: &PgRow) -> Result<EventRow, StoreError> {
    let lvl: String = r.try_get(6).map_err(db_err)?;
    Ok(EventRow {
        id: r.try_get(0).map_err(db_err)?,
        event_id: parse_event_id(r.try_get(1).map_err(db_err)?)?,
        project_id: r.try_get(2).map_err(db_err)?,
        issue_id: r.try_get(3).map_err(db_err)?,
        title: r.try_get(4).map_err(db_err)?,
        message: r.try_get(5).map_err(db_err)?,
        level: level(&lvl)?,
        platform: r.try_get(7).map_err(db_err)?,
        timestamp_ms: r.try_get(8).map_err(db_err)?,
        received_ms: r.try_get(9).map_err(db_err)?,
        environment: r.try_get(10).map_err(db_err)?,
        release: r.try_get(11).map_err(db_err)?,
    })
}

pub async fn events(
    pool: &PgPool,
    issue_id: i64,
    limit: usize,
    cursor: Option<&Cursor>,
) -> Result<Page<EventRow>, StoreError> {
    let limit = limit.clamp(1, 1000);
    let mut qb: QueryBuilder<Postgres> = QueryBuilder::new(EVENT_COLUMNS);
    qb.push(" FROM events WHERE issue_id = ").push_bind(issue_id);
    if let Some(c) = cursor {
        qb.push(" AND (timestamp_ms < ")
            .push_bind(c.value)
            .push(" OR (timestamp_ms = ")
            .push_bind(c.value)
            .push(" AND id < ")
            .push_bind(c.id)
            .push("))");
    }
    qb.push(" ORDER BY timestamp_ms DESC, id DESC LIMIT ")
        .push_bind(limit as i64 + 1);
    let rows = qb.build().fetch_all(pool).await.map_err(db_err)?;
    let mut items: Vec<EventRow> = rows.iter().map(event_row).collect::<Result<_, _>>()?;
    let next_cursor = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|e| Cursor {
            value: e.timestamp_ms,
            id: e.id,
        })
    } else {
        None
    };
    Ok(Page { items, next_cursor })
}

/// Through `event_ids`, whose `received_ms` names the one partition to look in.
pub async fn event(
    pool: &PgPool,
    project_id: i64,
    event_id: EventId,
) -> Result<Option<StoredEvent>, StoreError> {
    let received: Option<i64> =
        sqlx::query_scalar("SELECT received_ms FROM event_ids WHERE project_id = $1 AND event_id = $2")
            .bind(project_id)
            .bind(event_id.as_bytes().as_slice())
            .fetch_optional(pool)
            .await
            .map_err(db_err)?;
    let Some(received) = received else {
        return Ok(None);
    };
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{EVENT_COLUMNS}, payload, dict_id FROM events \
         WHERE project_id = $1 AND received_ms = $2 AND event_id = $3 ORDER BY id LIMIT 1"
    )))
    .bind(project_id)
    .bind(received)
    .bind(event_id.as_bytes().as_slice())
    .fetch_optional(pool)
    .await
    .map_err(db_err)?;
    row.map(|r| {
        Ok(StoredEvent {
            row: event_row(&r)?,
            payload: r.try_get(12).map_err(db_err)?,
            dict_id: r.try_get(13).map_err(db_err)?,
        })
    })
    .transpose()
}

/// Minute and hourly rollups together: a bucket is the floor of each row's start, so rows folded
/// into hours by retention keep counting in the same (hour or coarser) buckets.
pub async fn counts(
    pool: &PgPool,
    scope: CountScope,
    since_ms: i64,
    until_ms: i64,
    bucket_ms: i64,
) -> Result<Vec<(i64, u64)>, StoreError> {
    let bucket_ms = bucket_ms.max(60_000);
    let (filter, id) = match scope {
        CountScope::Project(p) => ("project_id = $1 AND issue_id = 0", p),
        CountScope::Issue(i) => (
            "project_id = (SELECT project_id FROM issues WHERE id = $1) AND issue_id = $1",
            i,
        ),
    };
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT bucket, sum(count)::bigint FROM ( \
           SELECT minute_ms - ((minute_ms % $4) + $4) % $4 AS bucket, count FROM rollups_minute \
           WHERE {filter} AND minute_ms >= $2 AND minute_ms < $3 \
           UNION ALL \
           SELECT hour_ms - ((hour_ms % $4) + $4) % $4 AS bucket, count FROM rollups_hour \
           WHERE {filter} AND hour_ms >= $2 AND hour_ms < $3 \
         ) r GROUP BY bucket ORDER BY bucket"
    )))
    .bind(id)
    .bind(since_ms)
    .bind(until_ms)
    .bind(bucket_ms)
    .fetch_all(pool)
    .await
    .map_err(db_err)?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get(0).map_err(db_err)?,
                r.try_get::<i64, _>(1).map_err(db_err)? as u64,
            ))
        })
        .collect()
}
