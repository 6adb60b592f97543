//! An event's recordings in the console: one per rendition (`recording.m3u8`), with
//! duration and size; download as one fragmented MP4 (init segment and media segments
//! in order, no re-encoding); delete.
//!
//! Deleting keeps each rendition's live playlist (`index.m3u8`) and the multivariant
//! playlist: the packager resumes numbering from them, so no name once served
//! `immutable` is ever written again with other bytes.

use super::api::saved;
use super::auth::Authed;
use super::reply;
use super::state::ConsoleState;
use amphi_console::Action;
use amphi_hls::names;
use amphi_hls::store::Store;
use amphi_ingest::EventId;
use amphi_packager::resume::{listed_segments, RestoredSegment};
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::Serialize;
use std::sync::Arc;
use tracing::{info, warn};

#[derive(Serialize)]
struct Recording {
    rendition: String,
    segments: usize,
    duration_s: f64,
    size_bytes: u64,
    /// Whether the recording has more than one run (the publisher reconnected).
    discontinuities: usize,
    /// The VOD playlist (any HLS player).
    playlist_url: String,
    /// One MP4 of this rendition (`…/download`).
    download_url: String,
}

/// Renditions the multivariant playlist lists, best first.
async fn renditions(store: &dyn Store, event: &str) -> Vec<String> {
    let Ok(Some(master)) = store.get(&names::master_key(event)).await else {
        return Vec::new();
    };
    String::from_utf8_lossy(&master.data)
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|uri| uri.split('/').next())
        .map(str::to_owned)
        .collect()
}

async fn segments(store: &dyn Store, event: &str, rendition: &str) -> Vec<RestoredSegment> {
    for key in [
        names::recording_key(event, rendition),
        names::playlist_key(event, rendition),
    ] {
        if let Ok(Some(o)) = store.get(&key).await {
            return listed_segments(&String::from_utf8_lossy(&o.data));
        }
    }
    Vec::new()
}

/// The objects of one rendition's recording, in playback order: each run's init
/// segment, then its media segments.
fn object_keys(event: &str, rendition: &str, segs: &[RestoredSegment]) -> Vec<String> {
    let mut keys = Vec::with_capacity(segs.len() + 1);
    let mut generation = None;
    for s in segs {
        if generation != Some(s.generation) {
            generation = Some(s.generation);
            keys.push(names::rendition_key(
                event,
                rendition,
                &names::init_name(s.generation),
            ));
        }
        keys.push(names::rendition_key(
            event,
            rendition,
            &names::segment_name(s.msn),
        ));
    }
    keys
}

fn runs(segs: &[RestoredSegment]) -> usize {
    let mut n = 0;
    let mut generation = None;
    for s in segs {
        if generation != Some(s.generation) {
            generation = Some(s.generation);
            n += 1;
        }
    }
    n
}

pub async fn list(
    State(state): State<Arc<ConsoleState>>,
    authed: Authed,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = authed.require(Action::EditEvent(&id)) {
        return r;
    }
    if let Err(r) = saved(&state, &id) {
        return r;
    }
    let store = &*state.store;
    let mut out = Vec::new();
    for rendition in renditions(store, &id).await {
        let segs = segments(store, &id, &rendition).await;
        if segs.is_empty() {
            continue;
        }
        let mut size = 0u64;
        for key in object_keys(&id, &rendition, &segs) {
            if let Ok(Some(o)) = store.get(&key).await {
                size += o.data.len() as u64;
            }
        }
        let duration: f64 = segs
            .iter()
            .filter_map(|s| s.duration)
            .map(|d| d.as_secs_f64())
            .sum();
        out.push(Recording {
            segments: segs.len(),
            duration_s: (duration * 1000.0).round() / 1000.0,
            size_bytes: size,
            discontinuities: runs(&segs).saturating_sub(1),
            playlist_url: format!("/live/{id}/{rendition}/{}", names::RECORDING_PLAYLIST),
            download_url: format!("/api/admin/events/{id}/recordings/{rendition}/download"),
            rendition,
        });
    }
    reply::ok(&out)
}

pub async fn download(
    State(state): State<Arc<ConsoleState>>,
    authed: Authed,
    Path((id, rendition)): Path<(String, String)>,
) -> Response {
    if let Err(r) = authed.require(Action::EditEvent(&id)) {
        return r;
    }
    if let Err(r) = saved(&state, &id) {
        return r;
    }
    if !renditions(&*state.store, &id).await.contains(&rendition) {
        return reply::error(
            StatusCode::NOT_FOUND,
            format!("no rendition {rendition} in {id}"),
        );
    }
    let segs = segments(&*state.store, &id, &rendition).await;
    if segs.is_empty() {
        return reply::error(StatusCode::NOT_FOUND, "no recorded segment yet");
    }
    if runs(&segs) > 1 {
        return reply::error(
            StatusCode::CONFLICT,
            format!("the recording has {} runs (the publisher reconnected): `amphi event recording {id} --mp4 FILE` joins them", runs(&segs)),
        );
    }
    info!(user = %authed.principal.user, event = %id, %rendition, "console: recording downloaded");
    let store = state.store.clone();
    let keys = object_keys(&id, &rendition, &segs);
    let stream = futures::stream::iter(keys).then(move |key| {
        let store = store.clone();
        async move {
            match store.get(&key).await {
                Ok(Some(o)) => Ok(o.data),
                Ok(None) => Err(std::io::Error::other(format!("{key} is missing"))),
                Err(e) => Err(std::io::Error::other(format!("{key}: {e}"))),
            }
        }
    });
    (
        [
            (header::CONTENT_TYPE, "video/mp4".to_owned()),
            (header::CACHE_CONTROL, "no-store".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{id}-{rendition}.mp4\""),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response()
}

pub async fn remove(
    State(state): State<Arc<ConsoleState>>,
    authed: Authed,
    Path(id): Path<String>,
) -> Response {
    if let Err(r) = authed.require(Action::EditEvent(&id)) {
        return r;
    }
    if let Err(r) = saved(&state, &id) {
        return r;
    }
    let live = match (&state.hub, EventId::parse(&id)) {
        (Some(hub), Ok(e)) => hub.is_live(&e),
        _ => false,
    };
    if live {
        return reply::error(
            StatusCode::CONFLICT,
            format!("event {id} is live: end it first"),
        );
    }
    let prefix = format!("{}/", names::event_prefix(&id));
    let keys = match state.store.list(&prefix).await {
        Ok(k) => k,
        Err(e) => return reply::error(StatusCode::BAD_GATEWAY, format!("listing the store: {e}")),
    };
    let kept = |key: &str| {
        key == names::master_key(&id)
            || key.ends_with("/index.m3u8")
            || key.ends_with("/index.delta.m3u8")
    };
    let mut deleted = 0usize;
    for key in keys.iter().filter(|k| !kept(k)) {
        match state.store.delete(key).await {
            Ok(()) => deleted += 1,
            Err(e) => warn!(%key, error = %e, "console: deleting a recorded object failed"),
        }
    }
    info!(user = %authed.principal.user, event = %id, objects = deleted, "console: recording deleted");
    reply::ok(&serde_json::json!({ "deleted_objects": deleted }))
}
