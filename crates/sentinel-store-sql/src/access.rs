//! Invitations, sign-in sessions and API tokens: the second half of [`accounts!`](crate::accounts),
//! kept apart to keep each file readable.

/// `SELECT` of invitations with their organization's slug, in the order `accounts!` maps them.
pub const INVITATION_COLUMNS: &str = "SELECT i.id, i.org_id, o.slug, i.email, i.role, i.invited_by, i.created_ms, i.expires_ms FROM invitations i JOIN organizations o ON o.id = i.org_id";
/// `SELECT` of API tokens, in the order `accounts!` maps them.
pub const TOKEN_COLUMNS: &str = "SELECT id, name, scope, user_id, created_ms FROM api_tokens";

/// Stamps out the invitation, session and API token functions of [`accounts!`](crate::accounts),
/// which invokes it: they use the helpers `accounts!` defines in the same module (`begin_write`,
/// the row mappers, the membership helpers). Not for direct use.
#[doc(hidden)]
#[macro_export]
macro_rules! __accounts_access {
    (db: $db:ty, db_err: $db_err:path $(,)?) => {
        fn invitation(row: &AccountsRow) -> AccountsResult<$crate::__private::sentinel_store::Invitation> {
            use $crate::__private::sqlx::Row as _;
            let get = || -> Result<_, $crate::__private::sqlx::Error> {
                Ok((
                    $crate::__private::sentinel_store::Invitation {
                        id: row.try_get(0)?,
                        org_id: row.try_get(1)?,
                        org_slug: row.try_get(2)?,
                        email: row.try_get(3)?,
                        role: $crate::__private::sentinel_store::OrgRole::Member,
                        invited_by: row.try_get(5)?,
                        created_ms: row.try_get(6)?,
                        expires_ms: row.try_get(7)?,
                    },
                    row.try_get::<String, _>(4)?,
                ))
            };
            let (mut invitation, role) = get().map_err($db_err)?;
            invitation.role = $crate::parse_col(&role)?;
            Ok(invitation)
        }

        fn api_token(row: &AccountsRow) -> AccountsResult<$crate::__private::sentinel_store::ApiToken> {
            use $crate::__private::sqlx::Row as _;
            let get = || -> Result<_, $crate::__private::sqlx::Error> {
                Ok((
                    row.try_get::<i64, _>(0)?,
                    row.try_get::<String, _>(1)?,
                    row.try_get::<String, _>(2)?,
                    row.try_get::<Option<i64>, _>(3)?,
                    row.try_get::<i64, _>(4)?,
                ))
            };
            let (id, name, scope, user_id, created_ms) = get().map_err($db_err)?;
            Ok($crate::__private::sentinel_store::ApiToken {
                id,
                name,
                scope: $crate::parse_col(&scope)?,
                user_id,
                created_ms,
            })
        }

        // ---- invitations ----

        #[expect(clippy::too_many_arguments, reason = "one row's columns")]
        pub async fn create_invitation(
            pool: &AccountsPool,
            token_sha256: &str,
            org_id: i64,
            email: &str,
            role: $crate::__private::sentinel_store::OrgRole,
            invited_by: Option<i64>,
            now_ms: i64,
            expires_ms: i64,
        ) -> AccountsResult<$crate::__private::sentinel_store::Invitation> {
            use $crate::__private::sentinel_store::Invitation;
            use $crate::__private::sqlx;
            let email = email.to_lowercase();
            let mut tx = begin_write(pool).await?;
            let org_slug: String = sqlx::query_scalar("SELECT slug FROM organizations WHERE id = $1")
                .bind(org_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err($db_err)?
                .ok_or_else(|| not_found("organization", org_id))?;
            // The earlier link stops working: only the newest invitation's token is kept.
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO invitations (token_sha256, org_id, email, role, invited_by, created_ms, expires_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (org_id, email) DO UPDATE SET token_sha256 = excluded.token_sha256, role = excluded.role, invited_by = excluded.invited_by, created_ms = excluded.created_ms, expires_ms = excluded.expires_ms \
                 RETURNING id",
            )
            .bind(token_sha256)
            .bind(org_id)
            .bind(&email)
            .bind(role.as_str())
            .bind(invited_by)
            .bind(now_ms)
            .bind(expires_ms)
            .fetch_one(&mut *tx)
            .await
            .map_err($db_err)?;
            tx.commit().await.map_err($db_err)?;
            Ok(Invitation {
                id,
                org_id,
                org_slug,
                email,
                role,
                invited_by,
                created_ms: now_ms,
                expires_ms,
            })
        }

        pub async fn find_invitation(
            pool: &AccountsPool,
            token_sha256: &str,
            now_ms: i64,
        ) -> AccountsResult<Option<$crate::__private::sentinel_store::Invitation>> {
            use $crate::__private::sqlx;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "{} WHERE i.token_sha256 = $1 AND i.expires_ms > $2",
                $crate::INVITATION_COLUMNS
            )))
            .bind(token_sha256)
            .bind(now_ms)
            .fetch_optional(pool)
            .await
            .map_err($db_err)?
            .map(|row| invitation(&row))
            .transpose()
        }

        pub async fn list_invitations(
            pool: &AccountsPool,
            org_id: i64,
            now_ms: i64,
        ) -> AccountsResult<Vec<$crate::__private::sentinel_store::Invitation>> {
            use $crate::__private::sqlx;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "{} WHERE i.org_id = $1 AND i.expires_ms > $2 ORDER BY i.created_ms DESC, i.id DESC",
                $crate::INVITATION_COLUMNS
            )))
            .bind(org_id)
            .bind(now_ms)
            .fetch_all(pool)
            .await
            .map_err($db_err)?
            .iter()
            .map(invitation)
            .collect()
        }

        pub async fn accept_invitation(
            pool: &AccountsPool,
            token_sha256: &str,
            user_id: i64,
            now_ms: i64,
        ) -> AccountsResult<$crate::__private::sentinel_store::Membership> {
            use $crate::__private::sentinel_store::{Membership, OrgRole};
            use $crate::__private::sqlx;
            use $crate::__private::sqlx::Row as _;
            let mut tx = begin_write(pool).await?;
            // Deleting first makes the link single-use even when two requests race with it.
            let row = sqlx::query(
                "DELETE FROM invitations WHERE token_sha256 = $1 AND expires_ms > $2 RETURNING org_id, role",
            )
            .bind(token_sha256)
            .bind(now_ms)
            .fetch_optional(&mut *tx)
            .await
            .map_err($db_err)?
            .ok_or_else(|| not_found("invitation", "for this link"))?;
            let org_id: i64 = row.try_get(0).map_err($db_err)?;
            let invited: OrgRole = $crate::parse_col(&row.try_get::<String, _>(1).map_err($db_err)?)?;
            user_exists(&mut tx, user_id).await?;
            lock_organization(&mut tx, org_id).await?;
            let role = match role_of(&mut *tx, org_id, user_id).await? {
                Some(current) => current.max(invited),
                None => invited,
            };
            upsert_member(&mut tx, org_id, user_id, role, now_ms).await?;
            let org = sqlx::query(sqlx::AssertSqlSafe(format!("{} WHERE id = $1", $crate::ORG_COLUMNS)))
                .bind(org_id)
                .fetch_one(&mut *tx)
                .await
                .map_err($db_err)?;
            let organization = organization(&org)?;
            tx.commit().await.map_err($db_err)?;
            Ok(Membership { organization, role })
        }

        pub async fn delete_invitation(
            pool: &AccountsPool,
            org_id: i64,
            invitation_id: i64,
        ) -> AccountsResult<()> {
            let done = $crate::__private::sqlx::query("DELETE FROM invitations WHERE org_id = $1 AND id = $2")
                .bind(org_id)
                .bind(invitation_id)
                .execute(pool)
                .await
                .map_err($db_err)?;
            if done.rows_affected() == 0 {
                return Err(not_found(
                    "invitation",
                    format!("{invitation_id} of organization {org_id}"),
                ));
            }
            Ok(())
        }

        // ---- sessions ----

        pub async fn create_session(
            pool: &AccountsPool,
            token_sha256: &str,
            kind: $crate::__private::sentinel_store::SessionKind,
            user_id: i64,
            now_ms: i64,
            expires_ms: i64,
        ) -> AccountsResult<()> {
            $crate::__private::sqlx::query(
                "INSERT INTO sessions (token_sha256, kind, user_id, created_ms, expires_ms) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(token_sha256)
            .bind(kind.as_str())
            .bind(user_id)
            .bind(now_ms)
            .bind(expires_ms)
            .execute(pool)
            .await
            .map_err($db_err)?;
            Ok(())
        }

        pub async fn find_session(
            pool: &AccountsPool,
            token_sha256: &str,
            kind: $crate::__private::sentinel_store::SessionKind,
            now_ms: i64,
        ) -> AccountsResult<Option<$crate::__private::sentinel_store::Session>> {
            use $crate::__private::sqlx::Row as _;
            let row = $crate::__private::sqlx::query(
                "SELECT u.id, u.email, u.name, u.is_admin, u.created_ms, u.password_hash, s.created_ms, s.expires_ms \
                 FROM sessions s JOIN users u ON u.id = s.user_id \
                 WHERE s.token_sha256 = $1 AND s.kind = $2 AND s.expires_ms > $3",
            )
            .bind(token_sha256)
            .bind(kind.as_str())
            .bind(now_ms)
            .fetch_optional(pool)
            .await
            .map_err($db_err)?;
            let Some(row) = row else { return Ok(None) };
            Ok(Some($crate::__private::sentinel_store::Session {
                user: user(&row, 0)?,
                kind,
                created_ms: row.try_get(6).map_err($db_err)?,
                expires_ms: row.try_get(7).map_err($db_err)?,
            }))
        }

        pub async fn take_session(
            pool: &AccountsPool,
            token_sha256: &str,
            kind: $crate::__private::sentinel_store::SessionKind,
            now_ms: i64,
        ) -> AccountsResult<Option<$crate::__private::sentinel_store::Session>> {
            use $crate::__private::sqlx;
            use $crate::__private::sqlx::Row as _;
            let mut tx = begin_write(pool).await?;
            // One statement finds and deletes: of two racing callers only one gets a row back.
            let row = sqlx::query(
                "DELETE FROM sessions WHERE token_sha256 = $1 AND kind = $2 AND expires_ms > $3 RETURNING user_id, created_ms, expires_ms",
            )
            .bind(token_sha256)
            .bind(kind.as_str())
            .bind(now_ms)
            .fetch_optional(&mut *tx)
            .await
            .map_err($db_err)?;
            let Some(row) = row else { return Ok(None) };
            let user_id: i64 = row.try_get(0).map_err($db_err)?;
            let user_row = sqlx::query(sqlx::AssertSqlSafe(format!("{} WHERE id = $1", $crate::USER_COLUMNS)))
                .bind(user_id)
                .fetch_one(&mut *tx)
                .await
                .map_err($db_err)?;
            let session = $crate::__private::sentinel_store::Session {
                user: user(&user_row, 0)?,
                kind,
                created_ms: row.try_get(1).map_err($db_err)?,
                expires_ms: row.try_get(2).map_err($db_err)?,
            };
            tx.commit().await.map_err($db_err)?;
            Ok(Some(session))
        }

        pub async fn delete_session(pool: &AccountsPool, token_sha256: &str) -> AccountsResult<()> {
            $crate::__private::sqlx::query("DELETE FROM sessions WHERE token_sha256 = $1")
                .bind(token_sha256)
                .execute(pool)
                .await
                .map_err($db_err)?;
            Ok(())
        }

        pub async fn prune_sessions(pool: &AccountsPool, now_ms: i64) -> AccountsResult<u64> {
            use $crate::__private::sqlx;
            let mut tx = begin_write(pool).await?;
            let sessions = sqlx::query("DELETE FROM sessions WHERE expires_ms <= $1")
                .bind(now_ms)
                .execute(&mut *tx)
                .await
                .map_err($db_err)?;
            let invitations = sqlx::query("DELETE FROM invitations WHERE expires_ms <= $1")
                .bind(now_ms)
                .execute(&mut *tx)
                .await
                .map_err($db_err)?;
            tx.commit().await.map_err($db_err)?;
            Ok(sessions.rows_affected() + invitations.rows_affected())
        }

        // ---- API tokens ----

        pub async fn create_api_token(
            pool: &AccountsPool,
            token: &$crate::__private::sentinel_store::NewApiToken,
            now_ms: i64,
        ) -> AccountsResult<$crate::__private::sentinel_store::ApiToken> {
            let id: i64 = $crate::__private::sqlx::query_scalar(
                "INSERT INTO api_tokens (name, token_sha256, scope, user_id, created_ms) VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(&token.name)
            .bind(&token.token_sha256)
            .bind(token.scope.as_str())
            .bind(token.user_id)
            .bind(now_ms)
            .fetch_one(pool)
            .await
            .map_err($db_err)?;
            Ok($crate::__private::sentinel_store::ApiToken {
                id,
                name: token.name.clone(),
                scope: token.scope,
                user_id: token.user_id,
                created_ms: now_ms,
            })
        }

        pub async fn find_api_token(
            pool: &AccountsPool,
            token_sha256: &str,
        ) -> AccountsResult<Option<$crate::__private::sentinel_store::ApiToken>> {
            use $crate::__private::sqlx;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "{} WHERE token_sha256 = $1",
                $crate::TOKEN_COLUMNS
            )))
            .bind(token_sha256)
            .fetch_optional(pool)
            .await
            .map_err($db_err)?
            .map(|row| api_token(&row))
            .transpose()
        }

        pub async fn list_api_tokens(
            pool: &AccountsPool,
            user_id: i64,
        ) -> AccountsResult<Vec<$crate::__private::sentinel_store::ApiToken>> {
            use $crate::__private::sqlx;
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "{} WHERE user_id = $1 ORDER BY created_ms DESC, id DESC",
                $crate::TOKEN_COLUMNS
            )))
            .bind(user_id)
            .fetch_all(pool)
            .await
            .map_err($db_err)?
            .iter()
            .map(api_token)
            .collect()
        }

        pub async fn delete_api_token(
            pool: &AccountsPool,
            user_id: i64,
            token_id: i64,
        ) -> AccountsResult<()> {
            let done = $crate::__private::sqlx::query("DELETE FROM api_tokens WHERE id = $1 AND user_id = $2")
                .bind(token_id)
                .bind(user_id)
                .execute(pool)
                .await
                .map_err($db_err)?;
            if done.rows_affected() == 0 {
                return Err(not_found("API token", format!("{token_id} of user {user_id}")));
            }
            Ok(())
        }
    };
}
