//! LL-HLS media playlist model (sans-IO) and its writer.
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
    ended: bool,
    /// Complete segments that left the live window, kept for the recording.
    recording: VecDeque<Segment>,
    /// EXT-X-DISCONTINUITY-SEQUENCE of the first recorded segment.
    recording_discontinuity_sequence: u64,
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
const SEGMENTS_WITH_PARTS: usize = 3;

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
        }
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
        let longest = self
            .segments
            .iter()
            .map(Segment::duration)
            .chain(std::iter::once(self.config.segment_duration))
            .max()
            .unwrap_or(self.config.segment_duration);
        (longest.as_secs_f64().round() as u64).max(1)
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
    fn skippable(&self) -> usize {
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

    /// Renders the recording as a VOD playlist: every retained segment, then
    /// EXT-X-ENDLIST.
    pub fn render_vod(&self) -> String {
        use std::fmt::Write;
        let all: Vec<&Segment> = self
            .recording
            .iter()
            .chain(self.segments.iter())
            .filter(|s| s.complete)
            .collect();
        let target = all
            .iter()
            .map(|s| s.duration())
            .chain(std::iter::once(self.config.segment_duration))
            .max()
            .map_or(1, |d| (d.as_secs_f64().round() as u64).max(1));
        let first_msn = all.first().map_or(self.next_msn, |s| s.msn);
        let discontinuity_sequence = if self.recording.is_empty() {
            self.discontinuity_sequence
        } else {
            self.recording_discontinuity_sequence
        };
        let mut out = String::with_capacity(64 * all.len() + 256);
        let _ = writeln!(out, "#EXTM3U");
        let _ = writeln!(out, "#EXT-X-VERSION:9");
        let _ = writeln!(out, "#EXT-X-TARGETDURATION:{target}");
        let _ = writeln!(out, "#EXT-X-PLAYLIST-TYPE:VOD");
        let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{first_msn}");
        if discontinuity_sequence > 0 {
            let _ = writeln!(
                out,
                "#EXT-X-DISCONTINUITY-SEQUENCE:{discontinuity_sequence}"
            );
        }
        let mut map: Option<u64> = None;
        for (i, seg) in all.iter().enumerate() {
            write_segment_tags(&mut out, seg, i > 0, &mut map);
            let _ = writeln!(out, "#EXTINF:{:.5},", seg.duration().as_secs_f64());
            let _ = writeln!(out, "{}", crate::names::segment_name(seg.msn));
        }
        let _ = writeln!(out, "#EXT-X-ENDLIST");
        out
    }

    /// Renders the playlist; with `skip`, older segments are replaced by EXT-X-SKIP
    /// (only when the window is long enough, else the full playlist is rendered).
    /// Once the live has ended, both are the VOD playlist of the recording.
    pub fn render(&self, skip: bool, reports: &[RenditionReport]) -> String {
        if self.ended && self.records() {
            return self.render_vod();
        }
        use std::fmt::Write;
        let mut out = String::with_capacity(4096);
        let target = self.target_duration();
        // PART-TARGET as written (rounded up to the millisecond), and a hold-back of
        // three times that written value.
        let part_target_ms = self.part_target().as_secs_f64() * 1000.0;
        let part_target = (part_target_ms - 1e-6).ceil() / 1000.0;
        let part_hold_back = 3.0 * part_target;
        let first_msn = self.segments.front().map_or(self.next_msn, |s| s.msn);
        let _ = writeln!(out, "#EXTM3U");
        let _ = writeln!(out, "#EXT-X-VERSION:9");
        let _ = writeln!(out, "#EXT-X-TARGETDURATION:{target}");
        let _ = writeln!(
            out,
            "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={part_hold_back:.3},CAN-SKIP-UNTIL={:.1}",
            self.skip_until().as_secs_f64()
        );
        let _ = writeln!(out, "#EXT-X-PART-INF:PART-TARGET={part_target:.3}");
        let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{first_msn}");
        if self.discontinuity_sequence > 0 {
            let _ = writeln!(
                out,
                "#EXT-X-DISCONTINUITY-SEQUENCE:{}",
                self.discontinuity_sequence
            );
        }
        let skipped = if skip { self.skippable() } else { 0 };
        if skipped > 0 {
            let _ = writeln!(out, "#EXT-X-SKIP:SKIPPED-SEGMENTS={skipped}");
        }
        let with_parts_from = self.segments.len().saturating_sub(SEGMENTS_WITH_PARTS + 1);
        let mut map: Option<u64> = None;
        for (i, seg) in self.segments.iter().enumerate().skip(skipped) {
            write_segment_tags(&mut out, seg, i > skipped, &mut map);
            if i >= with_parts_from || !seg.complete {
                for (n, part) in seg.parts.iter().enumerate() {
                    let _ = write!(
                        out,
                        "#EXT-X-PART:DURATION={:.5},URI=\"{}\"",
                        part.duration.as_secs_f64(),
                        crate::names::part_name(seg.msn, n as u32)
                    );
                    if part.independent {
                        out.push_str(",INDEPENDENT=YES");
                    }
                    out.push('\n');
                }
            }
            if seg.complete {
                let _ = writeln!(out, "#EXTINF:{:.5},", seg.duration().as_secs_f64());
                let _ = writeln!(out, "{}", crate::names::segment_name(seg.msn));
            }
        }
        if self.ended {
            let _ = writeln!(out, "#EXT-X-ENDLIST");
            return out;
        }
        let (msn, part) = self.next_part();
        let _ = writeln!(
            out,
            "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"{}\"",
            crate::names::part_name(msn, part)
        );
        for r in reports {
            let _ = writeln!(
                out,
                "#EXT-X-RENDITION-REPORT:URI=\"{}\",LAST-MSN={},LAST-PART={}",
                r.uri, r.last_msn, r.last_part
            );
        }
        out
    }
}

/// The tags before a segment's parts or URI: EXT-X-DISCONTINUITY (not on the first
/// segment listed), EXT-X-MAP when the init segment changes, EXT-X-PROGRAM-DATE-TIME.
fn write_segment_tags(out: &mut String, seg: &Segment, not_first: bool, map: &mut Option<u64>) {
    use std::fmt::Write;
    if seg.discontinuity && not_first {
        let _ = writeln!(out, "#EXT-X-DISCONTINUITY");
    }
    if *map != Some(seg.generation) {
        let _ = writeln!(
            out,
            "#EXT-X-MAP:URI=\"{}\"",
            crate::names::init_name(seg.generation)
        );
        *map = Some(seg.generation);
    }
    let _ = writeln!(
        out,
        "#EXT-X-PROGRAM-DATE-TIME:{}",
        format_pdt(seg.program_date_time)
    );
}

/// `2026-11-30T10:15:00.123Z`
pub fn format_pdt(t: SystemTime) -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::from(t)
        .format(&format)
        .unwrap_or_else(|_| "1970-01-01T00:00:00.000Z".to_owned())
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

impl PlaylistEdge {
    /// Whether part `part` of segment `msn` (or, with `None`, the whole segment) is
    /// listed in the playlist this edge was read from.
    pub fn has(&self, msn: u64, part: Option<u32>) -> bool {
        if self.ended {
            return true;
        }
        match part {
            Some(p) => (msn, p) < (self.next_msn, self.next_part),
            None => msn < self.next_msn,
        }
    }
}

/// Reads the edge back from a media playlist (full or delta, live or ended): the part
/// its `EXT-X-PRELOAD-HINT` names, or, without a hint, the one after the segments and
/// parts it lists. `None` if `text` has no `#EXT-X-TARGETDURATION` (it is not a media
/// playlist) or a tag it needs is malformed. Tolerant of what other writers do: URIs
/// with a path or query, fractional target durations, hints behind the listing.
pub fn parse_edge(text: &str) -> Option<PlaylistEdge> {
    let mut target_duration = None;
    let mut part_target = Duration::ZERO;
    let mut media_sequence = 0u64;
    let mut skipped = 0u64;
    let mut completed = 0u64;
    let mut parts_in_open = 0u32;
    let mut in_segment = false;
    let mut hint: Option<(u64, u32)> = None;
    let mut ended = false;

    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some(tag) = line.strip_prefix('#') else {
            // A URI line: it closes the segment an EXTINF opened.
            if in_segment {
                completed = completed.saturating_add(1);
                parts_in_open = 0;
                in_segment = false;
            }
            continue;
        };
        let (name, value) = tag.split_once(':').unwrap_or((tag, ""));
        match name {
            "EXT-X-TARGETDURATION" => target_duration = seconds(value),
            "EXT-X-PART-INF" => {
                if let Some(d) = attribute(value, "PART-TARGET").and_then(seconds) {
                    part_target = d;
                }
            }
            "EXT-X-MEDIA-SEQUENCE" => media_sequence = value.trim().parse().ok()?,
            "EXT-X-SKIP" => {
                skipped = attribute(value, "SKIPPED-SEGMENTS")?.parse().ok()?;
            }
            "EXTINF" => in_segment = true,
            "EXT-X-PART" => parts_in_open = parts_in_open.saturating_add(1),
            "EXT-X-PRELOAD-HINT" if attribute(value, "TYPE") == Some("PART") => {
                let uri = attribute(value, "URI").unwrap_or_default();
                let uri = uri.split(['?', '#']).next().unwrap_or_default();
                let file = uri.rsplit('/').next().unwrap_or_default();
                if let Some(crate::names::MediaName::Part { msn, part }) =
                    crate::names::parse_media_name(file)
                {
                    hint = Some((msn, part));
                }
            }
            "EXT-X-ENDLIST" => ended = true,
            _ => {}
        }
    }

    let listed = (
        media_sequence
            .saturating_add(skipped)
            .saturating_add(completed),
        parts_in_open,
    );
    let (next_msn, next_part) = match hint {
        Some(h) => h.max(listed),
        None => listed,
    };
    Some(PlaylistEdge {
        next_msn,
        next_part,
        target_duration: target_duration?,
        part_target,
        ended,
    })
}

fn seconds(s: &str) -> Option<Duration> {
    let v: f64 = s.trim().parse().ok()?;
    Duration::try_from_secs_f64(v).ok()
}

/// The value of attribute `name` in an attribute list, without quotes.
pub fn attribute<'a>(list: &'a str, name: &str) -> Option<&'a str> {
    let mut rest = list;
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let (value, tail) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"')?;
            (&quoted[..end], quoted[end + 1..].trim_start_matches(','))
        } else {
            match after.split_once(',') {
                Some((v, t)) => (v, t),
                None => (after, ""),
            }
        };
        if key.trim() == name {
            return Some(value);
        }
        rest = tail;
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const PART: Duration = Duration::from_micros(333_333);

    fn t0() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000)
    }

    /// Writes `segments` complete 2 s segments of six parts each, then `open` parts.
    fn playlist(segments: usize, open: usize) -> MediaPlaylist {
        let mut p = MediaPlaylist::new(PlaylistConfig::default());
        for s in 0..segments {
            p.begin_segment(t0() + Duration::from_secs(2 * s as u64));
            for n in 0..6 {
                p.push_part(PART, n == 0).unwrap();
            }
        }
        if open > 0 {
            p.begin_segment(t0() + Duration::from_secs(2 * segments as u64));
            for n in 0..open {
                p.push_part(PART, n == 0).unwrap();
            }
        } else {
            p.close_segment();
        }
        p
    }

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
    fn renders_ll_hls_tags() {
        let p = playlist(3, 2);
        let reports = [RenditionReport {
            uri: "../480p/index.m3u8".into(),
            last_msn: 3,
            last_part: 1,
        }];
        let text = p.render(false, &reports);
        assert!(
            text.starts_with("#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:2\n"),
            "{text}"
        );
        assert!(text.contains(
            "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.002,CAN-SKIP-UNTIL=12.0\n"
        ));
        assert!(text.contains("#EXT-X-PART-INF:PART-TARGET=0.334\n"));
        assert!(text.contains("#EXT-X-MEDIA-SEQUENCE:0\n"));
        assert!(text.contains("#EXT-X-MAP:URI=\"init.mp4\"\n"));
        assert!(
            text.contains("#EXT-X-PROGRAM-DATE-TIME:2025-11-24T16:00:00.000Z\n"),
            "{text}"
        );
        assert!(text.contains("#EXT-X-PART:DURATION=0.33333,URI=\"part0.0.m4s\",INDEPENDENT=YES\n"));
        assert!(text.contains("#EXT-X-PART:DURATION=0.33333,URI=\"part3.1.m4s\"\n"));
        assert!(text.contains("#EXTINF:2.00000,\nseg2.m4s\n"));
        assert!(!text.contains("seg3.m4s"));
        assert!(text.contains("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part3.2.m4s\"\n"));
        assert!(text.ends_with(
            "#EXT-X-RENDITION-REPORT:URI=\"../480p/index.m3u8\",LAST-MSN=3,LAST-PART=1\n"
        ));
        // m3u8-rs reads it as a media playlist.
        let parsed = m3u8_rs::parse_media_playlist_res(text.as_bytes()).unwrap();
        assert_eq!(parsed.segments.len(), 3);
        assert_eq!(parsed.target_duration, 2);
    }

    #[test]
    fn old_segments_lose_their_parts_and_slide_out() {
        let p = playlist(20, 1);
        let text = p.render(false, &[]);
        // The window keeps 12 complete segments, plus the open one.
        assert_eq!(p.segments.len(), DEFAULT_WINDOW_SEGMENTS + 1);
        assert!(text.contains("#EXT-X-MEDIA-SEQUENCE:8\n"), "{text}");
        assert!(!text.contains("seg7.m4s"));
        assert!(text.contains("seg8.m4s"));
        assert!(!text.contains("part16.0.m4s"), "{text}");
        assert!(text.contains("part17.0.m4s"));
        assert!(text.contains("part20.0.m4s"));
    }

    #[test]
    fn delta_update_skips_old_segments() {
        let p = playlist(20, 1);
        let full = p.render(false, &[]);
        let delta = p.render(true, &[]);
        assert!(delta.contains("#EXT-X-SKIP:SKIPPED-SEGMENTS="), "{delta}");
        let skipped: usize = delta
            .lines()
            .find_map(|l| l.strip_prefix("#EXT-X-SKIP:SKIPPED-SEGMENTS="))
            .unwrap()
            .parse()
            .unwrap();
        // 12 complete segments (24 s) + one part: segments within 12 s of the end stay.
        assert_eq!(skipped, 6);
        assert!(!delta.contains("seg13.m4s\n"));
        assert!(delta.contains("seg14.m4s\n"));
        assert!(delta.contains("#EXT-X-MAP:URI=\"init.mp4\"\n"));
        assert_eq!(parse_edge(&full), parse_edge(&delta));
        // A short playlist has nothing to skip.
        let short = playlist(2, 1);
        assert_eq!(short.render(true, &[]), short.render(false, &[]));
    }

    #[test]
    fn discontinuity_after_reconnect() {
        let mut p = playlist(3, 0);
        p.discontinuity(1);
        p.begin_segment(t0() + Duration::from_secs(60));
        p.push_part(PART, true).unwrap();
        let text = p.render(false, &[]);
        assert!(
            text.contains("seg2.m4s\n#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init-1.mp4\"\n#EXT-X-PROGRAM-DATE-TIME:"),
            "{text}"
        );
        assert_eq!(p.next_part(), (3, 1));
        // Sliding the discontinuity out of the window counts it.
        for s in 0..12 {
            p.begin_segment(t0() + Duration::from_secs(62 + 2 * s));
            p.push_part(PART, true).unwrap();
        }
        p.close_segment();
        assert_eq!(p.discontinuity_sequence, 1);
        assert!(p
            .render(false, &[])
            .contains("#EXT-X-DISCONTINUITY-SEQUENCE:1\n"));
    }

    #[test]
    fn first_session_has_no_discontinuity() {
        let mut p = MediaPlaylist::new(PlaylistConfig::default());
        p.discontinuity(0);
        p.begin_segment(t0());
        p.push_part(PART, true).unwrap();
        assert!(!p.render(false, &[]).contains("#EXT-X-DISCONTINUITY"));
    }

    #[test]
    fn ended_playlist_has_endlist_and_no_hint() {
        let mut p = playlist(2, 3);
        let closed = p.end().unwrap();
        assert_eq!(closed.msn, 2);
        let text = p.render(false, &[]);
        assert!(text.ends_with("seg2.m4s\n#EXT-X-ENDLIST\n"), "{text}");
        assert!(!text.contains("PRELOAD-HINT"));
        let edge = parse_edge(&text).unwrap();
        assert!(edge.ended);
        assert_eq!((edge.next_msn, edge.next_part), (3, 0));
        assert!(edge.has(100, Some(0)));
    }

    #[test]
    fn ended_live_becomes_a_vod_of_the_recording() {
        let config = PlaylistConfig {
            retain_segments: 16,
            ..PlaylistConfig::default()
        };
        let mut p = MediaPlaylist::new(config);
        let mut expired = Vec::new();
        let mut evicted = Vec::new();
        for s in 0..20u64 {
            if s == 10 {
                p.discontinuity(1);
            }
            p.begin_segment(t0() + Duration::from_secs(2 * s));
            for n in 0..6 {
                p.push_part(PART, n == 0).unwrap();
            }
            if let Some(c) = p.close_segment() {
                expired.extend(c.expired);
                evicted.extend(c.evicted);
            }
        }
        // 12 live + 4 recorded; segments 0..=3 expired, 0..=7 left the live window.
        assert_eq!(expired, vec![0, 1, 2, 3]);
        assert_eq!(evicted, (0..8).collect::<Vec<_>>());
        let live = p.render(false, &[]);
        assert!(live.contains("#EXT-X-MEDIA-SEQUENCE:8\n"), "{live}");
        assert!(!live.contains("PLAYLIST-TYPE"));
        p.end();
        let vod = p.render(false, &[]);
        assert_eq!(vod, p.render(true, &[]));
        assert!(
            vod.contains("#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-MEDIA-SEQUENCE:4\n"),
            "{vod}"
        );
        assert!(vod.ends_with("seg19.m4s\n#EXT-X-ENDLIST\n"));
        assert!(!vod.contains("#EXT-X-PART:") && !vod.contains("PRELOAD-HINT"));
        assert!(
            vod.contains("seg9.m4s\n#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init-1.mp4\"\n"),
            "{vod}"
        );
        assert_eq!(vod.matches("#EXTINF:").count(), 16);
        let parsed = m3u8_rs::parse_media_playlist_res(vod.as_bytes()).unwrap();
        assert!(parsed.end_list);
        assert_eq!(parse_edge(&vod).map(|e| e.ended), Some(true));
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

    #[test]
    fn edge_reads_back_the_hint() {
        let p = playlist(4, 2);
        let edge = parse_edge(&p.render(false, &[])).unwrap();
        assert_eq!((edge.next_msn, edge.next_part), (4, 2));
        assert_eq!(edge.target_duration, Duration::from_secs(2));
        assert_eq!(edge.part_target, Duration::from_millis(334));
        assert!(!edge.ended);
        assert!(edge.has(4, Some(1)));
        assert!(!edge.has(4, Some(2)));
        assert!(edge.has(3, None));
        assert!(!edge.has(4, None));
        assert_eq!(parse_edge("garbage"), None);
        assert_eq!(parse_edge("#EXTM3U\n#EXT-X-TARGETDURATION:x\n"), None);
    }

    #[test]
    fn attribute_lists() {
        assert_eq!(
            attribute("TYPE=PART,URI=\"a,b.m4s\"", "URI"),
            Some("a,b.m4s")
        );
        assert_eq!(attribute("A=1,B=2", "B"), Some("2"));
        assert_eq!(attribute("A=1", "C"), None);
        assert_eq!(attribute("junk", "C"), None);
    }
}
