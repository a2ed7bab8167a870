//! Accounts on PostgreSQL (`sentinel_store_sql::accounts!`): concurrent transactions from any
//! number of nodes take turns on the first admin (a table lock on `users`) and on one
//! organization's members (its row, `FOR UPDATE`).

use async_trait::async_trait;
use sentinel_store::{
    AccountStore, ApiToken, Invitation, Member, Membership, NewApiToken, NewUser, OrgRole, Organization,
    Project, ProjectKey, Session, SessionKind, StoreError, User,
};

use crate::{PgStore, projects};

sentinel_store_sql::accounts! {
    db: sqlx::Postgres,
    db_err: crate::db_err,
    begin: |pool| pool.begin(),
    // Blocks inserts into `users` until the first admin's transaction ends, so that of two
    // concurrent first-run set-ups only one counts zero users.
    lock_users: Some("LOCK TABLE users IN SHARE ROW EXCLUSIVE MODE"),
    for_update: " FOR UPDATE",
}

#[async_trait]
impl AccountStore for PgStore {
    async fn count_users(&self) -> Result<u64, StoreError> {
        count_users(&self.pool).await
    }

    async fn create_user(&self, user: &NewUser, now_ms: i64) -> Result<User, StoreError> {
        create_user(&self.pool, user, now_ms).await
    }

    async fn create_first_admin(&self, user: &NewUser, now_ms: i64) -> Result<User, StoreError> {
        create_first_admin(&self.pool, user, now_ms).await
    }

    async fn get_user(&self, user_id: i64) -> Result<Option<User>, StoreError> {
        get_user(&self.pool, user_id).await
    }

    async fn find_user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
        find_user_by_email(&self.pool, email).await
    }

    async fn list_users(&self) -> Result<Vec<User>, StoreError> {
        list_users(&self.pool).await
    }

    async fn set_password(
        &self,
        user_id: i64,
        password_hash: &str,
        keep_session: Option<&str>,
    ) -> Result<(), StoreError> {
        set_password(&self.pool, user_id, password_hash, keep_session).await
    }

    async fn create_organization(
        &self,
        slug: &str,
        name: &str,
        owner: i64,
        now_ms: i64,
    ) -> Result<Organization, StoreError> {
        create_organization(&self.pool, slug, name, owner, now_ms).await
    }

    async fn get_organization(&self, slug: &str) -> Result<Option<Organization>, StoreError> {
        get_organization(&self.pool, slug).await
    }

    async fn list_organizations(&self) -> Result<Vec<Organization>, StoreError> {
        list_organizations(&self.pool).await
    }

    async fn rename_organization(&self, org_id: i64, name: &str) -> Result<Organization, StoreError> {
        rename_organization(&self.pool, org_id, name).await
    }

    async fn user_memberships(&self, user_id: i64) -> Result<Vec<Membership>, StoreError> {
        user_memberships(&self.pool, user_id).await
    }

    async fn member_role(&self, org_id: i64, user_id: i64) -> Result<Option<OrgRole>, StoreError> {
        member_role(&self.pool, org_id, user_id).await
    }

    async fn list_members(&self, org_id: i64) -> Result<Vec<Member>, StoreError> {
        list_members(&self.pool, org_id).await
    }

    async fn add_member(
        &self,
        org_id: i64,
        user_id: i64,
        role: OrgRole,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        add_member(&self.pool, org_id, user_id, role, now_ms).await
    }

    async fn set_member_role(&self, org_id: i64, user_id: i64, role: OrgRole) -> Result<(), StoreError> {
        set_member_role(&self.pool, org_id, user_id, role).await
    }

    async fn remove_member(&self, org_id: i64, user_id: i64) -> Result<(), StoreError> {
        remove_member(&self.pool, org_id, user_id).await
    }

    async fn list_org_projects(&self, org_id: i64) -> Result<Vec<Project>, StoreError> {
        projects::org_projects(&self.pool, org_id).await
    }

    async fn update_project(
        &self,
        project_id: i64,
        name: &str,
        platform: &str,
    ) -> Result<Project, StoreError> {
        projects::update_project(&self.pool, project_id, name, platform).await
    }

    async fn create_key(
        &self,
        project_id: i64,
        label: &str,
        public_key: &str,
        now_ms: i64,
    ) -> Result<ProjectKey, StoreError> {
        projects::create_key(&self.pool, project_id, label, public_key, now_ms).await
    }

    async fn set_key_active(
        &self,
        project_id: i64,
        key_id: i64,
        active: bool,
    ) -> Result<ProjectKey, StoreError> {
        projects::set_key_active(&self.pool, project_id, key_id, active).await
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
            &self.pool,
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
        find_invitation(&self.pool, token_sha256, now_ms).await
    }

    async fn list_invitations(&self, org_id: i64, now_ms: i64) -> Result<Vec<Invitation>, StoreError> {
        list_invitations(&self.pool, org_id, now_ms).await
    }

    async fn accept_invitation(
        &self,
        token_sha256: &str,
        user_id: i64,
        now_ms: i64,
    ) -> Result<Membership, StoreError> {
        accept_invitation(&self.pool, token_sha256, user_id, now_ms).await
    }

    async fn delete_invitation(&self, org_id: i64, invitation_id: i64) -> Result<(), StoreError> {
        delete_invitation(&self.pool, org_id, invitation_id).await
    }

    async fn create_session(
        &self,
        token_sha256: &str,
        kind: SessionKind,
        user_id: i64,
        now_ms: i64,
        expires_ms: i64,
    ) -> Result<(), StoreError> {
        create_session(&self.pool, token_sha256, kind, user_id, now_ms, expires_ms).await
    }

    async fn find_session(
        &self,
        token_sha256: &str,
        kind: SessionKind,
        now_ms: i64,
    ) -> Result<Option<Session>, StoreError> {
        find_session(&self.pool, token_sha256, kind, now_ms).await
    }

    async fn take_session(
        &self,
        token_sha256: &str,
        kind: SessionKind,
        now_ms: i64,
    ) -> Result<Option<Session>, StoreError> {
        take_session(&self.pool, token_sha256, kind, now_ms).await
    }

    async fn delete_session(&self, token_sha256: &str) -> Result<(), StoreError> {
        delete_session(&self.pool, token_sha256).await
    }

    async fn prune_sessions(&self, now_ms: i64) -> Result<u64, StoreError> {
        prune_sessions(&self.pool, now_ms).await
    }

    async fn create_api_token(&self, token: &NewApiToken, now_ms: i64) -> Result<ApiToken, StoreError> {
        create_api_token(&self.pool, token, now_ms).await
    }

    async fn find_api_token(&self, token_sha256: &str) -> Result<Option<ApiToken>, StoreError> {
        find_api_token(&self.pool, token_sha256).await
    }

    async fn list_api_tokens(&self, user_id: i64) -> Result<Vec<ApiToken>, StoreError> {
        list_api_tokens(&self.pool, user_id).await
    }

    async fn delete_api_token(&self, user_id: i64, token_id: i64) -> Result<(), StoreError> {
        delete_api_token(&self.pool, user_id, token_id).await
    }
}
