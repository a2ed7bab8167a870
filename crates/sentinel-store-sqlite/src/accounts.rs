//! Accounts on SQLite (`sentinel_store_sql::accounts!`): writes go through the single writer
//! connection, whose `BEGIN IMMEDIATE` already makes every write transaction take its turn, so no
//! row locks are needed.

use async_trait::async_trait;
use sentinel_store::{
    AccountStore, ApiToken, Invitation, Member, Membership, NewApiToken, NewUser, OrgRole, Organization,
    Project, ProjectKey, Session, SessionKind, StoreError, User,
};

use crate::{SqliteStore, projects};

sentinel_store_sql::accounts! {
    db: sqlx::Sqlite,
    db_err: crate::db_err,
    // Takes the write lock up front, so the transaction never fails upgrading a read lock.
    begin: |pool| pool.begin_with("BEGIN IMMEDIATE"),
    lock_users: None,
    for_update: "",
}

#[async_trait]
impl AccountStore for SqliteStore {
    async fn count_users(&self) -> Result<u64, StoreError> {
        count_users(&self.main_r).await
    }

    async fn create_user(&self, user: &NewUser, now_ms: i64) -> Result<User, StoreError> {
        create_user(&self.main_w, user, now_ms).await
    }

    async fn create_first_admin(&self, user: &NewUser, now_ms: i64) -> Result<User, StoreError> {
        create_first_admin(&self.main_w, user, now_ms).await
    }

    async fn get_user(&self, user_id: i64) -> Result<Option<User>, StoreError> {
        get_user(&self.main_r, user_id).await
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        find_user_by_email(&self.main_r, email).await
    }

    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        list_users(&self.main_r).await
    }

    async fn set_password(
        &self,
        user_id: i64,
        password_hash: &str,
        keep_session: Option<&str>,
    ) -> Result<(), StoreError> {
        set_password(&self.main_w, user_id, password_hash, keep_session).await
    }

    async fn create_organization(
        &self,
        slug: &str,
        name: &str,
        owner: i64,
        now_ms: i64,
    ) -> Result<Organization, StoreError> {
        create_organization(&self.main_w, slug, name, owner, now_ms).await
    }

    async fn get_organization(&self, slug: &str) -> Result<Option<Organization>, StoreError> {
        get_organization(&self.main_r, slug).await
    }

    async fn list_organizations(&self) -> Result<Vec<Organization>, StoreError> {
        list_organizations(&self.main_r).await
    }

    async fn rename_organization(&self, org_id: i64, name: &str) -> Result<Organization, StoreError> {
        rename_organization(&self.main_w, org_id, name).await
    }

    async fn user_memberships(&self, user_id: i64) -> Result<Vec<Membership>, StoreError> {
        user_memberships(&self.main_r, user_id).await
    }

    async fn member_role(&self, org_id: i64, user_id: i64) -> Result<Option<OrgRole>, StoreError> {
        member_role(&self.main_r, org_id, user_id).await
    }

    async fn list_members(&self, org_id: i64) -> Result<Vec<Member>, StoreError> {
        list_members(&self.main_r, org_id).await
    }

    async fn add_member(
        &self,
        org_id: i64,
        user_id: i64,
        role: OrgRole,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        add_member(&self.main_w, org_id, user_id, role, now_ms).await
    }

    async fn set_member_role(&self, org_id: i64, user_id: i64, role: OrgRole) -> Result<(), StoreError> {
        set_member_role(&self.main_w, org_id, user_id, role).await
    }

    async fn remove_member(&self, org_id: i64, user_id: i64) -> Result<(), StoreError> {
        remove_member(&self.main_w, org_id, user_id).await
    }

    async fn list_org_projects(&self, org_id: i64) -> Result<Vec<Project>, StoreError> {
        projects::org_projects(&self.main_r, org_id).await
    }

    async fn update_project(
        &self,
        project_id: i64,
        name: &str,
        platform: &str,
    ) -> Result<Project, StoreError> {
        projects::update_project(&self.main_w, project_id, name, platform).await
    }

    async fn create_key(
        &self,
        project_id: i64,
        label: &str,
        public_key: &str,
        now_ms: i64,
    ) -> Result<ProjectKey, StoreError> {
        projects::create_key(&self.main_w, project_id, label, public_key, now_ms).await
    }

    async fn set_key_active(
        &self,
        project_id: i64,
        key_id: i64,
        active: bool,
    ) -> Result<ProjectKey, StoreError> {
        projects::set_key_active(&self.main_w, project_id, key_id, active).await
    }

    async fn create_invitation(
        &self,
        token_sha256: &str,
        org_id: i64,
        email: &str,
        role: OrgRole,
        invited_by: Option<i64>,
        now_ms: i64,
        expires_ms: i64,
    ) -> Result<Invitation, StoreError> {
        create_invitation(
            &self.main_w,
            token_sha256,
            org_id,
            email,
            role,
            invited_by,
            now_ms,
            expires_ms,
        )
        .await
    }

    async fn find_invitation(
        &self,
        token_sha256: &str,
        now_ms: i64,
    ) -> Result<Option<Invitation>, StoreError> {
        find_invitation(&self.main_r, token_sha256, now_ms).await
    }

    async fn list_invitations(&self, org_id: i64, now_ms: i64) -> Result<Vec<Invitation>, StoreError> {
        list_invitations(&self.main_r, org_id, now_ms).await
    }

    async fn accept_invitation(
        &self,
        token_sha256: &str,
        user_id: i64,
        now_ms: i64,
    ) -> Result<Membership, StoreError> {
        accept_invitation(&self.main_w, token_sha256, user_id, now_ms).await
    }

    async fn delete_invitation(&self, org_id: i64, invitation_id: i64) -> Result<(), StoreError> {
        delete_invitation(&self.main_w, org_id, invitation_id).await
    }

    async fn create_session(
        &self,
        token_sha256: &str,
        kind: SessionKind,
        user_id: i64,
        now_ms: i64,
        expires_ms: i64,
    ) -> Result<(), StoreError> {
        create_session(&self.main_w, token_sha256, kind, user_id, now_ms, expires_ms).await
    }

    async fn find_session(
        &self,
        token_sha256: &str,
        kind: SessionKind,
        now_ms: i64,
    ) -> Result<Option<Session>, StoreError> {
        find_session(&self.main_r, token_sha256, kind, now_ms).await
    }

    async fn take_session(
        &self,
        token_sha256: &str,
        kind: SessionKind,
        now_ms: i64,
    ) -> Result<Option<Session>, StoreError> {
        take_session(&self.main_w, token_sha256, kind, now_ms).await
    }

    async fn delete_session(&self, token_sha256: &str) -> Result<(), StoreError> {
        delete_session(&self.main_w, token_sha256).await
    }

    async fn prune_sessions(&self, now_ms: i64) -> Result<u64, StoreError> {
        prune_sessions(&self.main_w, now_ms).await
    }

    async fn create_api_token(&self, token: &NewApiToken, now_ms: i64) -> Result<ApiToken, StoreError> {
        create_api_token(&self.main_w, token, now_ms).await
    }

    async fn find_api_token(&self, token_sha256: &str) -> Result<Option<ApiToken>, StoreError> {
        find_api_token(&self.main_r, token_sha256).await
    }

    async fn list_api_tokens(&self, user_id: i64) -> Result<Vec<ApiToken>, StoreError> {
        list_api_tokens(&self.main_r, user_id).await
    }

    async fn delete_api_token(&self, user_id: i64, token_id: i64) -> Result<(), StoreError> {
        delete_api_token(&self.main_w, user_id, token_id).await
    }
}
