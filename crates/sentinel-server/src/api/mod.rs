//! The JSON management API under `/api/0/`: its error type and bearer-token authentication.

pub mod projects;
pub mod stats;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use sentinel_store::{ApiToken, StoreError};
use sha2::{Digest, Sha256};

use crate::AppState;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Missing or unknown token: the caller must authenticate.
    #[error("{0}")]
    Unauthorized(String),
    /// The id names nothing (or nothing the caller may see).
    #[error("{0}")]
    NotFound(String),
    /// A parameter the caller can fix.
    #[error("{0}")]
    BadRequest(String),
    /// Storage failed; the client may retry. Details are logged, never sent.
    #[error("internal error")]
    Internal(String),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { what, id } => ApiError::NotFound(format!("{what} {id} not found")),
            StoreError::Conflict(m) => ApiError::BadRequest(m),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Internal(detail) => {
                // Logged here because only here is the detail still known; the response hides it.
                tracing::error!(error = %detail, "API request failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let mut resp = (
            status,
            axum::Json(serde_json::json!({ "detail": self.to_string() })),
        )
            .into_response();
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        resp
    }
}

/// SHA-256 hex of an API token: what the database stores instead of the token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A fresh API token: `sntl_` and 64 hex digits of randomness.
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("sntl_{}", hex::encode(bytes))
}

/// A fresh DSN public key: 32 lower-case hex digits (the JS SDK requires `\w+`).
pub fn new_public_key() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// An authenticated API caller (bearer token).
pub struct Caller(pub ApiToken);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| ApiError::Unauthorized("missing Authorization: Bearer <token> header".into()))?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::Unauthorized("Authorization header must be \"Bearer <token>\"".into())
            })?;
        let found = app.store.find_api_token(&token_hash(token)).await?;
        found
            .map(Caller)
            .ok_or_else(|| ApiError::Unauthorized("invalid API token".into()))
    }
}
