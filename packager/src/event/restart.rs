//! Continuing an event from what the store holds (a restart, a crash, a new session
//! after the end): every rendition's numbering, init generation and recording, read
//! with [`crate::resume`]; the segment a crash left open is built from its parts.

use super::EventPackager;
use crate::resume;
use crate::segmenter::{RenditionWriter, StoreOp};
use amphi_hls::names;
use amphi_hls::store::{ContentType, Object};
use bytes::BytesMut;
use std::collections::BTreeMap;
use std::time::Instant;
use tracing::{info, warn};

impl EventPackager {
    /// Reads a key, retrying while the store fails: resuming must see what is stored
    /// before writing anything, or it could write a name twice.
    pub(super) async fn read_retrying(&self, key: &str) -> Option<Object> {
        retrying(|| self.store.get(key)).await
    }

    pub(super) async fn list_retrying(&self, prefix: &str) -> Vec<String> {
        retrying(|| self.store.list(prefix)).await
    }

    /// Reads back what the store holds for this event and continues it: every
    /// rendition's numbering, the init generation, the recording. Returns whether the
    /// store showed the event live (a restart or crash cut it).
    pub(super) async fn resume(&mut self) -> bool {
        let started = Instant::now();
        let prefix = format!("{}/", names::event_prefix(&self.event));
        let mut files: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for key in self.list_retrying(&prefix).await {
            let Some((rendition, file)) = key
                .strip_prefix(&prefix)
                .and_then(|rest| rest.split_once('/'))
            else {
                continue;
            };
            if !file.contains('/') {
                files
                    .entry(rendition.to_owned())
                    .or_default()
                    .push(file.to_owned());
            }
        }
        let mut live = false;
        let mut max_generation: Option<u64> = None;
        for (rendition, files) in files {
            let has = |f: &str| files.iter().any(|x| x == f);
            let text = |o: Option<Object>| o.map(|o| String::from_utf8_lossy(&o.data).into_owned());
            let playlist = if has("index.m3u8") {
                text(
                    self.read_retrying(&names::playlist_key(&self.event, &rendition))
                        .await,
                )
            } else {
                None
            };
            let recording = if has(names::RECORDING_PLAYLIST) {
                text(
                    self.read_retrying(&names::recording_key(&self.event, &rendition))
                        .await,
                )
            } else {
                None
            };
            let restored = resume::restore(
                playlist.as_deref(),
                recording.as_deref(),
                &files,
                self.config.playlist.part_target,
            );
            max_generation = max_generation.max(restored.max_generation);
            if restored.is_empty() {
                continue;
            }
            for (msn, parts) in &restored.build_segments {
                self.build_segment(&rendition, *msn, *parts).await;
            }
            let writer = RenditionWriter::resume(
                &self.event,
                &rendition,
                self.config.playlist.clone(),
                &restored,
            );
            info!(
                event = %self.event,
                rendition = %rendition,
                next_msn = restored.next_msn(),
                segments = restored.segments.len(),
                ended = restored.ended,
                "resumed from the store"
            );
            let recording_op = writer.recording();
            self.writers.insert(rendition.clone(), writer);
            if !restored.ended {
                live = true;
                // The segment a crash left open is closed now, for players too.
                self.apply(recording_op.into_iter().collect()).await;
                self.write_playlists(&rendition).await;
            }
        }
        self.sessions_seen = max_generation.map_or(0, |g| g + 1);
        if !self.writers.is_empty() {
            info!(
                event = %self.event,
                live,
                next_generation = self.sessions_seen,
                took_ms = started.elapsed().as_millis() as u64,
                "event resumed"
            );
        }
        live
    }

    /// Writes the segment object of a segment a crash left open, from its parts
    /// (unless a part is missing: then the segment object stays absent).
    pub(super) async fn build_segment(&mut self, rendition: &str, msn: u64, parts: u32) {
        let mut data = BytesMut::new();
        for p in 0..parts {
            let key = names::rendition_key(&self.event, rendition, &names::part_name(msn, p));
            match self.read_retrying(&key).await {
                Some(o) => data.extend_from_slice(&o.data),
                None => {
                    warn!(%rendition, msn, part = p, "a part of the interrupted segment is missing; its segment object is not written");
                    return;
                }
            }
        }
        self.apply(vec![StoreOp::Put {
            key: names::rendition_key(&self.event, rendition, &names::segment_name(msn)),
            object: Object {
                data: data.freeze(),
                content_type: ContentType::Mp4,
            },
        }])
        .await;
    }
}

/// Runs a store read until it succeeds, backing off as the retry queue does and
/// warning once: resuming waits for the store rather than guess what it holds.
async fn retrying<T, E, F, Fut>(mut read: F) -> T
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, E>>,
{
    let mut backoff = crate::retry::INITIAL_RETRY;
    let mut warned = false;
    loop {
        match read().await {
            Ok(v) => return v,
            Err(e) => {
                if !warned {
                    warn!(reason = %e, "store unreadable; resuming when it answers");
                    warned = true;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(crate::retry::MAX_RETRY);
            }
        }
    }
}
