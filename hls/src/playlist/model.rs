//! The LL-HLS media playlist model (sans-IO): the part/segment scheduler of one
//! rendition, its live window and the recording kept behind it. No text here: the
//! writer (`write.rs`) renders it, the reader (`read.rs`) reads playlists back.
//!
//! The packager drives one `MediaPlaylist` per rendition:
//! - `begin_segment(pdt)` when a CMAF fragment starts (a keyframe): opens segment `msn`;
//! - `push_part(duration, independent)` for every CMAF chunk, giving `(msn, part)`;
//! - `close_segment()` when the next fragment starts or the publisher leaves;
//! - `discontinuity(generation)` when a new publish session starts (new init segment);
//! - `render(skip, reports)` to produce the playlist text after each change;
//! - `set_date_ranges(ranges)` whenever the event's markers change: the writer lists
//!   those within the playlist (see [`super::daterange`]).

use super::daterange::DateRange;
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Default LL-HLS timing (DESIGN.md media contract).
pub const DEFAULT_SEGMENT_DURATION: Duration = Duration::from_secs(2);
pub const DEFAULT_PART_TARGET: Duration = Duration::from_millis(334);
/// Segments kept in a live playlist's sliding window.
pub const DEFAULT_WINDOW_SEGMENTS: usize = 12;
/// Segments kept for the recording by default: ten minutes of 2 s segments.
pub const DEFAULT_RETAIN_SEGMENTS: usize = 300;

#[derive(Debug, Clone, PartialEq)]
pub struct PlaylistConfig {
    /// Nominal segment duration; EXT-X-TARGETDURATION is derived from it and the
    /// longest segment actually produced.
    pub segment_duration: Duration,
    /// EXT-X-PART-INF PART-TARGET.
    pub part_target: Duration,
    /// Completed segments kept in the playlist.
    pub window_segments: usize,
    /// Completed segments kept for the recording (at least the window): when the live
    /// ends, the playlist becomes a VOD playlist of all of them.
    pub retain_segments: usize,
}

impl Default for PlaylistConfig {
    fn default() -> Self {
        PlaylistConfig {
            segment_duration: DEFAULT_SEGMENT_DURATION,
            part_target: DEFAULT_PART_TARGET,
            window_segments: DEFAULT_WINDOW_SEGMENTS,
            retain_segments: DEFAULT_RETAIN_SEGMENTS,
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
    /// EXT-X-ENDLIST: the live is over and the playlist will not change.
    pub(super) ended: bool,
    /// Complete segments that left the live window, kept for the recording.
    pub(super) recording: VecDeque<Segment>,
    /// EXT-X-DISCONTINUITY-SEQUENCE of the first recorded segment.
    pub(super) recording_discontinuity_sequence: u64,
    /// The event's markers (EXT-X-DATERANGE), shared by every rendition.
    pub(super) date_ranges: Arc<[DateRange]>,
}

/// What closing a segment produced.
#[derive(Debug, Clone, PartialEq)]
pub struct ClosedSegment {
    pub msn: u64,
    pub duration: Duration,
    /// Segments that slid out of the live window (their parts may be deleted later;
    /// the segments too unless they are recorded).
    pub evicted: Vec<u64>,
    /// Recorded segments past the retention (their objects may be deleted).
    pub expired: Vec<u64>,
}

#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaylistError {
    #[error("a part was pushed with no open segment")]
    NoOpenSegment,
    #[error("the playlist has ended")]
    Ended,
}

/// Segments whose parts are still listed (RFC 8216bis: parts older than about three
/// target durations from the end may be removed).
pub(super) const SEGMENTS_WITH_PARTS: usize = 3;

impl MediaPlaylist {
    pub fn new(config: PlaylistConfig) -> Self {
        MediaPlaylist {
            config,
            segments: VecDeque::new(),
            next_msn: 0,
            discontinuity_sequence: 0,
            generation: 0,
            pending_discontinuity: false,
            ended: false,
            recording: VecDeque::new(),
            recording_discontinuity_sequence: 0,
            date_ranges: Arc::from(Vec::new()),
        }
    }

    /// Replaces the event's markers; each render lists those within the playlist.
    pub fn set_date_ranges(&mut self, ranges: Arc<[DateRange]>) {
        self.date_ranges = ranges;
    }

    /// The event's markers, listed or not.
    pub fn date_ranges(&self) -> &Arc<[DateRange]> {
        &self.date_ranges
    }

    /// Whether segments leaving the live window are kept for the recording.
    pub fn records(&self) -> bool {
        self.config.retain_segments > self.config.window_segments
    }

    fn open_segment(&self) -> Option<&Segment> {
        self.segments.back().filter(|s| !s.complete)
    }

    /// Opens segment `next_msn` (closing none: call `close_segment` first). Returns its msn.
    pub fn begin_segment(&mut self, program_date_time: SystemTime) -> u64 {
        if self.open_segment().is_some() {
            self.close_segment();
        }
        let msn = self.next_msn;
        self.next_msn += 1;
        let discontinuity = self.pending_discontinuity && !self.segments.is_empty();
        self.pending_discontinuity = false;
        self.ended = false;
        self.segments.push_back(Segment {
            msn,
            program_date_time,
            generation: self.generation,
            discontinuity,
            parts: Vec::new(),
            complete: false,
        });
        msn
    }

    /// Appends a part to the open segment; returns `(msn, part index)`.
    pub fn push_part(
        &mut self,
        duration: Duration,
        independent: bool,
    ) -> Result<(u64, u32), PlaylistError> {
        if self.ended {
            return Err(PlaylistError::Ended);
        }
        let seg = self
            .segments
            .back_mut()
            .filter(|s| !s.complete)
            .ok_or(PlaylistError::NoOpenSegment)?;
        seg.parts.push(Part {
            duration,
            independent,
        });
        Ok((seg.msn, (seg.parts.len() - 1) as u32))
    }

    /// Closes the open segment, if any, and slides the window.
    pub fn close_segment(&mut self) -> Option<ClosedSegment> {
        let seg = self.segments.back_mut().filter(|s| !s.complete)?;
        if seg.parts.is_empty() {
            // Nothing was written under this number: give it back.
            let msn = seg.msn;
            self.segments.pop_back();
            self.next_msn = msn;
            return None;
        }
        seg.complete = true;
        let msn = seg.msn;
        let duration = seg.duration();
        let mut evicted = Vec::new();
        while self.segments.len() > self.config.window_segments.max(1) {
            if let Some(old) = self.segments.pop_front() {
                evicted.push(old.msn);
                // The discontinuity before the new first segment leaves with the old one.
                if self.segments.front().is_some_and(|s| s.discontinuity) {
                    self.discontinuity_sequence += 1;
                }
                if self.records() {
                    self.recording.push_back(old);
                }
            }
        }
        let mut expired = Vec::new();
        let keep = self
            .config
            .retain_segments
            .saturating_sub(self.config.window_segments);
        while self.recording.len() > keep {
            if let Some(old) = self.recording.pop_front() {
                expired.push(old.msn);
                if self.recording.front().is_some_and(|s| s.discontinuity) {
                    self.recording_discontinuity_sequence += 1;
                }
            }
        }
        Some(ClosedSegment {
            msn,
            duration,
            evicted,
            expired,
        })
    }

    /// The next segment starts a new discontinuity with init segment `generation`.
    pub fn discontinuity(&mut self, generation: u64) {
        self.generation = generation;
        self.pending_discontinuity = true;
    }

    /// Closes the open segment and marks the playlist ended (EXT-X-ENDLIST).
    pub fn end(&mut self) -> Option<ClosedSegment> {
        let closed = self.close_segment();
        self.ended = true;
        closed
    }

    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// The last part written, `(msn, part index)`.
    pub fn last_part(&self) -> Option<(u64, u32)> {
        let seg = self.segments.back()?;
        let n = seg.parts.len().checked_sub(1)?;
        Some((seg.msn, n as u32))
    }

    /// The part the preload hint points at: the next part of the open segment (when
    /// a keyframe closes the segment first, the origin answers that hint with 404 at
    /// once and players move on to the next segment's first part).
    pub fn next_part(&self) -> (u64, u32) {
        match self.open_segment() {
            Some(seg) => (seg.msn, seg.parts.len() as u32),
            None => (self.next_msn, 0),
        }
    }

    /// EXT-X-TARGETDURATION: every segment's duration rounded to the nearest second fits.
    pub fn target_duration(&self) -> u64 {
        super::tags::target_duration(
            self.segments.iter().map(Segment::duration),
            self.config.segment_duration,
        )
    }

    /// PART-TARGET: the configured target, or the longest part if one overran it.
    pub fn part_target(&self) -> Duration {
        self.segments
            .iter()
            .flat_map(|s| s.parts.iter().map(|p| p.duration))
            .chain(std::iter::once(self.config.part_target))
            .max()
            .unwrap_or(self.config.part_target)
    }

    /// CAN-SKIP-UNTIL: six target durations, as RFC 8216bis recommends.
    pub fn skip_until(&self) -> Duration {
        Duration::from_secs(6 * self.target_duration())
    }

    /// Completed segments a delta update may skip: those starting more than
    /// CAN-SKIP-UNTIL before the end of the playlist.
    pub(super) fn skippable(&self) -> usize {
        let until = self.skip_until();
        let mut from_end = Duration::ZERO;
        let mut keep = 0;
        for seg in self.segments.iter().rev() {
            from_end += seg.duration();
            keep += 1;
            if from_end > until {
                break;
            }
        }
        if from_end <= until {
            return 0;
        }
        self.segments.len().saturating_sub(keep)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::fixtures::{t0, PART};
    use super::*;

    #[test]
    fn part_scheduler_numbers_parts_and_segments() {
        let mut p = MediaPlaylist::new(PlaylistConfig::default());
        assert_eq!(p.push_part(PART, true), Err(PlaylistError::NoOpenSegment));
        assert_eq!(p.next_part(), (0, 0));
        assert_eq!(p.begin_segment(t0()), 0);
        assert_eq!(p.push_part(PART, true), Ok((0, 0)));
        assert_eq!(p.push_part(PART, false), Ok((0, 1)));
        assert_eq!(p.next_part(), (0, 2));
        assert_eq!(p.last_part(), Some((0, 1)));
        let closed = p.close_segment().unwrap();
        assert_eq!(closed.msn, 0);
        assert_eq!(closed.duration, PART * 2);
        assert_eq!(p.next_part(), (1, 0));
        assert_eq!(p.begin_segment(t0()), 1);
        assert_eq!(p.push_part(PART, true), Ok((1, 0)));
    }

    #[test]
    fn empty_segment_gives_its_number_back() {
        let mut p = MediaPlaylist::new(PlaylistConfig::default());
        p.begin_segment(t0());
        assert_eq!(p.close_segment(), None);
        assert_eq!(p.begin_segment(t0()), 0);
    }

    #[test]
    fn long_segment_raises_target_duration() {
        let mut p = MediaPlaylist::new(PlaylistConfig::default());
        p.begin_segment(t0());
        for _ in 0..9 {
            p.push_part(PART, false).unwrap();
        }
        p.close_segment();
        assert_eq!(p.target_duration(), 3);
    }
}
