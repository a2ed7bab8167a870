//! `/api/0/organizations/`: the caller's organizations, creating one (any signed-in user may, and
//! becomes its owner, as on self-hosted Sentry), and renaming (owners).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use sentinel_store::{OrgRole, Organization, TokenScope, User, slugify};
use serde::{Deserialize, Serialize};

use super::input::{self, JsonBody};
use super::{ApiError, Caller};
use crate::AppState;
use crate::auth::{Principal, access};
use crate::clock::rfc3339;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/0/organizations/", get(list).post(create))
        .route("/api/0/organizations/{org}/", get(detail).put(update))
}

#[derive(Debug, Serialize)]
pub struct OrganizationJson {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub created: String,
    /// The caller's role in it (instance admins are owners everywhere).
    pub role: OrgRole,
}

impl OrganizationJson {
    pub fn new(o: Organization, role: OrgRole) -> Self {
        OrganizationJson {
            id: o.id.to_string(),
            slug: o.slug,
            name: o.name,
            created: rfc3339(o.created_ms),
            role,
        }
    }
}

/// The organizations the principal sees, with its role in each: all of them for instance admins
/// (as owner), else its memberships.
pub async fn visible(app: &AppState, who: &Principal) -> Result<Vec<(Organization, OrgRole)>, ApiError> {
    if who.is_instance_admin() {
        let all = app.store.list_organizations().await?;
        return Ok(all.into_iter().map(|o| (o, OrgRole::Owner)).collect());
    }
    let Some(user) = &who.user else {
        return Ok(Vec::new());
    };
    let memberships = app.store.user_memberships(user.id).await?;
    Ok(memberships
        .into_iter()
        .map(|m| (m.organization, m.role))
        .collect())
}

/// The user behind the credential; instance tokens (no user) cannot own or hold things.
pub fn user_of<'a>(who: &'a Principal, what: &str) -> Result<&'a User, ApiError> {
    who.user.as_ref().ok_or_else(|| {
        ApiError::Forbidden(format!(
            "an instance token acts for no user and cannot {what}; use a personal API token or an \
             access token from /api/auth/login"
        ))
    })
}

async fn list(
    State(app): State<AppState>,
    Caller(who): Caller,
) -> Result<Json<Vec<OrganizationJson>>, ApiError> {
    let orgs = visible(&app, &who).await?;
    Ok(Json(
        orgs.into_iter()
            .map(|(o, role)| OrganizationJson::new(o, role))
            .collect(),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    /// Derived from the name when absent.
    slug: Option<String>,
}

async fn create(
    State(app): State<AppState>,
    Caller(who): Caller,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<(StatusCode, Json<OrganizationJson>), ApiError> {
    who.require_scope(TokenScope::Admin)?;
    let owner = user_of(&who, "own an organization")?;
    let name = input::name("name", &body.name)?;
    let slug = match body.slug.as_deref() {
        Some(s) => input::slug(s)?,
        None => {
            let derived: String = slugify(&name).chars().take(input::MAX_SLUG_CHARS).collect();
            let derived = derived.trim_end_matches('-').to_owned();
            if derived.is_empty() {
                return Err(ApiError::BadRequest(format!(
                    "no slug can be derived from the name {name:?} (it has no letters or digits); pass \"slug\""
                )));
            }
            derived
        }
    };
    let org = app
        .store
        .create_organization(&slug, &name, owner.id, app.clock.now_ms())
        .await?;
    tracing::info!(org.slug = %org.slug, user.id = owner.id, "organization created");
    Ok((
        StatusCode::CREATED,
        Json(OrganizationJson::new(org, OrgRole::Owner)),
    ))
}

async fn detail(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(org): Path<String>,
) -> Result<Json<OrganizationJson>, ApiError> {
    let (org, role) = access::organization(&app, &who, &org, OrgRole::Member).await?;
    Ok(Json(OrganizationJson::new(org, role)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    name: String,
}

/// Renames an organization (owners); the slug, and with it every URL, stays.
async fn update(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(org): Path<String>,
    JsonBody(body): JsonBody<UpdateBody>,
) -> Result<Json<OrganizationJson>, ApiError> {
    who.require_scope(TokenScope::Admin)?;
    let (org, role) = access::organization(&app, &who, &org, OrgRole::Owner).await?;
    let name = input::name("name", &body.name)?;
    let org = app.store.rename_organization(org.id, &name).await?;
    Ok(Json(OrganizationJson::new(org, role)))
}
