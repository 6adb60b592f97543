//! Captions: a WebVTT `SUBTITLES` rendition per event, aligned with the media segments.
//!
//! Flow: the captions API (or the captioner page through it) offers cues in program
//! time to the event's [`CueBuffer`] in the shared [`Inbox`]; each time the event's lead
//! rendition (the first of the ladder) writes a media part, [`EventCaptions`] takes the
//! cues that part publishes and [`SubtitleTrack`] writes `subs/part{msn}.{n}.vtt` and
//! the live subtitles playlist (so a low-latency player shows a line about a part after
//! the grace for its correction, see [`cues`]); when the lead rendition closes a media
//! segment, the cues overlapping that segment's program-time span become
//! `subs/seg{msn}.vtt` (same msn, duration, program date-time and discontinuities as
//! the media) and the subtitles playlists are rewritten. Each `.vtt` maps its cues onto the fMP4
//! timeline with `X-TIMESTAMP-MAP`: `MPEGTS` is the segment's first decode time read
//! from the fragment (`tfdt`, in 90 kHz), `LOCAL` the segment's start on the session's
//! media clock, on which the cues are written.
//!
//! Cues live in memory until written: a packager restart loses those not yet written
//! (at most a segment's worth); written ones are in the store.

pub mod cues;
pub mod track;

use crate::segmenter::{Chunk, StoreOp};
use amphi_hls::master::{SubtitlesGroup, SUBTITLES_GROUP};
use amphi_hls::names;
use amphi_hls::playlist::{MediaPlaylist, PlaylistConfig};
use amphi_hls::recording::fmp4::{first_decode_times, InitInfo};
use amphi_time::sync::lock;
pub use amphi_time::ProgramTime;
pub use cues::{Cue, CueBuffer, Offer};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
pub use track::{MediaSegment, PartSpan, SubtitleTrack};

/// Every event's cue buffer, shared by the captions API and the packager.
#[derive(Debug, Clone, Default)]
pub struct Inbox {
    events: Arc<Mutex<HashMap<String, Arc<Mutex<CueBuffer>>>>>,
}

impl Inbox {
    fn buffer(&self, event: &str) -> Arc<Mutex<CueBuffer>> {
        lock(&self.events)
            .entry(event.to_owned())
            .or_default()
            .clone()
    }

    /// Offers validated cues to `event`, in order; one outcome per cue.
    pub fn offer(&self, event: &str, cues: Vec<Cue>) -> Vec<Offer> {
        let buffer = self.buffer(event);
        let mut b = lock(&buffer);
        cues.into_iter().map(|c| b.offer(c)).collect()
    }

    /// End of the last subtitles segment written for `event` (cues before it come late).
    pub fn written_until(&self, event: &str) -> Option<ProgramTime> {
        lock(&self.buffer(event)).written_until()
    }
}

/// Captions settings of the packager: where cues come from, and how the rendition is
/// named in the multivariant playlist.
#[derive(Debug, Clone)]
pub struct CaptionsConfig {
    pub inbox: Inbox,
    /// NAME of the subtitles rendition.
    pub name: String,
    /// LANGUAGE of the subtitles rendition (BCP 47).
    pub language: String,
}

impl Default for CaptionsConfig {
    fn default() -> Self {
        CaptionsConfig {
            inbox: Inbox::default(),
            name: DEFAULT_NAME.to_owned(),
            language: DEFAULT_LANGUAGE.to_owned(),
        }
    }
}

pub const DEFAULT_NAME: &str = "Captions";
pub const DEFAULT_LANGUAGE: &str = "en";

impl CaptionsConfig {
    /// The `EXT-X-MEDIA` entry of the multivariant playlist.
    pub fn group(&self) -> SubtitlesGroup {
        SubtitlesGroup {
            group_id: SUBTITLES_GROUP.to_owned(),
            name: self.name.clone(),
            language: self.language.clone(),
            uri: format!("{}/index.m3u8", names::SUBTITLES_RENDITION),
        }
    }
}

/// The open segment of the lead rendition, as far as captions need it.
#[derive(Debug, Clone, Copy)]
struct Open {
    mpegts: u64,
    media_start: Duration,
}

/// One event's captions, driven by its packager task (sans-IO apart from the inbox).
pub struct EventCaptions {
    event: String,
    inbox: Inbox,
    track: SubtitleTrack,
    lead: Option<String>,
    init: Option<InitInfo>,
    open: Option<Open>,
}

impl EventCaptions {
    pub fn new(event: &str, config: &CaptionsConfig, playlist: &PlaylistConfig) -> Self {
        EventCaptions {
            event: event.to_owned(),
            inbox: config.inbox.clone(),
            track: SubtitleTrack::new(
                event,
                playlist.segment_duration,
                playlist.window_segments,
                playlist.retain_segments,
            ),
            lead: None,
            init: None,
            open: None,
        }
    }

    /// A publish session starts; `lead` is the rendition whose segments captions follow.
    pub fn begin_session(&mut self, lead: Option<&str>) {
        self.lead = lead.map(str::to_owned);
        self.init = None;
        self.open = None;
    }

    fn is_lead(&self, rendition: &str) -> bool {
        self.lead.as_deref() == Some(rendition)
    }

    pub fn on_init(&mut self, rendition: &str, init: &[u8]) {
        if self.is_lead(rendition) {
            self.init = InitInfo::parse(init).ok();
        }
    }

    /// Call before the lead rendition's writer takes `chunk`: a fragment start closes
    /// the open segment, whose subtitles segment is written now.
    pub fn before_chunk(
        &mut self,
        rendition: &str,
        playlist: &MediaPlaylist,
        chunk: &Chunk,
    ) -> Vec<StoreOp> {
        if !self.is_lead(rendition) || !chunk.fragment_start {
            return Vec::new();
        }
        let ops = self.close(playlist);
        let decoded = self
            .init
            .as_ref()
            .and_then(|init| first_decode_times(&chunk.data, init).ok())
            .and_then(|times| times.values().copied().reduce(f64::min));
        let mpegts = match decoded {
            Some(seconds) if seconds >= 0.0 => (seconds * 90_000.0).round() as u64,
            _ => (chunk.pts.as_nanos() * 9 / 100_000) as u64,
        };
        self.open = Some(Open {
            mpegts,
            media_start: chunk.pts,
        });
        ops
    }

    /// Call after the lead rendition's writer took a chunk: the part it wrote gets its
    /// subtitles part.
    pub fn after_chunk(&mut self, rendition: &str, playlist: &MediaPlaylist) -> Vec<StoreOp> {
        if !self.is_lead(rendition) {
            return Vec::new();
        }
        let Some(open) = self.open else {
            return Vec::new();
        };
        let Some(seg) = playlist.segments.back().filter(|s| !s.complete) else {
            return Vec::new();
        };
        let Some((last, before)) = seg.parts.split_last() else {
            return Vec::new();
        };
        let so_far: Duration = before.iter().map(|p| p.duration).sum();
        let start = ProgramTime::from_system(seg.program_date_time);
        let media = MediaSegment {
            msn: seg.msn,
            program_date_time: start,
            duration: so_far + last.duration,
            discontinuity: seg.discontinuity,
            mpegts: open.mpegts,
            media_start: open.media_start,
        };
        let part = PartSpan {
            index: u32::try_from(before.len()).unwrap_or(u32::MAX),
            start: start + so_far,
            duration: last.duration,
            part_target: playlist.part_target(),
        };
        let buffer = self.inbox.buffer(&self.event);
        let mut cues = lock(&buffer);
        self.track.on_part(&media, part, &mut cues)
    }

    /// Call before the lead rendition's writer finishes or ends its open segment.
    pub fn before_finish(&mut self, rendition: &str, playlist: &MediaPlaylist) -> Vec<StoreOp> {
        if !self.is_lead(rendition) {
            return Vec::new();
        }
        let mut ops = self.close(playlist);
        ops.extend(self.track.finish());
        ops
    }

    /// The live is over: the subtitles playlist becomes the recording's VOD playlist.
    pub fn end(&mut self) -> Vec<StoreOp> {
        self.track.end()
    }

    fn close(&mut self, playlist: &MediaPlaylist) -> Vec<StoreOp> {
        let Some(open) = self.open.take() else {
            return Vec::new();
        };
        let Some(seg) = playlist
            .segments
            .back()
            .filter(|s| !s.complete && !s.parts.is_empty())
        else {
            return Vec::new();
        };
        let media = MediaSegment {
            msn: seg.msn,
            program_date_time: ProgramTime::from_system(seg.program_date_time),
            duration: seg.duration(),
            discontinuity: seg.discontinuity,
            mpegts: open.mpegts,
            media_start: open.media_start,
        };
        let buffer = self.inbox.buffer(&self.event);
        let mut cues = lock(&buffer);
        self.track.on_segment(&media, &mut cues)
    }
}
