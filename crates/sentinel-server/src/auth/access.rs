//! Loading a resource on behalf of a principal: it exists *and* the principal belongs to the
//! organization that owns it, else 404 (never 403, which would confirm that it exists). A member
//! whose role is too low for the action gets 403.

use sentinel_store::{Issue, OrgRole, Organization, Project};

use super::Principal;
use crate::AppState;
use crate::api::ApiError;

/// Parses a numeric id from the path, answering 404 (not 400) for anything else: no such resource.
pub fn path_id(what: &str, raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| ApiError::NotFound(format!("{what} {raw} not found")))
}

fn require_role(role: OrgRole, min: OrgRole) -> Result<(), ApiError> {
    if role >= min {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "your role in this organization is {role}; this needs {min} or higher"
        )))
    }
}

/// The organization by slug, if the principal is a member with at least `min`.
pub async fn organization(
    app: &AppState,
    who: &Principal,
    slug: &str,
    min: OrgRole,
) -> Result<(Organization, OrgRole), ApiError> {
    let missing = || ApiError::NotFound(format!("organization {slug} not found"));
    let org = app.store.get_organization(slug).await?.ok_or_else(missing)?;
    let role = who.role_in(app, org.id).await?.ok_or_else(missing)?;
    require_role(role, min)?;
    Ok((org, role))
}

/// The project by id, if the principal is a member of its organization with at least `min`.
pub async fn project(
    app: &AppState,
    who: &Principal,
    raw_id: &str,
    min: OrgRole,
) -> Result<(Project, OrgRole), ApiError> {
    let id = path_id("project", raw_id)?;
    let missing = || ApiError::NotFound(format!("project {id} not found"));
    let project = app.store.get_project(id).await?.ok_or_else(missing)?;
    let role = who.role_in(app, project.org_id).await?.ok_or_else(missing)?;
    require_role(role, min)?;
    Ok((project, role))
}

/// The issue by id, with its project, if the principal is a member of the owning organization
/// with at least `min`.
pub async fn issue(
    app: &AppState,
    who: &Principal,
    raw_id: &str,
    min: OrgRole,
) -> Result<(Issue, Project, OrgRole), ApiError> {
    let id = path_id("issue", raw_id)?;
    let missing = || ApiError::NotFound(format!("issue {id} not found"));
    let issue = app.store.get_issue(id).await?.ok_or_else(missing)?;
    let project = app
        .store
        .get_project(issue.project_id)
        .await?
        .ok_or_else(missing)?;
    let role = who.role_in(app, project.org_id).await?.ok_or_else(missing)?;
    require_role(role, min)?;
    Ok((issue, project, role))
}

/// Projects the principal can see: every project of its organizations.
pub async fn visible_projects(app: &AppState, who: &Principal) -> Result<Vec<Project>, ApiError> {
    if who.is_instance_admin() {
        return Ok(app.store.list_projects().await?);
    }
    let Some(user) = &who.user else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for m in app.store.user_memberships(user.id).await? {
        out.extend(app.store.list_org_projects(m.organization.id).await?);
    }
    Ok(out)
}
