//! One issue: `GET /api/0/issues/{id}/` with its tag distributions, and its event counts over time.

use axum::Json;
use axum::extract::{Path, Query, State};
use sentinel_store::{CountScope, OrgRole};

use super::{IssueJson, Users};
use crate::AppState;
use crate::api::stats::{StatsParams, StatsResponse, fill};
use crate::api::{ApiError, Caller};
use crate::auth::access;

/// How many values per tag key the detail shows.
const TOP_TAG_VALUES: usize = 10;

pub async fn detail(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(issue): Path<String>,
) -> Result<Json<IssueJson>, ApiError> {
    let (issue, _, _) = access::issue(&app, &who, &issue, OrgRole::Member).await?;
    let tags = app.store.issue_tags(issue.id, TOP_TAG_VALUES).await?;
    let json = IssueJson::load(&app, &mut Users::default(), issue).await?;
    Ok(Json(IssueJson {
        tags: Some(tags),
        ..json
    }))
}

pub async fn stats(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(issue): Path<String>,
    Query(params): Query<StatsParams>,
) -> Result<Json<StatsResponse>, ApiError> {
    let (issue, _, _) = access::issue(&app, &who, &issue, OrgRole::Member).await?;
    let window = params.window(app.clock.now_ms())?;
    let sparse = app
        .store
        .event_counts(
            CountScope::Issue(issue.id),
            window.since_ms,
            window.until_ms,
            window.bucket_ms,
        )
        .await?;
    Ok(Json(fill(window, &sparse)))
}
