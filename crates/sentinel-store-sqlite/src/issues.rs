//! Reading issues and events as on PostgreSQL (`sentinel_store_sql::issues!`). Full-text search,
//! looking up one event and bucketing event counts are SQLite's.

use sentinel_protocol::ids::EventId;
use sentinel_store::{StoreError, StoredEvent};
use sentinel_store_sql::EVENT_COLUMNS;
use sqlx::{QueryBuilder, Sqlite, SqlitePool};

use crate::db_err;

sentinel_store_sql::issues! {
    db: sqlx::Sqlite,
    db_err: crate::db_err,
    text_query: sentinel_store_sql::fts5_query,
    text_match: text_match,
    counts_sql: counts_sql,
}

/// Through the FTS5 index `issues_fts`, whose rowids are issue ids.
fn text_match(qb: &mut QueryBuilder<Sqlite>, query: String) {
    qb.push(" AND id IN (SELECT rowid FROM issues_fts WHERE issues_fts MATCH ")
        .push_bind(query)
        .push(")");
}

pub async fn event(
    pool: &SqlitePool,
    project_id: i64,
    event_id: EventId,
) -> Result<Option<StoredEvent>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{EVENT_COLUMNS}, payload, dict_id FROM events WHERE project_id = $1 AND event_id = $2"
    )))
    .bind(project_id)
    .bind(event_id.as_bytes().to_vec())
    .fetch_optional(pool)
    .await
    .map_err(db_err)?;
    row.as_ref().map(stored_event).transpose()
}

/// Compacted history is in hourly rows; reading both keeps counts the same across compaction.
fn counts_sql(filter: &str) -> String {
    format!(
        "SELECT (at_ms / $4) * $4 AS bucket, sum(n) FROM ( \
         SELECT minute_ms AS at_ms, count AS n FROM rollups_minute \
         WHERE {filter} AND minute_ms >= $2 AND minute_ms < $3 \
         UNION ALL SELECT hour_ms, count FROM rollups_hour \
         WHERE {filter} AND hour_ms >= $2 AND hour_ms < $3) \
         GROUP BY bucket ORDER BY bucket"
    )
}

#[cfg(test)]
mod tests {
    use sentinel_protocol::event::Level;
    use sentinel_store::{NewEvent, ProcessedBatch, Store};

    use super::*;
    use crate::{SqliteOptions, SqliteStore};

    fn event(project_id: i64, n: u8, hash: &str) -> NewEvent {
        NewEvent {
            project_id,
            event_id: EventId::from_bytes([n; 16]),
            grouping_hash: hash.into(),
            title: format!("KeyError: {hash}"),
            culprit: "app/views.py in handle_request".into(),
            message: None,
            level: Level::Error,
            platform: "python".into(),
            timestamp_ms: 1_000 * i64::from(n),
            received_ms: 1_000 * i64::from(n),
            environment: None,
            release: None,
            tags: Vec::new(),
            payload: Vec::new(),
            dict_id: 0,
        }
    }

    /// The workers update issues' counts with every batch: those updates must leave the full-text
    /// index alone, which only new issues (and changed texts) write to.
    #[tokio::test]
    async fn count_updates_do_not_write_the_full_text_index() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&SqliteOptions::new(dir.path())).await.unwrap();
        store.migrate().await.unwrap();
        let p = store
            .create_project("default", "fts", "other", "0123456789abcdef0123456789abcdef", 0)
            .await
            .unwrap()
            .0
            .id;
        let index_rows = || async {
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM issues_fts_data")
                .fetch_one(&store.main_r)
                .await
                .unwrap()
        };
        let apply = |events: Vec<NewEvent>| {
            let store = &store;
            async move {
                store
                    .apply_batch(&ProcessedBatch {
                        events,
                        ..Default::default()
                    })
                    .await
                    .unwrap()
            }
        };

        let before = index_rows().await;
        apply(vec![event(p, 1, "one"), event(p, 2, "two")]).await;
        let indexed = index_rows().await;
        assert!(indexed > before, "new issues are indexed");
        apply(vec![event(p, 3, "one"), event(p, 4, "two"), event(p, 5, "one")]).await;
        assert_eq!(index_rows().await, indexed, "counting did not touch the index");

        sqlx::query("UPDATE issues SET title = 'renamed' WHERE hash = 'one'")
            .execute(&store.main_w)
            .await
            .unwrap();
        sqlx::query("INSERT INTO issues_fts (issues_fts, rank) VALUES ('integrity-check', 1)")
            .execute(&store.main_w)
            .await
            .unwrap();
        let renamed: Vec<i64> =
            sqlx::query_scalar("SELECT rowid FROM issues_fts WHERE issues_fts MATCH 'renamed'")
                .fetch_all(&store.main_r)
                .await
                .unwrap();
        assert_eq!(renamed.len(), 1, "a changed title is indexed again");
    }
}
