//! The JSON management API under `/api/0/`: its error type and bearer-token authentication.

pub mod input;
pub mod keys;
pub mod members;
pub mod openapi;
pub mod organizations;
pub mod projects;
pub mod sessions;
pub mod stats;
pub mod tokens;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sentinel_store::StoreError;

pub use crate::auth::{Caller, token_hash};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Missing or unknown token: the caller must authenticate.
    #[error("{0}")]
    Unauthorized(String),
    /// The caller may see the resource but its role or token scope is too low for this action.
    #[error("{0}")]
    Forbidden(String),
    /// The id names nothing (or nothing the caller may see).
    #[error("{0}")]
    NotFound(String),
    /// The request is valid but clashes with existing data (a taken slug or email).
    #[error("{0}")]
    Conflict(String),
    /// Too many requests from this caller; it may retry after the given seconds.
    #[error("{message}")]
    TooManyRequests { message: String, retry_after_secs: u64 },
    /// A parameter the caller can fix.
    #[error("{0}")]
    BadRequest(String),
    /// Something this server would need is not set up (email without `[smtp]`).
    #[error("{0}")]
    Unavailable(String),
    /// Storage failed; the client may retry. Details are logged, never sent.
    #[error("internal error")]
    Internal(String),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { what, id } => ApiError::NotFound(format!("{what} {id} not found")),
            StoreError::Conflict(m) => ApiError::Conflict(m),
            other => ApiError::Internal(other.to_string()),
        }
    }
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let ApiError::Internal(detail) = &self {
            // Logged here because only here is the detail still known; the response hides it.
            tracing::error!(error = %detail, "API request failed");
        }
        let mut resp = (
            status,
            axum::Json(serde_json::json!({ "detail": self.to_string() })),
        )
            .into_response();
        if let ApiError::TooManyRequests { retry_after_secs, .. } = &self
            && let Ok(v) = HeaderValue::from_str(&retry_after_secs.to_string())
        {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        resp
    }
}

/// A fresh API token: `sntl_` and 64 hex digits of randomness.
pub fn new_token() -> String {
    crate::auth::new_secret(crate::auth::API_TOKEN_PREFIX)
}

/// A fresh DSN public key: 32 lower-case hex digits (the JS SDK requires `\w+`).
pub fn new_public_key() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}
