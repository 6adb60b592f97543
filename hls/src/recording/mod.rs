//! A whole recording as one MP4 file, streamed from the store without re-encoding: the
//! one remux that the origin's download (`/live/{event}/recording.mp4`) and
//! `amphi event recording ID --mp4` share.
//!
//! The file is a fragmented MP4: the first run's init segment (given the whole
//! duration, [`fmp4::with_duration`]), then every segment of the recording playlist
//! in order, each run of segments shifted onto one timeline that starts at 0 and
//! continues across reconnects and restarts ([`fmp4::Retimer`]). Players, ffmpeg and
//! video platforms (PeerTube) read it as one file.
//!
//! Memory is bounded by one segment: [`Export::next_chunk`] reads the next object from
//! the store only when the previous chunk was taken. The recording is read once when
//! the export opens (its playlists and one init segment per run) and never re-read, so
//! a download started during the live ends at the live edge of that moment.
//!
//! A run whose codec setup differs from the first run's (the lecturer changed encoder
//! settings between two sessions) cannot share the first init segment: the file ends
//! before it, and [`Export::truncated`] says how many segments were left out.

pub mod fmp4;
pub mod plan;

use crate::names;
use crate::playlist::read_multivariant;
use crate::store::{Store, StoreError};
use bytes::Bytes;
use fmp4::{Fmp4Error, InitInfo, Retimer};
pub use plan::{Plan, Run};
use std::sync::Arc;
use std::time::Duration;

#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no recording of {event}: {why}")]
    NoRecording { event: String, why: &'static str },
    #[error("{key} is listed in the recording but not stored")]
    Missing { key: String },
    #[error("{key}: {source}")]
    Media {
        key: String,
        #[source]
        source: Fmp4Error,
    },
}

/// The rendition a download serves: the multivariant playlist's highest bandwidth
/// (the first listed on a tie).
pub async fn top_rendition(store: &dyn Store, event: &str) -> Result<String, ExportError> {
    let master =
        store
            .get(&names::master_key(event))
            .await?
            .ok_or_else(|| ExportError::NoRecording {
                event: event.to_owned(),
                why: "no multivariant playlist in the store",
            })?;
    let text = String::from_utf8_lossy(&master.data);
    let mut best: Option<(u64, String)> = None;
    for v in read_multivariant(&text) {
        let Some(rendition) = v.uri.split('/').next().filter(|r| !r.is_empty()) else {
            continue;
        };
        if best.as_ref().is_none_or(|(b, _)| v.bandwidth > *b) {
            best = Some((v.bandwidth, rendition.to_owned()));
        }
    }
    best.map(|(_, r)| r)
        .ok_or_else(|| ExportError::NoRecording {
            event: event.to_owned(),
            why: "the multivariant playlist lists no rendition",
        })
}

/// The recording of a rendition as it stands: `recording.m3u8` (rewritten every few
/// segments), completed up to the live edge by the live playlist's window.
pub async fn read_plan(
    store: &dyn Store,
    event: &str,
    rendition: &str,
) -> Result<Plan, ExportError> {
    let read = |key: String| async move {
        Ok::<_, ExportError>(
            store
                .get(&key)
                .await?
                .map(|o| Plan::from_playlist(&String::from_utf8_lossy(&o.data))),
        )
    };
    let mut plan = read(names::recording_key(event, rendition))
        .await?
        .unwrap_or_default();
    if !plan.ended {
        if let Some(live) = read(names::playlist_key(event, rendition)).await? {
            plan.extend_with(live);
        }
    }
    if plan.runs.is_empty() {
        return Err(ExportError::NoRecording {
            event: event.to_owned(),
            why: "its playlists list no complete segment yet",
        });
    }
    Ok(plan)
}

/// One recording being turned into an MP4, chunk by chunk.
pub struct Export {
    store: Arc<dyn Store>,
    event: String,
    rendition: String,
    plan: Plan,
    /// The first run's init segment, rewritten with the duration; sent first.
    header: Option<Bytes>,
    info: InitInfo,
    truncated: usize,
    run: usize,
    segment: usize,
    /// Where the current run starts on the file's timeline.
    run_start: Duration,
    retimer: Option<Retimer>,
    sequence: u32,
}

impl Export {
    /// Reads the plan and the init segments; nothing of the media yet.
    pub async fn open(
        store: Arc<dyn Store>,
        event: &str,
        rendition: &str,
    ) -> Result<Export, ExportError> {
        let mut plan = read_plan(&*store, event, rendition).await?;
        let mut first: Option<(InitInfo, Bytes)> = None;
        let mut keep = plan.runs.len();
        for (i, run) in plan.runs.iter().enumerate() {
            let key = names::rendition_key(event, rendition, &run.init);
            let init = store
                .get(&key)
                .await?
                .ok_or_else(|| ExportError::Missing { key: key.clone() })?
                .data;
            let info = InitInfo::parse(&init).map_err(|source| ExportError::Media {
                key: key.clone(),
                source,
            })?;
            match &first {
                None => first = Some((info, init)),
                Some((f, _)) if f.compatible(&info) => {}
                Some(_) => {
                    keep = i;
                    break;
                }
            }
        }
        let truncated = plan.runs[keep..].iter().map(|r| r.segments.len()).sum();
        plan.runs.truncate(keep);
        if truncated > 0 {
            tracing::warn!(
                %event,
                %rendition,
                left_out = truncated,
                "the recording changes codec setup: the MP4 ends before the first segment that needs another init segment"
            );
        }
        let (info, init) = first.ok_or_else(|| ExportError::NoRecording {
            event: event.to_owned(),
            why: "no run of segments",
        })?;
        let key = names::rendition_key(event, rendition, &plan.runs[0].init);
        let header = fmp4::with_duration(&init, plan.duration())
            .map_err(|source| ExportError::Media { key, source })?;
        Ok(Export {
            store,
            event: event.to_owned(),
            rendition: rendition.to_owned(),
            plan,
            header: Some(Bytes::from(header)),
            info,
            truncated,
            run: 0,
            segment: 0,
            run_start: Duration::ZERO,
            retimer: None,
            sequence: 1,
        })
    }

    /// The recording as read when the export opened.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Segments left out because their codec setup differs from the first run's.
    pub fn truncated(&self) -> usize {
        self.truncated
    }

    /// The next bytes of the file; `None` at the end.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, ExportError> {
        if let Some(h) = self.header.take() {
            return Ok(Some(h));
        }
        loop {
            let Some(run) = self.plan.runs.get(self.run) else {
                return Ok(None);
            };
            let Some((msn, _)) = run.segments.get(self.segment).copied() else {
                self.run_start += run.duration();
                self.run += 1;
                self.segment = 0;
                self.retimer = None;
                continue;
            };
            let key = names::rendition_key(&self.event, &self.rendition, &names::segment_name(msn));
            let data = self
                .store
                .get(&key)
                .await?
                .ok_or_else(|| ExportError::Missing { key: key.clone() })?
                .data;
            let media = |source| ExportError::Media {
                key: key.clone(),
                source,
            };
            if self.retimer.is_none() {
                let first = fmp4::first_decode_times(&data, &self.info).map_err(media)?;
                self.retimer = Some(Retimer::new(&self.info, &first, self.run_start));
            }
            let retimer = self.retimer.as_ref().ok_or(ExportError::NoRecording {
                event: self.event.clone(),
                why: "internal: no retimer for the run",
            })?;
            let out = retimer.rewrite(&data, &mut self.sequence).map_err(media)?;
            self.segment += 1;
            return Ok(Some(Bytes::from(out)));
        }
    }
}
