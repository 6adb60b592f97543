//! LL-HLS media playlist model (sans-IO) and its writer.
//!
//! API contract (implementations to be completed; signatures are fixed because the
//! packager writes against them):
//!
//! The packager drives one `MediaPlaylist` per rendition:
//! - `begin_segment(pdt)` when a CMAF fragment starts (a keyframe): opens segment `msn`;
//! - `push_part(duration, independent)` for every CMAF chunk, giving `(msn, part)`;
//! - `close_segment()` when the next fragment starts or the publisher leaves;
//! - `discontinuity(generation)` when a new publish session starts (new init segment);
//! - `render(skip, reports)` to produce the playlist text after each change.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

/// Default LL-HLS timing (DESIGN.md media contract).
pub const DEFAULT_SEGMENT_DURATION: Duration = Duration::from_secs(2);
pub const DEFAULT_PART_TARGET: Duration = Duration::from_millis(334);
/// Segments kept in a live playlist's sliding window.
pub const DEFAULT_WINDOW_SEGMENTS: usize = 12;

#[derive(Debug, Clone, PartialEq)]
pub struct PlaylistConfig {
    /// Nominal segment duration; EXT-X-TARGETDURATION is derived from it and the
    /// longest segment actually produced.
    pub segment_duration: Duration,
    /// EXT-X-PART-INF PART-TARGET.
    pub part_target: Duration,
    /// Completed segments kept in the playlist.
    pub window_segments: usize,
}

impl Default for PlaylistConfig {
    fn default() -> Self {
        PlaylistConfig {
            segment_duration: DEFAULT_SEGMENT_DURATION,
            part_target: DEFAULT_PART_TARGET,
            window_segments: DEFAULT_WINDOW_SEGMENTS,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    pub duration: Duration,
    pub independent: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub msn: u64,
    pub program_date_time: SystemTime,
    /// Init segment generation this segment uses (EXT-X-MAP).
    pub generation: u64,
    /// EXT-X-DISCONTINUITY before this segment.
    pub discontinuity: bool,
    pub parts: Vec<Part>,
    /// `true` once closed; the open (last) segment lists only its parts.
    pub complete: bool,
}

impl Segment {
    pub fn duration(&self) -> Duration {
        self.parts.iter().map(|p| p.duration).sum()
    }
}

/// Another rendition's edge, for EXT-X-RENDITION-REPORT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenditionReport {
    /// URI relative to this playlist, e.g. `../720p/index.m3u8`.
    pub uri: String,
    pub last_msn: u64,
    pub last_part: u32,
}

#[derive(Debug, Clone)]
pub struct MediaPlaylist {
    pub config: PlaylistConfig,
    /// Segments in the window, oldest first; the last may be open.
    pub segments: VecDeque<Segment>,
    /// Next media sequence number to open.
    pub next_msn: u64,
    /// EXT-X-DISCONTINUITY-SEQUENCE of the first segment in the window.
    pub discontinuity_sequence: u64,
    pub generation: u64,
    pending_discontinuity: bool,
}

/// What closing a segment produced.
#[derive(Debug, Clone, PartialEq)]
pub struct ClosedSegment {
    pub msn: u64,
    pub duration: Duration,
    /// Segments that slid out of the window (their objects may be deleted later).
    pub evicted: Vec<u64>,
}

#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaylistError {
    #[error("a part was pushed with no open segment")]
    NoOpenSegment,
}

impl MediaPlaylist {
    pub fn new(config: PlaylistConfig) -> Self {
        let _ = (config, &mut VecDeque::<Segment>::new());
        todo!("implemented by the hls crate")
    }

    /// Opens segment `next_msn` (closing none: call `close_segment` first). Returns its msn.
    pub fn begin_segment(&mut self, program_date_time: SystemTime) -> u64 {
        let _ = program_date_time;
        todo!()
    }

    /// Appends a part to the open segment; returns `(msn, part index)`.
    pub fn push_part(&mut self, duration: Duration, independent: bool) -> Result<(u64, u32), PlaylistError> {
        let _ = (duration, independent);
        todo!()
    }

    /// Closes the open segment, if any, and slides the window.
    pub fn close_segment(&mut self) -> Option<ClosedSegment> {
        todo!()
    }

    /// The next segment starts a new discontinuity with init segment `generation`.
    pub fn discontinuity(&mut self, generation: u64) {
        let _ = generation;
        todo!()
    }

    /// The last part written, `(msn, part index)`.
    pub fn last_part(&self) -> Option<(u64, u32)> {
        todo!()
    }

    /// The part the preload hint points at.
    pub fn next_part(&self) -> (u64, u32) {
        todo!()
    }

    /// Renders the playlist; with `skip`, older segments are replaced by EXT-X-SKIP
    /// (only when the window is long enough, else the full playlist is rendered).
    pub fn render(&self, skip: bool, reports: &[RenditionReport]) -> String {
        let _ = (skip, reports);
        todo!()
    }
}

/// What an origin needs from a stored media playlist to answer blocking requests.
#[derive(Debug, Clone, PartialEq)]
pub struct PlaylistEdge {
    /// The part the preload hint names: every part before it is available.
    pub next_msn: u64,
    pub next_part: u32,
    pub target_duration: Duration,
    pub part_target: Duration,
    /// EXT-X-ENDLIST present.
    pub ended: bool,
}

/// Reads the edge back from a playlist `render` wrote; `None` if it is not one.
pub fn parse_edge(text: &str) -> Option<PlaylistEdge> {
    let _ = text;
    todo!("implemented by the hls crate")
}
