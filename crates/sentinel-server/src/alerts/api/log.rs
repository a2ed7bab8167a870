//! The delivery log: a project's (or the instance's) notifications, newest first, each with its
//! delivery attempts. Pages are cut by notification id: `cursor` is the last id of the previous
//! page.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use sentinel_store::{ChannelKind, Delivery, Notification, NotificationStatus, OrgRole, Transition};
use serde::Serialize;

use super::require_instance_admin;
use crate::AppState;
use crate::api::{ApiError, Caller};
use crate::auth::access;
use crate::clock::rfc3339;
use crate::issues::{PageJson, PageParams, Pagination, id_cursor, limit};

#[derive(Debug, Serialize)]
pub struct FieldJson {
    pub label: String,
    pub value: String,
}

#[derive(Debug, Serialize)]
pub struct MessageJson {
    pub title: String,
    pub text: String,
    pub url: Option<String>,
    pub severity: String,
    pub fields: Vec<FieldJson>,
}

#[derive(Debug, Serialize)]
pub struct DeliveryJson {
    /// 1 for the first attempt.
    pub attempt: u32,
    pub at: String,
    pub duration_ms: i64,
    /// The receiver's HTTP status or SMTP reply code, when it answered.
    pub status_code: Option<i32>,
    /// `null` when the attempt succeeded.
    pub error: Option<String>,
}

impl From<Delivery> for DeliveryJson {
    fn from(d: Delivery) -> Self {
        DeliveryJson {
            attempt: d.attempt,
            at: rfc3339(d.at_ms),
            duration_ms: d.duration_ms,
            status_code: d.status_code,
            error: d.error,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct NotificationJson {
    pub id: String,
    pub idempotency_key: String,
    pub rule_id: Option<String>,
    /// `null` for test notifications and deleted rules.
    pub rule_name: Option<String>,
    pub channel_id: String,
    pub channel_name: String,
    pub channel_kind: ChannelKind,
    pub project_id: Option<String>,
    /// What the rule watched: `issue:42`, `project:7`, `instance`, `channel:3` (tests).
    pub subject: String,
    pub transition: Transition,
    pub message: MessageJson,
    pub status: NotificationStatus,
    pub attempts: u32,
    /// When the next attempt is due, while pending.
    pub next_attempt: Option<String>,
    pub created: String,
    pub delivered: Option<String>,
    pub last_error: Option<String>,
    /// Every attempt, oldest first.
    pub deliveries: Vec<DeliveryJson>,
}

impl NotificationJson {
    pub fn new(n: Notification, deliveries: Vec<Delivery>) -> Self {
        NotificationJson {
            id: n.id.to_string(),
            idempotency_key: n.idempotency_key,
            rule_id: n.rule_id.map(|r| r.to_string()),
            rule_name: n.rule_name,
            channel_id: n.channel_id.to_string(),
            channel_name: n.channel_name,
            channel_kind: n.channel_kind,
            project_id: n.project_id.map(|p| p.to_string()),
            subject: n.subject,
            transition: n.transition,
            message: MessageJson {
                title: n.message.title,
                text: n.message.text,
                url: n.message.url,
                severity: n.message.severity,
                fields: n
                    .message
                    .fields
                    .into_iter()
                    .map(|(label, value)| FieldJson { label, value })
                    .collect(),
            },
            next_attempt: (n.status == NotificationStatus::Pending).then(|| rfc3339(n.next_attempt_ms)),
            status: n.status,
            attempts: n.attempts,
            created: rfc3339(n.created_ms),
            delivered: n.delivered_ms.map(rfc3339),
            last_error: n.last_error,
            deliveries: deliveries.into_iter().map(DeliveryJson::from).collect(),
        }
    }
}

/// The notifications with their attempts, in the given order.
pub async fn with_deliveries(
    app: &AppState,
    notifications: Vec<Notification>,
) -> Result<Vec<NotificationJson>, ApiError> {
    let mut attempts = attempts_of(app, &notifications).await?;
    Ok(notifications
        .into_iter()
        .map(|n| {
            let d = attempts.remove(&n.id).unwrap_or_default();
            NotificationJson::new(n, d)
        })
        .collect())
}

/// The attempts of these notifications, by notification id, oldest first.
pub async fn attempts_of(
    app: &AppState,
    notifications: &[Notification],
) -> Result<HashMap<i64, Vec<Delivery>>, ApiError> {
    let ids: Vec<i64> = notifications.iter().map(|n| n.id).collect();
    let mut by_id: HashMap<i64, Vec<Delivery>> = HashMap::new();
    if ids.is_empty() {
        return Ok(by_id);
    }
    for d in app.store.list_deliveries(&ids).await? {
        by_id.entry(d.notification_id).or_default().push(d);
    }
    for list in by_id.values_mut() {
        list.sort_by_key(|d| d.attempt);
    }
    Ok(by_id)
}

/// One page of the log of `project_id` (`None`: the instance's), newest first, and the id to pass
/// as `before` for the next page when there is one. Shared with the dashboard.
pub async fn page(
    app: &AppState,
    project_id: Option<i64>,
    limit: usize,
    before: Option<i64>,
) -> Result<(Vec<Notification>, Option<i64>), ApiError> {
    let mut items = app
        .store
        .list_notifications(project_id, limit + 1, before)
        .await?;
    let next = if items.len() > limit {
        items.truncate(limit);
        items.last().map(|n| n.id)
    } else {
        None
    };
    Ok((items, next))
}

async fn answer(
    app: &AppState,
    project_id: Option<i64>,
    p: &PageParams,
) -> Result<Json<PageJson<NotificationJson>>, ApiError> {
    let limit = limit(p.limit.as_deref())?;
    let before = id_cursor(p.cursor.as_deref())?;
    let (items, next) = page(app, project_id, limit, before).await?;
    Ok(Json(PageJson {
        data: with_deliveries(app, items).await?,
        pagination: Pagination {
            has_more: next.is_some(),
            next_cursor: next.map(|id| id.to_string()),
        },
    }))
}

/// `GET /api/0/projects/{id}/notifications/`.
pub async fn project_list(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(project): Path<String>,
    Query(p): Query<PageParams>,
) -> Result<Json<PageJson<NotificationJson>>, ApiError> {
    let (project, _) = access::project(&app, &who, &project, OrgRole::Member).await?;
    answer(&app, Some(project.id), &p).await
}

/// `GET /api/0/instance/notifications/`.
pub async fn instance_list(
    State(app): State<AppState>,
    Caller(who): Caller,
    Query(p): Query<PageParams>,
) -> Result<Json<PageJson<NotificationJson>>, ApiError> {
    require_instance_admin(&who)?;
    answer(&app, None, &p).await
}
