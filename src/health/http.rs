//! The health and green-room API, for an event's lecturer and moderators:
//!
//! - `GET /api/events/{event}/health`: the last sampled [`EventHealth`] and the event's
//!   stage (in preview or open, when it went live, the preview playlist);
//! - `POST /api/events/{event}/go-live`: opens an event in preview to viewers; the
//!   answer carries the program date-time of that moment, where the lecture starts,
//!   and that moment becomes the event's "Lecture starts" chapter.
//!
//! Two ways in: the event's moderator token as `Authorization: Bearer …` (the green
//! room page; a browser never sends a bearer header on its own, so no CSRF token), or
//! a console session cookie of a user whose roles moderate the event (admin, lecturer
//! of the event, moderator), with the console's CSRF token and `Origin` on Go live.
//!
//! And the CMCD tap: a middleware that reads players' CMCD on `/live/{event}/…` requests.

// Handlers refuse with a ready `Response` (axum's own rejection style); its size does
// not matter on these low-rate routes.
#![allow(clippy::result_large_err)]

use super::{rfc3339, EventHealth, HealthBoard};
use crate::admin::{Authed, ConsoleState};
use crate::events::{constant_time_eq, Directory, EventsFileStore};
use amphi_console::Action;
use amphi_qa::QaEvents;
use axum::extract::{FromRequestParts, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::{Json, Router};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Arc;
use tracing::{debug, info, warn};

pub struct HealthApi {
    pub board: HealthBoard,
    pub directory: Arc<Directory>,
    /// Where `events.json` is (Go live is saved there for saved events).
    pub data_dir: PathBuf,
    /// The console's sessions: a logged-in user may use these routes too.
    pub console: Option<Arc<ConsoleState>>,
    /// Where Go live marks the start of the lecture as a chapter.
    pub qa: Option<amphi_qa::QaState>,
}

/// The chapter Go live adds at the moment the event opens.
pub const START_CHAPTER: &str = "Lecture starts";

/// The stage of an event: in the green room or open to viewers.
#[derive(Debug, Serialize)]
pub struct Stage {
    pub preview: bool,
    /// Program date-time of the last Go live (RFC 3339).
    pub went_live_at: Option<String>,
    /// The preview's multivariant playlist (never cached; for moderators only).
    pub preview_playlist: String,
    pub title: String,
    pub starts_at: Option<String>,
}

#[derive(Serialize)]
struct Answer {
    #[serde(flatten)]
    health: Option<EventHealth>,
    stage: Stage,
}

/// Every route, as `(method, path, handler)`: the router is built from this table
/// only, and the console's OpenAPI document must list each (checked by a test).
pub fn table() -> Vec<(&'static str, &'static str, MethodRouter<Arc<HealthApi>>)> {
    vec![
        ("get", "/api/events/{event}/health", get(health)),
        ("post", "/api/events/{event}/go-live", post(go_live)),
    ]
}

pub fn routes(api: Arc<HealthApi>) -> Router {
    table()
        .into_iter()
        .fold(Router::new(), |r, (_, path, handler)| {
            r.route(path, handler)
        })
        .with_state(api)
}

fn reply(status: StatusCode, body: impl Serialize) -> Response {
    let mut res = (status, Json(body)).into_response();
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    res
}

fn refuse(status: StatusCode, message: &str) -> Response {
    reply(status, serde_json::json!({ "error": message }))
}

/// Who may use the routes of `event`: the bearer of its moderator token, or a console
/// session whose roles moderate it (CSRF-checked on Go live by [`Authed`]). 404 for an
/// unknown event, 401 without either, 403 for a session of a user without the role.
async fn authorize(
    api: &HealthApi,
    event: &str,
    parts: &mut Parts,
    path: &str,
) -> Result<(), Response> {
    let Some(expected) = api.directory.moderator_token(event) else {
        return Err(refuse(StatusCode::NOT_FOUND, "no such event"));
    };
    let given = amphi_qa::http::bearer(&parts.headers);
    match given {
        Some(t) if constant_time_eq(t.as_bytes(), expected.as_bytes()) => Ok(()),
        Some(_) => {
            warn!(%event, %path, "health request refused: wrong moderator token");
            Err(refuse(StatusCode::UNAUTHORIZED, "wrong moderator token"))
        }
        None if has_cookie(&parts.headers) && api.console.is_some() => {
            let Some(console) = &api.console else {
                return Err(refuse(StatusCode::UNAUTHORIZED, "no console here"));
            };
            let authed = Authed::from_request_parts(parts, console).await?;
            authed.require(Action::Moderate(event))?;
            debug!(%event, %path, user = %authed.principal.user, "health request of a console user");
            Ok(())
        }
        None => {
            warn!(%event, %path, "health request refused: no moderator token");
            Err(refuse(
                StatusCode::UNAUTHORIZED,
                "the event's moderator token (Authorization: Bearer …) or a console session is needed",
            ))
        }
    }
}

fn has_cookie(headers: &HeaderMap) -> bool {
    headers.contains_key(header::COOKIE)
}

fn stage(api: &HealthApi, event: &str) -> Option<Stage> {
    let record = api.directory.list().into_iter().find(|e| e.id == event)?;
    let key = amphi_origin::preview::preview_key(&record.moderator_token, &record.id);
    Some(Stage {
        preview: record.preview,
        went_live_at: record.went_live_at,
        preview_playlist: format!("/live/{event}/p/{key}/master.m3u8"),
        title: record.title,
        starts_at: record.starts_at,
    })
}

async fn health(
    State(api): State<Arc<HealthApi>>,
    Path(event): Path<String>,
    mut parts: Parts,
) -> Response {
    if let Err(res) = authorize(&api, &event, &mut parts, "health").await {
        return res;
    }
    let Some(stage) = stage(&api, &event) else {
        return refuse(StatusCode::NOT_FOUND, "no such event");
    };
    // Before the first sample (a second at most) the stage alone.
    let health = api.board.report(&event);
    reply(StatusCode::OK, Answer { health, stage })
}

#[derive(Serialize)]
struct WentLive {
    event: String,
    /// Program date-time (RFC 3339) of the moment the event opened: the start of the
    /// lecture in the recording.
    went_live_at: String,
    program_time_ms: i64,
    /// It was open already: nothing changed.
    already: bool,
}

async fn go_live(
    State(api): State<Arc<HealthApi>>,
    Path(event): Path<String>,
    mut parts: Parts,
) -> Response {
    if let Err(res) = authorize(&api, &event, &mut parts, "go-live").await {
        return res;
    }
    let Some(before) = stage(&api, &event) else {
        return refuse(StatusCode::NOT_FOUND, "no such event");
    };
    if !before.preview {
        let at = before.went_live_at.unwrap_or_default();
        let ms = parse_ms(&at).unwrap_or(0);
        return reply(
            StatusCode::OK,
            WentLive {
                event,
                went_live_at: at,
                program_time_ms: ms,
                already: true,
            },
        );
    }
    // The program clock is the ingest's wall clock: the frames arriving now carry
    // this program date-time.
    let now = std::time::SystemTime::now();
    let at = rfc3339(now);
    let ms = now
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let file = EventsFileStore::new(&api.data_dir);
    let saved = file
        .load()
        .map(|events| events.iter().any(|e| e.id == event))
        .unwrap_or(false);
    if saved {
        if let Err(e) = file.go_live(&event, &at) {
            warn!(%event, error = %e, "go live: saving the event failed");
            return refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the event could not be saved",
            );
        }
    }
    if api.directory.go_live(&event, &at).is_none() {
        return refuse(StatusCode::NOT_FOUND, "no such event");
    }
    info!(%event, went_live_at = %at, "go live: the event is open to viewers");
    if let Some(qa) = &api.qa {
        let chapter = amphi_qa::chapters::PostChapterBody {
            text: START_CHAPTER.to_owned(),
            program_time: amphi_qa::model::ProgramTime::from_unix_millis(ms),
        };
        if let Err(e) = qa.add_chapter(&event, &chapter).await {
            warn!(%event, error = %e, "go live: the start could not be marked as a chapter");
        }
    }
    reply(
        StatusCode::OK,
        WentLive {
            event,
            went_live_at: at,
            program_time_ms: ms,
            already: false,
        },
    )
}

fn parse_ms(rfc3339: &str) -> Option<i64> {
    let t = time::OffsetDateTime::parse(rfc3339, &time::format_description::well_known::Rfc3339)
        .ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// Reads players' CMCD on `/live/{event}/…` requests of known events into the board.
pub async fn cmcd_tap(State(api): State<Arc<HealthApi>>, req: Request, next: Next) -> Response {
    if let Some((event, _)) = req
        .uri()
        .path()
        .strip_prefix("/live/")
        .and_then(|rest| rest.split_once('/'))
    {
        if let Some(c) = amphi_origin::cmcd::from_request(req.uri().query(), req.headers()) {
            if c.sid.is_some() && api.directory.moderator_token(event).is_some() {
                api.board.record_cmcd(event, c, std::time::Instant::now());
            }
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_time_round_trip() {
        let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(1_764_000_000_123);
        let s = rfc3339(t);
        assert_eq!(s, "2025-11-24T16:00:00.123Z");
        assert_eq!(parse_ms(&s), Some(1_764_000_000_123));
    }
}
