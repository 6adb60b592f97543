//! `/api/admin/…`: the console's JSON API over the event operations `amphi event …`
//! uses too (`crate::events`). Every route takes [`Authed`] and checks the roles.

use super::auth::{self, Authed};
use super::recordings;
use super::reply;
use super::state::ConsoleState;
use crate::events::{embed_snippets, EventChanges, EventRecord, EventSummary};
use amphi_console::Action;
use amphi_ingest::{EventId, Protocol};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{delete, get, patch, post, MethodRouter};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use tracing::{info, warn};

/// Every route of the API, as `(method, path, handler)`: the router is built from this
/// table only, and the OpenAPI document must list each (checked by a test).
pub fn table() -> Vec<(&'static str, &'static str, MethodRouter<Arc<ConsoleState>>)> {
    vec![
        ("post", "/api/admin/login", post(auth::login)),
        ("post", "/api/admin/logout", post(auth::logout)),
        ("get", "/api/admin/session", get(auth::session)),
        ("get", "/api/admin/events", get(list)),
        ("post", "/api/admin/events", post(create)),
        ("get", "/api/admin/events/{id}", get(show)),
        ("patch", "/api/admin/events/{id}", patch(edit)),
        ("delete", "/api/admin/events/{id}", delete(remove)),
        ("get", "/api/admin/events/{id}/key", get(reveal_key)),
        (
            "post",
            "/api/admin/events/{id}/key/rotate",
            post(rotate_key),
        ),
        ("get", "/api/admin/events/{id}/publish", get(publish_info)),
        ("post", "/api/admin/events/{id}/end", post(end)),
        (
            "get",
            "/api/admin/events/{id}/recordings",
            get(recordings::list),
        ),
        (
            "delete",
            "/api/admin/events/{id}/recordings",
            delete(recordings::remove),
        ),
        (
            "get",
            "/api/admin/events/{id}/recordings/{rendition}/download",
            get(recordings::download),
        ),
    ]
}

pub fn routes() -> Router<Arc<ConsoleState>> {
    // Methods of one path merge into one route.
    table()
        .into_iter()
        .fold(Router::new(), |r, (_, path, handler)| {
            r.route(path, handler)
        })
}

/// An event as the console lists it: settings and whether it is live.
#[derive(Serialize)]
struct EventView {
    #[serde(flatten)]
    event: EventSummary,
    live: bool,
}

fn view(state: &ConsoleState, e: &EventRecord) -> EventView {
    let live = match (&state.hub, EventId::parse(&e.id)) {
        (Some(hub), Ok(id)) => hub.is_live(&id),
        _ => false,
    };
    EventView {
        event: EventSummary::from(e),
        live,
    }
}

/// The saved event `id`, or 404.
pub(super) fn saved(state: &ConsoleState, id: &str) -> Result<EventRecord, Response> {
    match state.events.load() {
        Ok(events) => events
            .into_iter()
            .find(|e| e.id == id)
            .ok_or_else(|| reply::error(StatusCode::NOT_FOUND, format!("no event {id}"))),
        Err(e) => Err(reply::failed(&e)),
    }
}

/// What a route answers: its reply, or why it refuses (a refusal, a failed operation).
pub(super) type Reply = Result<Response, Response>;

/// Runs `op` when the user may do `action`: a refusal, or `op`'s error, is the reply.
fn allowed<T>(
    authed: &Authed,
    action: Action<'_>,
    op: impl FnOnce() -> anyhow::Result<T>,
) -> Result<T, Response> {
    authed.require(action)?;
    op().map_err(|e| reply::failed(&e))
}

/// The saved event `id`, when the user may do `action` to it.
pub(super) fn event_for(
    state: &ConsoleState,
    authed: &Authed,
    action: Action<'_>,
    id: &str,
) -> Result<EventRecord, Response> {
    authed.require(action)?;
    saved(state, id)
}

/// A change to `event` is saved: the live directory follows it, the log says who.
fn changed(state: &ConsoleState, authed: &Authed, event: &str, what: &str) {
    if let Err(e) = state.reload() {
        warn!(error = %format!("{e:#}"), "console: re-reading the events failed");
    }
    info!(user = %authed.principal.user, %event, "console: {what}");
}

async fn list(State(state): State<Arc<ConsoleState>>, authed: Authed) -> Reply {
    let events = state.events.load().map_err(|e| reply::failed(&e))?;
    let visible: Vec<EventView> = events
        .iter()
        .filter(|e| authed.principal.may(Action::ViewEvent(&e.id)))
        .map(|e| view(&state, e))
        .collect();
    Ok(reply::ok(&visible))
}

#[derive(Deserialize)]
struct NewEvent {
    id: String,
    #[serde(flatten)]
    changes: EventChanges,
}

async fn create(
    State(state): State<Arc<ConsoleState>>,
    authed: Authed,
    Json(new): Json<NewEvent>,
) -> Reply {
    let e = allowed(&authed, Action::ManageEvents, || {
        state.events.create_with(&new.id, new.changes, None)
    })?;
    changed(&state, &authed, &e.id, "event created");
    Ok(reply::json(StatusCode::CREATED, &view(&state, &e)))
}

async fn show(
    State(state): State<Arc<ConsoleState>>,
    authed: Authed,
    Path(id): Path<String>,
) -> Reply {
    let e = event_for(&state, &authed, Action::ViewEvent(&id), &id)?;
    Ok(reply::ok(&view(&state, &e)))
}

async fn edit(
    State(state): State<Arc<ConsoleState>>,
    authed: Authed,
    Path(id): Path<String>,
    Json(changes): Json<EventChanges>,
) -> Reply {
    let e = allowed(&authed, Action::EditEvent(&id), || {
        state.events.edit(&id, changes)
    })?;
    changed(&state, &authed, &e.id, "event edited");
    Ok(reply::ok(&view(&state, &e)))
}

async fn remove(
    State(state): State<Arc<ConsoleState>>,
    authed: Authed,
    Path(id): Path<String>,
) -> Reply {
    allowed(&authed, Action::ManageEvents, || state.events.delete(&id))?;
    changed(&state, &authed, &id, "event deleted");
    Ok(reply::ok(&serde_json::json!({ "deleted": id })))
}

#[derive(Serialize)]
struct Secrets {
    stream_key: String,
    moderator_token: String,
    /// Signs viewer tokens of a private event.
    viewer_secret: Option<String>,
}

async fn reveal_key(
    State(state): State<Arc<ConsoleState>>,
    authed: Authed,
    Path(id): Path<String>,
) -> Reply {
    let e = allowed(&authed, Action::EditEvent(&id), || {
        state.events.secrets(&id)
    })?;
    info!(user = %authed.principal.user, event = %id, "console: stream key revealed");
    Ok(reply::ok(&Secrets {
        stream_key: e.stream_key,
        moderator_token: e.moderator_token,
        viewer_secret: e.private.then_some(e.viewer_secret),
    }))
}

async fn rotate_key(
    State(state): State<Arc<ConsoleState>>,
    authed: Authed,
    Path(id): Path<String>,
) -> Reply {
    let e = allowed(&authed, Action::EditEvent(&id), || {
        state.events.rotate_key(&id)
    })?;
    changed(&state, &authed, &id, "stream key rotated");
    Ok(reply::ok(
        &serde_json::json!({ "stream_key": e.stream_key }),
    ))
}

/// Everything a lecturer pastes into OBS or a course page.
#[derive(Serialize)]
struct PublishInfo {
    /// OBS: Settings → Stream → Service "Custom…", Server.
    rtmp_server: Option<String>,
    stream_key: String,
    /// OBS 30+ "WHIP" service (or a browser): Server; the Bearer token is the key.
    whip_url: String,
    watch_url: String,
    moderate_url: String,
    /// Encoder settings that suit the ladder (keyframes every 2 s).
    obs: serde_json::Value,
    embed: crate::events::EmbedSnippets,
}

async fn publish_info(
    State(state): State<Arc<ConsoleState>>,
    authed: Authed,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Reply {
    let e = allowed(&authed, Action::EditEvent(&id), || {
        state.events.secrets(&id)
    })?;
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let base = format!("{}://{host}", state.scheme());
    let hostname = host
        .rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(host, |(h, _)| h);
    let rtmp_server = state
        .rtmp_port
        .map(|port| format!("rtmp://{hostname}:{port}/live"));
    let info = PublishInfo {
        rtmp_server,
        whip_url: format!("{base}/whip/{}", e.id),
        watch_url: format!("{base}/watch/{}", e.id),
        moderate_url: format!("{base}/moderate/{}#token={}", e.id, e.moderator_token),
        obs: serde_json::json!({
            "service": "Custom...",
            "keyframe_interval_s": 2,
            "rate_control": "CBR",
            "video_bitrate_kbps": 4500,
            "audio_bitrate_kbps": 128,
            "tune": "zerolatency",
            "profile": "high",
        }),
        embed: embed_snippets(&base, &e.id, None),
        stream_key: e.stream_key,
    };
    Ok(reply::ok(&info))
}

/// `POST …/end`: the live publisher is disconnected at once (as a takeover by the
/// server would) and the event ends after the usual grace period. An encoder that
/// reconnects with the key starts it again: rotate the key to prevent that.
async fn end(
    State(state): State<Arc<ConsoleState>>,
    authed: Authed,
    Path(id): Path<String>,
) -> Reply {
    event_for(&state, &authed, Action::EditEvent(&id), &id)?;
    let Some(hub) = &state.hub else {
        return Err(reply::error(
            StatusCode::CONFLICT,
            "this process runs no ingest (--role origin): end the event on the packager",
        ));
    };
    let Ok(event) = EventId::parse(&id) else {
        return Err(reply::error(
            StatusCode::NOT_FOUND,
            format!("no event {id}"),
        ));
    };
    if !hub.is_live(&event) {
        return Err(reply::error(
            StatusCode::CONFLICT,
            format!("event {id} is not live"),
        ));
    }
    match hub.claim(event, Protocol::Rtmp, Some("console (end of event)".into())) {
        Ok(claim) => {
            drop(claim);
            info!(user = %authed.principal.user, event = %id, "console: live event ended");
            Ok(reply::ok(&serde_json::json!({ "ended": id })))
        }
        Err(e) => Err(reply::error(
            StatusCode::CONFLICT,
            format!("{e} (the event refuses takeovers: its publisher must stop)"),
        )),
    }
}
