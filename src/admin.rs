//! The operator's console: `/admin` (page), `/api/admin/…` (JSON API), `/api/openapi.json`,
//! and `amphi user …`. Accounts, sessions, CSRF and roles are `amphi-console`'s; this
//! module maps them to HTTP and to the event operations of `crate::events`, which
//! `amphi event …` uses too.
//!
//! Sessions are cookies set by these routes only: the origin's media and playlist
//! responses never carry one, so a CDN keeps caching them.

// Handlers refuse with a ready `Response` (axum's own rejection style); its size does
// not matter on these low-rate routes.
#![allow(clippy::result_large_err)]

mod api;
mod auth;
pub mod cli;
mod page;
mod recordings;
mod reply;
mod state;

pub(crate) use auth::{redacted_addr, Authed};
pub(crate) use page::html_escape;
pub(crate) use state::ConsoleState;
pub use state::{ConsoleArgs, ConsoleConfig};

use axum::routing::get;
use axum::Router;
use std::sync::Arc;

/// The console's sessions and accounts, shared with the routes outside the console
/// that take a console session too (the health API and Go live).
pub(crate) fn state(config: ConsoleConfig<'_>) -> Arc<ConsoleState> {
    Arc::new(state::ConsoleState::new(config))
}

/// The console's routes over a state made by [`state`], ready to merge into the
/// origin's router.
pub(crate) fn router_with(state: Arc<ConsoleState>, data_dir: &std::path::Path) -> Router {
    Router::new()
        .route("/admin", get(page::admin_page))
        .route("/api/openapi.json", get(page::openapi))
        .merge(api::routes())
        .with_state(state.clone())
        .merge(crate::oidc_routes::router(state, data_dir))
}

#[cfg(test)]
mod tests;
