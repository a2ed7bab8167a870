//! Triggers, the notification outbox and its delivery log, and what threshold rules read: the
//! second half of [`alerts!`](crate::alerts!), kept apart to keep each file readable.

use sentinel_store::{AlertMessage, DeliveryNext, NotificationStatus, StoreError, Transition, TriggerKind};

/// `SELECT` of notifications (columns 0–15, the rule's name from a join) with their channels
/// (columns 16–23, as in [`CHANNEL_COLUMNS`](crate::CHANNEL_COLUMNS)).
pub const NOTIFICATION_COLUMNS: &str = "SELECT n.id, n.idempotency_key, n.group_key, n.rule_id, r.name, \
     n.channel_id, n.project_id, n.subject, n.transition, n.message_json, n.status, n.attempts, \
     n.next_attempt_ms, n.created_ms, n.delivered_ms, n.last_error, \
     c.id, c.project_id, c.name, c.kind, c.config_json, c.secrets_json, c.enabled, c.created_ms \
     FROM notifications n JOIN channels c ON c.id = n.channel_id \
     LEFT JOIN alert_rules r ON r.id = n.rule_id";

/// `SELECT` of delivery attempts, in the order [`alerts!`](crate::alerts!) maps them.
pub const DELIVERY_COLUMNS: &str =
    "SELECT id, notification_id, attempt, at_ms, duration_ms, status_code, error FROM deliveries";

/// Issues of project `$1` with more than `$4` events in `[$2, $3)` by the minute rollups, with
/// their counts, by issue id. Only issues last seen since `$2` can have events in the window: they
/// come from `issues_by_last_seen`, and each one's minutes from the rollups' primary key, rather
/// than every minute of every issue of the project. On PostgreSQL the `minute_ms` range prunes the
/// daily partitions.
pub const ISSUE_COUNTS: &str = "SELECT r.issue_id, CAST(SUM(r.count) AS BIGINT) FROM issues i \
     JOIN rollups_minute r ON r.project_id = i.project_id AND r.issue_id = i.id \
     WHERE i.project_id = $1 AND i.last_seen_ms >= $2 \
     AND r.project_id = $1 AND r.minute_ms >= $2 AND r.minute_ms < $3 \
     GROUP BY r.issue_id HAVING SUM(r.count) > $4 ORDER BY r.issue_id";

/// Ingest outcome totals of all projects in `[$1, $2)`, per outcome (unordered).
pub const OUTCOME_TOTALS: &str = "SELECT outcome, CAST(SUM(quantity) AS BIGINT) FROM outcomes \
     WHERE minute_ms >= $1 AND minute_ms < $2 GROUP BY outcome";

/// Which notifications to read.
#[derive(Debug, Clone, Copy)]
pub enum NotificationFilter<'a> {
    Ids(&'a [i64]),
    /// The one with this idempotency key.
    Key(&'a str),
    /// A project's log (`None`: the instance's), newest first.
    Log {
        project_id: Option<i64>,
        limit: usize,
        before_id: Option<i64>,
    },
}

/// What an attempt's outcome writes: `(status, next_attempt_ms, delivered_ms, last_error)`, where
/// `None` keeps the status, the due time and the delivery time as they are.
pub fn delivery_columns(
    next: DeliveryNext,
    at_ms: i64,
    error: Option<&str>,
) -> (Option<&'static str>, Option<i64>, Option<i64>, Option<String>) {
    match next {
        DeliveryNext::Delivered => (
            Some(NotificationStatus::Delivered.as_str()),
            None,
            Some(at_ms),
            None,
        ),
        DeliveryNext::RetryAt(t) => (None, Some(t), None, error.map(str::to_owned)),
        DeliveryNext::GiveUp => (
            Some(NotificationStatus::Failed.as_str()),
            None,
            None,
            error.map(str::to_owned),
        ),
    }
}

pub fn message_json(message: &AlertMessage) -> Result<String, StoreError> {
    serde_json::to_string(message).map_err(|e| StoreError::Corrupt(format!("message as JSON: {e}")))
}

pub fn parse_message(json: &str) -> Result<AlertMessage, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("message_json: {e}")))
}

pub fn transition(s: &str) -> Result<Transition, StoreError> {
    Transition::parse(s).ok_or_else(|| StoreError::Corrupt(format!("unknown transition {s:?}")))
}

pub fn notification_status(s: &str) -> Result<NotificationStatus, StoreError> {
    [
        NotificationStatus::Pending,
        NotificationStatus::Delivered,
        NotificationStatus::Failed,
    ]
    .into_iter()
    .find(|st| st.as_str() == s)
    .ok_or_else(|| StoreError::Corrupt(format!("unknown notification status {s:?}")))
}

pub fn trigger_kind(s: &str) -> Result<TriggerKind, StoreError> {
    [TriggerKind::NewIssue, TriggerKind::Regression]
        .into_iter()
        .find(|k| k.as_str() == s)
        .ok_or_else(|| StoreError::Corrupt(format!("unknown trigger kind {s:?}")))
}

/// Stamps out the trigger, outbox and threshold-read functions of [`alerts!`](crate::alerts!),
/// which invokes it: they use the helpers `alerts!` defines in the same module (`begin_alerts`,
/// `channel_row`, `push_scope`, …). Not for direct use.
#[doc(hidden)]
#[macro_export]
macro_rules! __alerts_outbox {
    (db: $db:ty, db_err: $db_err:path, skip_locked: $skip_locked:literal $(,)?) => {
        /// A notification and its channel from `NOTIFICATION_COLUMNS`.
        fn notification_row(
            r: &AlertsRow,
        ) -> AlertsResult<(
            $crate::__private::sentinel_store::Notification,
            $crate::__private::sentinel_store::Channel,
        )> {
            use $crate::__private::sqlx::Row as _;
            let channel = channel_row(r, 16)?;
            let transition: String = r.try_get(8).map_err($db_err)?;
            let message: String = r.try_get(9).map_err($db_err)?;
            let status: String = r.try_get(10).map_err($db_err)?;
            let attempts: i64 = r.try_get(11).map_err($db_err)?;
            let notification = $crate::__private::sentinel_store::Notification {
                id: r.try_get(0).map_err($db_err)?,
                idempotency_key: r.try_get(1).map_err($db_err)?,
                group_key: r.try_get(2).map_err($db_err)?,
                rule_id: r.try_get(3).map_err($db_err)?,
                rule_name: r.try_get(4).map_err($db_err)?,
                channel_id: r.try_get(5).map_err($db_err)?,
                channel_name: channel.name.clone(),
                channel_kind: channel.kind,
                project_id: r.try_get(6).map_err($db_err)?,
                subject: r.try_get(7).map_err($db_err)?,
                transition: $crate::transition(&transition)?,
                message: $crate::parse_message(&message)?,
                status: $crate::notification_status(&status)?,
                attempts: u32::try_from(attempts.max(0)).unwrap_or(u32::MAX),
                next_attempt_ms: r.try_get(12).map_err($db_err)?,
                created_ms: r.try_get(13).map_err($db_err)?,
                delivered_ms: r.try_get(14).map_err($db_err)?,
                last_error: r.try_get(15).map_err($db_err)?,
            };
            Ok((notification, channel))
        }

        fn delivery_row(r: &AlertsRow) -> AlertsResult<$crate::__private::sentinel_store::Delivery> {
            use $crate::__private::sentinel_store::StoreError;
            use $crate::__private::sqlx::Row as _;
            let attempt: i64 = r.try_get(2).map_err($db_err)?;
            let status_code: Option<i64> = r.try_get(5).map_err($db_err)?;
            Ok($crate::__private::sentinel_store::Delivery {
                id: r.try_get(0).map_err($db_err)?,
                notification_id: r.try_get(1).map_err($db_err)?,
                attempt: u32::try_from(attempt.max(0)).unwrap_or(u32::MAX),
                at_ms: r.try_get(3).map_err($db_err)?,
                duration_ms: r.try_get(4).map_err($db_err)?,
                status_code: status_code
                    .map(|c| i32::try_from(c).map_err(|_| StoreError::Corrupt(format!("status code {c}"))))
                    .transpose()?,
                error: r.try_get(6).map_err($db_err)?,
            })
        }

        // ---- triggers, inside apply_batch ----

        /// Writes one trigger per `(project, issue, kind)` in `conn`'s transaction (the batch's),
        /// seen at `at_ms`.
        pub async fn write_triggers(
            conn: &mut AlertsConn,
            triggers: &[(i64, i64, $crate::__private::sentinel_store::TriggerKind)],
            at_ms: i64,
        ) -> Result<(), $crate::__private::sqlx::Error> {
            for chunk in triggers.chunks(ALERT_IDS_PER_STATEMENT / 4) {
                let mut qb: $crate::__private::sqlx::QueryBuilder<$db> =
                    $crate::__private::sqlx::QueryBuilder::new(
                        "INSERT INTO alert_triggers (project_id, issue_id, kind, at_ms) ",
                    );
                qb.push_values(chunk, |mut b, (project_id, issue_id, kind)| {
                    b.push_bind(*project_id)
                        .push_bind(*issue_id)
                        .push_bind(kind.as_str())
                        .push_bind(at_ms);
                });
                qb.build().execute(&mut *conn).await?;
            }
            Ok(())
        }

        // ---- triggers ----

        pub async fn claim_alert_triggers(
            pool: &AlertsPool,
            limit: usize,
            now_ms: i64,
            lease_ms: i64,
        ) -> AlertsResult<Vec<$crate::__private::sentinel_store::AlertTrigger>> {
            use $crate::__private::sqlx::{self, Row as _};
            if limit == 0 {
                return Ok(Vec::new());
            }
            let rows = sqlx::query(concat!(
                "UPDATE alert_triggers SET claimed_until_ms = $2 WHERE id IN \
                 (SELECT id FROM alert_triggers WHERE claimed_until_ms <= $1 ORDER BY at_ms, id LIMIT $3",
                $skip_locked,
                ") RETURNING id, project_id, issue_id, kind, at_ms"
            ))
            .bind(now_ms)
            .bind(now_ms.saturating_add(lease_ms))
            .bind(sql_count(limit))
            .fetch_all(pool)
            .await
            .map_err($db_err)?;
            let mut triggers = rows
                .iter()
                .map(|r| {
                    let kind: String = r.try_get(3).map_err($db_err)?;
                    Ok($crate::__private::sentinel_store::AlertTrigger {
                        id: r.try_get(0).map_err($db_err)?,
                        project_id: r.try_get(1).map_err($db_err)?,
                        issue_id: r.try_get(2).map_err($db_err)?,
                        kind: $crate::trigger_kind(&kind)?,
                        at_ms: r.try_get(4).map_err($db_err)?,
                    })
                })
                .collect::<AlertsResult<Vec<_>>>()?;
            // UPDATE … RETURNING has no order of its own.
            triggers.sort_by_key(|t| (t.at_ms, t.id));
            Ok(triggers)
        }

        // ---- outbox ----

        /// The notifications `filter` selects, with their channels: by id for `Ids` (in the order
        /// asked, missing ones left out), at most one for `Key`, newest first for `Log`.
        async fn load_notifications(
            conn: &mut AlertsConn,
            filter: $crate::NotificationFilter<'_>,
        ) -> AlertsResult<
            Vec<(
                $crate::__private::sentinel_store::Notification,
                $crate::__private::sentinel_store::Channel,
            )>,
        > {
            use $crate::__private::sqlx::QueryBuilder;
            match filter {
                $crate::NotificationFilter::Ids(ids) => {
                    let mut found = ::std::collections::HashMap::new();
                    for chunk in ids.chunks(ALERT_IDS_PER_STATEMENT) {
                        let mut qb: QueryBuilder<$db> = QueryBuilder::new($crate::NOTIFICATION_COLUMNS);
                        qb.push(" WHERE n.id IN (");
                        let mut sep = qb.separated(", ");
                        for id in chunk {
                            sep.push_bind(*id);
                        }
                        qb.push(")");
                        for row in qb.build().fetch_all(&mut *conn).await.map_err($db_err)? {
                            let pair = notification_row(&row)?;
                            found.insert(pair.0.id, pair);
                        }
                    }
                    Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
                }
                $crate::NotificationFilter::Key(key) => {
                    let mut qb: QueryBuilder<$db> = QueryBuilder::new($crate::NOTIFICATION_COLUMNS);
                    qb.push(" WHERE n.idempotency_key = ").push_bind(key);
                    qb.build()
                        .fetch_optional(&mut *conn)
                        .await
                        .map_err($db_err)?
                        .map(|r| notification_row(&r))
                        .into_iter()
                        .collect()
                }
                $crate::NotificationFilter::Log {
                    project_id,
                    limit,
                    before_id,
                } => {
                    let mut qb: QueryBuilder<$db> = QueryBuilder::new($crate::NOTIFICATION_COLUMNS);
                    push_scope(&mut qb, " WHERE n.project_id", project_id);
                    if let Some(before) = before_id {
                        qb.push(" AND n.id < ").push_bind(before);
                    }
                    qb.push(" ORDER BY n.id DESC LIMIT ").push_bind(sql_count(limit));
                    qb.build()
                        .fetch_all(&mut *conn)
                        .await
                        .map_err($db_err)?
                        .iter()
                        .map(notification_row)
                        .collect()
                }
            }
        }

        pub async fn claim_notifications(
            pool: &AlertsPool,
            limit: usize,
            now_ms: i64,
            lease_ms: i64,
        ) -> AlertsResult<
            Vec<(
                $crate::__private::sentinel_store::Notification,
                $crate::__private::sentinel_store::Channel,
            )>,
        > {
            use $crate::__private::sqlx::{self, QueryBuilder};
            if limit == 0 {
                return Ok(Vec::new());
            }
            let mut tx = begin_alerts(pool).await?;
            let ids: Vec<i64> = sqlx::query_scalar(concat!(
                "SELECT id FROM notifications WHERE status = 'pending' AND next_attempt_ms <= $1 \
                 ORDER BY next_attempt_ms, id LIMIT $2",
                $skip_locked
            ))
            .bind(now_ms)
            .bind(sql_count(limit))
            .fetch_all(&mut *tx)
            .await
            .map_err($db_err)?;
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            let mut qb: QueryBuilder<$db> = QueryBuilder::new("UPDATE notifications SET next_attempt_ms = ");
            qb.push_bind(now_ms.saturating_add(lease_ms)).push(" WHERE id IN (");
            let mut sep = qb.separated(", ");
            for id in &ids {
                sep.push_bind(*id);
            }
            qb.push(")");
            qb.build().execute(&mut *tx).await.map_err($db_err)?;
            let claimed = load_notifications(&mut tx, $crate::NotificationFilter::Ids(&ids)).await?;
            tx.commit().await.map_err($db_err)?;
            Ok(claimed)
        }

        /// Only a pending notification takes the attempt: one delivered or given up meanwhile (by
        /// a notifier that claimed it after this one's lease ran out) stays as it is.
        pub async fn record_delivery(
            pool: &AlertsPool,
            notification_id: i64,
            attempt: &$crate::__private::sentinel_store::DeliveryAttempt,
            next: $crate::__private::sentinel_store::DeliveryNext,
        ) -> AlertsResult<()> {
            use $crate::__private::sqlx;
            let (status, next_attempt_ms, delivered_ms, last_error) =
                $crate::delivery_columns(next, attempt.at_ms, attempt.error.as_deref());
            let mut tx = begin_alerts(pool).await?;
            let number: Option<i64> = sqlx::query_scalar(
                "UPDATE notifications SET attempts = attempts + 1, status = COALESCE($2, status), \
                 next_attempt_ms = COALESCE($3, next_attempt_ms), delivered_ms = COALESCE($4, delivered_ms), \
                 last_error = $5 WHERE id = $1 AND status = 'pending' RETURNING attempts",
            )
            .bind(notification_id)
            .bind(status)
            .bind(next_attempt_ms)
            .bind(delivered_ms)
            .bind(last_error)
            .fetch_optional(&mut *tx)
            .await
            .map_err($db_err)?;
            let Some(number) = number else {
                return Err(alert_not_found("pending notification", notification_id));
            };
            sqlx::query(
                "INSERT INTO deliveries (notification_id, attempt, at_ms, duration_ms, status_code, error) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(notification_id)
            .bind(number)
            .bind(attempt.at_ms)
            .bind(attempt.duration_ms)
            .bind(attempt.status_code.map(i64::from))
            .bind(attempt.error.as_deref())
            .execute(&mut *tx)
            .await
            .map_err($db_err)?;
            tx.commit().await.map_err($db_err)
        }

        pub async fn get_notification(
            pool: &AlertsPool,
            notification_id: i64,
        ) -> AlertsResult<Option<$crate::__private::sentinel_store::Notification>> {
            let mut conn = pool.acquire().await.map_err($db_err)?;
            let filter = $crate::NotificationFilter::Ids(&[notification_id]);
            let found = load_notifications(&mut conn, filter).await?;
            Ok(found.into_iter().next().map(|(n, _)| n))
        }

        /// Through the unique index on `idempotency_key`.
        pub async fn find_notification(
            pool: &AlertsPool,
            idempotency_key: &str,
        ) -> AlertsResult<Option<$crate::__private::sentinel_store::Notification>> {
            let mut conn = pool.acquire().await.map_err($db_err)?;
            let filter = $crate::NotificationFilter::Key(idempotency_key);
            let found = load_notifications(&mut conn, filter).await?;
            Ok(found.into_iter().next().map(|(n, _)| n))
        }

        pub async fn list_notifications(
            pool: &AlertsPool,
            project_id: Option<i64>,
            limit: usize,
            before_id: Option<i64>,
        ) -> AlertsResult<Vec<$crate::__private::sentinel_store::Notification>> {
            let mut conn = pool.acquire().await.map_err($db_err)?;
            let filter = $crate::NotificationFilter::Log {
                project_id,
                limit,
                before_id,
            };
            let found = load_notifications(&mut conn, filter).await?;
            Ok(found.into_iter().map(|(n, _)| n).collect())
        }

        pub async fn list_deliveries(
            pool: &AlertsPool,
            notification_ids: &[i64],
        ) -> AlertsResult<Vec<$crate::__private::sentinel_store::Delivery>> {
            use $crate::__private::sqlx::QueryBuilder;
            let mut ids = notification_ids.to_vec();
            ids.sort_unstable();
            ids.dedup();
            let mut out = Vec::new();
            // Chunks of sorted ids: their results concatenate in order.
            for chunk in ids.chunks(ALERT_IDS_PER_STATEMENT) {
                let mut qb: QueryBuilder<$db> = QueryBuilder::new($crate::DELIVERY_COLUMNS);
                qb.push(" WHERE notification_id IN (");
                let mut sep = qb.separated(", ");
                for id in chunk {
                    sep.push_bind(*id);
                }
                qb.push(") ORDER BY notification_id, attempt");
                for row in qb.build().fetch_all(pool).await.map_err($db_err)? {
                    out.push(delivery_row(&row)?);
                }
            }
            Ok(out)
        }

        // ---- what threshold rules read ----

        pub async fn issue_counts_over(
            pool: &AlertsPool,
            project_id: i64,
            since_ms: i64,
            until_ms: i64,
            more_than: u64,
        ) -> AlertsResult<Vec<(i64, u64)>> {
            let rows: Vec<(i64, i64)> = $crate::__private::sqlx::query_as($crate::ISSUE_COUNTS)
            .bind(project_id)
            .bind(since_ms)
            .bind(until_ms)
            .bind(i64::try_from(more_than).unwrap_or(i64::MAX))
            .fetch_all(pool)
            .await
            .map_err($db_err)?;
            Ok(rows.into_iter().map(|(id, n)| (id, n.max(0) as u64)).collect())
        }

        pub async fn instance_outcome_totals(
            pool: &AlertsPool,
            since_ms: i64,
            until_ms: i64,
        ) -> AlertsResult<Vec<(String, u64)>> {
            let mut rows: Vec<(String, i64)> = $crate::__private::sqlx::query_as($crate::OUTCOME_TOTALS)
            .bind(since_ms)
            .bind(until_ms)
            .fetch_all(pool)
            .await
            .map_err($db_err)?;
            // By byte order, whatever the database's collation.
            rows.sort();
            Ok(rows.into_iter().map(|(o, n)| (o, n.max(0) as u64)).collect())
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivery_outcomes_set_status_due_time_and_error() {
        assert_eq!(
            delivery_columns(DeliveryNext::Delivered, 5, Some("ignored")),
            (Some("delivered"), None, Some(5), None)
        );
        assert_eq!(
            delivery_columns(DeliveryNext::RetryAt(9), 5, Some("503")),
            (None, Some(9), None, Some("503".into()))
        );
        assert_eq!(
            delivery_columns(DeliveryNext::GiveUp, 5, Some("410")),
            (Some("failed"), None, None, Some("410".into()))
        );
    }

    #[test]
    fn column_codecs_reject_unknown_names() {
        assert!(matches!(trigger_kind("resolved"), Err(StoreError::Corrupt(_))));
        assert!(matches!(transition("fired"), Err(StoreError::Corrupt(_))));
        assert_eq!(notification_status("failed").unwrap(), NotificationStatus::Failed);
        assert!(matches!(notification_status("sent"), Err(StoreError::Corrupt(_))));
    }
}
