//! HTTP API of the Q&A service (see [`router`]).
//!
//! Moderator authentication: `Authorization: Bearer <token>`, where the token
//! is the event's moderator secret provided by [`QaEvents`]. Because
//! EventSource and download links cannot set headers, the SSE stream, the
//! moderator list and the exports also accept `?token=<token>`: that URL is a
//! per-event secret link for moderators only. It is never put on media or
//! playlist URLs, which stay identical for every viewer and cacheable.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::StreamExt;
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::error::{QaError, StoreError};
use crate::export;
use crate::model::{self, EventQaSettings, ModAction, PostQuestionBody};
use crate::sse::{self, View};
use crate::store::{PgStore, QaStore, SqliteStore};

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Header carrying the opaque viewer id.
pub const VIEWER_HEADER: &str = "x-amphi-viewer";

/// What the binary knows about events: implemented by the binary.
pub trait QaEvents: Send + Sync + 'static {
    /// The event's moderator secret; `None` disables moderation for it.
    fn moderator_token(&self, event: &str) -> Option<String>;
    /// The event's Q&A settings; `None` means the event does not exist (404).
    fn settings(&self, event: &str) -> Option<EventQaSettings>;
}

type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Shared state of the Q&A routes. Cheap to clone.
#[derive(Clone)]
pub struct QaState {
    store: Arc<dyn QaStore>,
    events: Arc<dyn QaEvents>,
    clock: Clock,
}

impl std::fmt::Debug for QaState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QaState").finish_non_exhaustive()
    }
}

/// Wall clock in ms since the Unix epoch.
pub fn system_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl QaState {
    /// State over any store.
    pub fn new(store: Arc<dyn QaStore>, events: Arc<dyn QaEvents>) -> QaState {
        QaState {
            store,
            events,
            clock: Arc::new(system_clock_ms),
        }
    }

    /// State over a SQLite file (created if missing), e.g. `<data dir>/qa.sqlite3`.
    pub async fn sqlite(
        path: impl AsRef<std::path::Path>,
        events: Arc<dyn QaEvents>,
    ) -> Result<QaState, StoreError> {
        Ok(QaState::new(
            Arc::new(SqliteStore::open(path).await?),
            events,
        ))
    }

    /// State over PostgreSQL (`postgres://user@host:port/db`), for several origins.
    pub async fn postgres(url: &str, events: Arc<dyn QaEvents>) -> Result<QaState, StoreError> {
        Ok(QaState::new(Arc::new(PgStore::connect(url).await?), events))
    }

    /// Replaces the wall clock (tests).
    pub fn with_clock(mut self, clock: impl Fn() -> i64 + Send + Sync + 'static) -> QaState {
        self.clock = Arc::new(clock);
        self
    }

    /// The underlying store.
    pub fn store(&self) -> &Arc<dyn QaStore> {
        &self.store
    }

    fn now(&self) -> i64 {
        (self.clock)()
    }

    fn settings(&self, event: &str) -> Result<EventQaSettings, QaError> {
        model::validate_event_name(event)?;
        self.events.settings(event).ok_or(QaError::UnknownEvent)
    }

    /// Checks the moderator token from the `Authorization` header or `query_token`.
    fn moderator(
        &self,
        event: &str,
        headers: &HeaderMap,
        query_token: Option<&str>,
    ) -> Result<(), QaError> {
        self.settings(event)?;
        let expected = self
            .events
            .moderator_token(event)
            .filter(|t| !t.is_empty())
            .ok_or(QaError::Unauthorized)?;
        let given = bearer(headers)
            .or(query_token)
            .ok_or(QaError::Unauthorized)?;
        if bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
            Ok(())
        } else {
            Err(QaError::Unauthorized)
        }
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn viewer(headers: &HeaderMap) -> Result<String, QaError> {
    let v = headers
        .get(VIEWER_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or(QaError::InvalidViewer)?;
    model::validate_viewer(v)?;
    Ok(v.to_owned())
}

fn body_json<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, QaError> {
    let bytes = body.map_err(|_| QaError::BodyTooLarge)?;
    serde_json::from_slice(&bytes).map_err(|e| QaError::InvalidInput {
        field: "body",
        reason: format!("not the expected JSON: {e}"),
    })
}

fn path<T>(p: Result<Path<T>, PathRejection>) -> Result<T, QaError> {
    p.map(|Path(t)| t).map_err(|_| QaError::NoRoute)
}

fn query(
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<HashMap<String, String>, QaError> {
    q.map(|Query(m)| m).map_err(|_| QaError::InvalidInput {
        field: "query",
        reason: "malformed query string".to_owned(),
    })
}

fn question_id(raw: &str) -> Result<i64, QaError> {
    raw.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or(QaError::NoRoute)
}

fn no_store(mut resp: Response) -> Response {
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

fn json_text(status: StatusCode, json: String) -> Response {
    no_store(
        (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            json,
        )
            .into_response(),
    )
}

/// The Q&A routes, to be mounted at the root:
///
/// - `GET  /api/qa/{event}/questions[?view=moderator]`
/// - `POST /api/qa/{event}/questions` (`X-Amphi-Viewer`) `{text, name?, program_time?}`
/// - `POST /api/qa/{event}/questions/{id}/vote` (`X-Amphi-Viewer`)
/// - `POST /api/qa/{event}/questions/{id}/{approve|hide|answer|pin|unpin}` (moderator)
///   with an optional body `{program_time}`
/// - `POST /api/qa/{event}/bans` (moderator) `{viewer}`
/// - `GET  /api/qa/{event}/stream[?view=moderator&token=…]` (SSE)
/// - `GET  /api/qa/{event}/export.csv`, `export.json` (moderator)
pub fn router(state: QaState) -> Router {
    Router::new()
        .route("/api/qa/{event}/questions", get(list).post(create))
        .route("/api/qa/{event}/questions/{id}/{action}", post(act))
        .route("/api/qa/{event}/bans", post(ban))
        .route("/api/qa/{event}/stream", get(stream))
        .route("/api/qa/{event}/export.csv", get(export_csv))
        .route("/api/qa/{event}/export.json", get(export_json))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

fn wants_moderator(q: &HashMap<String, String>) -> bool {
    q.get("view").map(String::as_str) == Some("moderator")
}

#[tracing::instrument(name = "qa.list", skip_all, fields(event = tracing::field::Empty))]
async fn list(
    State(st): State<QaState>,
    p: Result<Path<String>, PathRejection>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, QaError> {
    let event = path(p)?;
    tracing::Span::current().record("event", event.as_str());
    let q = query(q)?;
    st.settings(&event)?;
    let view = if wants_moderator(&q) {
        st.moderator(&event, &headers, q.get("token").map(String::as_str))?;
        View::Moderator
    } else {
        View::Viewer
    };
    let snap = st.store.snapshot(&event).await?;
    let json = sse::questions_json(view, snap.seq, snap.questions, "questions")?;
    Ok(json_text(StatusCode::OK, json))
}

#[tracing::instrument(name = "qa.create", skip_all, fields(event = tracing::field::Empty))]
async fn create(
    State(st): State<QaState>,
    p: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, QaError> {
    let event = path(p)?;
    tracing::Span::current().record("event", event.as_str());
    let settings = st.settings(&event)?;
    let viewer = viewer(&headers)?;
    let body: PostQuestionBody = body_json(body)?;
    let new = model::validate_question(&event, &viewer, body)?;
    model::check_name_required(&new, &settings)?;
    let q = st.store.post(new, settings, st.now()).await?;
    tracing::debug!(id = q.id, status = q.status.as_str(), "question posted");
    Ok(no_store(
        (StatusCode::CREATED, Json(q.public())).into_response(),
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ActionBody {
    #[serde(default)]
    program_time: Option<i64>,
}

#[tracing::instrument(name = "qa.action", skip_all, fields(event = tracing::field::Empty, id = tracing::field::Empty))]
async fn act(
    State(st): State<QaState>,
    p: Result<Path<(String, String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, QaError> {
    let (event, id, action) = path(p)?;
    tracing::Span::current().record("event", event.as_str());
    let id = question_id(&id)?;
    tracing::Span::current().record("id", id);
    if action == "vote" {
        st.settings(&event)?;
        let viewer = viewer(&headers)?;
        let votes = st.store.vote(&event, id, &viewer, st.now()).await?;
        return Ok(no_store(
            Json(serde_json::json!({ "id": id, "votes": votes })).into_response(),
        ));
    }
    let action = ModAction::parse(&action).ok_or(QaError::NoRoute)?;
    st.moderator(&event, &headers, None)?;
    let body: ActionBody = match body {
        Ok(b) if b.iter().all(u8::is_ascii_whitespace) => ActionBody::default(),
        other => body_json(other)?,
    };
    if let Some(t) = body.program_time {
        if !model::PROGRAM_TIME_RANGE.contains(&t) {
            return Err(QaError::InvalidInput {
                field: "program_time",
                reason: "out of range".to_owned(),
            });
        }
    }
    let q = st
        .store
        .moderate(&event, id, action, body.program_time, st.now())
        .await?;
    tracing::debug!(status = q.status.as_str(), pinned = q.pinned, "moderated");
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
    let event = path(p)?;
    tracing::Span::current().record("event", event.as_str());
    st.moderator(&event, &headers, None)?;
    let body: BanBody = body_json(body)?;
    model::validate_viewer(&body.viewer)?;
    st.store.ban(&event, &body.viewer, st.now()).await?;
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
    let event = path(p)?;
    tracing::Span::current().record("event", event.as_str());
    let q = query(q)?;
    st.settings(&event)?;
    let view = if wants_moderator(&q) {
        st.moderator(&event, &headers, q.get("token").map(String::as_str))?;
        View::Moderator
    } else {
        View::Viewer
    };
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

async fn export_questions(
    st: &QaState,
    p: Result<Path<String>, PathRejection>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
    headers: &HeaderMap,
) -> Result<(String, Vec<crate::model::Question>), QaError> {
    let event = path(p)?;
    let q = query(q)?;
    st.moderator(&event, headers, q.get("token").map(String::as_str))?;
    let snap = st.store.snapshot(&event).await?;
    Ok((event, snap.questions))
}

fn attachment(content_type: &'static str, filename: String, body: String) -> Response {
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    no_store(
        (
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
                (header::CONTENT_DISPOSITION, disposition),
            ],
            body,
        )
            .into_response(),
    )
}

#[tracing::instrument(name = "qa.export_csv", skip_all)]
async fn export_csv(
    State(st): State<QaState>,
    p: Result<Path<String>, PathRejection>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, QaError> {
    let (event, questions) = export_questions(&st, p, q, &headers).await?;
    Ok(attachment(
        "text/csv; charset=utf-8",
        format!("qa-{event}.csv"),
        export::to_csv(&questions),
    ))
}

#[tracing::instrument(name = "qa.export_json", skip_all)]
async fn export_json(
    State(st): State<QaState>,
    p: Result<Path<String>, PathRejection>,
    q: Result<Query<HashMap<String, String>>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, QaError> {
    let (event, questions) = export_questions(&st, p, q, &headers).await?;
    let json = serde_json::to_string(&questions).map_err(StoreError::from)?;
    Ok(attachment(
        "application/json",
        format!("qa-{event}.json"),
        json,
    ))
}
