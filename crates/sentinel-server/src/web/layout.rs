//! What every signed-in page shows around its content: the organization and project switchers,
//! the navigation, the user menu and the CSRF token for forms.

use askama::Template;
use sentinel_store::{OrgRole, Organization, Project};

use super::SignedIn;
use crate::AppState;
use crate::api::ApiError;
use crate::auth::Principal;

/// One entry of a switcher.
#[derive(Debug, Clone)]
pub struct NavItem {
    pub slug: String,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct Layout {
    /// Path prefix of every link (empty, or e.g. `/sentry`).
    pub prefix: String,
    pub title: String,
    pub user_name: String,
    pub user_email: String,
    pub csrf: String,
    pub orgs: Vec<NavItem>,
    /// Slug of the current organization, or empty.
    pub org: String,
    pub role: Option<OrgRole>,
    pub projects: Vec<NavItem>,
    /// Slug of the current project, or empty.
    pub project: String,
    /// Which navigation entry is highlighted: `overview`, `issues`, `events`, `releases`,
    /// `monitors`, `performance`, `tenants`, `alerts`, `settings`, `members`, `account`,
    /// `projects`.
    pub active: &'static str,
}

impl Layout {
    pub fn can_admin(&self) -> bool {
        self.role.is_some_and(|r| r >= OrgRole::Admin)
    }

    pub fn is_owner(&self) -> bool {
        self.role == Some(OrgRole::Owner)
    }
}

/// The organizations the principal can switch between.
pub async fn organizations(app: &AppState, who: &Principal) -> Result<Vec<Organization>, ApiError> {
    if who.is_instance_admin() {
        return Ok(app.store.list_organizations().await?);
    }
    let Some(user) = &who.user else {
        return Ok(Vec::new());
    };
    Ok(app
        .store
        .user_memberships(user.id)
        .await?
        .into_iter()
        .map(|m| m.organization)
        .collect())
}

/// The layout of a page outside any organization (account, new organization).
pub async fn plain(
    app: &AppState,
    s: &SignedIn,
    title: &str,
    active: &'static str,
) -> Result<Layout, ApiError> {
    let orgs = organizations(app, &s.principal).await?;
    Ok(Layout {
        prefix: app.settings.path_prefix.clone(),
        title: title.to_owned(),
        user_name: s.user.name.clone(),
        user_email: s.user.email.clone(),
        csrf: s.csrf.clone(),
        orgs: orgs
            .into_iter()
            .map(|o| NavItem {
                slug: o.slug,
                name: o.name,
            })
            .collect(),
        org: String::new(),
        role: None,
        projects: Vec::new(),
        project: String::new(),
        active,
    })
}

/// The layout of a page inside an organization the user belongs to (checked by the caller).
pub async fn in_org(
    app: &AppState,
    s: &SignedIn,
    org: &Organization,
    role: OrgRole,
    project: Option<&Project>,
    title: &str,
    active: &'static str,
) -> Result<Layout, ApiError> {
    let mut layout = plain(app, s, title, active).await?;
    layout.org = org.slug.clone();
    layout.role = Some(role);
    layout.projects = app
        .store
        .list_org_projects(org.id)
        .await?
        .into_iter()
        .map(|p| NavItem {
            slug: p.slug,
            name: p.name,
        })
        .collect();
    layout.project = project.map(|p| p.slug.clone()).unwrap_or_default();
    Ok(layout)
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub status: u16,
    pub reason: &'static str,
    pub message: String,
}
