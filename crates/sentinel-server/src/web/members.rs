//! Organization members: roles, removal, invitations by link, and accepting an invitation (with a
//! new account or an existing one).

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use sentinel_store::{Invitation, Member, NewUser, OrgRole, Organization};
use serde::Deserialize;

use super::account::{pre_session_csrf, sign_in, with_cookies};
use super::layout::{self, Layout};
use super::{MaybeSignedIn, SignedIn, WebError, render, see_other};
use crate::AppState;
use crate::api::members::may_touch;
use crate::api::{ApiError, input};
use crate::auth::{self, access, password};
use crate::clock::rfc3339;

pub struct MemberRow {
    pub user_id: i64,
    pub name: String,
    pub email: String,
    pub role: &'static str,
    pub joined: String,
    pub is_you: bool,
}

pub struct InvitationRow {
    pub id: i64,
    pub email: String,
    pub role: &'static str,
    pub expires: String,
}

#[derive(Template)]
#[template(path = "members.html")]
struct MembersPage {
    layout: Layout,
    members: Vec<MemberRow>,
    invitations: Vec<InvitationRow>,
    error: Option<String>,
    /// A link just created, shown to be copied.
    invite_link: Option<String>,
    /// The address the link was just emailed to.
    invite_emailed: Option<String>,
}

async fn members_page(
    app: &AppState,
    s: &SignedIn,
    org: &Organization,
    role: OrgRole,
    error: Option<String>,
    invite: Option<(String, Option<String>)>,
) -> Result<Response, WebError> {
    let (invite_link, invite_emailed) = match invite {
        Some((link, emailed)) => (Some(link), emailed),
        None => (None, None),
    };
    let now = app.clock.now_ms();
    let members: Vec<Member> = app.store.list_members(org.id).await?;
    let invitations: Vec<Invitation> = if role >= OrgRole::Admin {
        app.store.list_invitations(org.id, now).await?
    } else {
        Vec::new()
    };
    let page = MembersPage {
        layout: layout::in_org(app, s, org, role, None, "Members", "members").await?,
        members: members
            .into_iter()
            .map(|m| MemberRow {
                is_you: m.user_id == s.user.id,
                user_id: m.user_id,
                name: m.name,
                email: m.email,
                role: m.role.as_str(),
                joined: rfc3339(m.joined_ms),
            })
            .collect(),
        invitations: invitations
            .into_iter()
            .map(|i| InvitationRow {
                id: i.id,
                email: i.email,
                role: i.role.as_str(),
                expires: rfc3339(i.expires_ms),
            })
            .collect(),
        error: error.clone(),
        invite_link,
        invite_emailed,
    };
    let mut resp = render(&page)?;
    if error.is_some() {
        *resp.status_mut() = StatusCode::BAD_REQUEST;
    }
    Ok(resp)
}

pub async fn page(
    State(app): State<AppState>,
    s: SignedIn,
    Path(org): Path<String>,
) -> Result<Response, WebError> {
    let (org, role) = access::organization(&app, &s.principal, &org, OrgRole::Member).await?;
    members_page(&app, &s, &org, role, None, None).await
}

#[derive(Deserialize)]
pub struct InviteForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    role: String,
}

pub async fn invite(
    State(app): State<AppState>,
    s: SignedIn,
    Path(org): Path<String>,
    Form(form): Form<InviteForm>,
) -> Result<Response, WebError> {
    let (org, role) = access::organization(&app, &s.principal, &org, OrgRole::Admin).await?;
    let result = async {
        let email = input::email(&form.email)?;
        let wanted = input::role(&form.role)?;
        may_touch(role, wanted, "invite owners")?;
        let (invitation, link) = crate::api::members::create_invitation(
            app.store.as_ref(),
            &app.settings,
            &org,
            &email,
            wanted,
            Some(s.user.id),
            app.clock.now_ms(),
        )
        .await?;
        let emailed =
            crate::auth::mail::try_invitation(&app, &org, wanted, Some(&s.user.name), &email, &link)
                .await
                .then_some(invitation.email);
        Ok::<_, ApiError>((link, emailed))
    }
    .await;
    match result {
        Ok(invite) => members_page(&app, &s, &org, role, None, Some(invite)).await,
        Err(e @ (ApiError::BadRequest(_) | ApiError::Conflict(_) | ApiError::Forbidden(_))) => {
            members_page(&app, &s, &org, role, Some(e.to_string()), None).await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    role: String,
}

pub async fn set_role(
    State(app): State<AppState>,
    s: SignedIn,
    headers: HeaderMap,
    Path((org, user)): Path<(String, String)>,
    Form(form): Form<RoleForm>,
) -> Result<Response, WebError> {
    let (org, role) = access::organization(&app, &s.principal, &org, OrgRole::Admin).await?;
    let user_id = access::path_id("member", &user)?;
    let result = async {
        let wanted = input::role(&form.role)?;
        let current = app
            .store
            .member_role(org.id, user_id)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("member {user_id} not found")))?;
        may_touch(role, wanted, "make owners")?;
        may_touch(role, current, "change owners")?;
        app.store.set_member_role(org.id, user_id, wanted).await?;
        Ok::<_, ApiError>(())
    }
    .await;
    match result {
        Ok(()) => Ok(see_other(
            &headers,
            &format!("{}/orgs/{}/members/", app.settings.path_prefix, org.slug),
        )),
        Err(e @ (ApiError::BadRequest(_) | ApiError::Conflict(_) | ApiError::Forbidden(_))) => {
            members_page(&app, &s, &org, role, Some(e.to_string()), None).await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn remove(
    State(app): State<AppState>,
    s: SignedIn,
    headers: HeaderMap,
    Path((org, user)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let user_id = access::path_id("member", &user)?;
    // Anyone may leave; removing others takes admin (owners: an owner).
    let min = if user_id == s.user.id {
        OrgRole::Member
    } else {
        OrgRole::Admin
    };
    let (org, role) = access::organization(&app, &s.principal, &org, min).await?;
    let result = async {
        if user_id != s.user.id {
            let current = app
                .store
                .member_role(org.id, user_id)
                .await?
                .ok_or_else(|| ApiError::NotFound(format!("member {user_id} not found")))?;
            may_touch(role, current, "remove owners")?;
        }
        app.store.remove_member(org.id, user_id).await?;
        Ok::<_, ApiError>(())
    }
    .await;
    match result {
        Ok(()) if user_id == s.user.id => Ok(see_other(&headers, &format!("{}/", app.settings.path_prefix))),
        Ok(()) => Ok(see_other(
            &headers,
            &format!("{}/orgs/{}/members/", app.settings.path_prefix, org.slug),
        )),
        Err(e @ (ApiError::Conflict(_) | ApiError::Forbidden(_))) => {
            members_page(&app, &s, &org, role, Some(e.to_string()), None).await
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn delete_invitation(
    State(app): State<AppState>,
    s: SignedIn,
    headers: HeaderMap,
    Path((org, id)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let (org, _) = access::organization(&app, &s.principal, &org, OrgRole::Admin).await?;
    let id = access::path_id("invitation", &id)?;
    app.store.delete_invitation(org.id, id).await?;
    Ok(see_other(
        &headers,
        &format!("{}/orgs/{}/members/", app.settings.path_prefix, org.slug),
    ))
}

#[derive(Template)]
#[template(path = "invite.html")]
struct InvitePage {
    prefix: String,
    title: &'static str,
    csrf: String,
    error: Option<String>,
    notice: Option<String>,
    token: String,
    next: String,
    invitation: Option<Invitation>,
    signed_in: bool,
}

pub async fn invite_form(
    State(app): State<AppState>,
    headers: HeaderMap,
    user: MaybeSignedIn,
    Path(token): Path<String>,
) -> Result<Response, WebError> {
    let invitation = app
        .store
        .find_invitation(&auth::token_hash(&token), app.clock.now_ms())
        .await?;
    let (csrf, cookie) = pre_session_csrf(&app, &headers);
    let missing = invitation.is_none();
    let page = InvitePage {
        prefix: app.settings.path_prefix.clone(),
        title: "Invitation",
        csrf,
        error: missing.then(|| "This invitation is invalid, used or expired. Ask for a new one.".to_owned()),
        notice: None,
        next: crate::urls::form_urlencoded_component(&format!("/invite/{token}")),
        token,
        invitation,
        signed_in: user.0.is_some(),
    };
    let mut resp = render(&page)?;
    if missing {
        *resp.status_mut() = StatusCode::NOT_FOUND;
    }
    Ok(with_cookies(resp, cookie))
}

#[derive(Deserialize)]
pub struct AcceptForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
}

/// Joins the organization: as the signed-in user, or with a new account for the invited email.
pub async fn accept_invite(
    State(app): State<AppState>,
    user: MaybeSignedIn,
    Path(token): Path<String>,
    Form(form): Form<AcceptForm>,
) -> Result<Response, WebError> {
    let hash = auth::token_hash(&token);
    let now = app.clock.now_ms();
    let prefix = app.settings.path_prefix.clone();
    let user_id = match user.0 {
        Some(s) => s.user.id,
        None => {
            let invitation =
                app.store.find_invitation(&hash, now).await?.ok_or_else(|| {
                    ApiError::NotFound("this invitation is invalid, used or expired".into())
                })?;
            if app.store.find_user_by_email(&invitation.email).await?.is_some() {
                return Err(ApiError::Conflict(format!(
                    "an account for {} exists already: sign in first, then open the link again",
                    invitation.email
                ))
                .into());
            }
            let name = input::name("your name", &form.name)?;
            let hash_pw = match password::hash(form.password).await {
                Ok(h) => h,
                Err(password::PasswordError::Hash(e)) => return Err(ApiError::Internal(e).into()),
                Err(e) => return Err(ApiError::BadRequest(e.to_string()).into()),
            };
            let new = NewUser {
                email: invitation.email.clone(),
                name,
                password_hash: hash_pw,
                is_admin: false,
            };
            app.store.create_user(&new, now).await?.id
        }
    };
    let membership = app.store.accept_invitation(&hash, user_id, now).await?;
    sign_in(
        &app,
        user_id,
        &format!("{prefix}/orgs/{}/", membership.organization.slug),
    )
    .await
}
