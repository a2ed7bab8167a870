//! `/api/0/user/tokens/`: the caller's personal API tokens (`sntl_…`), scoped read, write or
//! admin. A token acts as its user within its scope; the secret is shown once, at creation, and
//! stored only as its SHA-256.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use sentinel_store::{ApiToken, NewApiToken, TokenScope};
use serde::{Deserialize, Serialize};

use super::input::{self, JsonBody};
use super::organizations::user_of;
use super::{ApiError, Caller, new_token, token_hash};
use crate::AppState;
use crate::auth::access;
use crate::clock::rfc3339;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/0/user/tokens/", get(list).post(create))
        .route("/api/0/user/tokens/{token_id}/", delete(remove))
}

#[derive(Debug, Serialize)]
pub struct TokenJson {
    pub id: String,
    pub name: String,
    pub scope: TokenScope,
    pub created: String,
    /// The secret: only in the answer to its creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

impl From<ApiToken> for TokenJson {
    fn from(t: ApiToken) -> Self {
        TokenJson {
            id: t.id.to_string(),
            name: t.name,
            scope: t.scope,
            created: rfc3339(t.created_ms),
            token: None,
        }
    }
}

async fn list(State(app): State<AppState>, Caller(who): Caller) -> Result<Json<Vec<TokenJson>>, ApiError> {
    let user = user_of(&who, "have personal tokens")?;
    let tokens = app.store.list_api_tokens(user.id).await?;
    Ok(Json(tokens.into_iter().map(TokenJson::from).collect()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    scope: String,
}

/// Creates a token. Needs an admin-scoped credential: a weaker token must not mint a stronger one.
async fn create(
    State(app): State<AppState>,
    Caller(who): Caller,
    JsonBody(body): JsonBody<CreateBody>,
) -> Result<(StatusCode, Json<TokenJson>), ApiError> {
    who.require_scope(TokenScope::Admin)?;
    let user = user_of(&who, "have personal tokens")?;
    let name = input::name("name", &body.name)?;
    let scope = input::scope(&body.scope)?;
    let secret = new_token();
    let created = app
        .store
        .create_api_token(
            &NewApiToken {
                name,
                token_sha256: token_hash(&secret),
                user_id: Some(user.id),
                scope,
            },
            app.clock.now_ms(),
        )
        .await?;
    tracing::info!(user.id = user.id, token.id = created.id, "API token created");
    let mut json = TokenJson::from(created);
    json.token = Some(secret);
    Ok((StatusCode::CREATED, Json(json)))
}

async fn remove(
    State(app): State<AppState>,
    Caller(who): Caller,
    Path(token): Path<String>,
) -> Result<StatusCode, ApiError> {
    who.require_scope(TokenScope::Admin)?;
    let user = user_of(&who, "have personal tokens")?;
    let id = access::path_id("token", &token)?;
    app.store
        .delete_api_token(user.id, id)
        .await
        .map_err(|e| match e {
            sentinel_store::StoreError::NotFound { .. } => {
                ApiError::NotFound(format!("token {id} not found"))
            }
            other => other.into(),
        })?;
    Ok(StatusCode::NO_CONTENT)
}
