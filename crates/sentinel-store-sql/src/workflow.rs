//! The issue workflow: what a user's change does to an issue (a pure plan), and the statements of
//! status changes, assignment, deletion, comments, activity, a project's events, an event's
//! neighbours and attachments, stamped out per backend by [`workflow!`].

use sentinel_store::{Issue, IssueChange, IssueStatus, StatusChange};
use serde_json::json;

/// An issue's workflow columns after a change, and the activity entries (kind, JSON data) that
/// record it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueUpdate {
    pub status: IssueStatus,
    pub is_regression: bool,
    pub resolved_in_release: Option<String>,
    pub ignore_until_ms: Option<i64>,
    pub ignore_until_count: Option<u64>,
    pub assignee_id: Option<i64>,
    pub activity: Vec<(&'static str, Option<String>)>,
    /// Whether any column differs from the issue's; nothing needs writing otherwise.
    pub changed: bool,
}

/// What `change` does to `current`.
///
/// `release` is the release of the issue's newest event that has one (looked up only for
/// `ResolvedInNextRelease`; without one that is a plain resolve). `assignee_name` is the name of
/// the user being assigned, whose membership the caller has checked.
pub fn plan_change(
    current: &Issue,
    change: &IssueChange,
    release: Option<&str>,
    assignee_name: Option<&str>,
) -> IssueUpdate {
    let mut up = IssueUpdate {
        status: current.status,
        is_regression: current.is_regression,
        resolved_in_release: current.resolved_in_release.clone(),
        ignore_until_ms: current.ignore_until_ms,
        ignore_until_count: current.ignore_until_count,
        assignee_id: current.assignee_id,
        activity: Vec::new(),
        changed: false,
    };
    if let Some(status) = &change.status {
        // Whatever the user decided, they have seen the regression.
        up.is_regression = false;
        up.resolved_in_release = None;
        up.ignore_until_ms = None;
        up.ignore_until_count = None;
        match (status, release) {
            (StatusChange::Unresolved, _) => {
                up.status = IssueStatus::Unresolved;
                if current.status != IssueStatus::Unresolved {
                    up.activity.push(("set_unresolved", None));
                }
            }
            (StatusChange::ResolvedInNextRelease, Some(release)) => {
                up.status = IssueStatus::Resolved;
                up.resolved_in_release = Some(release.to_owned());
                if current.status != IssueStatus::Resolved
                    || current.resolved_in_release.as_deref() != Some(release)
                {
                    let data = json!({ "release": release }).to_string();
                    up.activity.push(("set_resolved_in_release", Some(data)));
                }
            }
            (StatusChange::Resolved | StatusChange::ResolvedInNextRelease, _) => {
                up.status = IssueStatus::Resolved;
                if current.status != IssueStatus::Resolved || current.resolved_in_release.is_some() {
                    up.activity.push(("set_resolved", None));
                }
            }
            (
                StatusChange::Ignored {
                    until_ms,
                    more_events,
                },
                _,
            ) => {
                up.status = IssueStatus::Ignored;
                up.ignore_until_ms = *until_ms;
                up.ignore_until_count = more_events.map(|n| current.times_seen.saturating_add(n));
                if current.status != IssueStatus::Ignored
                    || current.ignore_until_ms != up.ignore_until_ms
                    || current.ignore_until_count != up.ignore_until_count
                {
                    let data = json!({ "until_ms": until_ms, "more_events": more_events }).to_string();
                    up.activity.push(("set_ignored", Some(data)));
                }
            }
        }
    }
    match change.assignee {
        Some(Some(user_id)) if current.assignee_id != Some(user_id) => {
            up.assignee_id = Some(user_id);
            let data = json!({
                "assignee_id": user_id,
                "assignee_name": assignee_name.unwrap_or_default(),
            })
            .to_string();
            up.activity.push(("assigned", Some(data)));
        }
        Some(None) if current.assignee_id.is_some() => {
            up.assignee_id = None;
            up.activity.push(("unassigned", None));
        }
        _ => {}
    }
    up.changed = up.status != current.status
        || up.is_regression != current.is_regression
        || up.resolved_in_release != current.resolved_in_release
        || up.ignore_until_ms != current.ignore_until_ms
        || up.ignore_until_count != current.ignore_until_count
        || up.assignee_id != current.assignee_id;
    up
}

/// The data of a `note` activity.
pub fn note_data(comment_id: i64) -> String {
    json!({ "comment_id": comment_id }).to_string()
}

/// Stamps out, in the invoking module, the workflow functions of a backend: `update_one`,
/// `update_many`, `delete`, `add_comment`, `comments`, `activity`, `project_events`, `neighbors`
/// and `attachments`.
///
/// - `db`: the sqlx database (`sqlx::Sqlite`, `sqlx::Postgres`);
/// - `db_err`: the backend's `fn(sqlx::Error) -> StoreError`;
/// - `begin`: how a write transaction starts on a `&Pool<db>`, e.g. `|pool| pool.begin()`;
/// - `for_update`: appended to a `SELECT` of issue rows to lock them until the transaction ends
///   (`" FOR UPDATE"`; empty where the transaction already excludes other writers);
/// - `issue_row`, `event_row`: the row mappings of [`issues!`](crate::issues!);
/// - `locate_event`: SQL answering `timestamp_ms, id` of the event with event id `$2` in issue
///   `$1`, through the backend's index on event ids.
#[macro_export]
macro_rules! workflow {
    (
        db: $db:ty,
        db_err: $db_err:path,
        begin: |$pool:ident| $begin:expr,
        for_update: $for_update:literal,
        issue_row: $issue_row:path,
        event_row: $event_row:path,
        locate_event: $locate_event:literal $(,)?
    ) => {
        type Conn = <$db as $crate::__private::sqlx::Database>::Connection;

        /// Issue ids per statement: far below both backends' limits on bound parameters.
        const IDS_PER_STATEMENT: usize = 500;

        /// Applies `change` to `current` (a row this transaction has locked) and records it;
        /// returns whether anything changed.
        async fn change_issue(
            conn: &mut Conn,
            current: &$crate::__private::sentinel_store::Issue,
            change: &$crate::__private::sentinel_store::IssueChange,
            actor: Option<i64>,
            now_ms: i64,
        ) -> Result<bool, $crate::__private::sentinel_store::StoreError> {
            use $crate::__private::sentinel_store::{StatusChange, StoreError};
            use $crate::__private::sqlx;
            let release: Option<String> = if change.status == Some(StatusChange::ResolvedInNextRelease) {
                sqlx::query_scalar(
                    "SELECT release FROM events WHERE issue_id = $1 AND release IS NOT NULL \
                     ORDER BY timestamp_ms DESC, id DESC LIMIT 1",
                )
                .bind(current.id)
                .fetch_optional(&mut *conn)
                .await
                .map_err($db_err)?
            } else {
                None
            };
            let mut assignee_name = None;
            if let Some(Some(user_id)) = change.assignee {
                if current.assignee_id != Some(user_id) {
                    let (org, member, name): (String, Option<i64>, Option<String>) = sqlx::query_as(
                        "SELECT o.slug, m.user_id, u.name FROM projects p \
                         JOIN organizations o ON o.id = p.org_id \
                         LEFT JOIN organization_members m ON m.org_id = p.org_id AND m.user_id = $2 \
                         LEFT JOIN users u ON u.id = m.user_id \
                         WHERE p.id = $1",
                    )
                    .bind(current.project_id)
                    .bind(user_id)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err($db_err)?;
                    if member.is_none() {
                        return Err(StoreError::Conflict(format!(
                            "user {user_id} is not a member of organization {org}"
                        )));
                    }
                    assignee_name = name;
                }
            }
            let up = $crate::plan_change(current, change, release.as_deref(), assignee_name.as_deref());
            if !up.changed {
                return Ok(false);
            }
            sqlx::query(
                "UPDATE issues SET status = $1, is_regression = $2, resolved_in_release = $3, \
                 ignore_until_ms = $4, ignore_until_count = $5, assignee_id = $6 WHERE id = $7",
            )
            .bind(up.status.as_str())
            .bind(up.is_regression)
            .bind(up.resolved_in_release)
            .bind(up.ignore_until_ms)
            .bind(up.ignore_until_count.map(|n| i64::try_from(n).unwrap_or(i64::MAX)))
            .bind(up.assignee_id)
            .bind(current.id)
            .execute(&mut *conn)
            .await
            .map_err($db_err)?;
            for (kind, data) in up.activity {
                insert_activity(&mut *conn, current.id, kind, data, actor, now_ms).await?;
            }
            Ok(true)
        }

        async fn insert_activity(
            conn: &mut Conn,
            issue_id: i64,
            kind: &str,
            data: Option<String>,
            user_id: Option<i64>,
            now_ms: i64,
        ) -> Result<(), $crate::__private::sentinel_store::StoreError> {
            $crate::__private::sqlx::query(
                "INSERT INTO activity (issue_id, kind, data, user_id, created_ms) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(issue_id)
            .bind(kind.to_owned())
            .bind(data)
            .bind(user_id)
            .bind(now_ms)
            .execute(&mut *conn)
            .await
            .map_err($db_err)?;
            Ok(())
        }

        async fn fetch_issue(
            conn: &mut Conn,
            issue_id: i64,
            lock: bool,
        ) -> Result<
            Option<$crate::__private::sentinel_store::Issue>,
            $crate::__private::sentinel_store::StoreError,
        > {
            use $crate::__private::sqlx;
            let lock = if lock { $for_update } else { "" };
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "{} WHERE id = $1{lock}",
                $crate::ISSUE_COLUMNS
            )))
            .bind(issue_id)
            .fetch_optional(&mut *conn)
            .await
            .map_err($db_err)?;
            row.as_ref().map($issue_row).transpose()
        }

        /// The issues of `project_id` among `ids`, locked in the order of the workers' batches
        /// (project, grouping hash), so the two never wait on each other in a cycle.
        async fn lock_project_issues(
            conn: &mut Conn,
            project_id: i64,
            ids: &[i64],
        ) -> Result<
            Vec<$crate::__private::sentinel_store::Issue>,
            $crate::__private::sentinel_store::StoreError,
        > {
            use $crate::__private::sqlx;
            let mut ids = ids.to_vec();
            ids.sort_unstable();
            ids.dedup();
            let mut out = Vec::with_capacity(ids.len());
            for chunk in ids.chunks(IDS_PER_STATEMENT) {
                let mut qb: sqlx::QueryBuilder<$db> = sqlx::QueryBuilder::new($crate::ISSUE_COLUMNS);
                qb.push(" WHERE project_id = ")
                    .push_bind(project_id)
                    .push(" AND id IN (");
                let mut sep = qb.separated(", ");
                for id in chunk {
                    sep.push_bind(*id);
                }
                qb.push(") ORDER BY project_id, hash").push($for_update);
                let rows = qb.build().fetch_all(&mut *conn).await.map_err($db_err)?;
                for row in &rows {
                    out.push($issue_row(row)?);
                }
            }
            Ok(out)
        }

        pub async fn update_one(
            pool: &$crate::__private::sqlx::Pool<$db>,
            issue_id: i64,
            change: &$crate::__private::sentinel_store::IssueChange,
            actor: Option<i64>,
            now_ms: i64,
        ) -> Result<$crate::__private::sentinel_store::Issue, $crate::__private::sentinel_store::StoreError> {
            use $crate::__private::sentinel_store::StoreError;
            let mut tx = {
                let $pool = pool;
                $begin
            }
            .await
            .map_err($db_err)?;
            let Some(current) = fetch_issue(&mut *tx, issue_id, true).await? else {
                return Err(StoreError::NotFound {
                    what: "issue",
                    id: issue_id.to_string(),
                });
            };
            change_issue(&mut *tx, &current, change, actor, now_ms).await?;
            let updated = fetch_issue(&mut *tx, issue_id, false).await?.ok_or_else(|| {
                StoreError::Corrupt(format!("issue {issue_id} vanished inside its transaction"))
            })?;
            tx.commit().await.map_err($db_err)?;
            Ok(updated)
        }

        pub async fn update_many(
            pool: &$crate::__private::sqlx::Pool<$db>,
            project_id: i64,
            issue_ids: &[i64],
            change: &$crate::__private::sentinel_store::IssueChange,
            actor: Option<i64>,
            now_ms: i64,
        ) -> Result<u64, $crate::__private::sentinel_store::StoreError> {
            if issue_ids.is_empty() {
                return Ok(0);
            }
            let mut tx = {
                let $pool = pool;
                $begin
            }
            .await
            .map_err($db_err)?;
            let mut changed = 0;
            for current in lock_project_issues(&mut *tx, project_id, issue_ids).await? {
                if change_issue(&mut *tx, &current, change, actor, now_ms).await? {
                    changed += 1;
                }
            }
            tx.commit().await.map_err($db_err)?;
            Ok(changed)
        }

        /// Deletes the issues with everything that is theirs only. The project-wide rollups
        /// (issue 0) keep counting the deleted events: they are the project's history. On
        /// PostgreSQL `event_ids` keeps the deleted events' ids until retention prunes them, so a
        /// re-sent copy of a deleted event is still dropped as a duplicate meanwhile.
        pub async fn delete(
            pool: &$crate::__private::sqlx::Pool<$db>,
            project_id: i64,
            issue_ids: &[i64],
        ) -> Result<u64, $crate::__private::sentinel_store::StoreError> {
            use $crate::__private::sqlx;
            if issue_ids.is_empty() {
                return Ok(0);
            }
            let mut tx = {
                let $pool = pool;
                $begin
            }
            .await
            .map_err($db_err)?;
            let ids: Vec<i64> = lock_project_issues(&mut *tx, project_id, issue_ids)
                .await?
                .iter()
                .map(|i| i.id)
                .collect();
            let mut deleted = 0;
            for chunk in ids.chunks(IDS_PER_STATEMENT) {
                let ids_list = |qb: &mut sqlx::QueryBuilder<$db>| {
                    qb.push(" IN (");
                    let mut sep = qb.separated(", ");
                    for id in chunk {
                        sep.push_bind(*id);
                    }
                    qb.push(")");
                };
                // Attachments are found through their events, so they go first; the issue rows go
                // last. Events and issues are reached by id alone: with the project as well,
                // SQLite would rather walk the project's index, every row of the project. Rollups
                // are keyed by project first.
                let mut attachments: sqlx::QueryBuilder<$db> =
                    sqlx::QueryBuilder::new("DELETE FROM items WHERE project_id = ");
                attachments
                    .push_bind(project_id)
                    .push(" AND kind = 'attachment' AND event_id IN (SELECT event_id FROM events WHERE issue_id");
                ids_list(&mut attachments);
                attachments.push(")");
                attachments.build().execute(&mut *tx).await.map_err($db_err)?;
                let children = [
                    ("events", "issue_id", false),
                    ("issue_tag_values", "issue_id", false),
                    ("issue_tag_keys", "issue_id", false),
                    ("rollups_minute", "issue_id", true),
                    ("rollups_hour", "issue_id", true),
                    ("comments", "issue_id", false),
                    ("activity", "issue_id", false),
                    // Already known to be the project's.
                    ("issues", "id", false),
                ];
                for (table, column, by_project) in children {
                    let mut qb: sqlx::QueryBuilder<$db> =
                        sqlx::QueryBuilder::new(format!("DELETE FROM {table} WHERE "));
                    if by_project {
                        qb.push("project_id = ").push_bind(project_id).push(" AND ");
                    }
                    qb.push(column);
                    ids_list(&mut qb);
                    let done = qb.build().execute(&mut *tx).await.map_err($db_err)?;
                    if table == "issues" {
                        deleted += done.rows_affected();
                    }
                }
            }
            tx.commit().await.map_err($db_err)?;
            Ok(deleted)
        }

        pub async fn add_comment(
            pool: &$crate::__private::sqlx::Pool<$db>,
            issue_id: i64,
            user_id: i64,
            body: &str,
            now_ms: i64,
        ) -> Result<
            $crate::__private::sentinel_store::Comment,
            $crate::__private::sentinel_store::StoreError,
        > {
            use $crate::__private::sentinel_store::{Comment, StoreError};
            use $crate::__private::sqlx;
            let mut tx = {
                let $pool = pool;
                $begin
            }
            .await
            .map_err($db_err)?;
            // Locked, so that a concurrent deletion cannot leave the comment behind.
            if fetch_issue(&mut *tx, issue_id, true).await?.is_none() {
                return Err(StoreError::NotFound {
                    what: "issue",
                    id: issue_id.to_string(),
                });
            }
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO comments (issue_id, user_id, body, created_ms) VALUES ($1, $2, $3, $4) RETURNING id",
            )
            .bind(issue_id)
            .bind(user_id)
            .bind(body.to_owned())
            .bind(now_ms)
            .fetch_one(&mut *tx)
            .await
            .map_err($db_err)?;
            let data = $crate::note_data(id);
            insert_activity(&mut *tx, issue_id, "note", Some(data), Some(user_id), now_ms).await?;
            let user_name: Option<String> = sqlx::query_scalar("SELECT name FROM users WHERE id = $1")
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err($db_err)?;
            tx.commit().await.map_err($db_err)?;
            Ok(Comment {
                id,
                issue_id,
                user_id: Some(user_id),
                user_name: user_name.unwrap_or_default(),
                body: body.to_owned(),
                created_ms: now_ms,
            })
        }

        pub async fn comments(
            pool: &$crate::__private::sqlx::Pool<$db>,
            issue_id: i64,
        ) -> Result<
            Vec<$crate::__private::sentinel_store::Comment>,
            $crate::__private::sentinel_store::StoreError,
        > {
            use $crate::__private::sentinel_store::Comment;
            use $crate::__private::sqlx::{self, Row as _};
            let rows = sqlx::query(
                "SELECT c.id, c.issue_id, c.user_id, u.name, c.body, c.created_ms FROM comments c \
                 LEFT JOIN users u ON u.id = c.user_id WHERE c.issue_id = $1 ORDER BY c.id",
            )
            .bind(issue_id)
            .fetch_all(pool)
            .await
            .map_err($db_err)?;
            rows.iter()
                .map(|r| {
                    Ok(Comment {
                        id: r.try_get(0).map_err($db_err)?,
                        issue_id: r.try_get(1).map_err($db_err)?,
                        user_id: r.try_get(2).map_err($db_err)?,
                        user_name: r.try_get::<Option<String>, _>(3).map_err($db_err)?.unwrap_or_default(),
                        body: r.try_get(4).map_err($db_err)?,
                        created_ms: r.try_get(5).map_err($db_err)?,
                    })
                })
                .collect()
        }

        pub async fn activity(
            pool: &$crate::__private::sqlx::Pool<$db>,
            issue_id: i64,
        ) -> Result<
            Vec<$crate::__private::sentinel_store::Activity>,
            $crate::__private::sentinel_store::StoreError,
        > {
            use $crate::__private::sentinel_store::Activity;
            use $crate::__private::sqlx::{self, Row as _};
            let rows = sqlx::query(
                "SELECT a.id, a.issue_id, a.kind, a.data, a.user_id, u.name, a.created_ms FROM activity a \
                 LEFT JOIN users u ON u.id = a.user_id WHERE a.issue_id = $1 ORDER BY a.id DESC",
            )
            .bind(issue_id)
            .fetch_all(pool)
            .await
            .map_err($db_err)?;
            rows.iter()
                .map(|r| {
                    Ok(Activity {
                        id: r.try_get(0).map_err($db_err)?,
                        issue_id: r.try_get(1).map_err($db_err)?,
                        kind: r.try_get(2).map_err($db_err)?,
                        data: r.try_get(3).map_err($db_err)?,
                        user_id: r.try_get(4).map_err($db_err)?,
                        user_name: r.try_get(5).map_err($db_err)?,
                        created_ms: r.try_get(6).map_err($db_err)?,
                    })
                })
                .collect()
        }

        /// Newest received first, through the `(project_id, received_ms)` index.
        pub async fn project_events(
            pool: &$crate::__private::sqlx::Pool<$db>,
            project_id: i64,
            limit: usize,
            cursor: Option<&$crate::__private::sentinel_store::Cursor>,
        ) -> Result<
            $crate::__private::sentinel_store::Page<$crate::__private::sentinel_store::EventRow>,
            $crate::__private::sentinel_store::StoreError,
        > {
            use $crate::__private::sentinel_store::{Cursor, EventRow, Page};
            use $crate::__private::sqlx;
            let limit = limit.clamp(1, 1000);
            let mut qb: sqlx::QueryBuilder<$db> = sqlx::QueryBuilder::new($crate::EVENT_COLUMNS);
            qb.push(" FROM events WHERE project_id = ").push_bind(project_id);
            if let Some(c) = cursor {
                // The first term bounds the index range; the second skips the rows already
                // listed in the cursor's millisecond.
                qb.push(" AND received_ms <= ")
                    .push_bind(c.value)
                    .push(" AND (received_ms < ")
                    .push_bind(c.value)
                    .push(" OR id < ")
                    .push_bind(c.id)
                    .push(")");
            }
            qb.push(" ORDER BY received_ms DESC, id DESC LIMIT ")
                .push_bind(limit as i64 + 1);
            let rows = qb.build().fetch_all(pool).await.map_err($db_err)?;
            let mut items: Vec<EventRow> = rows.iter().map($event_row).collect::<Result<_, _>>()?;
            let next_cursor = if items.len() > limit {
                items.truncate(limit);
                items.last().map(|e| Cursor {
                    value: e.received_ms,
                    id: e.id,
                })
            } else {
                None
            };
            Ok(Page { items, next_cursor })
        }

        /// In the order of an issue's event list: `(timestamp_ms, id)`.
        pub async fn neighbors(
            pool: &$crate::__private::sqlx::Pool<$db>,
            issue_id: i64,
            event_id: $crate::__private::EventId,
        ) -> Result<
            $crate::__private::sentinel_store::EventNeighbors,
            $crate::__private::sentinel_store::StoreError,
        > {
            use $crate::__private::sentinel_store::{EventNeighbors, StoreError};
            use $crate::__private::sqlx;
            let at: Option<(i64, i64)> = sqlx::query_as($locate_event)
                .bind(issue_id)
                .bind(event_id.as_bytes().to_vec())
                .fetch_optional(pool)
                .await
                .map_err($db_err)?;
            let Some((ts, id)) = at else {
                return Err(StoreError::NotFound {
                    what: "event",
                    id: event_id.to_string(),
                });
            };
            // `$1` is the issue; `$2, $3` the event's position where the statement names them.
            let one = |sql: &'static str, from_event: bool| async move {
                let mut query = sqlx::query_scalar(sql).bind(issue_id);
                if from_event {
                    query = query.bind(ts).bind(id);
                }
                let found: Option<Vec<u8>> = query.fetch_optional(pool).await.map_err($db_err)?;
                found.map($crate::event_id).transpose()
            };
            Ok(EventNeighbors {
                older: one(
                    "SELECT event_id FROM events WHERE issue_id = $1 AND timestamp_ms <= $2 \
                     AND (timestamp_ms < $2 OR id < $3) ORDER BY timestamp_ms DESC, id DESC LIMIT 1",
                    true,
                )
                .await?,
                newer: one(
                    "SELECT event_id FROM events WHERE issue_id = $1 AND timestamp_ms >= $2 \
                     AND (timestamp_ms > $2 OR id > $3) ORDER BY timestamp_ms, id LIMIT 1",
                    true,
                )
                .await?,
                newest: one(
                    "SELECT event_id FROM events WHERE issue_id = $1 ORDER BY timestamp_ms DESC, id DESC LIMIT 1",
                    false,
                )
                .await?,
                oldest: one(
                    "SELECT event_id FROM events WHERE issue_id = $1 ORDER BY timestamp_ms, id LIMIT 1",
                    false,
                )
                .await?,
            })
        }

        pub async fn attachments(
            pool: &$crate::__private::sqlx::Pool<$db>,
            project_id: i64,
            event_id: $crate::__private::EventId,
        ) -> Result<
            Vec<$crate::__private::sentinel_store::Attachment>,
            $crate::__private::sentinel_store::StoreError,
        > {
            use $crate::__private::sentinel_store::Attachment;
            use $crate::__private::sqlx::{self, Row as _};
            // `kind` is spelled out, not bound: that is what lets the partial index serve it.
            let rows = sqlx::query(
                "SELECT id, project_id, event_id, headers_json, payload FROM items \
                 WHERE project_id = $1 AND kind = 'attachment' AND event_id = $2 ORDER BY id",
            )
            .bind(project_id)
            .bind(event_id.as_bytes().to_vec())
            .fetch_all(pool)
            .await
            .map_err($db_err)?;
            rows.iter()
                .map(|r| {
                    Ok(Attachment {
                        id: r.try_get(0).map_err($db_err)?,
                        project_id: r.try_get(1).map_err($db_err)?,
                        event_id: $crate::event_id(r.try_get(2).map_err($db_err)?)?,
                        headers_json: r.try_get(3).map_err($db_err)?,
                        payload: r.try_get(4).map_err($db_err)?,
                    })
                })
                .collect()
        }

        pub async fn stored_item(
            pool: &$crate::__private::sqlx::Pool<$db>,
            project_id: i64,
            kind: $crate::__private::sentinel_store::ItemKind,
            event_id: $crate::__private::EventId,
        ) -> Result<
            Option<$crate::__private::sentinel_store::StoredItem>,
            $crate::__private::sentinel_store::StoreError,
        > {
            use $crate::__private::sentinel_store::StoredItem;
            use $crate::__private::sqlx::{self, Row as _};
            // `kind` is spelled out, not bound, so the partial index of its kind (transactions,
            // attachments) serves the lookup; it is one of the enum's fixed names.
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT id, project_id, event_id, received_ms, headers_json, payload FROM items \
                 WHERE project_id = $1 AND kind = '{}' AND event_id = $2 ORDER BY id DESC LIMIT 1",
                kind.as_str()
            )))
            .bind(project_id)
            .bind(event_id.as_bytes().to_vec())
            .fetch_optional(pool)
            .await
            .map_err($db_err)?;
            row.map(|r| {
                Ok(StoredItem {
                    id: r.try_get(0).map_err($db_err)?,
                    project_id: r.try_get(1).map_err($db_err)?,
                    kind,
                    event_id: Some($crate::event_id(r.try_get(2).map_err($db_err)?)?),
                    received_ms: r.try_get(3).map_err($db_err)?,
                    headers_json: r.try_get(4).map_err($db_err)?,
                    payload: r.try_get(5).map_err($db_err)?,
                })
            })
            .transpose()
        }
    };
}

#[cfg(test)]
mod tests {
    use sentinel_protocol::event::Level;

    use super::*;

    fn issue(status: IssueStatus) -> Issue {
        Issue {
            id: 7,
            project_id: 1,
            title: "ValueError".into(),
            culprit: "app".into(),
            message: None,
            level: Level::Error,
            status,
            platform: "python".into(),
            first_seen_ms: 0,
            last_seen_ms: 0,
            times_seen: 40,
            assignee_id: None,
            is_regression: false,
            resolved_in_release: None,
            ignore_until_ms: None,
            ignore_until_count: None,
        }
    }

    /// The activity with its data parsed (`null` for none).
    fn data(up: &IssueUpdate) -> Vec<(&'static str, serde_json::Value)> {
        up.activity
            .iter()
            .map(|(kind, data)| {
                let value = data.as_deref().map_or(serde_json::Value::Null, |d| {
                    serde_json::from_str(d).expect("activity data is JSON")
                });
                (*kind, value)
            })
            .collect()
    }

    fn to(status: StatusChange) -> IssueChange {
        IssueChange {
            status: Some(status),
            assignee: None,
        }
    }

    #[test]
    fn an_unchanged_status_writes_nothing_but_a_seen_regression() {
        let same = plan_change(
            &issue(IssueStatus::Unresolved),
            &to(StatusChange::Unresolved),
            None,
            None,
        );
        assert!(!same.changed && same.activity.is_empty());
        let mut regressed = issue(IssueStatus::Unresolved);
        regressed.is_regression = true;
        let seen = plan_change(&regressed, &to(StatusChange::Unresolved), None, None);
        assert!(seen.changed && !seen.is_regression && seen.activity.is_empty());
    }

    #[test]
    fn ignoring_counts_from_the_events_seen_so_far() {
        let up = plan_change(
            &issue(IssueStatus::Unresolved),
            &to(StatusChange::Ignored {
                until_ms: None,
                more_events: Some(10),
            }),
            None,
            None,
        );
        assert_eq!(
            (up.status, up.ignore_until_count),
            (IssueStatus::Ignored, Some(50))
        );
        assert_eq!(
            data(&up),
            vec![("set_ignored", json!({"until_ms": null, "more_events": 10}))]
        );
    }

    #[test]
    fn resolving_in_a_release_after_a_plain_resolve_is_a_change() {
        let resolved = issue(IssueStatus::Resolved);
        let up = plan_change(
            &resolved,
            &to(StatusChange::ResolvedInNextRelease),
            Some("1.2"),
            None,
        );
        assert_eq!(up.resolved_in_release.as_deref(), Some("1.2"));
        assert_eq!(up.activity[0].0, "set_resolved_in_release");
        let plain = plan_change(&resolved, &to(StatusChange::ResolvedInNextRelease), None, None);
        assert!(
            !plain.changed,
            "without a release it is the resolve it already is"
        );
    }

    #[test]
    fn assigning_names_the_assignee_and_unassigning_nobody_is_no_change() {
        let change = IssueChange {
            status: None,
            assignee: Some(Some(3)),
        };
        let up = plan_change(&issue(IssueStatus::Unresolved), &change, None, Some("Ann \"A\""));
        assert_eq!(
            data(&up),
            vec![(
                "assigned",
                json!({"assignee_id": 3, "assignee_name": "Ann \"A\""})
            )]
        );
        let unassign = IssueChange {
            status: None,
            assignee: Some(None),
        };
        assert!(!plan_change(&issue(IssueStatus::Unresolved), &unassign, None, None).changed);
    }
}
