//! Singleton leases: which node runs a once-per-cluster job.

/// Stamps out, in the invoking module, `acquire`, `release` and `get` of the `leases` table for
/// `db` (the sqlx database), mapping errors with `db_err`.
///
/// `acquire` is one statement, so racing callers are ordered by the database: the first takes a
/// free lease, the others find it held and unexpired and update nothing (no row returned).
#[macro_export]
macro_rules! leases {
    (db: $db:ty, db_err: $db_err:path $(,)?) => {
        pub async fn acquire(
            pool: &$crate::__private::sqlx::Pool<$db>,
            name: &str,
            holder: &str,
            now_ms: i64,
            ttl_ms: i64,
        ) -> Result<bool, $crate::__private::sentinel_store::StoreError> {
            let row = $crate::__private::sqlx::query(
                "INSERT INTO leases (name, holder, expires_ms) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_ms = excluded.expires_ms \
                 WHERE leases.holder = excluded.holder OR leases.expires_ms <= $4 \
                 RETURNING holder",
            )
            .bind(name)
            .bind(holder)
            .bind(now_ms.saturating_add(ttl_ms))
            .bind(now_ms)
            .fetch_optional(pool)
            .await
            .map_err($db_err)?;
            Ok(row.is_some())
        }

        pub async fn release(
            pool: &$crate::__private::sqlx::Pool<$db>,
            name: &str,
            holder: &str,
        ) -> Result<(), $crate::__private::sentinel_store::StoreError> {
            $crate::__private::sqlx::query("DELETE FROM leases WHERE name = $1 AND holder = $2")
                .bind(name)
                .bind(holder)
                .execute(pool)
                .await
                .map_err($db_err)?;
            Ok(())
        }

        pub async fn get(
            pool: &$crate::__private::sqlx::Pool<$db>,
            name: &str,
        ) -> Result<
            Option<$crate::__private::sentinel_store::Lease>,
            $crate::__private::sentinel_store::StoreError,
        > {
            use $crate::__private::sqlx::Row as _;
            let row = $crate::__private::sqlx::query("SELECT name, holder, expires_ms FROM leases WHERE name = $1")
                .bind(name)
                .fetch_optional(pool)
                .await
                .map_err($db_err)?;
            row.map(|r| {
                Ok($crate::__private::sentinel_store::Lease {
                    name: r.try_get(0).map_err($db_err)?,
                    holder: r.try_get(1).map_err($db_err)?,
                    expires_ms: r.try_get(2).map_err($db_err)?,
                })
            })
            .transpose()
        }
    };
}
