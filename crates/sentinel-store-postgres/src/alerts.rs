//! Alerting on PostgreSQL (`sentinel_store_sql::alerts!`): claims of triggers and notifications
//! skip rows another node is claiming (`FOR UPDATE SKIP LOCKED`), so no two nodes ever take the
//! same one while its lease runs.

use async_trait::async_trait;
use sentinel_store::{
    AlertCommit, AlertRule, AlertState, AlertStore, AlertTrigger, Channel, ChannelUpdate, Delivery,
    DeliveryAttempt, DeliveryNext, NewAlertRule, NewChannel, Notification, StoreError,
};

use crate::PgStore;

sentinel_store_sql::alerts! {
    db: sqlx::Postgres,
    db_err: crate::db_err,
    begin: |pool| pool.begin(),
    for_update: " FOR UPDATE",
    skip_locked: " FOR UPDATE SKIP LOCKED",
}

#[async_trait]
impl AlertStore for PgStore {
    async fn create_channel(&self, channel: &NewChannel, now_ms: i64) -> Result<Channel, StoreError> {
        create_channel(&self.pool, channel, now_ms).await
    }

    async fn list_channels(&self, project_id: Option<i64>) -> Result<Vec<Channel>, StoreError> {
        list_channels(&self.pool, project_id).await
    }

    async fn get_channel(&self, channel_id: i64) -> Result<Option<Channel>, StoreError> {
        get_channel(&self.pool, channel_id).await
    }

    async fn update_channel(&self, channel_id: i64, update: &ChannelUpdate) -> Result<Channel, StoreError> {
        update_channel(&self.pool, channel_id, update).await
    }

    async fn delete_channel(&self, channel_id: i64) -> Result<bool, StoreError> {
        delete_channel(&self.pool, channel_id).await
    }

    async fn create_rule(&self, rule: &NewAlertRule, now_ms: i64) -> Result<AlertRule, StoreError> {
        create_rule(&self.pool, rule, now_ms).await
    }

    async fn list_rules(&self, project_id: Option<i64>) -> Result<Vec<AlertRule>, StoreError> {
        list_rules(&self.pool, project_id).await
    }

    async fn get_rule(&self, rule_id: i64) -> Result<Option<AlertRule>, StoreError> {
        get_rule(&self.pool, rule_id).await
    }

    async fn update_rule(
        &self,
        rule_id: i64,
        rule: &NewAlertRule,
        now_ms: i64,
    ) -> Result<AlertRule, StoreError> {
        update_rule(&self.pool, rule_id, rule, now_ms).await
    }

    async fn delete_rule(&self, rule_id: i64) -> Result<bool, StoreError> {
        delete_rule(&self.pool, rule_id).await
    }

    async fn enabled_rules(&self, kinds: &[&str]) -> Result<Vec<AlertRule>, StoreError> {
        enabled_rules(&self.pool, kinds).await
    }

    async fn alert_states(&self, rule_id: i64) -> Result<Vec<AlertState>, StoreError> {
        alert_states(&self.pool, rule_id).await
    }

    async fn get_alert_state(&self, rule_id: i64, subject: &str) -> Result<Option<AlertState>, StoreError> {
        get_alert_state(&self.pool, rule_id, subject).await
    }

    async fn commit_alerts(&self, commit: &AlertCommit) -> Result<u64, StoreError> {
        commit_alerts(&self.pool, commit).await
    }

    async fn claim_alert_triggers(
        &self,
        limit: usize,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Vec<AlertTrigger>, StoreError> {
        claim_alert_triggers(&self.pool, limit, now_ms, lease_ms).await
    }

    async fn claim_notifications(
        &self,
        limit: usize,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Vec<(Notification, Channel)>, StoreError> {
        claim_notifications(&self.pool, limit, now_ms, lease_ms).await
    }

    async fn record_delivery(
        &self,
        notification_id: i64,
        attempt: &DeliveryAttempt,
        next: DeliveryNext,
    ) -> Result<(), StoreError> {
        record_delivery(&self.pool, notification_id, attempt, next).await
    }

    async fn get_notification(&self, notification_id: i64) -> Result<Option<Notification>, StoreError> {
        get_notification(&self.pool, notification_id).await
    }

    async fn find_notification(&self, idempotency_key: &str) -> Result<Option<Notification>, StoreError> {
        find_notification(&self.pool, idempotency_key).await
    }

    async fn list_notifications(
        &self,
        project_id: Option<i64>,
        limit: usize,
        before_id: Option<i64>,
    ) -> Result<Vec<Notification>, StoreError> {
        list_notifications(&self.pool, project_id, limit, before_id).await
    }

    async fn list_deliveries(&self, notification_ids: &[i64]) -> Result<Vec<Delivery>, StoreError> {
        list_deliveries(&self.pool, notification_ids).await
    }

    async fn issue_counts_over(
        &self,
        project_id: i64,
        since_ms: i64,
        until_ms: i64,
        more_than: u64,
    ) -> Result<Vec<(i64, u64)>, StoreError> {
        issue_counts_over(&self.pool, project_id, since_ms, until_ms, more_than).await
    }

    async fn instance_outcome_totals(
        &self,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<Vec<(String, u64)>, StoreError> {
        instance_outcome_totals(&self.pool, since_ms, until_ms).await
    }
}
