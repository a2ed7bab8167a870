//! Request rollups (`request_rollups`): the same statements on both backends.

/// Stamps out, in the invoking module, the `request_rollups` functions for `db` (the sqlx
/// database), mapping errors with `db_err`: `insert` (inside the batch transaction), `rows`,
/// `fragmented`, `replace` (inside a write transaction the backend opened) and `projects`.
#[macro_export]
macro_rules! tenants {
    (db: $db:ty, db_err: $db_err:path $(,)?) => {
        /// Rows per INSERT statement.
        const ROLLUP_CHUNK: usize = 200;

        pub async fn insert_request_rollups(
            conn: &mut <$db as $crate::__private::sqlx::Database>::Connection,
            rows: &[$crate::__private::sentinel_store::NewRequestRollup],
        ) -> Result<(), $crate::__private::sentinel_store::StoreError> {
            for chunk in rows.chunks(ROLLUP_CHUNK) {
                let mut qb: $crate::__private::sqlx::QueryBuilder<$db> =
                    $crate::__private::sqlx::QueryBuilder::new(
                        "INSERT INTO request_rollups (project_id, minute_ms, requests, counts, latency) ",
                    );
                qb.push_values(chunk, |mut b, r| {
                    b.push_bind(r.project_id)
                        .push_bind(r.minute_ms)
                        .push_bind(i64::try_from(r.requests).unwrap_or(i64::MAX))
                        .push_bind(r.counts.clone())
                        .push_bind(r.latency.clone());
                });
                qb.build().execute(&mut *conn).await.map_err($db_err)?;
            }
            Ok(())
        }

        pub async fn request_rollup_rows(
            pool: &$crate::__private::sqlx::Pool<$db>,
            project_id: i64,
            since_ms: i64,
            until_ms: i64,
            with_latency: bool,
        ) -> Result<
            Vec<$crate::__private::sentinel_store::RequestRollup>,
            $crate::__private::sentinel_store::StoreError,
        > {
            use $crate::__private::sqlx::Row as _;
            let sql = if with_latency {
                "SELECT id, project_id, minute_ms, requests, counts, latency FROM request_rollups \
                 WHERE project_id = $1 AND minute_ms >= $2 AND minute_ms < $3 ORDER BY minute_ms, id"
            } else {
                "SELECT id, project_id, minute_ms, requests, counts, NULL AS latency FROM request_rollups \
                 WHERE project_id = $1 AND minute_ms >= $2 AND minute_ms < $3 ORDER BY minute_ms, id"
            };
            let rows = $crate::__private::sqlx::query(sql)
                .bind(project_id)
                .bind(since_ms)
                .bind(until_ms)
                .fetch_all(pool)
                .await
                .map_err($db_err)?;
            rows.into_iter()
                .map(|r| {
                    let requests: i64 = r.try_get(3).map_err($db_err)?;
                    let latency: Option<Vec<u8>> = r.try_get(5).map_err($db_err)?;
                    Ok($crate::__private::sentinel_store::RequestRollup {
                        id: r.try_get(0).map_err($db_err)?,
                        project_id: r.try_get(1).map_err($db_err)?,
                        minute_ms: r.try_get(2).map_err($db_err)?,
                        requests: u64::try_from(requests).unwrap_or_default(),
                        counts: r.try_get(4).map_err($db_err)?,
                        latency: latency.unwrap_or_default(),
                    })
                })
                .collect()
        }

        pub async fn fragmented_request_minutes(
            pool: &$crate::__private::sqlx::Pool<$db>,
            since_ms: i64,
            limit: usize,
        ) -> Result<Vec<(i64, i64)>, $crate::__private::sentinel_store::StoreError> {
            use $crate::__private::sqlx::Row as _;
            let rows = $crate::__private::sqlx::query(
                "SELECT project_id, minute_ms FROM request_rollups WHERE minute_ms >= $1 \
                 GROUP BY project_id, minute_ms HAVING COUNT(*) > 1 ORDER BY minute_ms, project_id LIMIT $2",
            )
            .bind(since_ms)
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .fetch_all(pool)
            .await
            .map_err($db_err)?;
            rows.into_iter()
                .map(|r| {
                    Ok((
                        r.try_get(0).map_err($db_err)?,
                        r.try_get(1).map_err($db_err)?,
                    ))
                })
                .collect()
        }

        /// Deletes `ids` and inserts `merged`; false when some row was already gone (the caller
        /// rolls back).
        pub async fn replace_request_rollups(
            conn: &mut <$db as $crate::__private::sqlx::Database>::Connection,
            ids: &[i64],
            merged: &$crate::__private::sentinel_store::NewRequestRollup,
        ) -> Result<bool, $crate::__private::sentinel_store::StoreError> {
            let mut qb: $crate::__private::sqlx::QueryBuilder<$db> =
                $crate::__private::sqlx::QueryBuilder::new("DELETE FROM request_rollups WHERE project_id = ");
            qb.push_bind(merged.project_id)
                .push(" AND minute_ms = ")
                .push_bind(merged.minute_ms)
                .push(" AND id IN (");
            let mut list = qb.separated(", ");
            for id in ids {
                list.push_bind(*id);
            }
            qb.push(")");
            let deleted = qb
                .build()
                .execute(&mut *conn)
                .await
                .map_err($db_err)?
                .rows_affected();
            if deleted != ids.len() as u64 {
                return Ok(false);
            }
            insert_request_rollups(conn, std::slice::from_ref(merged)).await?;
            Ok(true)
        }

        pub async fn request_projects(
            pool: &$crate::__private::sqlx::Pool<$db>,
            since_ms: i64,
        ) -> Result<Vec<i64>, $crate::__private::sentinel_store::StoreError> {
            use $crate::__private::sqlx::Row as _;
            let rows = $crate::__private::sqlx::query(
                "SELECT DISTINCT project_id FROM request_rollups WHERE minute_ms >= $1 ORDER BY project_id",
            )
            .bind(since_ms)
            .fetch_all(pool)
            .await
            .map_err($db_err)?;
            rows.into_iter()
                .map(|r| r.try_get(0).map_err($db_err))
                .collect()
        }
    };
}
