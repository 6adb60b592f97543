//! `GET /live/{event}/{*rest}`: playlists, init segments, segments and parts from the
//! store, with LL-HLS blocking playlist reload and blocking preload-hint requests.
//!
//! Nothing here keeps state between requests: a blocking request subscribes to the
//! store's notifications, re-reads the object it waits for when its key is announced
//! (or when it lagged), and gives up at a deadline derived from the target duration.

use crate::budget::{HeldPermit, HeldRefusal};
use crate::client_addr::ClientAddr;
use crate::edge::{self, decide_media, decide_playlist, MediaDecision, PlaylistDecision};
use crate::token::{self, TokenError};
use crate::waiters::Watch;
use crate::{preview, query, Access, AppState};
use amphi_hls::names::{self, MediaName};
use amphi_hls::playlist::PlaylistEdge;
use amphi_hls::store::{ContentType, Object, Store, StoreError};
use amphi_time::WallTime;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use bytes::Bytes;
use std::net::IpAddr;
use std::sync::Arc;
use tokio::time::Instant;
use tracing::{debug, warn};

/// Parts, segments and init segments never change once written.
pub(crate) const CACHE_IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// A plain media playlist request: about one part.
pub(crate) const CACHE_PLAYLIST: &str = "public, max-age=1";
/// A blocking request is cacheable by its full URL: a CDN collapses identical ones.
pub(crate) const CACHE_BLOCKING: &str = "public, max-age=6";
pub(crate) const CACHE_MASTER: &str = "public, max-age=2";
/// Errors on live names: what is missing now may exist a moment later.
pub(crate) const CACHE_ERROR: &str = "no-cache";
/// `Retry-After` (seconds) of a blocking request that timed out.
pub(crate) const RETRY_AFTER_SECS: u32 = 1;

/// Why a live request was refused; the reason is sent as the body and logged.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LiveError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(&'static str),
    #[error("{0}")]
    Unavailable(&'static str),
    /// The held-request budget is spent (per process or per client address).
    #[error("{0}")]
    Busy(&'static str),
    #[error("this event is private: the path needs a viewer token, /live/{{event}}/t/{{token}}/…")]
    Unauthorized,
    #[error(transparent)]
    Forbidden(TokenError),
    #[error("wrong preview key for this event")]
    BadPreviewKey,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl LiveError {
    fn status(&self) -> StatusCode {
        match self {
            LiveError::BadRequest(_) => StatusCode::BAD_REQUEST,
            LiveError::NotFound(_) => StatusCode::NOT_FOUND,
            LiveError::Unavailable(_) | LiveError::Busy(_) => StatusCode::SERVICE_UNAVAILABLE,
            LiveError::Unauthorized => StatusCode::UNAUTHORIZED,
            LiveError::Forbidden(_) | LiveError::BadPreviewKey => StatusCode::FORBIDDEN,
            LiveError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for LiveError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match &self {
            LiveError::Store(_) => "store error\n".to_owned(),
            other => format!("{other}\n"),
        };
        let mut res = (status, body).into_response();
        let headers = res.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(CACHE_ERROR));
        if let LiveError::Busy(_) = self {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from(crate::budget::BUDGET_RETRY_AFTER_SECS),
            );
        } else if status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        res
    }
}

/// What a `/live/{event}/…` path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target<'a> {
    Master,
    Media {
        rendition: &'a str,
        file: &'a str,
        name: MediaName,
    },
}

/// Event ids: 1 to 64 characters of a-z, 0-9, '-' and '_' (as the ingest accepts).
pub(crate) fn valid_event(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

pub(crate) fn valid_rendition(r: &str) -> bool {
    !r.is_empty()
        && r.len() <= 32
        && r.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub(crate) fn parse_target(rest: &str) -> Option<Target<'_>> {
    if rest == "master.m3u8" {
        return Some(Target::Master);
    }
    let (rendition, file) = rest.split_once('/')?;
    if !valid_rendition(rendition) {
        return None;
    }
    let name = names::parse_media_name(file)?;
    Some(Target::Media {
        rendition,
        file,
        name,
    })
}

/// Splits a viewer token off `t/{token}/{name}`; other paths have none.
pub(crate) fn split_token(rest: &str) -> (Option<&str>, &str) {
    match rest.strip_prefix("t/").and_then(|r| r.split_once('/')) {
        Some((token, name)) => (Some(token), name),
        None => (None, rest),
    }
}

/// Whether a request with `token` (from the path) may read `event` at `now`.
pub(crate) fn check_access(
    access: &Access,
    event: &str,
    token: Option<&str>,
    now: WallTime,
) -> Result<(), LiveError> {
    match access {
        Access::Public => Ok(()),
        Access::Private { viewer_secret } => {
            let token = token.ok_or(LiveError::Unauthorized)?;
            token::verify(viewer_secret.as_bytes(), event, token, now)
                .map(|_| ())
                .map_err(LiveError::Forbidden)
        }
    }
}

/// The request path for logs, with a viewer token replaced by `<token>`.
pub(crate) fn redact_path(path: &str) -> std::borrow::Cow<'_, str> {
    let Some((event, rest)) = path.strip_prefix("/live/").and_then(|p| p.split_once('/')) else {
        return path.into();
    };
    if let (Some(_), name) = preview::split_preview(rest) {
        return format!("/live/{event}/p/<key>/{name}").into();
    }
    match split_token(rest) {
        (Some(_), name) => format!("/live/{event}/t/<token>/{name}").into(),
        (None, _) => path.into(),
    }
}

/// This machine's wall clock, the one viewer tokens are checked against.
pub(crate) fn wall_now() -> WallTime {
    WallTime::from(std::time::SystemTime::now())
}

pub(crate) async fn handle(
    State(state): State<Arc<AppState>>,
    Path((event, rest)): Path<(String, String)>,
    client: Option<Extension<ClientAddr>>,
    uri: Uri,
) -> Response {
    let (preview_key, rest) = preview::split_preview(&rest);
    let (token, name) = split_token(rest);
    let gate = preview::gate(&state.catalog.preview(&event), preview_key);
    let allowed = match gate {
        preview::Gate::Viewer => {
            check_access(&state.catalog.access(&event), &event, token, wall_now())
        }
        preview::Gate::Preview => Ok(()),
        preview::Gate::NotYet => Err(LiveError::NotFound(
            "the event has not started: it is in preview",
        )),
        preview::Gate::BadKey => Err(LiveError::BadPreviewKey),
    };
    let client = client.map(|Extension(c)| c.0);
    let result = match allowed {
        Ok(()) if name == crate::caption_stream::PATH => {
            crate::caption_stream::serve(&state, &event).await
        }
        Ok(()) => serve(&state, &event, name, uri.query(), client).await,
        Err(e) => Err(e),
    };
    // Preview answers are for the lecturer and moderators only: never kept by a cache.
    let result = match (gate, result) {
        (preview::Gate::Preview, Ok(mut res)) => {
            res.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static(preview::CACHE_PREVIEW),
            );
            Ok(res)
        }
        (_, result) => result,
    };
    match result {
        Ok(res) => res,
        Err(e) => {
            // `name` never includes the viewer token.
            match &e {
                LiveError::Store(source) => {
                    warn!(%event, %name, error = %source, "store error")
                }
                other => {
                    debug!(%event, %name, status = other.status().as_u16(), reason = %other, "live request refused")
                }
            }
            e.into_response()
        }
    }
}

async fn serve(
    state: &AppState,
    event: &str,
    rest: &str,
    query: Option<&str>,
    client: Option<IpAddr>,
) -> Result<Response, LiveError> {
    if !valid_event(event) {
        return Err(LiveError::BadRequest(
            "event ids are 1 to 64 characters of a-z, 0-9, '-' and '_'".to_owned(),
        ));
    }
    if let Some(dvr) = crate::dvr::parse_dvr_target(rest) {
        return crate::dvr::serve(state, event, dvr).await;
    }
    let target = parse_target(rest).ok_or(LiveError::NotFound("no such live object name"))?;
    let store = &*state.store;
    match target {
        Target::Master => {
            let obj = store
                .get(&names::master_key(event))
                .await?
                .ok_or(LiveError::NotFound(
                    "no master playlist: the event is not live",
                ))?;
            Ok(object_response(
                obj.data,
                ContentType::Playlist,
                CACHE_MASTER,
            ))
        }
        Target::Media {
            rendition,
            file,
            name,
        } => match name {
            MediaName::Playlist => {
                serve_playlist(state, event, rendition, false, query, client).await
            }
            MediaName::DeltaPlaylist => {
                serve_playlist(state, event, rendition, true, query, client).await
            }
            MediaName::Init { .. } => {
                let obj = store
                    .get(&names::rendition_key(event, rendition, file))
                    .await?
                    .ok_or(LiveError::NotFound("no such init segment"))?;
                Ok(object_response(obj.data, ContentType::Mp4, CACHE_IMMUTABLE))
            }
            MediaName::Segment { msn } => {
                serve_media(state, event, rendition, file, (msn, None), client).await
            }
            MediaName::Part { msn, part } => {
                serve_media(state, event, rendition, file, (msn, Some(part)), client).await
            }
            MediaName::SubtitleSegment { msn } => {
                serve_media(state, event, rendition, file, (msn, None), client).await
            }
            MediaName::SubtitlePart { msn, part } => {
                serve_media(state, event, rendition, file, (msn, Some(part)), client).await
            }
            MediaName::Captions => {
                // The replay's whole WebVTT: rewritten while the live goes on.
                let obj = store
                    .get(&names::rendition_key(event, rendition, file))
                    .await?
                    .ok_or(LiveError::NotFound("no captions for this event"))?;
                Ok(object_response(obj.data, ContentType::Vtt, CACHE_MASTER))
            }
        },
    }
}

pub(crate) fn object_response(
    data: Bytes,
    content_type: ContentType,
    cache: &'static str,
) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type.mime()),
            (header::CACHE_CONTROL, cache),
        ],
        data,
    )
        .into_response()
}

/// The first of `keys` present in the store.
async fn first_of(store: &dyn Store, keys: &[&str]) -> Result<Option<Object>, StoreError> {
    for key in keys {
        if let Some(obj) = store.get(key).await? {
            return Ok(Some(obj));
        }
    }
    Ok(None)
}

fn edge_of(obj: &Object) -> Option<PlaylistEdge> {
    std::str::from_utf8(&obj.data)
        .ok()
        .and_then(edge::parse_edge)
}

/// Waits until one of the watched keys is announced (or notifications were lost);
/// `false` at the deadline.
async fn announced(watch: &mut Watch, deadline: Instant) -> bool {
    tokio::time::timeout_at(deadline, watch.changed())
        .await
        .is_ok()
}

/// A place in the held-request budget for a request about to wait.
fn hold(state: &AppState, client: Option<IpAddr>) -> Result<HeldPermit, LiveError> {
    state.held.try_hold(client).map_err(|refusal| {
        debug!(?refusal, held = state.held.held(), "blocking request refused: budget spent");
        LiveError::Busy(match refusal {
            HeldRefusal::Process => {
                "too many blocking requests held by this server: retry after the Retry-After delay"
            }
            HeldRefusal::Client => {
                "too many blocking requests held for this client address: retry after the Retry-After delay"
            }
        })
    })
}

async fn serve_playlist(
    state: &AppState,
    event: &str,
    rendition: &str,
    delta_only: bool,
    query: Option<&str>,
    client: Option<IpAddr>,
) -> Result<Response, LiveError> {
    let directives = query::parse(query).map_err(|e| LiveError::BadRequest(e.to_string()))?;
    let full = names::playlist_key(event, rendition);
    let delta = names::delta_playlist_key(event, rendition);
    let keys: Vec<&str> = if delta_only {
        vec![&delta]
    } else if directives.skip {
        vec![&delta, &full]
    } else {
        vec![&full]
    };
    const NOT_LIVE: LiveError =
        LiveError::NotFound("no playlist for this rendition: the event is not live");
    let store = &*state.store;

    let Some(awaited) = directives.awaited else {
        let obj = first_of(store, &keys).await?.ok_or(NOT_LIVE)?;
        return Ok(object_response(
            obj.data,
            ContentType::Playlist,
            CACHE_PLAYLIST,
        ));
    };

    // Register before reading, so no put between the read and the wait is missed.
    let mut watch = state.waiters.watch(&state.store, &keys);
    let mut deadline = None;
    let mut held = None;
    loop {
        let obj = first_of(store, &keys).await?.ok_or(NOT_LIVE)?;
        let Some(edge) = edge_of(&obj) else {
            // Not a playlist this origin can read: serve it without holding.
            return Ok(object_response(
                obj.data,
                ContentType::Playlist,
                CACHE_PLAYLIST,
            ));
        };
        match decide_playlist(awaited, &edge, state.config.max_segments_ahead) {
            PlaylistDecision::Serve => {
                return Ok(object_response(
                    obj.data,
                    ContentType::Playlist,
                    CACHE_BLOCKING,
                ));
            }
            PlaylistDecision::TooFar => {
                return Err(LiveError::BadRequest(format!(
                    "_HLS_msn={} is more than {} segments beyond the live edge (segment {} part {})",
                    awaited.msn, state.config.max_segments_ahead, edge.next_msn, edge.next_part
                )));
            }
            PlaylistDecision::Wait => {}
        }
        if held.is_none() {
            held = Some(hold(state, client)?);
        }
        let deadline = *deadline.get_or_insert_with(|| {
            Instant::now() + state.config.blocking_timeout(edge.target_duration)
        });
        if !announced(&mut watch, deadline).await {
            return Err(LiveError::Unavailable(
                "the requested part did not appear in time: retry the blocking request",
            ));
        }
    }
}

/// A segment (`part == None`) or a part: served if present, else held while it is at or
/// just beyond the live edge (a preload hint), until it is put or the deadline passes.
async fn serve_media(
    state: &AppState,
    event: &str,
    rendition: &str,
    file: &str,
    (msn, part): (u64, Option<u32>),
    client: Option<IpAddr>,
) -> Result<Response, LiveError> {
    let store = &*state.store;
    let key = names::rendition_key(event, rendition, file);
    // MP4 parts and segments, or WebVTT segments and parts of the subtitles rendition.
    let content_type = ContentType::for_key(&key);
    if let Some(obj) = store.get(&key).await? {
        return Ok(object_response(obj.data, content_type, CACHE_IMMUTABLE));
    }
    let playlist = names::playlist_key(event, rendition);
    let mut watch = state.waiters.watch(&state.store, &[&key, &playlist]);
    let mut deadline = None;
    let mut held = None;
    loop {
        // Read again after subscribing: it may have been put in between.
        if let Some(obj) = store.get(&key).await? {
            return Ok(object_response(obj.data, content_type, CACHE_IMMUTABLE));
        }
        let edge = store
            .get(&playlist)
            .await?
            .as_ref()
            .and_then(edge_of)
            .ok_or(LiveError::NotFound(
                "no playlist for this rendition: the event is not live",
            ))?;
        match decide_media(msn, part, &edge, state.config.max_segments_ahead) {
            MediaDecision::Gone => {
                return Err(LiveError::NotFound(
                    "not in the store: evicted, never produced, or the stream ended",
                ));
            }
            MediaDecision::TooFar => {
                return Err(LiveError::BadRequest(format!(
                    "segment {msn} is more than {} segments beyond the live edge (segment {} part {})",
                    state.config.max_segments_ahead, edge.next_msn, edge.next_part
                )));
            }
            MediaDecision::Wait => {}
        }
        if held.is_none() {
            held = Some(hold(state, client)?);
        }
        let deadline = *deadline.get_or_insert_with(|| {
            Instant::now() + state.config.blocking_timeout(edge.target_duration)
        });
        if !announced(&mut watch, deadline).await {
            return Err(LiveError::NotFound(
                "not produced within the blocking timeout",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        assert_eq!(parse_target("master.m3u8"), Some(Target::Master));
        assert_eq!(
            parse_target("720p/part3.1.m4s"),
            Some(Target::Media {
                rendition: "720p",
                file: "part3.1.m4s",
                name: MediaName::Part { msn: 3, part: 1 }
            })
        );
        for bad in [
            "",
            "720p",
            "720p/",
            "720p/x.m4s",
            "a/b/seg1.m4s",
            "../seg1.m4s",
            "7 20/seg1.m4s",
            "master.m3u8/x",
        ] {
            assert_eq!(parse_target(bad), None, "{bad}");
        }
    }

    #[test]
    fn viewer_token_segment() {
        assert_eq!(
            split_token("t/abc/master.m3u8"),
            (Some("abc"), "master.m3u8")
        );
        assert_eq!(
            split_token("t/abc/720p/part1.2.m4s"),
            (Some("abc"), "720p/part1.2.m4s")
        );
        // A rendition named "t" keeps working.
        assert_eq!(split_token("t/index.m3u8"), (None, "t/index.m3u8"));
        assert_eq!(split_token("720p/index.m3u8"), (None, "720p/index.m3u8"));
        assert_eq!(
            redact_path("/live/ev/t/123.secret/720p/index.m3u8"),
            "/live/ev/t/<token>/720p/index.m3u8"
        );
        assert_eq!(redact_path("/live/ev/master.m3u8"), "/live/ev/master.m3u8");
        assert_eq!(redact_path("/watch/ev"), "/watch/ev");
        assert_eq!(
            redact_path("/live/ev/p/secretkey/720p/index.m3u8"),
            "/live/ev/p/<key>/720p/index.m3u8"
        );
    }

    #[test]
    fn event_ids() {
        assert!(valid_event("cs-101_a"));
        for bad in ["", "CS101", "a/b", "a.b", &"x".repeat(65)] {
            assert!(!valid_event(bad), "{bad}");
        }
    }
}
