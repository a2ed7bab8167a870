//! Inbox rows: the backends claim and count them differently, but read them the same way.

/// Stamps out, in the invoking module, the inbox row mappings for `db` (the sqlx database),
/// mapping errors with `db_err`:
///
/// - `inbox_item`: a row of `id, project_id, kind, event_id, received_ms, sent_at, headers_json,
///   payload, dict_id`;
/// - `inbox_stats`: a row of `count(*), min(received_ms)`.
#[macro_export]
macro_rules! inbox_rows {
    (db: $db:ty, db_err: $db_err:path $(,)?) => {
        fn inbox_item(
            r: &<$db as $crate::__private::sqlx::Database>::Row,
        ) -> Result<$crate::__private::sentinel_store::InboxItem, $crate::__private::sentinel_store::StoreError>
        {
            use $crate::__private::sqlx::Row as _;
            let kind: String = r.try_get(2).map_err($db_err)?;
            let event: Option<Vec<u8>> = r.try_get(3).map_err($db_err)?;
            Ok($crate::__private::sentinel_store::InboxItem {
                id: r.try_get(0).map_err($db_err)?,
                item: $crate::__private::sentinel_store::NewInboxItem {
                    project_id: r.try_get(1).map_err($db_err)?,
                    kind: $crate::parse_col(&kind)?,
                    event_id: event.map($crate::event_id).transpose()?,
                    received_ms: r.try_get(4).map_err($db_err)?,
                    sent_at: r.try_get(5).map_err($db_err)?,
                    headers_json: r.try_get(6).map_err($db_err)?,
                    payload: r.try_get(7).map_err($db_err)?,
                    dict_id: r.try_get(8).map_err($db_err)?,
                },
            })
        }

        fn inbox_stats(
            r: &<$db as $crate::__private::sqlx::Database>::Row,
        ) -> Result<$crate::__private::sentinel_store::InboxStats, $crate::__private::sentinel_store::StoreError>
        {
            use $crate::__private::sqlx::Row as _;
            Ok($crate::__private::sentinel_store::InboxStats {
                depth: r.try_get::<i64, _>(0).map_err($db_err)? as u64,
                oldest_received_ms: r.try_get(1).map_err($db_err)?,
            })
        }
    };
}
