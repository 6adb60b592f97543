//! HTTP API of the Q&A service (see [`router`]).
//!
//! Viewer identity: a panel first gets a viewer id the server mints and signs
//! (`POST /api/qa/{event}/viewer`, see [`crate::identity`]) and sends it as
//! `Authorization: Bearer <id>` to ask and vote. Posting and voting are
//! rate-limited per id and per client address, so minting fresh ids escapes
//! nothing; minting itself is limited per address. The client address is what
//! [`QaState::with_client_addr`] says (by default the TCP peer).
//!
//! Private events: every viewer request needs the event's viewer token, checked
//! by the binary ([`QaEvents::check_viewer_token`]): minting takes the token in
//! its body, and the id minted for a private event (signed as private, never
//! outliving the token) stands for it afterwards. Reading the list and the stream
//! takes either that id or the token itself.
//!
//! Moderator authentication: `Authorization: Bearer <token>`, where the token
//! is the event's moderator secret provided by [`QaEvents`]. Because
//! EventSource and download links cannot set headers, the SSE stream, the
//! moderator list and the exports also accept `?token=<token>`, and a private
//! event's viewer stream `?access=<viewer id or token>`: per-event secrets on
//! the Q&A API only. They are never put on media or playlist URLs, which stay
//! identical for every viewer and cacheable.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::StreamExt;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::chapters::{self, Chapter, ChapterListener, PostChapterBody};
use crate::core::{self, Who};
use crate::error::{QaError, StoreError};
use crate::export;
use crate::identity::{self, ViewerId};
use crate::model::{self, EventQaSettings, ModAction, PostQuestionBody, ProgramTime};
use crate::sse::{self, View};
use crate::store::{PgStore, QaStore, SqliteStore};
use crate::turns::Turns;

mod chapter_routes;
mod exports;
mod request;
mod state;

pub use chapter_routes::CHAPTERS_MAX_AGE;
use chapter_routes::{add_chapter, list_chapters};
use exports::{export_csv, export_json};
pub use request::bearer;
use request::*;
pub use state::{
    peer_addr, system_clock_ms, ClientAddrFn, QaEvents, QaState, TokenClaims, MAX_BODY_BYTES,
};

/// The Q&A routes, to be mounted at the root:
///
/// - `POST /api/qa/{event}/viewer` `{token?, viewer?}`: a signed viewer id, fresh or
///   renewed (`viewer`: the current one); `token`: the viewer token of a private event
/// - `GET  /api/qa/{event}/questions[?view=moderator]`
/// - `POST /api/qa/{event}/questions` (viewer id) `{text, name?, program_time?}`
/// - `POST /api/qa/{event}/questions/{id}/vote` (viewer id)
/// - `POST /api/qa/{event}/questions/{id}/{approve|hide|answer|pin|unpin}` (moderator)
///   with an optional body `{program_time}`
/// - `POST /api/qa/{event}/bans` (moderator) `{viewer}`
/// - `GET  /api/qa/{event}/stream[?view=moderator&token=…][?access=…]` (SSE)
/// - `GET  /api/qa/{event}/export.csv`, `export.json` (moderator)
/// - `GET  /api/events/{event}/chapters`: the event's markers (chapters and answered
///   questions) in program time, public and cacheable for [`CHAPTERS_MAX_AGE`] s
/// - `POST /api/events/{event}/chapters` (moderator) `{text, program_time}`
pub fn router(state: QaState) -> Router {
    Router::new()
        .route("/api/qa/{event}/viewer", post(mint))
        .route("/api/qa/{event}/questions", get(list).post(create))
        .route("/api/qa/{event}/questions/{id}/{action}", post(act))
        .route("/api/qa/{event}/bans", post(ban))
        .route("/api/qa/{event}/stream", get(stream))
        .route("/api/qa/{event}/export.csv", get(export_csv))
        .route("/api/qa/{event}/export.json", get(export_json))
        .route(
            "/api/events/{event}/chapters",
            get(list_chapters).post(add_chapter),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// A read of the event's questions (the list or the stream): the event, the query and
/// who reads. A moderator when the query asks for `view=moderator` (the bearer value or
/// `?token=`), else a viewer of the event: the bearer value, or where the route takes
/// one (`access_param`) a credential in the query.
fn questions_read(
    st: &QaState,
    p: Result<Path<String>, PathRejection>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
    headers: &HeaderMap,
    access_param: Option<&str>,
) -> Result<(String, HashMap<String, String>, View), QaError> {
    let event = event_path(p)?;
    let q = query(q)?;
    let settings = st.settings(&event)?;
    let view = if q.get("view").map(String::as_str) == Some("moderator") {
        st.moderator(&event, headers, q.get("token").map(String::as_str))?;
        View::Moderator
    } else {
        let from_query = access_param
            .and_then(|name| q.get(name))
            .map(String::as_str);
        st.may_read(&event, &settings, bearer(headers).or(from_query))?;
        View::Viewer
    };
    Ok((event, q, view))
}

/// Parses an optional JSON body: empty means the type's default.
fn optional_body<T: serde::de::DeserializeOwned + Default>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, QaError> {
    match body {
        Ok(b) if b.iter().all(u8::is_ascii_whitespace) => Ok(T::default()),
        other => body_json(other),
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MintBody {
    /// The viewer token of a private event.
    #[serde(default)]
    token: Option<String>,
    /// The signed id to renew.
    #[serde(default)]
    viewer: Option<String>,
}

/// A display name from a token, made fit for a question.
fn token_name(name: String) -> Option<String> {
    let clean: String = name
        .chars()
        .filter(|c| !c.is_control())
        .take(model::MAX_NAME_CHARS)
        .collect();
    let clean = clean.trim();
    (!clean.is_empty()).then(|| clean.to_owned())
}

#[tracing::instrument(name = "qa.mint", skip_all, fields(event = tracing::field::Empty))]
async fn mint(
    State(st): State<QaState>,
    p: Result<Path<String>, PathRejection>,
    ClientTag(addr): ClientTag,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, QaError> {
    let event = event_path(p)?;
    let settings = st.settings(&event)?;
    let body: MintBody = optional_body(body)?;
    let now = st.wall_now();
    let mut expires = now + std::time::Duration::from_secs(identity::VIEWER_ID_TTL_SECS);
    let mut name = None;
    if settings.private {
        let claims = body
            .token
            .as_deref()
            .and_then(|t| st.events.check_viewer_token(&event, t, now))
            .ok_or(QaError::TokenRequired)?;
        expires = expires.min(claims.expires);
        name = claims.name.and_then(token_name);
    }
    let renewed = body
        .viewer
        .as_deref()
        .and_then(|v| identity::verify(&st.key, &event, settings.private, v, now).ok());
    let (id, fresh) = match renewed {
        Some(v) => (v.id, false),
        None => (identity::new_id(rand::random()), true),
    };
    let who = Who {
        viewer: &id,
        addr: addr.as_deref(),
    };
    core::admit_viewer_id(st.store.as_ref(), &event, who, fresh, &settings, st.now()).await?;
    let v = ViewerId { id, expires, name };
    let signed = identity::sign(&st.key, &event, settings.private, &v);
    tracing::debug!(fresh, "viewer id issued");
    Ok(no_store(
        Json(serde_json::json!({
            "viewer": signed,
            "id": v.id,
            "expires_at": v.expires.unix_secs_unsigned(),
            "name": v.name,
        }))
        .into_response(),
    ))
}

#[tracing::instrument(name = "qa.list", skip_all, fields(event = tracing::field::Empty))]
async fn list(
    State(st): State<QaState>,
    p: Result<Path<String>, PathRejection>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, QaError> {
    let (event, _, view) = questions_read(&st, p, q, &headers, None)?;
    let snap = st.store.snapshot(&event).await?;
    let json = sse::questions_json(view, snap.seq, snap.questions, "questions")?;
    Ok(json_text(StatusCode::OK, json))
}

#[tracing::instrument(name = "qa.create", skip_all, fields(event = tracing::field::Empty))]
async fn create(
    State(st): State<QaState>,
    p: Result<Path<String>, PathRejection>,
    ClientTag(addr): ClientTag,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, QaError> {
    let event = event_path(p)?;
    let settings = st.settings(&event)?;
    let viewer = st.viewer(&event, &settings, &headers)?;
    let mut body: PostQuestionBody = body_json(body)?;
    if settings.require_name && viewer.name.is_some() {
        // Named viewers ask under the name their token gives, whatever they type.
        body.name = viewer.name;
    }
    let new = model::validate_question(&event, &viewer.id, body)?;
    model::check_name_required(&new, &settings)?;
    let _turn = st.turns.take(&viewer.id).await?;
    let q = core::post(st.store.as_ref(), new, addr.as_deref(), &settings, st.now()).await?;
    tracing::debug!(id = q.id, status = q.status.as_str(), "question posted");
    Ok(no_store(
        (StatusCode::CREATED, Json(q.public())).into_response(),
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionBody {
    #[serde(default)]
    program_time: Option<ProgramTime>,
    /// With `answer`: the moderator's answer text.
    #[serde(default)]
    answer: Option<String>,
}

#[tracing::instrument(name = "qa.action", skip_all, fields(event = tracing::field::Empty, id = tracing::field::Empty))]
async fn act(
    State(st): State<QaState>,
    p: Result<Path<(String, String, String)>, PathRejection>,
    ClientTag(addr): ClientTag,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, QaError> {
    let (event, id, action) = path(p)?;
    tracing::Span::current().record("event", event.as_str());
    let id = question_id(&id)?;
    tracing::Span::current().record("id", id);
    if action == "vote" {
        let settings = st.settings(&event)?;
        let viewer = st.viewer(&event, &settings, &headers)?;
        let who = Who {
            viewer: &viewer.id,
            addr: addr.as_deref(),
        };
        let _turn = st.turns.take(&viewer.id).await?;
        let votes = core::vote(st.store.as_ref(), &event, id, who, &settings, st.now()).await?;
        return Ok(no_store(
            Json(serde_json::json!({ "id": id, "votes": votes })).into_response(),
        ));
    }
    let action = ModAction::parse(&action).ok_or(QaError::NoRoute)?;
    st.moderator(&event, &headers, None)?;
    let body: ActionBody = optional_body(body)?;
    if let Some(t) = body.program_time {
        model::check_program_time(t)?;
    }
    let answer = match body.answer.as_deref() {
        Some(a) => model::validate_answer(a)?,
        None => None,
    };
    let q = core::moderate(
        st.store.as_ref(),
        &event,
        id,
        action,
        body.program_time,
        answer,
        st.now(),
    )
    .await?;
    tracing::debug!(status = q.status.as_str(), pinned = q.pinned, "moderated");
    if q.status == model::Status::Answered {
        st.chapters_changed(&event).await;
    }
    Ok(no_store(Json(q).into_response()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BanBody {
    viewer: String,
}

#[tracing::instrument(name = "qa.ban", skip_all, fields(event = tracing::field::Empty))]
async fn ban(
    State(st): State<QaState>,
    p: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, QaError> {
    let event = event_path(p)?;
    st.moderator(&event, &headers, None)?;
    let settings = st.settings(&event)?;
    let body: BanBody = body_json(body)?;
    model::validate_viewer(&body.viewer)?;
    core::ban(st.store.as_ref(), &event, &body.viewer, &settings, st.now()).await?;
    Ok(no_store(
        Json(serde_json::json!({ "banned": body.viewer })).into_response(),
    ))
}

#[tracing::instrument(name = "qa.stream", skip_all, fields(event = tracing::field::Empty))]
async fn stream(
    State(st): State<QaState>,
    p: Result<Path<String>, PathRejection>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, QaError> {
    let (event, q, view) = questions_read(&st, p, q, &headers, Some("access"))?;
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .or(q.get("last_event_id").map(String::as_str))
        .and_then(|s| s.trim().parse::<i64>().ok());
    let frames = sse::open(Arc::clone(&st.store), event, view, last).await?;
    let body = Body::from_stream(frames.map(Ok::<_, std::convert::Infallible>));
    Ok((
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-store"),
            (header::HeaderName::from_static("x-accel-buffering"), "no"),
        ],
        body,
    )
        .into_response())
}
