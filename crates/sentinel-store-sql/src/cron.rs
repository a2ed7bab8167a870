//! Heartbeat and cron monitors: finding one by slug, the deadline sweep, and the runs that
//! checked in as in progress. The third part of [`uptime!`](crate::uptime!).

/// The kinds fed by check-ins, as the condition of the partial index `monitors_deadline` states
/// it: a query must repeat it word for word for SQLite to use that index.
pub const PASSIVE_KINDS: &str = "kind IN ('heartbeat', 'cron')";

/// Up to `$2` enabled heartbeat and cron monitors whose deadline is at or before `$1`, earliest
/// first: through `monitors_deadline`, whose condition this repeats.
pub const OVERDUE_MONITORS: &str = "WHERE enabled AND kind IN ('heartbeat', 'cron') \
     AND next_check_ms <= $1 ORDER BY next_check_ms, id LIMIT $2";

/// Stamps out the heartbeat and cron functions of [`uptime!`](crate::uptime!), which invokes it:
/// they use the helpers `uptime!` defines in the same module. Not for direct use.
#[doc(hidden)]
#[macro_export]
macro_rules! __uptime_cron {
    (
        db_err: $db_err:path $(,)?
    ) => {
        fn cron_run_row(r: &UptimeRow) -> UptimeResult<$crate::__private::sentinel_store::CronRun> {
            use $crate::__private::sqlx::Row as _;
            Ok($crate::__private::sentinel_store::CronRun {
                monitor_id: r.try_get(0).map_err($db_err)?,
                check_in_id: r.try_get(1).map_err($db_err)?,
                started_ms: r.try_get(2).map_err($db_err)?,
                deadline_ms: r.try_get(3).map_err($db_err)?,
            })
        }

        /// Through `monitors_by_slug`.
        pub async fn monitor_by_slug(
            pool: &UptimePool,
            project_id: i64,
            slug: &str,
        ) -> UptimeResult<Option<$crate::__private::sentinel_store::Monitor>> {
            use $crate::__private::sqlx;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {} FROM monitors WHERE project_id = $1 AND slug = $2",
                $crate::MONITOR_FIELDS
            )))
            .bind(project_id)
            .bind(slug)
            .fetch_optional(pool)
            .await
            .map_err($db_err)?
            .as_ref()
            .map(monitor_row)
            .transpose()
        }

        pub async fn overdue_monitors(
            pool: &UptimePool,
            now_ms: i64,
            limit: usize,
        ) -> UptimeResult<Vec<$crate::__private::sentinel_store::Monitor>> {
            use $crate::__private::sqlx;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {} FROM monitors {}",
                $crate::MONITOR_FIELDS,
                $crate::OVERDUE_MONITORS
            )))
            .bind(now_ms)
            .bind(uptime_count(limit))
            .fetch_all(pool)
            .await
            .map_err($db_err)?
            .iter()
            .map(monitor_row)
            .collect()
        }

        pub async fn move_deadline(
            pool: &UptimePool,
            monitor_id: i64,
            from_ms: i64,
            to_ms: i64,
        ) -> UptimeResult<bool> {
            let done = $crate::__private::sqlx::query(
                "UPDATE monitors SET next_check_ms = $3 WHERE id = $1 AND next_check_ms = $2",
            )
            .bind(monitor_id)
            .bind(from_ms)
            .bind(to_ms)
            .execute(pool)
            .await
            .map_err($db_err)?;
            Ok(done.rows_affected() == 1)
        }

        /// A run of a deleted monitor is not recorded (the foreign key would refuse it): `false`.
        pub async fn start_cron_run(
            pool: &UptimePool,
            run: &$crate::__private::sentinel_store::CronRun,
        ) -> UptimeResult<bool> {
            let done = $crate::__private::sqlx::query(
                "INSERT INTO cron_runs (monitor_id, check_in_id, started_ms, deadline_ms) \
                 SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM monitors WHERE id = $1) \
                 ON CONFLICT (monitor_id, check_in_id) DO NOTHING",
            )
            .bind(run.monitor_id)
            .bind(&run.check_in_id)
            .bind(run.started_ms)
            .bind(run.deadline_ms)
            .execute(pool)
            .await
            .map_err($db_err)?;
            Ok(done.rows_affected() == 1)
        }

        pub async fn cron_run(
            pool: &UptimePool,
            monitor_id: i64,
            check_in_id: Option<&str>,
        ) -> UptimeResult<Option<$crate::__private::sentinel_store::CronRun>> {
            use $crate::__private::sqlx;
            let columns = "SELECT monitor_id, check_in_id, started_ms, deadline_ms FROM cron_runs";
            let row =
                match check_in_id {
                    Some(id) => {
                        sqlx::query(sqlx::AssertSqlSafe(format!(
                            "{columns} WHERE monitor_id = $1 AND check_in_id = $2"
                        )))
                        .bind(monitor_id)
                        .bind(id)
                        .fetch_optional(pool)
                        .await
                    }
                    None => sqlx::query(sqlx::AssertSqlSafe(format!(
                        "{columns} WHERE monitor_id = $1 ORDER BY started_ms DESC, check_in_id DESC LIMIT 1"
                    )))
                    .bind(monitor_id)
                    .fetch_optional(pool)
                    .await,
                }
                .map_err($db_err)?;
            row.as_ref().map(cron_run_row).transpose()
        }

        pub async fn end_cron_run(
            pool: &UptimePool,
            monitor_id: i64,
            check_in_id: &str,
        ) -> UptimeResult<bool> {
            let done = $crate::__private::sqlx::query(
                "DELETE FROM cron_runs WHERE monitor_id = $1 AND check_in_id = $2",
            )
            .bind(monitor_id)
            .bind(check_in_id)
            .execute(pool)
            .await
            .map_err($db_err)?;
            Ok(done.rows_affected() == 1)
        }

        /// Through `cron_runs_by_deadline`.
        pub async fn overdue_cron_runs(
            pool: &UptimePool,
            now_ms: i64,
            limit: usize,
        ) -> UptimeResult<Vec<$crate::__private::sentinel_store::CronRun>> {
            $crate::__private::sqlx::query(
                "SELECT monitor_id, check_in_id, started_ms, deadline_ms FROM cron_runs \
                 WHERE deadline_ms <= $1 ORDER BY deadline_ms, monitor_id, check_in_id LIMIT $2",
            )
            .bind(now_ms)
            .bind(uptime_count(limit))
            .fetch_all(pool)
            .await
            .map_err($db_err)?
            .iter()
            .map(cron_run_row)
            .collect()
        }
    };
}
