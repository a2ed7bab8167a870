//! `/api/0/organizations/{org}/members/` and `…/invitations/`: who belongs to an organization,
//! inviting by link, changing roles and removing members.
//!
//! Admins manage members and admins; only owners grant, change or remove the owner role. Anyone
//! may leave an organization. The store refuses any change that would leave an organization
//! without an owner (409).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, put};
use axum::{Json, Router};
use sentinel_store::{Invitation, Member, OrgRole, Organization, Store, StoreError, TokenScope};
use serde::{Deserialize, Serialize};

use super::input::{self, JsonBody};
use super::{ApiError, Caller};
use crate::AppState;
use crate::auth::{self, access};
use crate::clock::rfc3339;
use crate::config::Settings;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/0/organizations/{org}/members/", get(list).post(invite))
        .route(
            "/api/0/organizations/{org}/members/{user_id}/",
            put(set_role).delete(remove),
        )
        .route("/api/0/organizations/{org}/invitations/", get(invitations))
        .route(
            "/api/0/organizations/{org}/invitations/{invitation_id}/",
            delete(delete_invitation),
        )
}

#[derive(Debug, Serialize)]
pub struct MemberJson {
    /// The member's user id.
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: OrgRole,
    pub joined: String,
}

impl From<Member> for MemberJson {
    fn from(m: Member) -> Self {
        MemberJson {
            id: m.user_id.to_string(),
            email: m.email,
            name: m.name,
            role: m.role,
            joined: rfc3339(m.joined_ms),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct InvitationJson {
    pub id: String,
    pub organization: String,
    pub email: String,
    pub role: OrgRole,
    pub invited_by: Option<String>,
    pub created: String,
    pub expires: String,
}

impl From<Invitation> for InvitationJson {
    fn from(i: Invitation) -> Self {
        InvitationJson {
            id: i.id.to_string(),
            organization: i.org_slug,
            email: i.email,
            role: i.role,
            invited_by: i.invited_by.map(|id| id.to_string()),
            created: rfc3339(i.created_ms),
            expires: rfc3339(i.expires_ms),
        }
    }
}

/// 403 unless `mine` may hand out or take away `role` (the owner role is the owners' business).
/// Shared with the dashboard.
pub fn may_touch(mine: OrgRole, role: OrgRole, what: &str) -> Result<(), ApiError> {
    if role == OrgRole::Owner && mine < OrgRole::Owner {
        Err(ApiError::Forbidden(format!("only owners may {what}")))
    } else {
        Ok(())
    }
}

async fn list(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(org): Path<String>,
) -> Result<Json<Vec<MemberJson>>, ApiError> {
    let (org, _) = access::organization(&app, &who, &org, OrgRole::Member).await?;
    let members = app.store.list_members(org.id).await?;
    Ok(Json(members.into_iter().map(MemberJson::from).collect()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InviteBody {
    email: String,
    /// `member` when absent.
    role: Option<String>,
}

#[derive(Serialize)]
struct InviteJson {
    invitation: InvitationJson,
    /// Send this to the invitee; it is shown only once.
    link: String,
    /// Whether Sentinel emailed the link to the invitee (only with `[smtp]` configured).
    emailed: bool,
}

/// Creates an invitation and its single-use link (`<public url>/invite/<token>`), valid
/// `auth.invitation_days`. Replaces an earlier pending invitation of the same email.
pub async fn create_invitation(
    store: &dyn Store,
    settings: &Settings,
    org: &Organization,
    email: &str,
    role: OrgRole,
    invited_by: Option<i64>,
    now_ms: i64,
) -> Result<(Invitation, String), StoreError> {
    let token = auth::new_secret(auth::INVITE_TOKEN_PREFIX);
    let expires = now_ms + i64::from(settings.auth.invitation_days) * 86_400_000;
    let invitation = store
        .create_invitation(
            &auth::token_hash(&token),
            org.id,
            email,
            role,
            invited_by,
            now_ms,
            expires,
        )
        .await?;
    Ok((
        invitation,
        format!("{}/invite/{token}", settings.public_base_url()),
    ))
}

async fn invite(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(org): Path<String>,
    JsonBody(body): JsonBody<InviteBody>,
) -> Result<(StatusCode, Json<InviteJson>), ApiError> {
    who.require_scope(TokenScope::Admin)?;
    let (org, mine) = access::organization(&app, &who, &org, OrgRole::Admin).await?;
    let email = input::email(&body.email)?;
    let role = match body.role.as_deref() {
        Some(r) => input::role(r)?,
        None => OrgRole::Member,
    };
    may_touch(mine, role, "invite owners")?;
    if let Some(user) = app.store.find_user_by_email(&email).await?
        && app.store.member_role(org.id, user.id).await?.is_some()
    {
        return Err(ApiError::Conflict(format!(
            "{email} is already a member of {}; change the role with PUT …/members/{}/",
            org.slug, user.id
        )));
    }
    let (invitation, link) = create_invitation(
        app.store.as_ref(),
        &app.settings,
        &org,
        &email,
        role,
        who.user_id(),
        app.clock.now_ms(),
    )
    .await?;
    tracing::info!(org.slug = %org.slug, invitation.id = invitation.id, "member invited");
    let inviter = who.user.as_ref().map(|u| u.name.as_str());
    let emailed = crate::auth::mail::try_invitation(&app, &org, role, inviter, &email, &link).await;
    Ok((
        StatusCode::CREATED,
        Json(InviteJson {
            invitation: invitation.into(),
            link,
            emailed,
        }),
    ))
}

/// The member's current role, or 404.
async fn role_of(app: &AppState, org: &Organization, user_id: i64) -> Result<OrgRole, ApiError> {
    app.store
        .member_role(org.id, user_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("member {user_id} not found")))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleBody {
    role: String,
}

async fn set_role(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path((org, user)): Path<(String, String)>,
    JsonBody(body): JsonBody<RoleBody>,
) -> Result<Json<MemberJson>, ApiError> {
    who.require_scope(TokenScope::Admin)?;
    let (org, mine) = access::organization(&app, &who, &org, OrgRole::Admin).await?;
    let user_id = access::path_id("member", &user)?;
    let current = role_of(&app, &org, user_id).await?;
    let role = input::role(&body.role)?;
    may_touch(mine, current, "change an owner's role")?;
    may_touch(mine, role, "make owners")?;
    app.store.set_member_role(org.id, user_id, role).await?;
    let member = app
        .store
        .list_members(org.id)
        .await?
        .into_iter()
        .find(|m| m.user_id == user_id)
        .ok_or_else(|| ApiError::NotFound(format!("member {user_id} not found")))?;
    Ok(Json(member.into()))
}

/// Removes a member (admins; owners for owners), or the caller itself (leaving).
async fn remove(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path((org, user)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    who.require_scope(TokenScope::Admin)?;
    let user_id = access::path_id("member", &user)?;
    let leaving = who.user_id() == Some(user_id);
    let min = if leaving { OrgRole::Member } else { OrgRole::Admin };
    let (org, mine) = access::organization(&app, &who, &org, min).await?;
    let current = role_of(&app, &org, user_id).await?;
    may_touch(mine, current, "remove an owner")?;
    app.store.remove_member(org.id, user_id).await?;
    tracing::info!(org.slug = %org.slug, user.id = user_id, "member removed");
    Ok(StatusCode::NO_CONTENT)
}

async fn invitations(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(org): Path<String>,
) -> Result<Json<Vec<InvitationJson>>, ApiError> {
    let (org, _) = access::organization(&app, &who, &org, OrgRole::Admin).await?;
    let pending = app.store.list_invitations(org.id, app.clock.now_ms()).await?;
    Ok(Json(pending.into_iter().map(InvitationJson::from).collect()))
}

async fn delete_invitation(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path((org, invitation)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    who.require_scope(TokenScope::Admin)?;
    let (org, mine) = access::organization(&app, &who, &org, OrgRole::Admin).await?;
    let id = access::path_id("invitation", &invitation)?;
    let pending = app.store.list_invitations(org.id, app.clock.now_ms()).await?;
    let found = pending
        .iter()
        .find(|i| i.id == id)
        .ok_or_else(|| ApiError::NotFound(format!("invitation {id} not found")))?;
    may_touch(mine, found.role, "withdraw an invitation to become owner")?;
    app.store.delete_invitation(org.id, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
