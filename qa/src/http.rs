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

/// Largest accepted request body.
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Name of the server's viewer-id key in the store.
const KEY_NAME: &str = "viewer-id-key";

/// What a valid viewer token of a private event grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenClaims {
    pub expires_unix: u64,
    /// The viewer's display name, when the token names its viewer.
    pub name: Option<String>,
}

/// What the binary knows about events: implemented by the binary.
pub trait QaEvents: Send + Sync + 'static {
    /// The event's moderator secret; `None` disables moderation for it.
    fn moderator_token(&self, event: &str) -> Option<String>;
    /// The event's Q&A settings; `None` means the event does not exist (404).
    fn settings(&self, event: &str) -> Option<EventQaSettings>;
    /// Checks a viewer token of the event at `now_unix` (the same check as the
    /// origin's for media); `None` when it is not valid.
    fn check_viewer_token(&self, event: &str, token: &str, now_unix: u64) -> Option<TokenClaims>;
}

type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;
/// Finds a request's client address (e.g. the peer, or `X-Forwarded-For` from a
/// trusted proxy).
pub type ClientAddrFn = Arc<dyn Fn(&Parts) -> Option<IpAddr> + Send + Sync>;

/// Shared state of the Q&A routes. Cheap to clone.
#[derive(Clone)]
pub struct QaState {
    store: Arc<dyn QaStore>,
    events: Arc<dyn QaEvents>,
    clock: Clock,
    key: Arc<[u8]>,
    client_addr: ClientAddrFn,
    chapter_listener: Option<Arc<dyn ChapterListener>>,
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

/// The TCP peer of the request, when the server records it (`ConnectInfo`).
pub fn peer_addr(parts: &Parts) -> Option<IpAddr> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
}

fn fresh_key() -> String {
    rand::random::<[u8; 32]>()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl QaState {
    /// State over any store; reads (or creates) the viewer-id key it holds.
    pub async fn new(
        store: Arc<dyn QaStore>,
        events: Arc<dyn QaEvents>,
    ) -> Result<QaState, StoreError> {
        let key = store.secret(KEY_NAME, &fresh_key()).await?;
        Ok(QaState {
            store,
            events,
            clock: Arc::new(system_clock_ms),
            key: Arc::from(key.into_bytes()),
            client_addr: Arc::new(peer_addr),
            chapter_listener: None,
        })
    }

    /// State over a SQLite file (created if missing), e.g. `<data dir>/qa.sqlite3`.
    pub async fn sqlite(
        path: impl AsRef<std::path::Path>,
        events: Arc<dyn QaEvents>,
    ) -> Result<QaState, StoreError> {
        QaState::new(Arc::new(SqliteStore::open(path).await?), events).await
    }

    /// State over PostgreSQL (`postgres://user@host:port/db`), for several origins.
    pub async fn postgres(url: &str, events: Arc<dyn QaEvents>) -> Result<QaState, StoreError> {
        QaState::new(Arc::new(PgStore::connect(url).await?), events).await
    }

    /// Replaces the wall clock (tests).
    pub fn with_clock(mut self, clock: impl Fn() -> i64 + Send + Sync + 'static) -> QaState {
        self.clock = Arc::new(clock);
        self
    }

    /// Replaces how a request's client address is found (default: [`peer_addr`]).
    pub fn with_client_addr(
        mut self,
        client_addr: impl Fn(&Parts) -> Option<IpAddr> + Send + Sync + 'static,
    ) -> QaState {
        self.client_addr = Arc::new(client_addr);
        self
    }

    /// Tells `listener` each event's whole list of markers after every change.
    pub fn with_chapter_listener(mut self, listener: Arc<dyn ChapterListener>) -> QaState {
        self.chapter_listener = Some(listener);
        self
    }

    /// Every marker of the event, by program time.
    pub async fn chapters(&self, event: &str) -> Result<Vec<Chapter>, StoreError> {
        self.store.chapters(event).await
    }

    /// Hands the event's markers to the listener, if any.
    async fn chapters_changed(&self, event: &str) {
        let Some(listener) = &self.chapter_listener else {
            return;
        };
        match self.store.chapters(event).await {
            Ok(list) => listener.chapters_changed(event, &list),
            Err(e) => tracing::warn!(error = %e, "reading the event's chapters back"),
        }
    }

    /// The underlying store.
    pub fn store(&self) -> &Arc<dyn QaStore> {
        &self.store
    }

    fn now(&self) -> i64 {
        (self.clock)()
    }

    fn now_unix(&self) -> u64 {
        u64::try_from(self.now() / 1000).unwrap_or(0)
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

    /// The signed viewer id a request carries as its bearer value.
    fn viewer(
        &self,
        event: &str,
        settings: &EventQaSettings,
        headers: &HeaderMap,
    ) -> Result<ViewerId, QaError> {
        let given = bearer(headers).ok_or(QaError::InvalidViewer)?;
        identity::verify(&self.key, event, settings.private, given, self.now_unix())
            .map_err(|_| QaError::InvalidViewer)
    }

    /// Whether a viewer may read a private event's questions with `credential`
    /// (a viewer id minted for it, or its viewer token). Public events: anyone.
    fn may_read(
        &self,
        event: &str,
        settings: &EventQaSettings,
        credential: Option<&str>,
    ) -> Result<(), QaError> {
        if !settings.private {
            return Ok(());
        }
        let given = credential.ok_or(QaError::TokenRequired)?;
        let now = self.now_unix();
        let id_ok = identity::verify(&self.key, event, true, given, now).is_ok();
        if id_ok || self.events.check_viewer_token(event, given, now).is_some() {
            Ok(())
        } else {
            Err(QaError::TokenRequired)
        }
    }
}

/// The tag of the request's client address (see [`identity::address_tag`]).
struct ClientTag(Option<String>);

impl FromRequestParts<QaState> for ClientTag {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, st: &QaState) -> Result<Self, Self::Rejection> {
        Ok(ClientTag(
            (st.client_addr)(parts).map(|ip| identity::address_tag(&st.key, ip)),
        ))
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
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

fn wants_moderator(q: &HashMap<String, String>) -> bool {
    q.get("view").map(String::as_str) == Some("moderator")
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
    let event = path(p)?;
    tracing::Span::current().record("event", event.as_str());
    let settings = st.settings(&event)?;
    let body: MintBody = optional_body(body)?;
    let now_unix = st.now_unix();
    let mut expires_unix = now_unix.saturating_add(identity::VIEWER_ID_TTL_SECS);
    let mut name = None;
    if settings.private {
        let claims = body
            .token
            .as_deref()
            .and_then(|t| st.events.check_viewer_token(&event, t, now_unix))
            .ok_or(QaError::TokenRequired)?;
        expires_unix = expires_unix.min(claims.expires_unix);
        name = claims.name.and_then(token_name);
    }
    let renewed = body
        .viewer
        .as_deref()
        .and_then(|v| identity::verify(&st.key, &event, settings.private, v, now_unix).ok());
    let (id, fresh) = match renewed {
        Some(v) => (v.id, false),
        None => (identity::new_id(rand::random()), true),
    };
    let who = Who {
        viewer: &id,
        addr: addr.as_deref(),
    };
    core::admit_viewer_id(st.store.as_ref(), &event, who, fresh, &settings, st.now()).await?;
    let v = ViewerId {
        id,
        expires_unix,
        name,
    };
    let signed = identity::sign(&st.key, &event, settings.private, &v);
    tracing::debug!(fresh, "viewer id issued");
    Ok(no_store(
        Json(serde_json::json!({
            "viewer": signed,
            "id": v.id,
            "expires_at": v.expires_unix,
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
    let event = path(p)?;
    tracing::Span::current().record("event", event.as_str());
    let q = query(q)?;
    let settings = st.settings(&event)?;
    let view = if wants_moderator(&q) {
        st.moderator(&event, &headers, q.get("token").map(String::as_str))?;
        View::Moderator
    } else {
        st.may_read(&event, &settings, bearer(&headers))?;
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
    ClientTag(addr): ClientTag,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, QaError> {
    let event = path(p)?;
    tracing::Span::current().record("event", event.as_str());
    let settings = st.settings(&event)?;
    let viewer = st.viewer(&event, &settings, &headers)?;
    let mut body: PostQuestionBody = body_json(body)?;
    if settings.require_name && viewer.name.is_some() {
        // Named viewers ask under the name their token gives, whatever they type.
        body.name = viewer.name;
    }
    let new = model::validate_question(&event, &viewer.id, body)?;
    model::check_name_required(&new, &settings)?;
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
    let q = core::moderate(
        st.store.as_ref(),
        &event,
        id,
        action,
        body.program_time,
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
    let event = path(p)?;
    tracing::Span::current().record("event", event.as_str());
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
    let event = path(p)?;
    tracing::Span::current().record("event", event.as_str());
    let q = query(q)?;
    let settings = st.settings(&event)?;
    let view = if wants_moderator(&q) {
        st.moderator(&event, &headers, q.get("token").map(String::as_str))?;
        View::Moderator
    } else {
        let credential = bearer(&headers).or(q.get("access").map(String::as_str));
        st.may_read(&event, &settings, credential)?;
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

/// `max-age` of the public chapters list: markers show within a few seconds while a
/// cache answers the audience.
pub const CHAPTERS_MAX_AGE: u32 = 2;

#[tracing::instrument(name = "qa.chapters", skip_all, fields(event = tracing::field::Empty))]
async fn list_chapters(
    State(st): State<QaState>,
    p: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, QaError> {
    let event = path(p)?;
    tracing::Span::current().record("event", event.as_str());
    let settings = st.settings(&event)?;
    st.may_read(&event, &settings, bearer(&headers))?;
    let list = st.store.chapters(&event).await?;
    let json = serde_json::to_string(&serde_json::json!({ "chapters": list }))
        .map_err(StoreError::from)?;
    let mut resp = json_text(StatusCode::OK, json);
    let cache = if settings.private {
        HeaderValue::from_static("private, no-store")
    } else {
        HeaderValue::from_str(&format!("public, max-age={CHAPTERS_MAX_AGE}"))
            .unwrap_or_else(|_| HeaderValue::from_static("no-store"))
    };
    resp.headers_mut().insert(header::CACHE_CONTROL, cache);
    resp.headers_mut().insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    Ok(resp)
}

#[tracing::instrument(name = "qa.add_chapter", skip_all, fields(event = tracing::field::Empty))]
async fn add_chapter(
    State(st): State<QaState>,
    p: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, QaError> {
    let event = path(p)?;
    tracing::Span::current().record("event", event.as_str());
    st.moderator(&event, &headers, None)?;
    let body: PostChapterBody = body_json(body)?;
    let chapter = chapters::add(st.store.as_ref(), &event, &body, st.now()).await?;
    tracing::debug!(id = %chapter.id, program_time = chapter.program_time.unix_millis(), "chapter added");
    st.chapters_changed(&event).await;
    Ok(no_store(
        (StatusCode::CREATED, Json(chapter)).into_response(),
    ))
}
