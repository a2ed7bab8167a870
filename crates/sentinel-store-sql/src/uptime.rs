//! Uptime monitoring: monitors, the scheduler's check jobs, appended check results with their
//! rollups, the verifier's queue and incidents. The grid arithmetic, the rollup sums and the
//! column codecs are plain functions here; the statements are stamped out per backend by
//! [`uptime!`](crate::uptime!), which includes the checks half from `checks.rs`.

use std::collections::BTreeMap;

use sentinel_store::{MonitorKind, MonitorStatus, NewCheckResult, NewMonitor, Resolution, StoreError};

/// The columns of a monitor, in the order [`uptime!`](crate::uptime!) maps them (for `SELECT` and
/// `RETURNING`).
pub const MONITOR_FIELDS: &str = "id, project_id, name, kind, config_json, interval_ms, timeout_ms, \
     failure_threshold, recovery_threshold, enabled, public, status, status_since_ms, streak, \
     next_check_ms, last_check_ms, created_ms, updated_ms, slug, regions_json, region_quorum";

/// The columns of a check result, in the order [`uptime!`](crate::uptime!) maps them.
pub const RESULT_FIELDS: &str =
    "id, monitor_id, slot_ms, region, started_ms, ok, latency_ms, status_code, error, details_json";

/// [`RESULT_FIELDS`] of a check result aliased `r`.
pub const RESULT_FIELDS_OF_R: &str = "r.id, r.monitor_id, r.slot_ms, r.region, r.started_ms, r.ok, \
     r.latency_ms, r.status_code, r.error, r.details_json";

/// `SELECT` of incidents, in the order [`uptime!`](crate::uptime!) maps them.
pub const INCIDENT_COLUMNS: &str =
    "SELECT id, monitor_id, project_id, opened_ms, resolved_ms, evidence_json FROM incidents";

/// The kinds a checker runs, as the condition of the partial index `monitors_due` states it: a
/// query must repeat it word for word for SQLite to use that index.
pub const ACTIVE_KINDS: &str = "kind IN ('http', 'tcp', 'dns')";

/// Up to `$2` monitors due at `$1`, oldest first: through `monitors_due`, whose condition this
/// repeats. A backend that claims rows appends its lock clause.
pub const DUE_MONITORS: &str = "SELECT id, next_check_ms, interval_ms, regions_json FROM monitors \
     WHERE enabled AND kind IN ('http', 'tcp', 'dns') AND next_check_ms <= $1 \
     ORDER BY next_check_ms, id LIMIT $2";

/// Up to `$2` jobs due at `$1` whose lease (if any) has run out, for region `$4` or any region,
/// oldest slot first. A backend that claims rows appends its lock clause.
pub const DUE_JOBS: &str = "SELECT monitor_id, slot_ms, region FROM check_jobs \
     WHERE slot_ms <= $1 AND claimed_until_ms <= $1 AND region IN ('', $4) \
     ORDER BY slot_ms, monitor_id LIMIT $2";

/// The jobs of one slot of a monitor: one per region, or one any checker runs.
pub fn job_regions(regions: &[String]) -> Vec<String> {
    if regions.is_empty() {
        vec![String::new()]
    } else {
        regions.to_vec()
    }
}

/// The `regions_json` column of a monitor.
pub fn regions_json(regions: &[String]) -> String {
    serde_json::Value::from(regions.to_vec()).to_string()
}

/// Reads the `regions_json` column.
pub fn parse_regions(json: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("regions_json {json:?}: {e}")))
}

/// A scheduled monitor's slots: `(slot, next)`, the last slot on its grid
/// (`next_check_ms + k * interval_ms`, `k >= 0`) at or before `now_ms`, and the first after it.
/// After a long pause (a stopped server, a clock jump forward) the missed slots are skipped: the
/// check that runs now is the current slot's.
pub fn due_slots(next_check_ms: i64, interval_ms: i64, now_ms: i64) -> (i64, i64) {
    let interval = interval_ms.max(1);
    let k = now_ms.saturating_sub(next_check_ms).max(0) / interval;
    let slot = next_check_ms.saturating_add(k.saturating_mul(interval));
    (slot, slot.saturating_add(interval))
}

/// What a monitor checks and when it counts as down: a change starts its status over.
#[derive(Debug, Clone, PartialEq)]
pub struct MonitorSettings {
    pub config: serde_json::Value,
    pub interval_ms: i64,
    pub timeout_ms: i64,
    pub failure_threshold: u32,
    pub recovery_threshold: u32,
    pub regions: Vec<String>,
    pub region_quorum: u32,
}

impl MonitorSettings {
    pub fn of(monitor: &NewMonitor) -> Self {
        Self {
            config: monitor.config.clone(),
            interval_ms: monitor.interval_ms,
            timeout_ms: monitor.timeout_ms,
            failure_threshold: monitor.failure_threshold,
            recovery_threshold: monitor.recovery_threshold,
            regions: monitor.regions.clone(),
            region_quorum: monitor.region_quorum,
        }
    }
}

/// `Conflict` for settings no scheduler can follow.
pub fn check_monitor(monitor: &NewMonitor) -> Result<(), StoreError> {
    if monitor.interval_ms <= 0 || monitor.timeout_ms <= 0 {
        return Err(StoreError::Conflict(format!(
            "a monitor's interval and timeout must be positive, got {} ms and {} ms",
            monitor.interval_ms, monitor.timeout_ms
        )));
    }
    Ok(())
}

/// One monitor's rollup row additions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RollupDelta {
    pub checks: i64,
    pub failures: i64,
    pub latency_sum_ms: i64,
    pub latency_max_ms: i64,
}

/// `(monitor_id, resolution, bucket_ms)` of a rollup row.
pub type RollupKey = (i64, &'static str, i64);

/// The start of the bucket of `ms` (a floor, also before 1970).
pub fn bucket_of(resolution: Resolution, ms: i64) -> i64 {
    ms - ms.rem_euclid(resolution.bucket_ms())
}

/// What `results` add to the minute, hour and day rollups: one entry per row, in key order (the
/// order writers lock rows in).
pub fn rollup_deltas<'a>(
    results: impl IntoIterator<Item = &'a NewCheckResult>,
) -> BTreeMap<RollupKey, RollupDelta> {
    let mut out: BTreeMap<RollupKey, RollupDelta> = BTreeMap::new();
    for r in results {
        for resolution in Resolution::ALL {
            let key = (
                r.monitor_id,
                resolution.as_str(),
                bucket_of(resolution, r.slot_ms),
            );
            let d = out.entry(key).or_default();
            d.checks += 1;
            d.failures += i64::from(!r.ok);
            d.latency_sum_ms = d.latency_sum_ms.saturating_add(r.latency_ms);
            d.latency_max_ms = d.latency_max_ms.max(r.latency_ms);
        }
    }
    out
}

/// `(monitor_id, resolution, bucket_ms, bin)` of a latency histogram row.
pub type LatencyKey = (i64, &'static str, i64, i32);

/// What the successful ones of `results` add to the minute, hour and day latency histograms:
/// checks per row, in key order (the order writers lock rows in).
pub fn latency_deltas<'a>(
    results: impl IntoIterator<Item = &'a NewCheckResult>,
) -> BTreeMap<LatencyKey, i64> {
    let mut out: BTreeMap<LatencyKey, i64> = BTreeMap::new();
    for r in results.into_iter().filter(|r| r.ok) {
        let bin = sentinel_store::latency::bin_of(r.latency_ms);
        for resolution in Resolution::ALL {
            let key = (
                r.monitor_id,
                resolution.as_str(),
                bucket_of(resolution, r.slot_ms),
                bin,
            );
            *out.entry(key).or_default() += 1;
        }
    }
    out
}

pub fn monitor_kind(s: &str) -> Result<MonitorKind, StoreError> {
    MonitorKind::parse(s).ok_or_else(|| StoreError::Corrupt(format!("unknown monitor kind {s:?}")))
}

pub fn monitor_status(s: &str) -> Result<MonitorStatus, StoreError> {
    MonitorStatus::parse(s).ok_or_else(|| StoreError::Corrupt(format!("unknown monitor status {s:?}")))
}

/// A count column that must fit a `u32` (thresholds, streaks).
pub fn count_u32(column: &str, value: i64) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|_| StoreError::Corrupt(format!("{column} is {value}")))
}

/// Stamps out, in the invoking module, one function per `UptimeStore` method (same name, the pool
/// first), except `record_checks`: its body is `write_check_results(conn, results)`, which the
/// backend runs in a transaction of its own (PostgreSQL creates the results' partitions first and
/// retries when one disappeared meanwhile), as `apply_batch` runs `write_triggers`. Monitors and
/// scheduling here; results, verification and reads through `__uptime_checks!` (in `checks.rs`).
///
/// - `db`, `db_err`, `begin`, `for_update`: as for [`alerts!`](crate::alerts!);
/// - `skip_locked`: appended to the `SELECT`s that pick due monitors and due jobs, so concurrent
///   schedulers and checkers take disjoint rows;
/// - `key_share`: appended to the `SELECT` of the monitors a batch of results belongs to, so a
///   monitor is not deleted between that check and the insert of its results (`" FOR KEY
///   SHARE"`, or `""` where write transactions are serialized anyway);
/// - `write_alert_commit`: the path of the backend's `alerts!`-made `write_alert_commit`, which
///   writes a verification's alerts inside its transaction.
#[macro_export]
macro_rules! uptime {
    (
        db: $db:ty,
        db_err: $db_err:path,
        begin: |$pool:ident| $begin:expr,
        for_update: $for_update:literal,
        skip_locked: $skip_locked:literal,
        key_share: $key_share:literal,
        write_alert_commit: $write_alert_commit:path $(,)?
    ) => {
        type UptimePool = $crate::__private::sqlx::Pool<$db>;
        type UptimeRow = <$db as $crate::__private::sqlx::Database>::Row;
        type UptimeConn = <$db as $crate::__private::sqlx::Database>::Connection;
        type UptimeResult<T> = ::std::result::Result<T, $crate::__private::sentinel_store::StoreError>;

        /// Rows per multi-row statement: at ten columns far below both backends' limits on bound
        /// parameters.
        const UPTIME_ROWS_PER_STATEMENT: usize = 500;

        async fn begin_uptime(
            pool: &UptimePool,
        ) -> UptimeResult<$crate::__private::sqlx::Transaction<'static, $db>> {
            let $pool = pool;
            $begin.await.map_err($db_err)
        }

        fn uptime_count(n: usize) -> i64 {
            i64::try_from(n).unwrap_or(i64::MAX)
        }

        fn monitor_row(r: &UptimeRow) -> UptimeResult<$crate::__private::sentinel_store::Monitor> {
            use $crate::__private::sqlx::Row as _;
            let kind: String = r.try_get(3).map_err($db_err)?;
            let config: String = r.try_get(4).map_err($db_err)?;
            let status: String = r.try_get(11).map_err($db_err)?;
            Ok($crate::__private::sentinel_store::Monitor {
                id: r.try_get(0).map_err($db_err)?,
                project_id: r.try_get(1).map_err($db_err)?,
                name: r.try_get(2).map_err($db_err)?,
                kind: $crate::monitor_kind(&kind)?,
                config: $crate::parse_object("config_json", &config)?,
                interval_ms: r.try_get(5).map_err($db_err)?,
                timeout_ms: r.try_get(6).map_err($db_err)?,
                failure_threshold: $crate::count_u32("failure_threshold", r.try_get(7).map_err($db_err)?)?,
                recovery_threshold: $crate::count_u32(
                    "recovery_threshold",
                    r.try_get(8).map_err($db_err)?,
                )?,
                enabled: r.try_get(9).map_err($db_err)?,
                public: r.try_get(10).map_err($db_err)?,
                status: $crate::monitor_status(&status)?,
                status_since_ms: r.try_get(12).map_err($db_err)?,
                streak: $crate::count_u32("streak", r.try_get(13).map_err($db_err)?)?,
                next_check_ms: r.try_get(14).map_err($db_err)?,
                last_check_ms: r.try_get(15).map_err($db_err)?,
                created_ms: r.try_get(16).map_err($db_err)?,
                updated_ms: r.try_get(17).map_err($db_err)?,
                slug: r.try_get(18).map_err($db_err)?,
                regions: $crate::parse_regions(&r.try_get::<String, _>(19).map_err($db_err)?)?,
                region_quorum: $crate::count_u32("region_quorum", r.try_get(20).map_err($db_err)?)?,
            })
        }

        /// The monitors with these ids that exist, by id.
        async fn load_monitors(
            conn: &mut UptimeConn,
            monitor_ids: &[i64],
        ) -> UptimeResult<Vec<$crate::__private::sentinel_store::Monitor>> {
            use $crate::__private::sqlx::QueryBuilder;
            let mut ids = monitor_ids.to_vec();
            ids.sort_unstable();
            ids.dedup();
            let mut out = Vec::with_capacity(ids.len());
            // Chunks of sorted ids: their results concatenate in order.
            for chunk in ids.chunks(UPTIME_ROWS_PER_STATEMENT) {
                let mut qb: QueryBuilder<$db> =
                    QueryBuilder::new(format!("SELECT {} FROM monitors WHERE id IN (", $crate::MONITOR_FIELDS));
                let mut sep = qb.separated(", ");
                for id in chunk {
                    sep.push_bind(*id);
                }
                qb.push(") ORDER BY id");
                for row in qb.build().fetch_all(&mut *conn).await.map_err($db_err)? {
                    out.push(monitor_row(&row)?);
                }
            }
            Ok(out)
        }

        // ---- monitors ----

        pub async fn create_monitor(
            pool: &UptimePool,
            new: &$crate::__private::sentinel_store::NewMonitor,
            now_ms: i64,
        ) -> UptimeResult<$crate::__private::sentinel_store::Monitor> {
            use $crate::__private::sentinel_store::{MonitorStatus, StoreError};
            use $crate::__private::sqlx;
            $crate::check_monitor(new)?;
            let mut tx = begin_uptime(pool).await?;
            let found: Option<i64> = sqlx::query_scalar("SELECT id FROM projects WHERE id = $1")
                .bind(new.project_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err($db_err)?;
            if found.is_none() {
                return Err(StoreError::Conflict(format!(
                    "project {} does not exist",
                    new.project_id
                )));
            }
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO monitors (project_id, name, kind, config_json, interval_ms, timeout_ms, \
                 failure_threshold, recovery_threshold, enabled, public, status, status_since_ms, streak, \
                 next_check_ms, last_check_ms, created_ms, updated_ms, slug, regions_json, region_quorum) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 0, $13, NULL, $12, $12, $14, \
                 $15, $16) \
                 RETURNING {}",
                $crate::MONITOR_FIELDS
            )))
            .bind(new.project_id)
            .bind(&new.name)
            .bind(new.kind.as_str())
            .bind(new.config.to_string())
            .bind(new.interval_ms)
            .bind(new.timeout_ms)
            .bind(i64::from(new.failure_threshold))
            .bind(i64::from(new.recovery_threshold))
            .bind(new.enabled)
            .bind(new.public)
            .bind(MonitorStatus::Pending.as_str())
            .bind(now_ms)
            .bind(new.next_check_ms)
            .bind(new.slug.as_deref())
            .bind($crate::regions_json(&new.regions))
            .bind(i64::from(new.region_quorum))
            .fetch_one(&mut *tx)
            .await
            .map_err($db_err)?;
            let monitor = monitor_row(&row)?;
            tx.commit().await.map_err($db_err)?;
            Ok(monitor)
        }

        pub async fn get_monitor(
            pool: &UptimePool,
            monitor_id: i64,
        ) -> UptimeResult<Option<$crate::__private::sentinel_store::Monitor>> {
            let mut conn = pool.acquire().await.map_err($db_err)?;
            Ok(load_monitors(&mut conn, &[monitor_id]).await?.into_iter().next())
        }

        pub async fn get_monitors(
            pool: &UptimePool,
            monitor_ids: &[i64],
        ) -> UptimeResult<Vec<$crate::__private::sentinel_store::Monitor>> {
            let mut conn = pool.acquire().await.map_err($db_err)?;
            load_monitors(&mut conn, monitor_ids).await
        }

        /// Through `monitors_by_project`.
        pub async fn list_monitors(
            pool: &UptimePool,
            project_id: i64,
            limit: usize,
            after_id: Option<i64>,
        ) -> UptimeResult<Vec<$crate::__private::sentinel_store::Monitor>> {
            use $crate::__private::sqlx;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {} FROM monitors WHERE project_id = $1 AND id > $2 ORDER BY id LIMIT $3",
                $crate::MONITOR_FIELDS
            )))
            .bind(project_id)
            .bind(after_id.unwrap_or(i64::MIN))
            .bind(uptime_count(limit))
            .fetch_all(pool)
            .await
            .map_err($db_err)?
            .iter()
            .map(monitor_row)
            .collect()
        }

        pub async fn update_monitor(
            pool: &UptimePool,
            monitor_id: i64,
            new: &$crate::__private::sentinel_store::NewMonitor,
            now_ms: i64,
        ) -> UptimeResult<$crate::__private::sentinel_store::Monitor> {
            use $crate::__private::sentinel_store::{MonitorStatus, StoreError};
            use $crate::__private::sqlx::{self, Row as _};
            $crate::check_monitor(new)?;
            let mut tx = begin_uptime(pool).await?;
            let current = sqlx::query(concat!(
                "SELECT config_json, interval_ms, timeout_ms, failure_threshold, recovery_threshold, \
                 regions_json, region_quorum FROM monitors WHERE id = $1",
                $for_update
            ))
            .bind(monitor_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err($db_err)?;
            let Some(current) = current else {
                return Err(StoreError::NotFound {
                    what: "monitor",
                    id: monitor_id.to_string(),
                });
            };
            let config: String = current.try_get(0).map_err($db_err)?;
            let before = $crate::MonitorSettings {
                config: $crate::parse_object("config_json", &config)?,
                interval_ms: current.try_get(1).map_err($db_err)?,
                timeout_ms: current.try_get(2).map_err($db_err)?,
                failure_threshold: $crate::count_u32(
                    "failure_threshold",
                    current.try_get(3).map_err($db_err)?,
                )?,
                recovery_threshold: $crate::count_u32(
                    "recovery_threshold",
                    current.try_get(4).map_err($db_err)?,
                )?,
                regions: $crate::parse_regions(&current.try_get::<String, _>(5).map_err($db_err)?)?,
                region_quorum: $crate::count_u32("region_quorum", current.try_get(6).map_err($db_err)?)?,
            };
            let changed = before != $crate::MonitorSettings::of(new);
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE monitors SET name = $2, config_json = $3, interval_ms = $4, timeout_ms = $5, \
                 failure_threshold = $6, recovery_threshold = $7, enabled = $8, public = $9, \
                 next_check_ms = $10, updated_ms = $11, regions_json = $14, region_quorum = $15, \
                 status = CASE WHEN $12 THEN $13 ELSE status END, \
                 status_since_ms = CASE WHEN $12 THEN $11 ELSE status_since_ms END, \
                 streak = CASE WHEN $12 THEN 0 ELSE streak END \
                 WHERE id = $1 RETURNING {}",
                $crate::MONITOR_FIELDS
            )))
            .bind(monitor_id)
            .bind(&new.name)
            .bind(new.config.to_string())
            .bind(new.interval_ms)
            .bind(new.timeout_ms)
            .bind(i64::from(new.failure_threshold))
            .bind(i64::from(new.recovery_threshold))
            .bind(new.enabled)
            .bind(new.public)
            .bind(new.next_check_ms)
            .bind(now_ms)
            .bind(changed)
            .bind(MonitorStatus::Pending.as_str())
            .bind($crate::regions_json(&new.regions))
            .bind(i64::from(new.region_quorum))
            .fetch_one(&mut *tx)
            .await
            .map_err($db_err)?;
            if changed {
                // The outage was one of the old settings: the new ones are judged afresh.
                sqlx::query(
                    "UPDATE incidents SET resolved_ms = $2 WHERE monitor_id = $1 AND resolved_ms IS NULL",
                )
                .bind(monitor_id)
                .bind(now_ms)
                .execute(&mut *tx)
                .await
                .map_err($db_err)?;
            }
            let monitor = monitor_row(&row)?;
            if !monitor.enabled {
                // Paused: checks already queued are not run.
                sqlx::query("DELETE FROM check_jobs WHERE monitor_id = $1")
                    .bind(monitor_id)
                    .execute(&mut *tx)
                    .await
                    .map_err($db_err)?;
            }
            tx.commit().await.map_err($db_err)?;
            Ok(monitor)
        }

        /// Its jobs, results, queue entries, incidents and rollups go by cascade.
        pub async fn delete_monitor(pool: &UptimePool, monitor_id: i64) -> UptimeResult<bool> {
            let done = $crate::__private::sqlx::query("DELETE FROM monitors WHERE id = $1")
                .bind(monitor_id)
                .execute(pool)
                .await
                .map_err($db_err)?;
            Ok(done.rows_affected() > 0)
        }

        // ---- scheduling ----

        /// One transaction: pick the due monitors (skipping those another scheduler holds), insert
        /// their jobs, move each one's `next_check_ms` on if it still has the value read.
        pub async fn schedule_due(
            pool: &UptimePool,
            now_ms: i64,
            limit: usize,
        ) -> UptimeResult<Vec<$crate::__private::sentinel_store::CheckJob>> {
            use $crate::__private::sentinel_store::CheckJob;
            use $crate::__private::sqlx::{self, QueryBuilder, Row as _};
            if limit == 0 {
                return Ok(Vec::new());
            }
            let mut tx = begin_uptime(pool).await?;
            let due: Vec<(i64, i64, i64, String)> =
                sqlx::query_as(sqlx::AssertSqlSafe(format!("{}{}", $crate::DUE_MONITORS, $skip_locked)))
                    .bind(now_ms)
                    .bind(uptime_count(limit))
                    .fetch_all(&mut *tx)
                    .await
                    .map_err($db_err)?;
            if due.is_empty() {
                return Ok(Vec::new());
            }
            // (monitor, old next_check_ms, slot, new next_check_ms, regions), in monitor order.
            let mut plan: Vec<(i64, i64, i64, i64, Vec<String>)> = Vec::with_capacity(due.len());
            for (id, old, interval, regions) in &due {
                let (slot, next) = $crate::due_slots(*old, *interval, now_ms);
                plan.push((*id, *old, slot, next, $crate::parse_regions(regions)?));
            }
            plan.sort_unstable();
            let mut jobs = Vec::new();
            for chunk in plan.chunks(UPTIME_ROWS_PER_STATEMENT) {
                let rows: Vec<(i64, i64, String)> = chunk
                    .iter()
                    .flat_map(|(id, _, slot, _, regions)| {
                        $crate::job_regions(regions).into_iter().map(move |r| (*id, *slot, r))
                    })
                    .collect();
                let mut qb: QueryBuilder<$db> = QueryBuilder::new(
                    "INSERT INTO check_jobs (monitor_id, slot_ms, region, claimed_until_ms) ",
                );
                qb.push_values(&rows, |mut b, (id, slot, region)| {
                    b.push_bind(*id).push_bind(*slot).push_bind(region.clone()).push_bind(0_i64);
                });
                qb.push(
                    " ON CONFLICT (monitor_id, slot_ms, region) DO NOTHING \
                     RETURNING monitor_id, slot_ms, region",
                );
                for row in qb.build().fetch_all(&mut *tx).await.map_err($db_err)? {
                    jobs.push(CheckJob {
                        monitor_id: row.try_get(0).map_err($db_err)?,
                        slot_ms: row.try_get(1).map_err($db_err)?,
                        region: row.try_get(2).map_err($db_err)?,
                    });
                }
                let mut qb: QueryBuilder<$db> = QueryBuilder::new("WITH due (mid, old_ms, next_ms) AS (");
                qb.push_values(chunk, |mut b, &(id, old, _, next, _)| {
                    b.push_bind(id).push_bind(old).push_bind(next);
                });
                qb.push(
                    ") UPDATE monitors SET next_check_ms = due.next_ms FROM due \
                     WHERE monitors.id = due.mid AND monitors.next_check_ms = due.old_ms",
                );
                qb.build().execute(&mut *tx).await.map_err($db_err)?;
            }
            tx.commit().await.map_err($db_err)?;
            jobs.sort_by(|a, b| (a.slot_ms, a.monitor_id, &a.region).cmp(&(b.slot_ms, b.monitor_id, &b.region)));
            Ok(jobs)
        }

        pub async fn claim_check_jobs(
            pool: &UptimePool,
            region: &str,
            limit: usize,
            now_ms: i64,
            lease_ms: i64,
        ) -> UptimeResult<
            Vec<(
                $crate::__private::sentinel_store::CheckJob,
                $crate::__private::sentinel_store::Monitor,
            )>,
        > {
            use $crate::__private::sentinel_store::CheckJob;
            use $crate::__private::sqlx;
            if limit == 0 {
                return Ok(Vec::new());
            }
            let mut tx = begin_uptime(pool).await?;
            let claimed: Vec<(i64, i64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "UPDATE check_jobs SET claimed_until_ms = $3 WHERE (monitor_id, slot_ms, region) IN ({}{}) \
                 RETURNING monitor_id, slot_ms, region",
                $crate::DUE_JOBS, $skip_locked
            )))
            .bind(now_ms)
            .bind(uptime_count(limit))
            .bind(now_ms.saturating_add(lease_ms))
            .bind(region)
            .fetch_all(&mut *tx)
            .await
            .map_err($db_err)?;
            let ids: Vec<i64> = claimed.iter().map(|(m, _, _)| *m).collect();
            let monitors: ::std::collections::HashMap<i64, $crate::__private::sentinel_store::Monitor> =
                load_monitors(&mut tx, &ids)
                    .await?
                    .into_iter()
                    .map(|m| (m.id, m))
                    .collect();
            tx.commit().await.map_err($db_err)?;
            // Jobs go with their monitors (a cascade): each claimed one has its monitor.
            let mut out: Vec<_> = claimed
                .into_iter()
                .filter_map(|(monitor_id, slot_ms, region)| {
                    let monitor = monitors.get(&monitor_id)?.clone();
                    Some((CheckJob { monitor_id, slot_ms, region }, monitor))
                })
                .collect();
            // UPDATE … RETURNING has no order of its own.
            out.sort_by(|(a, _), (b, _)| {
                (a.slot_ms, a.monitor_id, &a.region).cmp(&(b.slot_ms, b.monitor_id, &b.region))
            });
            Ok(out)
        }

        pub async fn pending_check_jobs(pool: &UptimePool) -> UptimeResult<u64> {
            let n: i64 = $crate::__private::sqlx::query_scalar("SELECT count(*) FROM check_jobs")
                .fetch_one(pool)
                .await
                .map_err($db_err)?;
            Ok(n.max(0) as u64)
        }

        $crate::__uptime_checks! {
            db: $db,
            db_err: $db_err,
            key_share: $key_share,
            write_alert_commit: $write_alert_commit,
        }

        $crate::__uptime_cron! {
            db_err: $db_err,
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_due_index_condition_names_exactly_the_active_kinds() {
        let active: Vec<String> = MonitorKind::ALL
            .into_iter()
            .filter(|k| k.is_active())
            .map(|k| format!("'{}'", k.as_str()))
            .collect();
        assert_eq!(ACTIVE_KINDS, format!("kind IN ({})", active.join(", ")));
        assert!(DUE_MONITORS.contains(ACTIVE_KINDS));
    }

    #[test]
    fn due_slots_stay_on_the_grid_and_skip_missed_slots() {
        // On time, late within the interval, exactly on the next slot, far behind.
        assert_eq!(due_slots(1_000, 30, 1_000), (1_000, 1_030));
        assert_eq!(due_slots(1_000, 30, 1_029), (1_000, 1_030));
        assert_eq!(due_slots(1_000, 30, 1_030), (1_030, 1_060));
        assert_eq!(due_slots(1_000, 30, 1_000 + 30 * 100 + 7), (4_000, 4_030));
        // Not due yet (a scheduler never asks, but the answer is still on the grid).
        assert_eq!(due_slots(1_000, 30, 900), (1_000, 1_030));
        // A broken interval cannot divide by zero.
        assert_eq!(due_slots(5, 0, 7), (7, 8));
    }

    #[test]
    fn rollup_deltas_add_each_result_to_its_minute_hour_and_day() {
        let result = |monitor_id, slot_ms, ok, latency_ms| NewCheckResult {
            monitor_id,
            slot_ms,
            region: String::new(),
            started_ms: slot_ms,
            ok,
            latency_ms,
            status_code: None,
            error: None,
            details: serde_json::json!({}),
        };
        let t = 1_800_000_000_000; // a whole minute, 08:00 UTC
        let results = [
            result(1, t, true, 10),
            result(1, t + 30_000, false, 50),
            result(1, t + 60_000, true, 20),
            result(2, t - 1, true, 5),
        ];
        let deltas = rollup_deltas(&results);
        // Monitor 1: two minutes, one hour, one day; monitor 2: one of each.
        assert_eq!(deltas.len(), 2 + 1 + 1 + 3, "{deltas:?}");
        assert_eq!(
            deltas[&(1, "minute", t)],
            RollupDelta {
                checks: 2,
                failures: 1,
                latency_sum_ms: 60,
                latency_max_ms: 50
            }
        );
        assert_eq!(deltas[&(1, "hour", t)].checks, 3);
        assert_eq!(deltas[&(1, "day", t - t % 86_400_000)].latency_sum_ms, 80);
        assert_eq!(deltas[&(2, "minute", t - 60_000)].checks, 1);
        assert_eq!(deltas[&(2, "hour", t - 3_600_000)].checks, 1);
        assert_eq!(bucket_of(Resolution::Hour, -1), -3_600_000);
    }

    #[test]
    fn column_codecs_reject_what_they_do_not_know() {
        assert!(matches!(monitor_kind("ping"), Err(StoreError::Corrupt(_))));
        assert!(matches!(monitor_status("paused"), Err(StoreError::Corrupt(_))));
        assert_eq!(monitor_status("down").unwrap(), MonitorStatus::Down);
        assert!(matches!(count_u32("streak", -1), Err(StoreError::Corrupt(_))));
    }
}
