//! Check results with their rollups and the verifier's queue, verification commits, and the reads
//! of results, incidents and rollups: the second half of [`uptime!`](crate::uptime!), kept apart
//! to keep each file readable.

/// Stamps out the result, verification and read functions of [`uptime!`](crate::uptime!), which
/// invokes it: they use the helpers `uptime!` defines in the same module (`begin_uptime`,
/// `uptime_count`, …). Not for direct use.
#[doc(hidden)]
#[macro_export]
macro_rules! __uptime_checks {
    (
        db: $db:ty,
        db_err: $db_err:path,
        key_share: $key_share:literal,
        write_alert_commit: $write_alert_commit:path $(,)?
    ) => {
        fn check_result_row(r: &UptimeRow) -> UptimeResult<$crate::__private::sentinel_store::CheckResult> {
            use $crate::__private::sentinel_store::StoreError;
            use $crate::__private::sqlx::Row as _;
            let status_code: Option<i64> = r.try_get(7).map_err($db_err)?;
            let details: String = r.try_get(9).map_err($db_err)?;
            Ok($crate::__private::sentinel_store::CheckResult {
                id: r.try_get(0).map_err($db_err)?,
                monitor_id: r.try_get(1).map_err($db_err)?,
                slot_ms: r.try_get(2).map_err($db_err)?,
                region: r.try_get(3).map_err($db_err)?,
                started_ms: r.try_get(4).map_err($db_err)?,
                ok: r.try_get(5).map_err($db_err)?,
                latency_ms: r.try_get(6).map_err($db_err)?,
                status_code: status_code
                    .map(|c| i32::try_from(c).map_err(|_| StoreError::Corrupt(format!("status code {c}"))))
                    .transpose()?,
                error: r.try_get(8).map_err($db_err)?,
                details: $crate::parse_object("details_json", &details)?,
            })
        }

        fn incident_row(r: &UptimeRow) -> UptimeResult<$crate::__private::sentinel_store::Incident> {
            use $crate::__private::sqlx::Row as _;
            let evidence: String = r.try_get(5).map_err($db_err)?;
            Ok($crate::__private::sentinel_store::Incident {
                id: r.try_get(0).map_err($db_err)?,
                monitor_id: r.try_get(1).map_err($db_err)?,
                project_id: r.try_get(2).map_err($db_err)?,
                opened_ms: r.try_get(3).map_err($db_err)?,
                resolved_ms: r.try_get(4).map_err($db_err)?,
                evidence: $crate::parse_object("evidence_json", &evidence)?,
            })
        }

        // ---- results, inside the backend's transaction ----

        /// The body of `record_checks`, in `conn`'s transaction: appends the results of monitors
        /// that exist (a repeated `(monitor, slot, region)` is skipped), queues the new ones for
        /// the verifier, adds them to their rollups and deletes the jobs of every result given.
        /// Returns how many results were new. Rows are written in key order, so concurrent
        /// checkers lock them in the same order.
        pub async fn write_check_results(
            conn: &mut UptimeConn,
            results: &[$crate::__private::sentinel_store::NewCheckResult],
        ) -> ::std::result::Result<u64, $crate::__private::sqlx::Error> {
            use ::std::collections::{BTreeMap, BTreeSet, HashSet};
            use $crate::__private::sentinel_store::NewCheckResult;
            use $crate::__private::sqlx::{QueryBuilder, Row as _};
            if results.is_empty() {
                return Ok(0);
            }
            // One result per key (the first), in key order.
            let mut by_key: BTreeMap<(i64, i64, &str), &NewCheckResult> = BTreeMap::new();
            for r in results {
                by_key.entry((r.monitor_id, r.slot_ms, r.region.as_str())).or_insert(r);
            }
            let monitor_ids: BTreeSet<i64> = by_key.keys().map(|k| k.0).collect();
            let monitor_ids: Vec<i64> = monitor_ids.into_iter().collect();
            let mut alive: HashSet<i64> = HashSet::with_capacity(monitor_ids.len());
            for chunk in monitor_ids.chunks(UPTIME_ROWS_PER_STATEMENT) {
                let mut qb: QueryBuilder<$db> = QueryBuilder::new("SELECT id FROM monitors WHERE id IN (");
                let mut sep = qb.separated(", ");
                for id in chunk {
                    sep.push_bind(*id);
                }
                qb.push(") ORDER BY id");
                qb.push($key_share);
                for row in qb.build().fetch_all(&mut *conn).await? {
                    alive.insert(row.try_get(0)?);
                }
            }
            let kept: Vec<&NewCheckResult> = by_key
                .values()
                .copied()
                .filter(|r| alive.contains(&r.monitor_id))
                .collect();

            // (result id, monitor, slot) of each new result.
            let mut queued: Vec<(i64, i64, i64)> = Vec::new();
            let mut fresh: Vec<&NewCheckResult> = Vec::new();
            for chunk in kept.chunks(UPTIME_ROWS_PER_STATEMENT) {
                let mut qb: QueryBuilder<$db> = QueryBuilder::new(
                    "INSERT INTO check_results (monitor_id, slot_ms, region, started_ms, ok, latency_ms, \
                     status_code, error, details_json) ",
                );
                qb.push_values(chunk, |mut b, r| {
                    b.push_bind(r.monitor_id)
                        .push_bind(r.slot_ms)
                        .push_bind(r.region.clone())
                        .push_bind(r.started_ms)
                        .push_bind(r.ok)
                        .push_bind(r.latency_ms)
                        .push_bind(r.status_code.map(i64::from))
                        .push_bind(r.error.clone())
                        .push_bind(r.details.to_string());
                });
                qb.push(
                    " ON CONFLICT (monitor_id, slot_ms, region) DO NOTHING \
                     RETURNING id, monitor_id, slot_ms, region",
                );
                for row in qb.build().fetch_all(&mut *conn).await? {
                    let id: i64 = row.try_get(0)?;
                    let monitor_id: i64 = row.try_get(1)?;
                    let slot_ms: i64 = row.try_get(2)?;
                    let region: String = row.try_get(3)?;
                    if let Some(r) = by_key.get(&(monitor_id, slot_ms, region.as_str())) {
                        queued.push((id, monitor_id, slot_ms));
                        fresh.push(r);
                    }
                }
            }
            queued.sort_unstable();
            for chunk in queued.chunks(UPTIME_ROWS_PER_STATEMENT) {
                let mut qb: QueryBuilder<$db> =
                    QueryBuilder::new("INSERT INTO verify_queue (result_id, monitor_id, slot_ms) ");
                qb.push_values(chunk, |mut b, &(id, monitor_id, slot_ms)| {
                    b.push_bind(id).push_bind(monitor_id).push_bind(slot_ms);
                });
                qb.build().execute(&mut *conn).await?;
            }
            let deltas: Vec<($crate::RollupKey, $crate::RollupDelta)> =
                $crate::rollup_deltas(fresh.iter().copied()).into_iter().collect();
            for chunk in deltas.chunks(UPTIME_ROWS_PER_STATEMENT) {
                let mut qb: QueryBuilder<$db> = QueryBuilder::new(
                    "INSERT INTO monitor_rollups (monitor_id, resolution, bucket_ms, checks, failures, \
                     latency_sum_ms, latency_max_ms) ",
                );
                qb.push_values(chunk, |mut b, ((monitor_id, resolution, bucket_ms), d)| {
                    b.push_bind(*monitor_id)
                        .push_bind(*resolution)
                        .push_bind(*bucket_ms)
                        .push_bind(d.checks)
                        .push_bind(d.failures)
                        .push_bind(d.latency_sum_ms)
                        .push_bind(d.latency_max_ms);
                });
                qb.push(
                    " ON CONFLICT (monitor_id, resolution, bucket_ms) DO UPDATE SET \
                     checks = monitor_rollups.checks + excluded.checks, \
                     failures = monitor_rollups.failures + excluded.failures, \
                     latency_sum_ms = monitor_rollups.latency_sum_ms + excluded.latency_sum_ms, \
                     latency_max_ms = CASE WHEN excluded.latency_max_ms > monitor_rollups.latency_max_ms \
                     THEN excluded.latency_max_ms ELSE monitor_rollups.latency_max_ms END",
                );
                qb.build().execute(&mut *conn).await?;
            }
            let bins: Vec<($crate::LatencyKey, i64)> =
                $crate::latency_deltas(fresh.iter().copied()).into_iter().collect();
            for chunk in bins.chunks(UPTIME_ROWS_PER_STATEMENT) {
                let mut qb: QueryBuilder<$db> = QueryBuilder::new(
                    "INSERT INTO monitor_latency (monitor_id, resolution, bucket_ms, bin, checks) ",
                );
                qb.push_values(chunk, |mut b, ((monitor_id, resolution, bucket_ms, bin), n)| {
                    b.push_bind(*monitor_id)
                        .push_bind(*resolution)
                        .push_bind(*bucket_ms)
                        .push_bind(i64::from(*bin))
                        .push_bind(*n);
                });
                qb.push(
                    " ON CONFLICT (monitor_id, resolution, bucket_ms, bin) DO UPDATE SET \
                     checks = monitor_latency.checks + excluded.checks",
                );
                qb.build().execute(&mut *conn).await?;
            }
            // Every result given ends its job (its region's, or the one any checker runs), a
            // repeated one too.
            let done: BTreeSet<(i64, i64, &str)> = by_key
                .keys()
                .flat_map(|&(m, s, r)| [(m, s, r), (m, s, "")])
                .collect();
            let done: Vec<(i64, i64, &str)> = done.into_iter().collect();
            for chunk in done.chunks(UPTIME_ROWS_PER_STATEMENT) {
                let mut qb: QueryBuilder<$db> =
                    QueryBuilder::new("DELETE FROM check_jobs WHERE (monitor_id, slot_ms, region) IN (");
                qb.push_values(chunk, |mut b, &(monitor_id, slot_ms, region)| {
                    b.push_bind(monitor_id).push_bind(slot_ms).push_bind(region.to_owned());
                });
                qb.push(")");
                qb.build().execute(&mut *conn).await?;
            }
            Ok(fresh.len() as u64)
        }

        // ---- verification ----

        pub async fn unverified_results(
            pool: &UptimePool,
            limit: usize,
        ) -> UptimeResult<Vec<$crate::__private::sentinel_store::CheckResult>> {
            use $crate::__private::sqlx;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {} FROM verify_queue q JOIN check_results r \
                 ON r.id = q.result_id AND r.slot_ms = q.slot_ms ORDER BY q.result_id LIMIT $1",
                $crate::RESULT_FIELDS_OF_R
            )))
            .bind(uptime_count(limit))
            .fetch_all(pool)
            .await
            .map_err($db_err)?
            .iter()
            .map(check_result_row)
            .collect()
        }

        /// Dequeues first: a verifier that lost the race for one of its results finds it gone,
        /// and its transaction ends there, having written nothing.
        pub async fn commit_verification(
            pool: &UptimePool,
            commit: &$crate::__private::sentinel_store::VerifierCommit,
        ) -> UptimeResult<u64> {
            use ::std::collections::BTreeMap;
            use $crate::__private::sentinel_store::{MonitorState, StoreError};
            use $crate::__private::sqlx::{self, QueryBuilder};
            let mut verified = commit.verified.clone();
            verified.sort_unstable();
            verified.dedup();
            // The last state given for a monitor wins.
            let states: BTreeMap<i64, &MonitorState> =
                commit.states.iter().map(|s| (s.monitor_id, s)).collect();
            let states: Vec<&MonitorState> = states.into_values().collect();

            let mut tx = begin_uptime(pool).await?;
            let mut dequeued = 0;
            for chunk in verified.chunks(UPTIME_ROWS_PER_STATEMENT) {
                let mut qb: QueryBuilder<$db> = QueryBuilder::new("DELETE FROM verify_queue WHERE result_id IN (");
                let mut sep = qb.separated(", ");
                for id in chunk {
                    sep.push_bind(*id);
                }
                qb.push(")");
                dequeued += qb.build().execute(&mut *tx).await.map_err($db_err)?.rows_affected();
            }
            if dequeued < verified.len() as u64 {
                return Err(StoreError::Conflict(format!(
                    "{} of {} results were verified meanwhile",
                    verified.len() as u64 - dequeued,
                    verified.len()
                )));
            }
            for chunk in states.chunks(UPTIME_ROWS_PER_STATEMENT) {
                let mut qb: QueryBuilder<$db> =
                    QueryBuilder::new("WITH s (mid, st, since_ms, stk, last_ms, recheck_ms) AS (");
                qb.push_values(chunk, |mut b, s| {
                    b.push_bind(s.monitor_id)
                        .push_bind(s.status.as_str())
                        .push_bind(s.status_since_ms)
                        .push_bind(i64::from(s.streak))
                        .push_bind(s.last_check_ms)
                        .push_bind(s.recheck_ms);
                });
                qb.push(
                    ") UPDATE monitors SET status = s.st, status_since_ms = s.since_ms, streak = s.stk, \
                     last_check_ms = s.last_ms, next_check_ms = CASE \
                     WHEN s.recheck_ms IS NOT NULL AND monitors.next_check_ms > s.recheck_ms \
                     THEN s.recheck_ms ELSE monitors.next_check_ms END \
                     FROM s WHERE monitors.id = s.mid",
                );
                qb.build().execute(&mut *tx).await.map_err($db_err)?;
            }
            // In order: a monitor can end one outage and start the next in a pass, or the reverse.
            for change in &commit.incidents {
                match change {
                    $crate::__private::sentinel_store::IncidentChange::Resolve { monitor_id, at_ms } => {
                        sqlx::query(
                            "UPDATE incidents SET resolved_ms = $2 WHERE monitor_id = $1 AND resolved_ms IS NULL",
                        )
                        .bind(monitor_id)
                        .bind(at_ms)
                        .execute(&mut *tx)
                        .await
                        .map_err($db_err)?;
                    }
                    $crate::__private::sentinel_store::IncidentChange::Open {
                        monitor_id,
                        at_ms,
                        evidence,
                    } => {
                        // `incidents_open` allows one open incident per monitor.
                        sqlx::query(
                            "INSERT INTO incidents (monitor_id, project_id, opened_ms, resolved_ms, evidence_json) \
                             SELECT id, project_id, $2, NULL, $3 FROM monitors WHERE id = $1 \
                             ON CONFLICT (monitor_id) WHERE resolved_ms IS NULL DO NOTHING",
                        )
                        .bind(monitor_id)
                        .bind(at_ms)
                        .bind(evidence.to_string())
                        .execute(&mut *tx)
                        .await
                        .map_err($db_err)?;
                    }
                }
            }
            let new = $write_alert_commit(&mut tx, &commit.alerts).await?;
            tx.commit().await.map_err($db_err)?;
            Ok(new)
        }

        // ---- reading ----

        /// Through the unique `(monitor_id, slot_ms, region)` index, backwards.
        pub async fn list_check_results(
            pool: &UptimePool,
            monitor_id: i64,
            limit: usize,
            before_slot_ms: Option<i64>,
        ) -> UptimeResult<Vec<$crate::__private::sentinel_store::CheckResult>> {
            use $crate::__private::sqlx;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {} FROM check_results WHERE monitor_id = $1 AND slot_ms < $2 \
                 ORDER BY slot_ms DESC, region DESC LIMIT $3",
                $crate::RESULT_FIELDS
            )))
            .bind(monitor_id)
            .bind(before_slot_ms.unwrap_or(i64::MAX))
            .bind(uptime_count(limit))
            .fetch_all(pool)
            .await
            .map_err($db_err)?
            .iter()
            .map(check_result_row)
            .collect()
        }

        pub async fn list_incidents(
            pool: &UptimePool,
            project_id: i64,
            monitor_id: Option<i64>,
            limit: usize,
            before_id: Option<i64>,
        ) -> UptimeResult<Vec<$crate::__private::sentinel_store::Incident>> {
            use $crate::__private::sqlx::QueryBuilder;
            let mut qb: QueryBuilder<$db> = QueryBuilder::new($crate::INCIDENT_COLUMNS);
            qb.push(" WHERE project_id = ").push_bind(project_id);
            if let Some(m) = monitor_id {
                qb.push(" AND monitor_id = ").push_bind(m);
            }
            if let Some(before) = before_id {
                qb.push(" AND id < ").push_bind(before);
            }
            qb.push(" ORDER BY id DESC LIMIT ").push_bind(uptime_count(limit));
            qb.build()
                .fetch_all(pool)
                .await
                .map_err($db_err)?
                .iter()
                .map(incident_row)
                .collect()
        }

        /// Through `incidents_open`.
        pub async fn open_incident(
            pool: &UptimePool,
            monitor_id: i64,
        ) -> UptimeResult<Option<$crate::__private::sentinel_store::Incident>> {
            use $crate::__private::sqlx;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "{} WHERE monitor_id = $1 AND resolved_ms IS NULL",
                $crate::INCIDENT_COLUMNS
            )))
            .bind(monitor_id)
            .fetch_optional(pool)
            .await
            .map_err($db_err)?
            .map(|r| incident_row(&r))
            .transpose()
        }

        /// Through the rollups' primary key, per monitor.
        /// ` WHERE` the rows of `resolution` with buckets in `[since_ms, until_ms)` of these
        /// monitors (of `monitor_rollups` or `monitor_latency`).
        fn push_rollup_window(
            qb: &mut $crate::__private::sqlx::QueryBuilder<$db>,
            resolution: $crate::__private::sentinel_store::Resolution,
            since_ms: i64,
            until_ms: i64,
            monitor_ids: &[i64],
        ) {
            qb.push(" WHERE resolution = ")
                .push_bind(resolution.as_str())
                .push(" AND bucket_ms >= ")
                .push_bind(since_ms)
                .push(" AND bucket_ms < ")
                .push_bind(until_ms)
                .push(" AND monitor_id IN (");
            let mut sep = qb.separated(", ");
            for id in monitor_ids {
                sep.push_bind(*id);
            }
            qb.push(")");
        }

        pub async fn uptime_buckets(
            pool: &UptimePool,
            monitor_ids: &[i64],
            resolution: $crate::__private::sentinel_store::Resolution,
            since_ms: i64,
            until_ms: i64,
        ) -> UptimeResult<Vec<(i64, $crate::__private::sentinel_store::UptimeBucket)>> {
            use $crate::__private::sentinel_store::UptimeBucket;
            use $crate::__private::sqlx::{QueryBuilder, Row as _};
            let mut ids = monitor_ids.to_vec();
            ids.sort_unstable();
            ids.dedup();
            let mut out = Vec::new();
            // Chunks of sorted ids: their results concatenate in order.
            for chunk in ids.chunks(UPTIME_ROWS_PER_STATEMENT) {
                let mut qb: QueryBuilder<$db> = QueryBuilder::new(
                    "SELECT monitor_id, bucket_ms, checks, failures, latency_sum_ms, latency_max_ms \
                     FROM monitor_rollups",
                );
                push_rollup_window(&mut qb, resolution, since_ms, until_ms, chunk);
                qb.push(" ORDER BY monitor_id, bucket_ms");
                for r in qb.build().fetch_all(pool).await.map_err($db_err)? {
                    let checks: i64 = r.try_get(2).map_err($db_err)?;
                    let failures: i64 = r.try_get(3).map_err($db_err)?;
                    out.push((
                        r.try_get(0).map_err($db_err)?,
                        UptimeBucket {
                            bucket_ms: r.try_get(1).map_err($db_err)?,
                            checks: checks.max(0) as u64,
                            failures: failures.max(0) as u64,
                            latency_sum_ms: r.try_get(4).map_err($db_err)?,
                            latency_max_ms: r.try_get(5).map_err($db_err)?,
                        },
                    ));
                }
            }
            Ok(out)
        }

        pub async fn latency_histograms(
            pool: &UptimePool,
            monitor_ids: &[i64],
            resolution: $crate::__private::sentinel_store::Resolution,
            since_ms: i64,
            until_ms: i64,
        ) -> UptimeResult<Vec<(i64, i64, $crate::__private::sentinel_store::LatencyHistogram)>> {
            use $crate::__private::sentinel_store::LatencyHistogram;
            use $crate::__private::sqlx::{QueryBuilder, Row as _};
            let mut ids = monitor_ids.to_vec();
            ids.sort_unstable();
            ids.dedup();
            let mut out: Vec<(i64, i64, LatencyHistogram)> = Vec::new();
            for chunk in ids.chunks(UPTIME_ROWS_PER_STATEMENT) {
                let mut qb: QueryBuilder<$db> = QueryBuilder::new(
                    "SELECT monitor_id, bucket_ms, bin, checks FROM monitor_latency",
                );
                push_rollup_window(&mut qb, resolution, since_ms, until_ms, chunk);
                qb.push(" ORDER BY monitor_id, bucket_ms, bin");
                for r in qb.build().fetch_all(pool).await.map_err($db_err)? {
                    let monitor_id: i64 = r.try_get(0).map_err($db_err)?;
                    let bucket_ms: i64 = r.try_get(1).map_err($db_err)?;
                    let bin: i64 = r.try_get(2).map_err($db_err)?;
                    let bin = i32::try_from(bin)
                        .map_err(|_| $crate::__private::sentinel_store::StoreError::Corrupt(format!("latency bin {bin}")))?;
                    let checks: i64 = r.try_get(3).map_err($db_err)?;
                    match out.last_mut() {
                        Some((m, b, h)) if *m == monitor_id && *b == bucket_ms => {
                            h.add_count(bin, checks.max(0) as u64)
                        }
                        _ => {
                            let mut h = LatencyHistogram::default();
                            h.add_count(bin, checks.max(0) as u64);
                            out.push((monitor_id, bucket_ms, h));
                        }
                    }
                }
            }
            Ok(out)
        }
    };
}
