//! The media playlist writer: renders a [`MediaPlaylist`] as live LL-HLS text (full or
//! delta) or, once the live has ended, as the VOD playlist of its recording.

use super::daterange;
use super::model::{MediaPlaylist, RenditionReport, Segment, SEGMENTS_WITH_PARTS};
use super::tags;
use std::time::SystemTime;

/// From the first segment's program date time to the end of the last one's media.
fn span<'a>(
    mut segments: impl DoubleEndedIterator<Item = &'a Segment>,
) -> Option<(SystemTime, SystemTime)> {
    let first = segments.next()?;
    let last = segments.next_back().unwrap_or(first);
    let end = last.program_date_time.checked_add(last.duration())?;
    Some((first.program_date_time, end))
}

impl MediaPlaylist {
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
        let target = tags::target_duration(
            all.iter().map(|s| s.duration()),
            self.config.segment_duration,
        );
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
        tags::write_sequences(&mut out, first_msn, discontinuity_sequence);
        // The recording lists every marker within it.
        if let Some((from, to)) = span(all.iter().copied()) {
            daterange::write_within(&mut out, &self.date_ranges, from, to);
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
        let part_target = tags::written_part_target(self.part_target());
        let part_hold_back = tags::part_hold_back(self.part_target());
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
        tags::write_sequences(&mut out, first_msn, self.discontinuity_sequence);
        let skipped = if skip { self.skippable() } else { 0 };
        if skipped > 0 {
            let _ = writeln!(out, "#EXT-X-SKIP:SKIPPED-SEGMENTS={skipped}");
        }
        // Markers within the whole window, skipped segments included: without
        // CAN-SKIP-DATERANGES a delta update lists every date range too.
        if let Some((from, to)) = span(self.segments.iter()) {
            daterange::write_within(&mut out, &self.date_ranges, from, to);
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::fixtures::{playlist, t0, PART};
    use super::super::model::{PlaylistConfig, DEFAULT_WINDOW_SEGMENTS};
    use super::super::read::parse_edge;
    use super::*;
    use std::time::Duration;

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
}
