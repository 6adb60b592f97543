//! JSON answers of the console API: `no-store` on every one (they carry secrets), and
//! errors as `{"error": "…"}` with the status that says why.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

pub fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    (status, [(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

pub fn ok<T: Serialize>(body: &T) -> Response {
    json(StatusCode::OK, body)
}

pub fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    json(status, &serde_json::json!({ "error": message.to_string() }))
}

/// An operation's error (bad input, unknown event) as 400 or 404.
pub fn failed(e: &anyhow::Error) -> Response {
    let text = format!("{e:#}");
    let status = if text.starts_with("no event ") {
        StatusCode::NOT_FOUND
    } else if text.contains("already exists") {
        StatusCode::CONFLICT
    } else {
        StatusCode::BAD_REQUEST
    };
    error(status, text)
}
