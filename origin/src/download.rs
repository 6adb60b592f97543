//! `GET /live/{event}/recording.mp4` (or `/live/{event}/t/{token}/recording.mp4` for a
//! private event): the whole recording of the event's top rendition as one MP4, for
//! students to keep and teachers to upload to a video platform.
//!
//! - The file is remuxed as it is sent ([`amphi_hls::recording::Export`]): one segment
//!   in memory at a time, whatever the lecture's length. Its length is not known in
//!   advance, so there is no `Content-Length` (chunked transfer).
//! - Same access rules as the event's media: a private event needs a viewer token.
//! - Available as soon as the recording lists a segment: during the live it is the
//!   lecture up to a few seconds ago (`Cache-Control: no-store`, since it grows); once
//!   the live has ended it is the whole lecture, cacheable for a few minutes but never
//!   `immutable` (a later session of the same event extends the recording).
//! - At most [`DEFAULT_MAX_DOWNLOADS`] downloads are sent at once by one origin; beyond,
//!   503 with `Retry-After`, so downloads cannot starve the live.

use crate::live::{check_access, valid_event, wall_now, LiveError};
use crate::AppState;
use amphi_hls::recording::{top_rendition, Export, ExportError};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::{debug, warn};

/// File name of the download, beside the event's playlists.
pub const DOWNLOAD_NAME: &str = "recording.mp4";
/// Downloads one origin sends at once.
pub const DEFAULT_MAX_DOWNLOADS: usize = 4;
/// `Retry-After` (seconds) when every download slot is taken.
const BUSY_RETRY_AFTER_SECS: u32 = 10;
/// The recording of an ended live: it only changes if the event goes live again.
const CACHE_ENDED: &str = "public, max-age=300";

/// The download routes, sharing one cap of `max` downloads at once.
pub(crate) fn routes(max: usize) -> Router<Arc<AppState>> {
    let slots = Arc::new(Semaphore::new(max.max(1)));
    let with_token = slots.clone();
    Router::new()
        .route(
            &format!("/live/{{event}}/{DOWNLOAD_NAME}"),
            get(move |state, Path(event): Path<String>| handle(state, event, None, slots.clone())),
        )
        .route(
            &format!("/live/{{event}}/t/{{token}}/{DOWNLOAD_NAME}"),
            get(move |state, Path((event, token)): Path<(String, String)>| {
                handle(state, event, Some(token), with_token.clone())
            }),
        )
}

fn refused(status: StatusCode, body: &'static str) -> Response {
    (
        status,
        [(header::CACHE_CONTROL, "no-cache")],
        format!("{body}\n"),
    )
        .into_response()
}

async fn handle(
    State(state): State<Arc<AppState>>,
    event: String,
    token: Option<String>,
    slots: Arc<Semaphore>,
) -> Response {
    if !valid_event(&event) {
        return LiveError::BadRequest(
            "event ids are 1 to 64 characters of a-z, 0-9, '-' and '_'".to_owned(),
        )
        .into_response();
    }
    if state.catalog.preview(&event).in_preview {
        debug!(%event, "recording download refused: the event is in preview");
        return refused(
            StatusCode::NOT_FOUND,
            "the event has not started: it is in preview",
        );
    }
    let access = state.catalog.access(&event);
    if let Err(e) = check_access(&access, &event, token.as_deref(), wall_now()) {
        debug!(%event, reason = %e, "recording download refused");
        return e.into_response();
    }
    let Ok(permit) = slots.try_acquire_owned() else {
        debug!(%event, "recording download refused: every slot is taken");
        let mut res = refused(
            StatusCode::SERVICE_UNAVAILABLE,
            "too many recording downloads at once: retry after the Retry-After delay",
        );
        res.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(BUSY_RETRY_AFTER_SECS),
        );
        return res;
    };
    let export = match open(&state, &event).await {
        Ok(e) => e,
        Err(ExportError::NoRecording { .. }) => {
            return refused(StatusCode::NOT_FOUND, "no recording of this event yet")
        }
        Err(e) => {
            warn!(%event, error = %e, "recording download failed to start");
            return refused(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the recording cannot be read",
            );
        }
    };
    let info = state.catalog.events().into_iter().find(|e| e.id == event);
    let live = info.as_ref().is_some_and(|i| i.live);
    let title = info.map_or_else(|| event.clone(), |i| i.title);
    let cache = if export.plan().ended && !live {
        CACHE_ENDED
    } else {
        "no-store"
    };
    debug!(
        %event,
        segments = export.plan().segment_count(),
        seconds = export.plan().duration().as_secs(),
        "recording download"
    );
    let mut res = Response::new(body(export, permit, event));
    let headers = res.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("video/mp4"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(v) = HeaderValue::from_str(&content_disposition(&title)) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    res
}

async fn open(state: &AppState, event: &str) -> Result<Export, ExportError> {
    let rendition = top_rendition(&*state.store, event).await?;
    Export::open(state.store.clone(), event, &rendition).await
}

/// The MP4's bytes, pulled from the store as the client reads; the slot is held until
/// the body ends or the client goes away.
fn body(export: Export, permit: OwnedSemaphorePermit, event: String) -> Body {
    let stream = futures_util::stream::try_unfold(
        (export, permit, event),
        |(mut export, permit, event)| async move {
            match export.next_chunk().await {
                Ok(Some(chunk)) => Ok(Some((chunk, (export, permit, event)))),
                Ok(None) => Ok(None),
                Err(e) => {
                    warn!(%event, error = %e, "recording download cut short");
                    Err(std::io::Error::other(e))
                }
            }
        },
    );
    Body::from_stream(stream)
}

/// `attachment` with a file name made from the title: an ASCII fallback and the
/// UTF-8 name (RFC 6266, RFC 8187).
pub(crate) fn content_disposition(title: &str) -> String {
    let title = title.trim();
    let ascii: String = title
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || " -_.,()".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    let ascii = ascii.trim().trim_matches('.');
    let ascii = if ascii.is_empty() { "recording" } else { ascii };
    let mut encoded = String::new();
    for b in title.chars().take(100).collect::<String>().bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    if encoded.is_empty() {
        encoded.push_str("recording");
    }
    format!("attachment; filename=\"{ascii}.mp4\"; filename*=UTF-8''{encoded}.mp4")
}

#[cfg(test)]
#[path = "download_tests.rs"]
mod tests;
