//! Heartbeat and cron monitors: finding one by slug, the deadline sweep, and the runs that
//! checked in as in progress, and maintenance windows. The third part of [`uptime!`](crate::uptime!).

/// The kinds fed by check-ins, as the condition of the partial index `monitors_deadline` states
/// it: a query must repeat it word for word for SQLite to use that index.
pub const PASSIVE_KINDS: &str = "kind IN ('heartbeat', 'cron')";

/// Up to `$2` enabled heartbeat and cron monitors whose deadline is at or before `$1`, earliest
/// first: through `monitors_deadline`, whose condition this repeats.
pub const OVERDUE_MONITORS: &str = "WHERE enabled AND kind IN ('heartbeat', 'cron') \
     AND next_check_ms <= $1 ORDER BY next_check_ms, id LIMIT $2";

/// The columns of a maintenance window, in the order [`uptime!`](crate::uptime!) maps them.
pub const MAINTENANCE_FIELDS: &str = "id, project_id, name, monitor_ids_json, starts_ms, ends_ms, schedule, \
     duration_ms, timezone, created_ms";

/// A list of ids as a JSON column.
pub fn ids_json(ids: &[i64]) -> String {
    serde_json::to_string(ids).unwrap_or_else(|_| "[]".into())
}

/// A JSON column of ids back.
pub fn parse_ids(column: &str, text: &str) -> Result<Vec<i64>, sentinel_store::StoreError> {
    serde_json::from_str(text).map_err(|e| sentinel_store::StoreError::Corrupt(format!("{column}: {e}")))
}

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

        // ---- maintenance windows ----

        fn maintenance_row(r: &UptimeRow) -> UptimeResult<$crate::__private::sentinel_store::MaintenanceWindow> {
            use $crate::__private::sqlx::Row as _;
            let ids: String = r.try_get(3).map_err($db_err)?;
            Ok($crate::__private::sentinel_store::MaintenanceWindow {
                id: r.try_get(0).map_err($db_err)?,
                project_id: r.try_get(1).map_err($db_err)?,
                name: r.try_get(2).map_err($db_err)?,
                monitor_ids: $crate::parse_ids("monitor_ids_json", &ids)?,
                starts_ms: r.try_get(4).map_err($db_err)?,
                ends_ms: r.try_get(5).map_err($db_err)?,
                schedule: r.try_get(6).map_err($db_err)?,
                duration_ms: r.try_get(7).map_err($db_err)?,
                timezone: r.try_get(8).map_err($db_err)?,
                created_ms: r.try_get(9).map_err($db_err)?,
            })
        }

        pub async fn create_maintenance(
            pool: &UptimePool,
            w: &$crate::__private::sentinel_store::MaintenanceWindow,
        ) -> UptimeResult<$crate::__private::sentinel_store::MaintenanceWindow> {
            use $crate::__private::sentinel_store::StoreError;
            use $crate::__private::sqlx;
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO maintenance_windows (project_id, name, monitor_ids_json, starts_ms, ends_ms, \
                 schedule, duration_ms, timezone, created_ms) \
                 SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9 WHERE EXISTS (SELECT 1 FROM projects WHERE id = $1) \
                 RETURNING {}",
                $crate::MAINTENANCE_FIELDS
            )))
            .bind(w.project_id)
            .bind(&w.name)
            .bind($crate::ids_json(&w.monitor_ids))
            .bind(w.starts_ms)
            .bind(w.ends_ms)
            .bind(w.schedule.as_deref())
            .bind(w.duration_ms)
            .bind(&w.timezone)
            .bind(w.created_ms)
            .fetch_optional(pool)
            .await
            .map_err($db_err)?;
            match row {
                Some(row) => maintenance_row(&row),
                None => Err(StoreError::Conflict(format!("project {} does not exist", w.project_id))),
            }
        }

        pub async fn get_maintenance(
            pool: &UptimePool,
            window_id: i64,
        ) -> UptimeResult<Option<$crate::__private::sentinel_store::MaintenanceWindow>> {
            use $crate::__private::sqlx;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {} FROM maintenance_windows WHERE id = $1",
                $crate::MAINTENANCE_FIELDS
            )))
            .bind(window_id)
            .fetch_optional(pool)
            .await
            .map_err($db_err)?
            .as_ref()
            .map(maintenance_row)
            .transpose()
        }

        pub async fn list_maintenance(
            pool: &UptimePool,
            project_id: i64,
        ) -> UptimeResult<Vec<$crate::__private::sentinel_store::MaintenanceWindow>> {
            use $crate::__private::sqlx;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {} FROM maintenance_windows WHERE project_id = $1 ORDER BY id",
                $crate::MAINTENANCE_FIELDS
            )))
            .bind(project_id)
            .fetch_all(pool)
            .await
            .map_err($db_err)?
            .iter()
            .map(maintenance_row)
            .collect()
        }

        pub async fn delete_maintenance(pool: &UptimePool, window_id: i64) -> UptimeResult<bool> {
            let done = $crate::__private::sqlx::query("DELETE FROM maintenance_windows WHERE id = $1")
                .bind(window_id)
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
