//! An event's recordings in the console: one per rendition (`recording.m3u8`), with
//! duration and size; download as one MP4, made by the same remux as the viewers'
//! download (`amphi_hls::recording`: runs joined on one timeline, no re-encoding);
//! delete.
//!
//! Deleting keeps each rendition's live playlist (`index.m3u8`) and the multivariant
//! playlist: the packager resumes numbering from them, so no name once served
//! `immutable` is ever written again with other bytes.

use super::api::{event_for, Reply};
use super::auth::Authed;
use super::reply;
use super::state::ConsoleState;
use amphi_console::Action;
use amphi_hls::names;
use amphi_hls::recording::{read_plan, Export, ExportError, Plan};
use amphi_hls::store::Store;
use amphi_ingest::EventId;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
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

/// The objects of one rendition's recording, in playback order: each run's init
/// segment, then its media segments.
fn object_keys(event: &str, rendition: &str, plan: &Plan) -> Vec<String> {
    let mut keys = Vec::with_capacity(plan.segment_count() + plan.runs.len());
    for run in &plan.runs {
        keys.push(names::rendition_key(event, rendition, &run.init));
        for (msn, _) in &run.segments {
            keys.push(names::rendition_key(
                event,
                rendition,
                &names::segment_name(*msn),
            ));
        }
    }
    keys
}

pub async fn list(
    State(state): State<Arc<ConsoleState>>,
    authed: Authed,
    Path(id): Path<String>,
) -> Reply {
    event_for(&state, &authed, Action::EditEvent(&id), &id)?;
    let store = &*state.store;
    let mut out = Vec::new();
    for rendition in renditions(store, &id).await {
        let Ok(plan) = read_plan(store, &id, &rendition).await else {
            continue;
        };
        let mut size = 0u64;
        for key in object_keys(&id, &rendition, &plan) {
            if let Ok(Some(o)) = store.get(&key).await {
                size += o.data.len() as u64;
            }
        }
        let duration = plan.duration().as_secs_f64();
        out.push(Recording {
            segments: plan.segment_count(),
            duration_s: (duration * 1000.0).round() / 1000.0,
            size_bytes: size,
            discontinuities: plan.runs.len().saturating_sub(1),
            playlist_url: format!("/live/{id}/{rendition}/{}", names::RECORDING_PLAYLIST),
            download_url: format!("/api/admin/events/{id}/recordings/{rendition}/download"),
            rendition,
        });
    }
    Ok(reply::ok(&out))
}

pub async fn download(
    State(state): State<Arc<ConsoleState>>,
    authed: Authed,
    Path((id, rendition)): Path<(String, String)>,
) -> Reply {
    event_for(&state, &authed, Action::EditEvent(&id), &id)?;
    if !renditions(&*state.store, &id).await.contains(&rendition) {
        return Err(reply::error(
            StatusCode::NOT_FOUND,
            format!("no rendition {rendition} in {id}"),
        ));
    }
    let export = match Export::open(state.store.clone(), &id, &rendition).await {
        Ok(e) => e,
        Err(ExportError::NoRecording { why, .. }) => {
            return Err(reply::error(
                StatusCode::NOT_FOUND,
                format!("no recording: {why}"),
            ))
        }
        Err(e) => return Err(reply::error(StatusCode::BAD_GATEWAY, e.to_string())),
    };
    info!(user = %authed.principal.user, event = %id, %rendition, "console: recording downloaded");
    let stream = futures::stream::try_unfold(export, |mut export| async move {
        match export.next_chunk().await {
            Ok(Some(chunk)) => Ok(Some((chunk, export))),
            Ok(None) => Ok(None),
            Err(e) => {
                warn!(error = %e, "console: recording download cut short");
                Err(std::io::Error::other(e))
            }
        }
    });
    Ok((
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
        .into_response())
}

pub async fn remove(
    State(state): State<Arc<ConsoleState>>,
    authed: Authed,
    Path(id): Path<String>,
) -> Reply {
    event_for(&state, &authed, Action::EditEvent(&id), &id)?;
    let live = match (&state.hub, EventId::parse(&id)) {
        (Some(hub), Ok(e)) => hub.is_live(&e),
        _ => false,
    };
    if live {
        return Err(reply::error(
            StatusCode::CONFLICT,
            format!("event {id} is live: end it first"),
        ));
    }
    let prefix = format!("{}/", names::event_prefix(&id));
    let keys = match state.store.list(&prefix).await {
        Ok(k) => k,
        Err(e) => {
            return Err(reply::error(
                StatusCode::BAD_GATEWAY,
                format!("listing the store: {e}"),
            ))
        }
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
    Ok(reply::ok(
        &serde_json::json!({ "deleted_objects": deleted }),
    ))
}
