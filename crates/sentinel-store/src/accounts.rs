//! Accounts: users, organizations and their members, projects and their keys, invitations, sign-in
//! sessions and API tokens.
//!
//! Secrets never reach the store: sessions, invitations, reset links and API tokens are stored and
//! looked up by the SHA-256 of their secret, and passwords as argon2id PHC strings hashed by the
//! caller.

use std::fmt;
use std::str::FromStr;

use async_trait::async_trait;
use serde::Serialize;

use crate::StoreError;
use crate::model::{Project, ProjectKey};

/// A member's role in an organization. Ordered by power: `Member < Admin < Owner`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OrgRole {
    /// Sees the organization's projects and works on issues (status, assignee, comments).
    Member,
    /// Also manages projects, keys and members (except owners).
    Admin,
    /// Also manages owners and the organization itself.
    Owner,
}

impl OrgRole {
    pub fn as_str(self) -> &'static str {
        match self {
            OrgRole::Member => "member",
            OrgRole::Admin => "admin",
            OrgRole::Owner => "owner",
        }
    }
}

impl fmt::Display for OrgRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OrgRole {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "member" => Ok(OrgRole::Member),
            "admin" => Ok(OrgRole::Admin),
            "owner" => Ok(OrgRole::Owner),
            other => Err(format!("invalid role {other:?}: expected owner, admin or member")),
        }
    }
}

/// What an API token may do. Ordered: `Read < Write < Admin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenScope {
    /// GET requests only.
    Read,
    /// Also changes issues (status, assignee, comments).
    Write,
    /// Everything its user may do, including projects, keys and members.
    Admin,
}

impl TokenScope {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenScope::Read => "read",
            TokenScope::Write => "write",
            TokenScope::Admin => "admin",
        }
    }
}

impl FromStr for TokenScope {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "read" => Ok(TokenScope::Read),
            "write" => Ok(TokenScope::Write),
            "admin" => Ok(TokenScope::Admin),
            other => Err(format!("invalid scope {other:?}: expected read, write or admin")),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: i64,
    /// Stored lower-cased; unique.
    pub email: String,
    pub name: String,
    /// Instance administrator: may create organizations and sees every one of them.
    pub is_admin: bool,
    pub created_ms: i64,
    /// argon2id PHC string. Never serialized.
    #[serde(skip)]
    pub password_hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub is_admin: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Organization {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub created_ms: i64,
}

/// One organization of a user, with the user's role in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Membership {
    pub organization: Organization,
    pub role: OrgRole,
}

/// One member of an organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    pub user_id: i64,
    pub email: String,
    pub name: String,
    pub role: OrgRole,
    pub joined_ms: i64,
}

/// What a stored session secret is for. Each kind is only ever found by its own kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionKind {
    /// The dashboard's session cookie.
    Web,
    /// A short-lived API access token from `/api/auth/login`.
    Access,
    /// The rotating refresh token that goes with access tokens.
    Refresh,
    /// A single-use password reset link.
    Reset,
}

impl SessionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SessionKind::Web => "web",
            SessionKind::Access => "access",
            SessionKind::Refresh => "refresh",
            SessionKind::Reset => "reset",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user: User,
    pub kind: SessionKind,
    pub created_ms: i64,
    pub expires_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Invitation {
    pub id: i64,
    pub org_id: i64,
    pub org_slug: String,
    /// Lower-cased.
    pub email: String,
    pub role: OrgRole,
    pub invited_by: Option<i64>,
    pub created_ms: i64,
    pub expires_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApiToken {
    pub name: String,
    pub token_sha256: String,
    /// The user the token acts as; `None` for instance tokens made by `sentinel token create`
    /// before any account existed (the first admin takes them over).
    pub user_id: Option<i64>,
    pub scope: TokenScope,
}

/// Accounts and access. Emails are compared lower-cased; callers pass them as typed.
#[async_trait]
pub trait AccountStore: Send + Sync {
    async fn count_users(&self) -> Result<u64, StoreError>;
    /// `Conflict` if the email is taken.
    async fn create_user(&self, user: &NewUser, now_ms: i64) -> Result<User, StoreError>;
    /// First-run set-up, atomically: creates `user` as an instance admin only if no user exists yet
    /// (else `Conflict`), creates the organization `default` if missing, makes the user owner of
    /// every organization that has no member (the ones made by `project create` before accounts
    /// existed) and gives it every API token that has no user.
    async fn create_first_admin(&self, user: &NewUser, now_ms: i64) -> Result<User, StoreError>;
    async fn get_user(&self, user_id: i64) -> Result<Option<User>, StoreError>;
    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>, StoreError>;
    async fn list_users(&self) -> Result<Vec<User>, StoreError>;
    /// Replaces the password hash and ends every session of the user (of every kind) except the
    /// one whose hash is `keep_session`.
    async fn set_password(
        &self,
        user_id: i64,
        password_hash: &str,
        keep_session: Option<&str>,
    ) -> Result<(), StoreError>;

    /// Creates an organization with `owner` as its owner. `Conflict` if the slug is taken or empty.
    async fn create_organization(
        &self,
        slug: &str,
        name: &str,
        owner: i64,
        now_ms: i64,
    ) -> Result<Organization, StoreError>;
    async fn get_organization(&self, slug: &str) -> Result<Option<Organization>, StoreError>;
    async fn list_organizations(&self) -> Result<Vec<Organization>, StoreError>;
    async fn rename_organization(&self, org_id: i64, name: &str) -> Result<Organization, StoreError>;
    /// The user's organizations, by slug.
    async fn user_memberships(&self, user_id: i64) -> Result<Vec<Membership>, StoreError>;
    /// The user's role in the organization, if a member.
    async fn member_role(&self, org_id: i64, user_id: i64) -> Result<Option<OrgRole>, StoreError>;
    /// Members by email.
    async fn list_members(&self, org_id: i64) -> Result<Vec<Member>, StoreError>;
    /// Adds the user, or changes the role of an existing member.
    async fn add_member(
        &self,
        org_id: i64,
        user_id: i64,
        role: OrgRole,
        now_ms: i64,
    ) -> Result<(), StoreError>;
    /// `NotFound` if not a member; `Conflict` if the organization would be left without an owner.
    async fn set_member_role(&self, org_id: i64, user_id: i64, role: OrgRole) -> Result<(), StoreError>;
    /// `NotFound` if not a member; `Conflict` if the organization would be left without an owner.
    /// Issues assigned to the user in the organization's projects become unassigned.
    async fn remove_member(&self, org_id: i64, user_id: i64) -> Result<(), StoreError>;

    /// The organization's projects, by slug.
    async fn list_org_projects(&self, org_id: i64) -> Result<Vec<Project>, StoreError>;
    /// Renames a project and sets its platform (`Conflict` if the new slug is taken in the
    /// organization).
    async fn update_project(
        &self,
        project_id: i64,
        name: &str,
        platform: &str,
    ) -> Result<Project, StoreError>;
    /// Adds a key to the project.
    async fn create_key(
        &self,
        project_id: i64,
        label: &str,
        public_key: &str,
        now_ms: i64,
    ) -> Result<ProjectKey, StoreError>;
    /// Enables or revokes a key of the project (`NotFound` if the project has no such key).
    async fn set_key_active(
        &self,
        project_id: i64,
        key_id: i64,
        active: bool,
    ) -> Result<ProjectKey, StoreError>;

    /// Stores an invitation under the SHA-256 of its link token; replaces an earlier pending
    /// invitation of the same email to the same organization.
    #[expect(clippy::too_many_arguments, reason = "one row's columns")]
    async fn create_invitation(
        &self,
        token_sha256: &str,
        org_id: i64,
        email: &str,
        role: OrgRole,
        invited_by: Option<i64>,
        now_ms: i64,
        expires_ms: i64,
    ) -> Result<Invitation, StoreError>;
    /// An unexpired invitation.
    async fn find_invitation(
        &self,
        token_sha256: &str,
        now_ms: i64,
    ) -> Result<Option<Invitation>, StoreError>;
    /// Pending (unexpired) invitations of an organization, newest first.
    async fn list_invitations(&self, org_id: i64, now_ms: i64) -> Result<Vec<Invitation>, StoreError>;
    /// Atomically deletes the invitation and makes the user a member with its role (keeping a
    /// higher role the user already has). `NotFound` if it does not exist or expired.
    async fn accept_invitation(
        &self,
        token_sha256: &str,
        user_id: i64,
        now_ms: i64,
    ) -> Result<Membership, StoreError>;
    /// `NotFound` if the organization has no such invitation.
    async fn delete_invitation(&self, org_id: i64, invitation_id: i64) -> Result<(), StoreError>;

    /// Stores a session secret's hash.
    async fn create_session(
        &self,
        token_sha256: &str,
        kind: SessionKind,
        user_id: i64,
        now_ms: i64,
        expires_ms: i64,
    ) -> Result<(), StoreError>;
    /// The unexpired session of this kind, with its user.
    async fn find_session(
        &self,
        token_sha256: &str,
        kind: SessionKind,
        now_ms: i64,
    ) -> Result<Option<Session>, StoreError>;
    /// Deletes an unexpired session of this kind and returns it: of two concurrent calls only one
    /// gets it (single-use reset links, refresh-token rotation).
    async fn take_session(
        &self,
        token_sha256: &str,
        kind: SessionKind,
        now_ms: i64,
    ) -> Result<Option<Session>, StoreError>;
    /// Deletes a session if it exists (sign-out).
    async fn delete_session(&self, token_sha256: &str) -> Result<(), StoreError>;
    /// Deletes expired sessions and invitations; returns how many rows went.
    async fn prune_sessions(&self, now_ms: i64) -> Result<u64, StoreError>;

    /// Stores an API token by the SHA-256 of its secret; the secret itself is never stored.
    async fn create_api_token(&self, token: &NewApiToken, now_ms: i64) -> Result<ApiToken, StoreError>;
    async fn find_api_token(&self, token_sha256: &str) -> Result<Option<ApiToken>, StoreError>;
    /// The user's tokens, newest first.
    async fn list_api_tokens(&self, user_id: i64) -> Result<Vec<ApiToken>, StoreError>;
    /// `NotFound` unless the user owns the token.
    async fn delete_api_token(&self, user_id: i64, token_id: i64) -> Result<(), StoreError>;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub scope: TokenScope,
    /// `None`: an instance token made before accounts existed; it acts as an instance admin.
    pub user_id: Option<i64>,
    pub created_ms: i64,
}
