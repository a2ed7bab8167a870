//! Alerting on SQLite (`sentinel_store_sql::alerts!`): writes and claims take the single writer
//! connection inside `BEGIN IMMEDIATE`, which already serializes claimers, so they need no row
//! locks; reads use the reader pool.

use async_trait::async_trait;
use sentinel_store::{
    AlertCommit, AlertRule, AlertState, AlertStore, AlertTrigger, Channel, ChannelUpdate, Delivery,
    DeliveryAttempt, DeliveryNext, NewAlertRule, NewChannel, Notification, StoreError,
};

use crate::SqliteStore;

sentinel_store_sql::alerts! {
    db: sqlx::Sqlite,
    db_err: crate::db_err,
    begin: |pool| pool.begin_with("BEGIN IMMEDIATE"),
    for_update: "",
    skip_locked: "",
}

#[async_trait]
impl AlertStore for SqliteStore {
    async fn create_channel(&self, channel: &NewChannel, now_ms: i64) -> Result<Channel, StoreError> {
        create_channel(&self.main_w, channel, now_ms).await
    }

    async fn list_channels(&self, project_id: Option<i64>) -> Result<Vec<Channel>, StoreError> {
        list_channels(&self.main_r, project_id).await
    }

    async fn get_channel(&self, channel_id: i64) -> Result<Option<Channel>, StoreError> {
        get_channel(&self.main_r, channel_id).await
    }

    async fn update_channel(&self, channel_id: i64, update: &ChannelUpdate) -> Result<Channel, StoreError> {
        update_channel(&self.main_w, channel_id, update).await
    }

    async fn delete_channel(&self, channel_id: i64) -> Result<bool, StoreError> {
        delete_channel(&self.main_w, channel_id).await
    }

    async fn create_rule(&self, rule: &NewAlertRule, now_ms: i64) -> Result<AlertRule, StoreError> {
        create_rule(&self.main_w, rule, now_ms).await
    }

    async fn list_rules(&self, project_id: Option<i64>) -> Result<Vec<AlertRule>, StoreError> {
        list_rules(&self.main_r, project_id).await
    }

    async fn get_rule(&self, rule_id: i64) -> Result<Option<AlertRule>, StoreError> {
        get_rule(&self.main_r, rule_id).await
    }

    async fn update_rule(
        &self,
        rule_id: i64,
        rule: &NewAlertRule,
        now_ms: i64,
    ) -> Result<AlertRule, StoreError> {
        update_rule(&self.main_w, rule_id, rule, now_ms).await
    }

    async fn delete_rule(&self, rule_id: i64) -> Result<bool, StoreError> {
        delete_rule(&self.main_w, rule_id).await
    }

    async fn enabled_rules(&self, kinds: &[&str]) -> Result<Vec<AlertRule>, StoreError> {
        enabled_rules(&self.main_r, kinds).await
    }

    async fn alert_states(&self, rule_id: i64) -> Result<Vec<AlertState>, StoreError> {
        alert_states(&self.main_r, rule_id).await
    }

    async fn get_alert_state(&self, rule_id: i64, subject: &str) -> Result<Option<AlertState>, StoreError> {
        get_alert_state(&self.main_r, rule_id, subject).await
    }

    async fn commit_alerts(&self, commit: &AlertCommit) -> Result<u64, StoreError> {
        commit_alerts(&self.main_w, commit).await
    }

    async fn claim_alert_triggers(
        &self,
        limit: usize,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Vec<AlertTrigger>, StoreError> {
        claim_alert_triggers(&self.main_w, limit, now_ms, lease_ms).await
    }

    async fn claim_notifications(
        &self,
        limit: usize,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Vec<(Notification, Channel)>, StoreError> {
        claim_notifications(&self.main_w, limit, now_ms, lease_ms).await
    }

    async fn record_delivery(
        &self,
        notification_id: i64,
        attempt: &DeliveryAttempt,
        next: DeliveryNext,
    ) -> Result<(), StoreError> {
        record_delivery(&self.main_w, notification_id, attempt, next).await
    }

    async fn get_notification(&self, notification_id: i64) -> Result<Option<Notification>, StoreError> {
        get_notification(&self.main_r, notification_id).await
    }

    async fn find_notification(&self, idempotency_key: &str) -> Result<Option<Notification>, StoreError> {
        find_notification(&self.main_r, idempotency_key).await
    }

    async fn list_notifications(
        &self,
        project_id: Option<i64>,
        limit: usize,
        before_id: Option<i64>,
    ) -> Result<Vec<Notification>, StoreError> {
        list_notifications(&self.main_r, project_id, limit, before_id).await
    }

    async fn list_deliveries(&self, notification_ids: &[i64]) -> Result<Vec<Delivery>, StoreError> {
        list_deliveries(&self.main_r, notification_ids).await
    }

    async fn issue_counts_over(
        &self,
        project_id: i64,
        since_ms: i64,
        until_ms: i64,
        more_than: u64,
    ) -> Result<Vec<(i64, u64)>, StoreError> {
        issue_counts_over(&self.main_r, project_id, since_ms, until_ms, more_than).await
    }

    async fn instance_outcome_totals(
        &self,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        instance_outcome_totals(&self.main_r, since_ms, until_ms).await
    }
}

#[cfg(test)]
mod tests {
    use sentinel_store::Store;
    use sqlx::Row;

    use crate::{SqliteOptions, SqliteStore};

    /// Threshold rules read these every minute, beside ingest: through indexes, never by reading
    /// every rollup of a project or every outcome row.
    #[tokio::test]
    async fn threshold_reads_search_indexes() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&SqliteOptions::new(dir.path())).await.unwrap();
        store.migrate().await.unwrap();
        for (sql, binds) in [
            (sentinel_store_sql::ISSUE_COUNTS, 4),
            (sentinel_store_sql::OUTCOME_TOTALS, 2),
        ] {
            let mut query = sqlx::query(sqlx::AssertSqlSafe(format!("EXPLAIN QUERY PLAN {sql}")));
            for i in 1..=binds {
                query = query.bind(i);
            }
            let plan: Vec<String> = query
                .fetch_all(&store.main_r)
                .await
                .unwrap()
                .iter()
                .map(|step| step.try_get(3).unwrap())
                .collect();
            assert!(plan.iter().all(|d| !d.starts_with("SCAN ")), "{plan:?} for {sql}");
            assert!(
                plan.iter()
                    .all(|d| !d.starts_with("SEARCH") || d.contains("_ms>")),
                "every search is bounded by time: {plan:?} for {sql}"
            );
        }
    }
}
