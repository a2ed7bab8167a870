//! Users, organizations and their members; the shared helpers of [`accounts!`](crate::accounts).

/// `SELECT` of users, in the order [`accounts!`](crate::accounts) maps them.
pub const USER_COLUMNS: &str = "SELECT id, email, name, is_admin, created_ms, password_hash FROM users";
/// `SELECT` of organizations, in the order [`accounts!`](crate::accounts) maps them.
pub const ORG_COLUMNS: &str = "SELECT id, slug, name, created_ms FROM organizations";

/// Stamps out, in the invoking module, one function per `AccountStore` method (same name, the pool
/// first): users, organizations and members here, invitations, sessions and API tokens through
/// `__accounts_access!` (in `access.rs`). Projects and keys are in [`projects!`](crate::projects).
///
/// - `db`: the sqlx database (`sqlx::Sqlite`, `sqlx::Postgres`);
/// - `db_err`: the backend's `fn(sqlx::Error) -> StoreError`;
/// - `begin`: how a write transaction starts on a `&Pool<db>`, e.g. `|pool| pool.begin()`;
/// - `lock_users`: `Option<&'static str>`, a statement that keeps other transactions from adding
///   users until this one ends, run before `create_first_admin` counts them (`None` where write
///   transactions are serialized anyway);
/// - `for_update`: a string literal appended to the `SELECT` of the organization row that every
///   membership change reads first, so concurrent changes of one organization's members take turns
///   (`" FOR UPDATE"`, or `""` where write transactions are serialized anyway).
///
/// Emails are lower-cased here, on every write and lookup.
#[macro_export]
macro_rules! accounts {
    (
        db: $db:ty,
        db_err: $db_err:path,
        begin: |$pool:ident| $begin:expr,
        lock_users: $lock_users:expr,
        for_update: $for_update:literal $(,)?
    ) => {
        type AccountsPool = $crate::__private::sqlx::Pool<$db>;
        type AccountsRow = <$db as $crate::__private::sqlx::Database>::Row;
        type AccountsConn = <$db as $crate::__private::sqlx::Database>::Connection;
        type AccountsResult<T> = ::std::result::Result<T, $crate::__private::sentinel_store::StoreError>;

        async fn begin_write(
            pool: &AccountsPool,
        ) -> AccountsResult<$crate::__private::sqlx::Transaction<'static, $db>> {
            let $pool = pool;
            $begin.await.map_err($db_err)
        }

        /// A user from `USER_COLUMNS`' six columns starting at `at`.
        fn user(row: &AccountsRow, at: usize) -> AccountsResult<$crate::__private::sentinel_store::User> {
            use $crate::__private::sqlx::Row as _;
            let get = || -> Result<_, $crate::__private::sqlx::Error> {
                Ok($crate::__private::sentinel_store::User {
                    id: row.try_get(at)?,
                    email: row.try_get(at + 1)?,
                    name: row.try_get(at + 2)?,
                    is_admin: row.try_get(at + 3)?,
                    created_ms: row.try_get(at + 4)?,
                    password_hash: row.try_get(at + 5)?,
                })
            };
            get().map_err($db_err)
        }

        /// An organization from `ORG_COLUMNS`' four columns.
        fn organization(
            row: &AccountsRow,
        ) -> AccountsResult<$crate::__private::sentinel_store::Organization> {
            use $crate::__private::sqlx::Row as _;
            let get = || -> Result<_, $crate::__private::sqlx::Error> {
                Ok($crate::__private::sentinel_store::Organization {
                    id: row.try_get(0)?,
                    slug: row.try_get(1)?,
                    name: row.try_get(2)?,
                    created_ms: row.try_get(3)?,
                })
            };
            get().map_err($db_err)
        }

        fn not_found(
            what: &'static str,
            id: impl ::std::fmt::Display,
        ) -> $crate::__private::sentinel_store::StoreError {
            $crate::__private::sentinel_store::StoreError::NotFound {
                what,
                id: id.to_string(),
            }
        }

        // ---- users ----

        pub async fn count_users(pool: &AccountsPool) -> AccountsResult<u64> {
            let n: i64 = $crate::__private::sqlx::query_scalar("SELECT count(*) FROM users")
                .fetch_one(pool)
                .await
                .map_err($db_err)?;
            Ok(u64::try_from(n).unwrap_or(0))
        }

        /// Inserts a user in `conn`'s transaction; `Conflict` if the email is taken.
        async fn insert_user(
            conn: &mut AccountsConn,
            new: &$crate::__private::sentinel_store::NewUser,
            is_admin: bool,
            now_ms: i64,
        ) -> AccountsResult<$crate::__private::sentinel_store::User> {
            let email = new.email.to_lowercase();
            // DO NOTHING rather than a unique violation: the answer names the email, not an index.
            let id: Option<i64> = $crate::__private::sqlx::query_scalar(
                "INSERT INTO users (email, name, password_hash, is_admin, created_ms) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (email) DO NOTHING RETURNING id",
            )
            .bind(&email)
            .bind(&new.name)
            .bind(&new.password_hash)
            .bind(is_admin)
            .bind(now_ms)
            .fetch_optional(&mut *conn)
            .await
            .map_err($db_err)?;
            let Some(id) = id else {
                return Err($crate::__private::sentinel_store::StoreError::Conflict(format!(
                    "a user with email {email} already exists"
                )));
            };
            Ok($crate::__private::sentinel_store::User {
                id,
                email,
                name: new.name.clone(),
                is_admin,
                created_ms: now_ms,
                password_hash: new.password_hash.clone(),
            })
        }

        pub async fn create_user(
            pool: &AccountsPool,
            new: &$crate::__private::sentinel_store::NewUser,
            now_ms: i64,
        ) -> AccountsResult<$crate::__private::sentinel_store::User> {
            let mut tx = begin_write(pool).await?;
            let user = insert_user(&mut tx, new, new.is_admin, now_ms).await?;
            tx.commit().await.map_err($db_err)?;
            Ok(user)
        }

        pub async fn create_first_admin(
            pool: &AccountsPool,
            new: &$crate::__private::sentinel_store::NewUser,
            now_ms: i64,
        ) -> AccountsResult<$crate::__private::sentinel_store::User> {
            use $crate::__private::sentinel_store::{OrgRole, StoreError};
            use $crate::__private::sqlx;
            let mut tx = begin_write(pool).await?;
            let lock: Option<&'static str> = $lock_users;
            if let Some(lock) = lock {
                sqlx::query(lock).execute(&mut *tx).await.map_err($db_err)?;
            }
            let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
                .fetch_one(&mut *tx)
                .await
                .map_err($db_err)?;
            if users > 0 {
                return Err(StoreError::Conflict(
                    "the first admin already exists: sign in, or ask an admin for an account".into(),
                ));
            }
            let user = insert_user(&mut tx, new, true, now_ms).await?;
            sqlx::query(
                "INSERT INTO organizations (slug, name, created_ms) VALUES ('default', 'Default', $1) ON CONFLICT (slug) DO NOTHING",
            )
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .map_err($db_err)?;
            // Organizations made by `project create` before accounts existed have nobody to run
            // them: the first admin does.
            sqlx::query(
                "INSERT INTO organization_members (org_id, user_id, role, created_ms) SELECT o.id, $1, $2, $3 FROM organizations o WHERE NOT EXISTS (SELECT 1 FROM organization_members m WHERE m.org_id = o.id)",
            )
            .bind(user.id)
            .bind(OrgRole::Owner.as_str())
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .map_err($db_err)?;
            sqlx::query("UPDATE api_tokens SET user_id = $1 WHERE user_id IS NULL")
                .bind(user.id)
                .execute(&mut *tx)
                .await
                .map_err($db_err)?;
            tx.commit().await.map_err($db_err)?;
            Ok(user)
        }

        pub async fn get_user(
            pool: &AccountsPool,
            user_id: i64,
        ) -> AccountsResult<Option<$crate::__private::sentinel_store::User>> {
            use $crate::__private::sqlx;
            sqlx::query(sqlx::AssertSqlSafe(format!("{} WHERE id = $1", $crate::USER_COLUMNS)))
                .bind(user_id)
                .fetch_optional(pool)
                .await
                .map_err($db_err)?
                .map(|row| user(&row, 0))
                .transpose()
        }

        pub async fn find_user_by_email(
            pool: &AccountsPool,
            email: &str,
        ) -> AccountsResult<Option<$crate::__private::sentinel_store::User>> {
            use $crate::__private::sqlx;
            sqlx::query(sqlx::AssertSqlSafe(format!("{} WHERE email = $1", $crate::USER_COLUMNS)))
                .bind(email.to_lowercase())
                .fetch_optional(pool)
                .await
                .map_err($db_err)?
                .map(|row| user(&row, 0))
                .transpose()
        }

        /// Every user, by email.
        pub async fn list_users(
            pool: &AccountsPool,
        ) -> AccountsResult<Vec<$crate::__private::sentinel_store::User>> {
            use $crate::__private::sqlx;
            sqlx::query(sqlx::AssertSqlSafe(format!("{} ORDER BY email", $crate::USER_COLUMNS)))
                .fetch_all(pool)
                .await
                .map_err($db_err)?
                .iter()
                .map(|row| user(row, 0))
                .collect()
        }

        pub async fn set_password(
            pool: &AccountsPool,
            user_id: i64,
            password_hash: &str,
            keep_session: Option<&str>,
        ) -> AccountsResult<()> {
            use $crate::__private::sqlx;
            let mut tx = begin_write(pool).await?;
            let done = sqlx::query("UPDATE users SET password_hash = $1 WHERE id = $2")
                .bind(password_hash)
                .bind(user_id)
                .execute(&mut *tx)
                .await
                .map_err($db_err)?;
            if done.rows_affected() == 0 {
                return Err(not_found("user", user_id));
            }
            // Whoever knew the old password may hold sessions: all of them end but the caller's.
            sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND ($2 IS NULL OR token_sha256 <> $2)")
                .bind(user_id)
                .bind(keep_session)
                .execute(&mut *tx)
                .await
                .map_err($db_err)?;
            tx.commit().await.map_err($db_err)
        }

        // ---- organizations and members ----

        pub async fn create_organization(
            pool: &AccountsPool,
            slug: &str,
            name: &str,
            owner: i64,
            now_ms: i64,
        ) -> AccountsResult<$crate::__private::sentinel_store::Organization> {
            use $crate::__private::sentinel_store::{OrgRole, Organization, StoreError, slugify};
            use $crate::__private::sqlx;
            if slug.is_empty() || slugify(slug) != slug {
                return Err(StoreError::Conflict(format!(
                    "invalid organization slug {slug:?}: expected lower-case letters and digits, \
                     separated by single dashes"
                )));
            }
            let mut tx = begin_write(pool).await?;
            let owner_exists: Option<i64> = sqlx::query_scalar("SELECT id FROM users WHERE id = $1")
                .bind(owner)
                .fetch_optional(&mut *tx)
                .await
                .map_err($db_err)?;
            if owner_exists.is_none() {
                return Err(not_found("user", owner));
            }
            let id: Option<i64> = sqlx::query_scalar(
                "INSERT INTO organizations (slug, name, created_ms) VALUES ($1, $2, $3) ON CONFLICT (slug) DO NOTHING RETURNING id",
            )
            .bind(slug)
            .bind(name)
            .bind(now_ms)
            .fetch_optional(&mut *tx)
            .await
            .map_err($db_err)?;
            let Some(id) = id else {
                return Err(StoreError::Conflict(format!(
                    "an organization with slug {slug:?} already exists"
                )));
            };
            sqlx::query(
                "INSERT INTO organization_members (org_id, user_id, role, created_ms) VALUES ($1, $2, $3, $4)",
            )
            .bind(id)
            .bind(owner)
            .bind(OrgRole::Owner.as_str())
            .bind(now_ms)
            .execute(&mut *tx)
            .await
            .map_err($db_err)?;
            tx.commit().await.map_err($db_err)?;
            Ok(Organization {
                id,
                slug: slug.to_owned(),
                name: name.to_owned(),
                created_ms: now_ms,
            })
        }

        pub async fn get_organization(
            pool: &AccountsPool,
            slug: &str,
        ) -> AccountsResult<Option<$crate::__private::sentinel_store::Organization>> {
            use $crate::__private::sqlx;
            sqlx::query(sqlx::AssertSqlSafe(format!("{} WHERE slug = $1", $crate::ORG_COLUMNS)))
                .bind(slug)
                .fetch_optional(pool)
                .await
                .map_err($db_err)?
                .map(|row| organization(&row))
                .transpose()
        }

        /// Every organization, by slug.
        pub async fn list_organizations(
            pool: &AccountsPool,
        ) -> AccountsResult<Vec<$crate::__private::sentinel_store::Organization>> {
            use $crate::__private::sqlx;
            sqlx::query(sqlx::AssertSqlSafe(format!("{} ORDER BY slug", $crate::ORG_COLUMNS)))
                .fetch_all(pool)
                .await
                .map_err($db_err)?
                .iter()
                .map(organization)
                .collect()
        }

        pub async fn rename_organization(
            pool: &AccountsPool,
            org_id: i64,
            name: &str,
        ) -> AccountsResult<$crate::__private::sentinel_store::Organization> {
            let row = $crate::__private::sqlx::query(
                "UPDATE organizations SET name = $1 WHERE id = $2 RETURNING id, slug, name, created_ms",
            )
            .bind(name)
            .bind(org_id)
            .fetch_optional(pool)
            .await
            .map_err($db_err)?
            .ok_or_else(|| not_found("organization", org_id))?;
            organization(&row)
        }

        pub async fn user_memberships(
            pool: &AccountsPool,
            user_id: i64,
        ) -> AccountsResult<Vec<$crate::__private::sentinel_store::Membership>> {
            use $crate::__private::sqlx::Row as _;
            let rows = $crate::__private::sqlx::query(
                "SELECT o.id, o.slug, o.name, o.created_ms, m.role FROM organization_members m JOIN organizations o ON o.id = m.org_id WHERE m.user_id = $1 ORDER BY o.slug",
            )
            .bind(user_id)
            .fetch_all(pool)
            .await
            .map_err($db_err)?;
            rows.iter()
                .map(|row| {
                    let role: String = row.try_get(4).map_err($db_err)?;
                    Ok($crate::__private::sentinel_store::Membership {
                        organization: organization(row)?,
                        role: $crate::parse_col(&role)?,
                    })
                })
                .collect()
        }

        /// The member's role, read in `conn` (a pool or a transaction).
        async fn role_of<'c, E>(
            conn: E,
            org_id: i64,
            user_id: i64,
        ) -> AccountsResult<Option<$crate::__private::sentinel_store::OrgRole>>
        where
            E: $crate::__private::sqlx::Executor<'c, Database = $db>,
        {
            let role: Option<String> = $crate::__private::sqlx::query_scalar(
                "SELECT role FROM organization_members WHERE org_id = $1 AND user_id = $2",
            )
            .bind(org_id)
            .bind(user_id)
            .fetch_optional(conn)
            .await
            .map_err($db_err)?;
            role.map(|r| $crate::parse_col(&r)).transpose()
        }

        pub async fn member_role(
            pool: &AccountsPool,
            org_id: i64,
            user_id: i64,
        ) -> AccountsResult<Option<$crate::__private::sentinel_store::OrgRole>> {
            role_of(pool, org_id, user_id).await
        }

        pub async fn list_members(
            pool: &AccountsPool,
            org_id: i64,
        ) -> AccountsResult<Vec<$crate::__private::sentinel_store::Member>> {
            use $crate::__private::sqlx::Row as _;
            let rows = $crate::__private::sqlx::query(
                "SELECT u.id, u.email, u.name, m.role, m.created_ms FROM organization_members m JOIN users u ON u.id = m.user_id WHERE m.org_id = $1 ORDER BY u.email",
            )
            .bind(org_id)
            .fetch_all(pool)
            .await
            .map_err($db_err)?;
            rows.iter()
                .map(|row| {
                    let get = || -> Result<_, $crate::__private::sqlx::Error> {
                        Ok((
                            row.try_get::<i64, _>(0)?,
                            row.try_get::<String, _>(1)?,
                            row.try_get::<String, _>(2)?,
                            row.try_get::<String, _>(3)?,
                            row.try_get::<i64, _>(4)?,
                        ))
                    };
                    let (user_id, email, name, role, joined_ms) = get().map_err($db_err)?;
                    Ok($crate::__private::sentinel_store::Member {
                        user_id,
                        email,
                        name,
                        role: $crate::parse_col(&role)?,
                        joined_ms,
                    })
                })
                .collect()
        }

        /// Reads (on PostgreSQL: locks) the organization row, so that membership changes of one
        /// organization take turns and the owner count they check stays true until they commit.
        async fn lock_organization(conn: &mut AccountsConn, org_id: i64) -> AccountsResult<()> {
            let found: Option<i64> = $crate::__private::sqlx::query_scalar(concat!(
                "SELECT id FROM organizations WHERE id = $1",
                $for_update
            ))
            .bind(org_id)
            .fetch_optional(&mut *conn)
            .await
            .map_err($db_err)?;
            match found {
                Some(_) => Ok(()),
                None => Err(not_found("organization", org_id)),
            }
        }

        /// `Conflict` if taking the owner role away from `user_id` (an owner) would leave the
        /// organization without one.
        async fn keep_an_owner(conn: &mut AccountsConn, org_id: i64, user_id: i64) -> AccountsResult<()> {
            let others: i64 = $crate::__private::sqlx::query_scalar(
                "SELECT count(*) FROM organization_members WHERE org_id = $1 AND role = $2 AND user_id <> $3",
            )
            .bind(org_id)
            .bind($crate::__private::sentinel_store::OrgRole::Owner.as_str())
            .bind(user_id)
            .fetch_one(&mut *conn)
            .await
            .map_err($db_err)?;
            if others == 0 {
                return Err($crate::__private::sentinel_store::StoreError::Conflict(
                    "this is the organization's last owner: make another member owner first".into(),
                ));
            }
            Ok(())
        }

        /// Sets the member's role in `conn`'s transaction, adding the member if needed.
        async fn upsert_member(
            conn: &mut AccountsConn,
            org_id: i64,
            user_id: i64,
            role: $crate::__private::sentinel_store::OrgRole,
            now_ms: i64,
        ) -> AccountsResult<()> {
            $crate::__private::sqlx::query(
                "INSERT INTO organization_members (org_id, user_id, role, created_ms) VALUES ($1, $2, $3, $4) ON CONFLICT (org_id, user_id) DO UPDATE SET role = excluded.role",
            )
            .bind(org_id)
            .bind(user_id)
            .bind(role.as_str())
            .bind(now_ms)
            .execute(&mut *conn)
            .await
            .map_err($db_err)?;
            Ok(())
        }

        async fn user_exists(conn: &mut AccountsConn, user_id: i64) -> AccountsResult<()> {
            let found: Option<i64> =
                $crate::__private::sqlx::query_scalar("SELECT id FROM users WHERE id = $1")
                    .bind(user_id)
                    .fetch_optional(&mut *conn)
                    .await
                    .map_err($db_err)?;
            match found {
                Some(_) => Ok(()),
                None => Err(not_found("user", user_id)),
            }
        }

        pub async fn add_member(
            pool: &AccountsPool,
            org_id: i64,
            user_id: i64,
            role: $crate::__private::sentinel_store::OrgRole,
            now_ms: i64,
        ) -> AccountsResult<()> {
            use $crate::__private::sentinel_store::OrgRole;
            let mut tx = begin_write(pool).await?;
            lock_organization(&mut tx, org_id).await?;
            user_exists(&mut tx, user_id).await?;
            // Re-adding the last owner with a lesser role would demote them: same rule as
            // `set_member_role`.
            if role != OrgRole::Owner && role_of(&mut *tx, org_id, user_id).await? == Some(OrgRole::Owner) {
                keep_an_owner(&mut tx, org_id, user_id).await?;
            }
            upsert_member(&mut tx, org_id, user_id, role, now_ms).await?;
            tx.commit().await.map_err($db_err)
        }

        pub async fn set_member_role(
            pool: &AccountsPool,
            org_id: i64,
            user_id: i64,
            role: $crate::__private::sentinel_store::OrgRole,
        ) -> AccountsResult<()> {
            use $crate::__private::sentinel_store::OrgRole;
            let mut tx = begin_write(pool).await?;
            lock_organization(&mut tx, org_id).await?;
            let current = role_of(&mut *tx, org_id, user_id)
                .await?
                .ok_or_else(|| not_found("member", format!("{user_id} of organization {org_id}")))?;
            if current == OrgRole::Owner && role != OrgRole::Owner {
                keep_an_owner(&mut tx, org_id, user_id).await?;
            }
            $crate::__private::sqlx::query(
                "UPDATE organization_members SET role = $1 WHERE org_id = $2 AND user_id = $3",
            )
            .bind(role.as_str())
            .bind(org_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await
            .map_err($db_err)?;
            tx.commit().await.map_err($db_err)
        }

        pub async fn remove_member(pool: &AccountsPool, org_id: i64, user_id: i64) -> AccountsResult<()> {
            use $crate::__private::sentinel_store::OrgRole;
            use $crate::__private::sqlx;
            let mut tx = begin_write(pool).await?;
            lock_organization(&mut tx, org_id).await?;
            let current = role_of(&mut *tx, org_id, user_id)
                .await?
                .ok_or_else(|| not_found("member", format!("{user_id} of organization {org_id}")))?;
            if current == OrgRole::Owner {
                keep_an_owner(&mut tx, org_id, user_id).await?;
            }
            sqlx::query("DELETE FROM organization_members WHERE org_id = $1 AND user_id = $2")
                .bind(org_id)
                .bind(user_id)
                .execute(&mut *tx)
                .await
                .map_err($db_err)?;
            // A former member can no longer see the issues, so nobody would work on them.
            sqlx::query(
                "UPDATE issues SET assignee_id = NULL WHERE assignee_id = $1 AND project_id IN (SELECT id FROM projects WHERE org_id = $2)",
            )
            .bind(user_id)
            .bind(org_id)
            .execute(&mut *tx)
            .await
            .map_err($db_err)?;
            tx.commit().await.map_err($db_err)
        }

        $crate::__accounts_access! {
            db: $db,
            db_err: $db_err,
        }
    };
}
