//! Errors of the Q&A service and their HTTP form: a status code and a JSON body
//! `{"error": "<code>", "message": "<human text>"}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// A database backend failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    #[error("postgres pool: {0}")]
    Pool(String),
    #[error("database task failed: {0}")]
    Task(String),
    #[error("corrupt row in {table}: {reason}")]
    Corrupt { table: &'static str, reason: String },
    #[error("serialising an event: {0}")]
    Json(#[from] serde_json::Error),
}

/// Everything a Q&A request can fail with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QaError {
    #[error("invalid {field}: {reason}")]
    InvalidInput { field: &'static str, reason: String },
    #[error("missing, forged or expired viewer id: send `Authorization: Bearer <viewer>` with a viewer id from POST /api/qa/{{event}}/viewer")]
    InvalidViewer,
    #[error("this event is private: the Q&A needs the event's viewer token")]
    TokenRequired,
    #[error("unknown event")]
    UnknownEvent,
    #[error("no question {id} in this event")]
    NotFound { id: i64 },
    #[error("no such route")]
    NoRoute,
    #[error("moderator token missing or wrong")]
    Unauthorized,
    #[error("this viewer is banned from the event's Q&A")]
    Banned,
    #[error("too many questions, retry in {retry_after_secs} s")]
    RateLimited { retry_after_secs: u64 },
    #[error("{reason}")]
    Conflict { reason: &'static str },
    #[error("request body too large or unreadable")]
    BodyTooLarge,
    #[error("storage error")]
    Store(#[from] StoreError),
}

impl QaError {
    /// HTTP status code for this error.
    pub fn status(&self) -> StatusCode {
        match self {
            QaError::InvalidInput { .. } => StatusCode::BAD_REQUEST,
            QaError::InvalidViewer | QaError::TokenRequired => StatusCode::UNAUTHORIZED,
            QaError::UnknownEvent | QaError::NotFound { .. } | QaError::NoRoute => {
                StatusCode::NOT_FOUND
            }
            QaError::Unauthorized => StatusCode::UNAUTHORIZED,
            QaError::Banned => StatusCode::FORBIDDEN,
            QaError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            QaError::Conflict { .. } => StatusCode::CONFLICT,
            QaError::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            QaError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            QaError::InvalidInput { .. } => "invalid_input",
            QaError::InvalidViewer => "invalid_viewer",
            QaError::TokenRequired => "token_required",
            QaError::UnknownEvent => "unknown_event",
            QaError::NotFound { .. } => "not_found",
            QaError::NoRoute => "no_route",
            QaError::Unauthorized => "unauthorized",
            QaError::Banned => "banned",
            QaError::RateLimited { .. } => "rate_limited",
            QaError::Conflict { .. } => "conflict",
            QaError::BodyTooLarge => "body_too_large",
            QaError::Store(_) => "storage_unavailable",
        }
    }
}

impl IntoResponse for QaError {
    fn into_response(self) -> Response {
        if let QaError::Store(e) = &self {
            tracing::warn!(error = %e, "q&a storage error");
        }
        let body = serde_json::json!({ "error": self.code(), "message": self.to_string() });
        let mut resp = (self.status(), axum::Json(body)).into_response();
        let headers = resp.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let QaError::RateLimited { retry_after_secs } = self {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        if matches!(
            self,
            QaError::Unauthorized | QaError::InvalidViewer | QaError::TokenRequired
        ) {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"amphi-qa\""),
            );
        }
        resp
    }
}
