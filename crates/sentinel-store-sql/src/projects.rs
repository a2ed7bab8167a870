//! Projects and their keys.

/// `SELECT` of a project with its organization's slug, in the order [`projects!`] maps it.
pub const PROJECT_COLUMNS: &str = "SELECT p.id, p.org_id, o.slug, p.name, p.slug, p.platform, p.created_ms, p.rate_limit_per_minute, p.apdex_threshold_ms FROM projects p JOIN organizations o ON o.id = p.org_id";
/// `SELECT` of project keys, in the order [`projects!`] maps it.
pub const KEY_COLUMNS: &str =
    "SELECT id, project_id, public_key, label, active, created_ms, rate_limit_per_minute FROM project_keys";

/// Which keys [`projects!`]'s `keys` reads.
#[derive(Debug, Clone, Copy)]
pub enum KeyFilter<'a> {
    Project(i64),
    Public(&'a str),
}

/// Stamps out, in the invoking module, the project functions of a backend: `create_project`,
/// `list_projects`, `org_projects`, `update_project`, `keys`, `create_key`, `set_key_active`,
/// `set_project_rate_limit`, `set_project_apdex` and `set_key_rate_limit`.
///
/// - `db`: the sqlx database (`sqlx::Sqlite`, `sqlx::Postgres`);
/// - `db_err`: the backend's `fn(sqlx::Error) -> StoreError`;
/// - `begin`: how a write transaction starts on a `&Pool<db>`, e.g. `|pool| pool.begin()`.
///
/// `active` is decoded as a `bool` on both: SQLite's `bool` accepts its INTEGER column.
#[macro_export]
macro_rules! projects {
    (db: $db:ty, db_err: $db_err:path, begin: |$pool:ident| $begin:expr $(,)?) => {
        fn project(
            row: &<$db as $crate::__private::sqlx::Database>::Row,
        ) -> Result<$crate::__private::sentinel_store::Project, $crate::__private::sqlx::Error> {
            use $crate::__private::sqlx::Row as _;
            Ok($crate::__private::sentinel_store::Project {
                id: row.try_get(0)?,
                org_id: row.try_get(1)?,
                org_slug: row.try_get(2)?,
                name: row.try_get(3)?,
                slug: row.try_get(4)?,
                platform: row.try_get(5)?,
                created_ms: row.try_get(6)?,
                rate_limit_per_minute: row.try_get::<Option<i64>, _>(7)?.map(|v| v as u32),
                apdex_threshold_ms: row.try_get::<i64, _>(8)? as u32,
            })
        }

        fn key(
            row: &<$db as $crate::__private::sqlx::Database>::Row,
        ) -> Result<$crate::__private::sentinel_store::ProjectKey, $crate::__private::sqlx::Error> {
            use $crate::__private::sqlx::Row as _;
            Ok($crate::__private::sentinel_store::ProjectKey {
                id: row.try_get(0)?,
                project_id: row.try_get(1)?,
                public_key: row.try_get(2)?,
                label: row.try_get(3)?,
                active: row.try_get(4)?,
                created_ms: row.try_get(5)?,
                rate_limit_per_minute: row.try_get::<Option<i64>, _>(6)?.map(|v| v as u32),
            })
        }

        pub async fn create_project(
            pool: &$crate::__private::sqlx::Pool<$db>,
            org_slug: &str,
            name: &str,
            platform: &str,
            public_key: &str,
            now_ms: i64,
        ) -> Result<
            (
                $crate::__private::sentinel_store::Project,
                $crate::__private::sentinel_store::ProjectKey,
            ),
            $crate::__private::sentinel_store::StoreError,
        > {
            use $crate::__private::sentinel_store::{Project, ProjectKey, StoreError, slugify};
            use $crate::__private::sqlx;
            let slug = slugify(name);
            if slug.is_empty() {
                return Err(StoreError::Conflict(format!(
                    "project name {name:?} needs at least one letter or digit"
                )));
            }
            let mut tx = {
                let $pool = pool;
                $begin
            }
            .await
            .map_err($db_err)?;
            sqlx::query("INSERT INTO organizations (slug, name, created_ms) VALUES ($1, $1, $2) ON CONFLICT (slug) DO NOTHING")
                .bind(org_slug)
                .bind(now_ms)
                .execute(&mut *tx)
                .await
                .map_err($db_err)?;
            let org_id: i64 = sqlx::query_scalar("SELECT id FROM organizations WHERE slug = $1")
                .bind(org_slug)
                .fetch_one(&mut *tx)
                .await
                .map_err($db_err)?;
            let taken: Option<i64> =
                sqlx::query_scalar("SELECT id FROM projects WHERE org_id = $1 AND slug = $2")
                    .bind(org_id)
                    .bind(&slug)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err($db_err)?;
            if let Some(id) = taken {
                return Err(StoreError::Conflict(format!(
                    "project {slug:?} already exists in organization {org_slug:?} (id {id})"
                )));
            }
            let project_id: i64 = sqlx::query_scalar(
                "INSERT INTO projects (org_id, name, slug, platform, created_ms) VALUES ($1, $2, $3, $4, $5) RETURNING id",
            )
            .bind(org_id)
            .bind(name)
            .bind(&slug)
            .bind(platform)
            .bind(now_ms)
            .fetch_one(&mut *tx)
            .await
            .map_err($db_err)?;
            let key_id: i64 = sqlx::query_scalar(
                "INSERT INTO project_keys (project_id, public_key, label, created_ms) VALUES ($1, $2, 'Default', $3) RETURNING id",
            )
            .bind(project_id)
            .bind(public_key)
            .bind(now_ms)
            .fetch_one(&mut *tx)
            .await
            .map_err($db_err)?;
            tx.commit().await.map_err($db_err)?;
            Ok((
                Project {
                    id: project_id,
                    org_id,
                    org_slug: org_slug.to_owned(),
                    name: name.to_owned(),
                    slug,
                    platform: platform.to_owned(),
                    created_ms: now_ms,
                    rate_limit_per_minute: None,
                    apdex_threshold_ms: $crate::__private::sentinel_store::DEFAULT_APDEX_THRESHOLD_MS,
                },
                ProjectKey {
                    id: key_id,
                    project_id,
                    public_key: public_key.to_owned(),
                    label: "Default".into(),
                    active: true,
                    created_ms: now_ms,
                    rate_limit_per_minute: None,
                },
            ))
        }

        pub async fn list_projects(
            pool: &$crate::__private::sqlx::Pool<$db>,
            id: Option<i64>,
        ) -> Result<
            Vec<$crate::__private::sentinel_store::Project>,
            $crate::__private::sentinel_store::StoreError,
        > {
            use $crate::__private::sqlx;
            let rows = match id {
                Some(id) => {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "{} WHERE p.id = $1",
                        $crate::PROJECT_COLUMNS
                    )))
                    .bind(id)
                    .fetch_all(pool)
                    .await
                }
                None => {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "{} ORDER BY p.id",
                        $crate::PROJECT_COLUMNS
                    )))
                    .fetch_all(pool)
                    .await
                }
            }
            .map_err($db_err)?;
            rows.iter().map(project).collect::<Result<_, _>>().map_err($db_err)
        }

        pub async fn keys(
            pool: &$crate::__private::sqlx::Pool<$db>,
            filter: $crate::KeyFilter<'_>,
        ) -> Result<
            Vec<$crate::__private::sentinel_store::ProjectKey>,
            $crate::__private::sentinel_store::StoreError,
        > {
            use $crate::__private::sqlx;
            let rows = match filter {
                $crate::KeyFilter::Project(id) => {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "{} WHERE project_id = $1 ORDER BY id",
                        $crate::KEY_COLUMNS
                    )))
                    .bind(id)
                    .fetch_all(pool)
                    .await
                }
                $crate::KeyFilter::Public(k) => {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "{} WHERE public_key = $1",
                        $crate::KEY_COLUMNS
                    )))
                    .bind(k)
                    .fetch_all(pool)
                    .await
                }
            }
            .map_err($db_err)?;
            rows.iter().map(key).collect::<Result<_, _>>().map_err($db_err)
        }

        /// Runs `update` (`UPDATE projects SET … = $1 WHERE id = $2`) with `value`; `NotFound`
        /// when there is no project `id`.
        async fn set_project_column(
            pool: &$crate::__private::sqlx::Pool<$db>,
            update: &'static str,
            id: i64,
            value: Option<i64>,
        ) -> Result<(), $crate::__private::sentinel_store::StoreError> {
            let done = $crate::__private::sqlx::query(update)
                .bind(value)
                .bind(id)
                .execute(pool)
                .await
                .map_err($db_err)?;
            if done.rows_affected() == 0 {
                return Err($crate::__private::sentinel_store::StoreError::NotFound {
                    what: "project",
                    id: id.to_string(),
                });
            }
            Ok(())
        }

        pub async fn set_project_rate_limit(
            pool: &$crate::__private::sqlx::Pool<$db>,
            id: i64,
            per_minute: Option<u32>,
        ) -> Result<(), $crate::__private::sentinel_store::StoreError> {
            set_project_column(
                pool,
                "UPDATE projects SET rate_limit_per_minute = $1 WHERE id = $2",
                id,
                per_minute.map(i64::from),
            )
            .await
        }

        pub async fn set_project_apdex(
            pool: &$crate::__private::sqlx::Pool<$db>,
            id: i64,
            threshold_ms: u32,
        ) -> Result<(), $crate::__private::sentinel_store::StoreError> {
            set_project_column(
                pool,
                "UPDATE projects SET apdex_threshold_ms = $1 WHERE id = $2",
                id,
                Some(i64::from(threshold_ms)),
            )
            .await
        }

        pub async fn set_key_rate_limit(
            pool: &$crate::__private::sqlx::Pool<$db>,
            public_key: &str,
            per_minute: Option<u32>,
        ) -> Result<(), $crate::__private::sentinel_store::StoreError> {
            let done = $crate::__private::sqlx::query(
                "UPDATE project_keys SET rate_limit_per_minute = $1 WHERE public_key = $2",
            )
            .bind(per_minute.map(i64::from))
            .bind(public_key)
            .execute(pool)
            .await
            .map_err($db_err)?;
            if done.rows_affected() == 0 {
                return Err($crate::__private::sentinel_store::StoreError::NotFound {
                    what: "key",
                    id: public_key.to_owned(),
                });
            }
            Ok(())
        }

        /// The organization's projects, by slug.
        pub async fn org_projects(
            pool: &$crate::__private::sqlx::Pool<$db>,
            org_id: i64,
        ) -> Result<
            Vec<$crate::__private::sentinel_store::Project>,
            $crate::__private::sentinel_store::StoreError,
        > {
            use $crate::__private::sqlx;
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "{} WHERE p.org_id = $1 ORDER BY p.slug",
                $crate::PROJECT_COLUMNS
            )))
            .bind(org_id)
            .fetch_all(pool)
            .await
            .map_err($db_err)?;
            rows.iter().map(project).collect::<Result<_, _>>().map_err($db_err)
        }

        /// Renames a project (re-deriving its slug) and sets its platform.
        pub async fn update_project(
            pool: &$crate::__private::sqlx::Pool<$db>,
            project_id: i64,
            name: &str,
            platform: &str,
        ) -> Result<$crate::__private::sentinel_store::Project, $crate::__private::sentinel_store::StoreError>
        {
            use $crate::__private::sentinel_store::{StoreError, slugify};
            use $crate::__private::sqlx;
            let slug = slugify(name);
            if slug.is_empty() {
                return Err(StoreError::Conflict(format!(
                    "project name {name:?} needs at least one letter or digit"
                )));
            }
            let mut tx = {
                let $pool = pool;
                $begin
            }
            .await
            .map_err($db_err)?;
            let org_id: i64 = sqlx::query_scalar("SELECT org_id FROM projects WHERE id = $1")
                .bind(project_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err($db_err)?
                .ok_or_else(|| StoreError::NotFound {
                    what: "project",
                    id: project_id.to_string(),
                })?;
            let taken: Option<i64> = sqlx::query_scalar(
                "SELECT id FROM projects WHERE org_id = $1 AND slug = $2 AND id <> $3",
            )
            .bind(org_id)
            .bind(&slug)
            .bind(project_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err($db_err)?;
            if let Some(id) = taken {
                return Err(StoreError::Conflict(format!(
                    "another project of the organization is already called {slug:?} (id {id})"
                )));
            }
            sqlx::query("UPDATE projects SET name = $1, slug = $2, platform = $3 WHERE id = $4")
                .bind(name)
                .bind(&slug)
                .bind(platform)
                .bind(project_id)
                .execute(&mut *tx)
                .await
                .map_err($db_err)?;
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "{} WHERE p.id = $1",
                $crate::PROJECT_COLUMNS
            )))
            .bind(project_id)
            .fetch_one(&mut *tx)
            .await
            .map_err($db_err)?;
            let updated = project(&row).map_err($db_err)?;
            tx.commit().await.map_err($db_err)?;
            Ok(updated)
        }

        /// Adds a key to a project; `Conflict` if the public key is in use anywhere.
        pub async fn create_key(
            pool: &$crate::__private::sqlx::Pool<$db>,
            project_id: i64,
            label: &str,
            public_key: &str,
            now_ms: i64,
        ) -> Result<
            $crate::__private::sentinel_store::ProjectKey,
            $crate::__private::sentinel_store::StoreError,
        > {
            use $crate::__private::sentinel_store::{ProjectKey, StoreError};
            use $crate::__private::sqlx;
            let mut tx = {
                let $pool = pool;
                $begin
            }
            .await
            .map_err($db_err)?;
            let exists: Option<i64> = sqlx::query_scalar("SELECT id FROM projects WHERE id = $1")
                .bind(project_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err($db_err)?;
            if exists.is_none() {
                return Err(StoreError::NotFound {
                    what: "project",
                    id: project_id.to_string(),
                });
            }
            let id: Option<i64> = sqlx::query_scalar(
                "INSERT INTO project_keys (project_id, public_key, label, created_ms) VALUES ($1, $2, $3, $4) ON CONFLICT (public_key) DO NOTHING RETURNING id",
            )
            .bind(project_id)
            .bind(public_key)
            .bind(label)
            .bind(now_ms)
            .fetch_optional(&mut *tx)
            .await
            .map_err($db_err)?;
            let Some(id) = id else {
                return Err(StoreError::Conflict(format!(
                    "public key {public_key} is already in use"
                )));
            };
            tx.commit().await.map_err($db_err)?;
            Ok(ProjectKey {
                id,
                project_id,
                public_key: public_key.to_owned(),
                label: label.to_owned(),
                active: true,
                created_ms: now_ms,
                rate_limit_per_minute: None,
            })
        }

        /// Enables or revokes one of the project's keys.
        pub async fn set_key_active(
            pool: &$crate::__private::sqlx::Pool<$db>,
            project_id: i64,
            key_id: i64,
            active: bool,
        ) -> Result<
            $crate::__private::sentinel_store::ProjectKey,
            $crate::__private::sentinel_store::StoreError,
        > {
            let row = $crate::__private::sqlx::query(
                "UPDATE project_keys SET active = $1 WHERE id = $2 AND project_id = $3 RETURNING id, project_id, public_key, label, active, created_ms, rate_limit_per_minute",
            )
            .bind(active)
            .bind(key_id)
            .bind(project_id)
            .fetch_optional(pool)
            .await
            .map_err($db_err)?
            .ok_or_else(|| $crate::__private::sentinel_store::StoreError::NotFound {
                what: "key",
                id: format!("{key_id} of project {project_id}"),
            })?;
            key(&row).map_err($db_err)
        }
    };
}
