//! The subtitles rendition's media playlist (pure): one WebVTT segment per media
//! segment, same media sequence numbers, durations, program date-times and
//! discontinuities as the video it captions. The live playlist also lists one WebVTT
//! part per media part (`part{msn}.{n}.vtt`, same durations) for the last few segments
//! and the open one, so a low-latency player gets a cue a part after it is published,
//! not when its 2 s segment closes; it allows blocking reloads (`_HLS_msn`, `_HLS_part`).
//! The recording's playlists list segments only.

use crate::playlist::{format_pdt, tags};
use std::fmt::Write;
use std::time::{Duration, SystemTime};

/// One listed subtitles segment (`seg{msn}.vtt`).
#[derive(Debug, Clone, PartialEq)]
pub struct SubtitleSegment {
    pub msn: u64,
    pub duration: Duration,
    pub program_date_time: SystemTime,
    /// EXT-X-DISCONTINUITY before this segment (a new publish session).
    pub discontinuity: bool,
    /// Durations of its parts (`part{msn}.{n}.vtt`), listed in the live playlist when
    /// the segment is among the last [`SEGMENTS_WITH_PARTS`]; empty when not written.
    pub parts: Vec<Duration>,
}

/// Complete segments whose parts the live playlist still lists (rfc8216bis: parts
/// may go once they are more than three target durations from the end).
pub const SEGMENTS_WITH_PARTS: usize = 3;

/// The parts of the live playlist: the PART-TARGET of the media and the open segment
/// (its `duration` is unused; its parts are those written so far).
#[derive(Debug, Clone, Copy)]
pub struct LiveParts<'a> {
    pub part_target: Duration,
    pub open: Option<&'a SubtitleSegment>,
}

/// Which playlist is rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    /// The live window: blocking reloads allowed, no end.
    Live,
    /// The recording while live: `EXT-X-PLAYLIST-TYPE:EVENT`.
    Event,
    /// The recording once ended: `EXT-X-PLAYLIST-TYPE:VOD` and `EXT-X-ENDLIST`.
    Vod,
}

/// Renders `segments` (oldest first); `discontinuity_sequence` is that of the first;
/// `nominal` is the media's segment duration (EXT-X-TARGETDURATION is at least that).
pub fn render_subtitle_playlist(
    segments: &[SubtitleSegment],
    discontinuity_sequence: u64,
    nominal: Duration,
    listing: Listing,
) -> String {
    render(segments, discontinuity_sequence, nominal, listing, None)
}

/// The live playlist with parts: those of the last [`SEGMENTS_WITH_PARTS`] segments
/// that have them, then the open segment's.
pub fn render_live_with_parts(
    segments: &[SubtitleSegment],
    discontinuity_sequence: u64,
    nominal: Duration,
    parts: LiveParts<'_>,
) -> String {
    render(
        segments,
        discontinuity_sequence,
        nominal,
        Listing::Live,
        Some(parts),
    )
}

/// Durations are written with five decimals: counted here in those units (10 µs).
const UNITS_PER_SECOND: u128 = 100_000;

fn units(d: Duration) -> u128 {
    (d.as_nanos() * UNITS_PER_SECOND + 500_000_000) / 1_000_000_000
}

fn format_units(u: u128) -> String {
    format!("{}.{:05}", u / UNITS_PER_SECOND, u % UNITS_PER_SECOND)
}

/// The written durations of a segment's parts, rounded on their running sum so that
/// they add up to the written EXTINF of a complete segment exactly (its last part takes
/// up any difference). A player that takes a segment as loaded once a loaded part ends
/// where the segment ends (hls.js does, within 1 µs, for subtitles) would otherwise see
/// six parts of 0.33333 s end 20 µs short of a 2.00000 s segment, and wait for a part
/// that does not exist.
fn written_parts(seg: &SubtitleSegment, complete: bool) -> Vec<u128> {
    let mut running = Duration::ZERO;
    let mut written_end = 0u128;
    let last = seg.parts.len().saturating_sub(1);
    seg.parts
        .iter()
        .enumerate()
        .map(|(n, d)| {
            running += *d;
            let end = if complete && n == last {
                units(seg.duration)
            } else {
                units(running)
            };
            let part = end.saturating_sub(written_end);
            written_end = written_end.max(end);
            part
        })
        .collect()
}

fn write_parts(out: &mut String, seg: &SubtitleSegment, complete: bool) {
    for (n, u) in written_parts(seg, complete).into_iter().enumerate() {
        let _ = writeln!(
            out,
            "#EXT-X-PART:DURATION={},URI=\"{}\",INDEPENDENT=YES",
            format_units(u),
            crate::names::subtitle_part_name(seg.msn, n as u32)
        );
    }
}

fn render(
    segments: &[SubtitleSegment],
    discontinuity_sequence: u64,
    nominal: Duration,
    listing: Listing,
    parts: Option<LiveParts<'_>>,
) -> String {
    let target = tags::target_duration(segments.iter().map(|s| s.duration), nominal);
    let open = parts
        .and_then(|p| p.open)
        .filter(|o| !o.parts.is_empty() && listing == Listing::Live);
    let first_msn = segments.first().or(open).map_or(0, |s| s.msn);
    let mut out = String::with_capacity(256 + 96 * segments.len());
    let _ = writeln!(
        out,
        "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:{target}"
    );
    match listing {
        Listing::Live => match parts {
            Some(p) => {
                // As the media playlist writes them.
                let _ = writeln!(
                    out,
                    "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK={:.3}\n#EXT-X-PART-INF:PART-TARGET={:.3}",
                    tags::part_hold_back(p.part_target),
                    tags::written_part_target(p.part_target)
                );
            }
            None => {
                let _ = writeln!(out, "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES");
            }
        },
        Listing::Event => {
            let _ = writeln!(out, "#EXT-X-PLAYLIST-TYPE:EVENT");
        }
        Listing::Vod => {
            let _ = writeln!(out, "#EXT-X-PLAYLIST-TYPE:VOD");
        }
    }
    tags::write_sequences(&mut out, first_msn, discontinuity_sequence);
    let with_parts_from = segments.len().saturating_sub(SEGMENTS_WITH_PARTS);
    for (i, seg) in segments.iter().enumerate() {
        if seg.discontinuity && i > 0 {
            let _ = writeln!(out, "#EXT-X-DISCONTINUITY");
        }
        let _ = writeln!(
            out,
            "#EXT-X-PROGRAM-DATE-TIME:{}",
            format_pdt(seg.program_date_time)
        );
        if parts.is_some() && i >= with_parts_from {
            write_parts(&mut out, seg, true);
        }
        let _ = writeln!(
            out,
            "#EXTINF:{},\n{}",
            format_units(units(seg.duration)),
            crate::names::subtitle_segment_name(seg.msn)
        );
    }
    if let Some(seg) = open {
        if seg.discontinuity && !segments.is_empty() {
            let _ = writeln!(out, "#EXT-X-DISCONTINUITY");
        }
        let _ = writeln!(
            out,
            "#EXT-X-PROGRAM-DATE-TIME:{}",
            format_pdt(seg.program_date_time)
        );
        write_parts(&mut out, seg, false);
    }
    if listing == Listing::Vod {
        let _ = writeln!(out, "#EXT-X-ENDLIST");
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::playlist::read_media;

    /// [`segments`] with six parts of `part` each (after `adjust`), and the open
    /// segment after them with `open_parts` parts.
    fn with_parts(
        part: Duration,
        open_parts: usize,
        adjust: impl FnOnce(&mut [SubtitleSegment]),
    ) -> (Vec<SubtitleSegment>, SubtitleSegment) {
        let mut segs = segments();
        for s in &mut segs {
            s.parts = vec![part; 6];
        }
        adjust(&mut segs);
        let last = segs.last().expect("segments");
        let open = SubtitleSegment {
            msn: 9,
            duration: Duration::ZERO,
            program_date_time: last.program_date_time + last.duration,
            discontinuity: false,
            parts: vec![part; open_parts],
        };
        (segs, open)
    }

    fn segments() -> Vec<SubtitleSegment> {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000);
        (5..9)
            .map(|msn| SubtitleSegment {
                msn,
                duration: Duration::from_millis(2000),
                program_date_time: t0 + Duration::from_secs(2 * msn),
                discontinuity: msn == 7,
                parts: Vec::new(),
            })
            .collect()
    }

    #[test]
    fn live_playlist_conforms() {
        let text = render_subtitle_playlist(&segments(), 2, Duration::from_secs(2), Listing::Live);
        assert!(text.starts_with(
            "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:2\n#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES\n#EXT-X-MEDIA-SEQUENCE:5\n#EXT-X-DISCONTINUITY-SEQUENCE:2\n"
        ));
        assert!(text.contains("seg6.vtt\n#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:"));
        assert!(!text.contains("ENDLIST") && !text.contains("EXT-X-PART"));
        // An independent reader: m3u8-rs.
        let parsed = m3u8_rs::parse_media_playlist_res(text.as_bytes()).unwrap();
        assert_eq!(parsed.media_sequence, 5);
        assert_eq!(parsed.segments.len(), 4);
        for s in &parsed.segments {
            assert!(s.duration <= parsed.target_duration as f32);
            assert!(s.program_date_time.is_some());
        }
        assert_eq!(parsed.segments[3].uri, "seg8.vtt");
        // Our own reader finds the edge a blocking request waits on.
        let listing = read_media(&text).unwrap();
        assert_eq!(listing.next(), (9, 0));
    }

    #[test]
    fn live_playlist_with_parts_lists_the_edge_part_by_part() {
        let part = Duration::from_millis(333);
        let (segs, open) = with_parts(part, 2, |segs| segs[3].duration = part * 6);
        let text = render_live_with_parts(
            &segs,
            2,
            Duration::from_secs(2),
            LiveParts {
                part_target: Duration::from_micros(333_333),
                open: Some(&open),
            },
        );
        assert!(
            text.contains("#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.002\n#EXT-X-PART-INF:PART-TARGET=0.334\n"),
            "{text}"
        );
        // Parts of the last three complete segments and of the open one only.
        assert!(!text.contains("part5.0.vtt"), "{text}");
        assert!(text.contains("#EXT-X-PART:DURATION=0.33300,URI=\"part6.0.vtt\",INDEPENDENT=YES\n"));
        assert!(text.ends_with("part9.0.vtt\",INDEPENDENT=YES\n#EXT-X-PART:DURATION=0.33300,URI=\"part9.1.vtt\",INDEPENDENT=YES\n"), "{text}");
        // The edge a blocking request waits on: the open segment's next part.
        let listing = read_media(&text).unwrap();
        assert_eq!(listing.next(), (9, 2));
        assert_eq!(listing.part_target, Some(Duration::from_millis(334)));
        // An independent reader still takes it (parts are tags it skips).
        let parsed = m3u8_rs::parse_media_playlist_res(text.as_bytes()).unwrap();
        assert_eq!(parsed.segments.len(), 4);
        // Without an open part, the last complete segment is the edge.
        let closed = render_live_with_parts(
            &segs,
            2,
            Duration::from_secs(2),
            LiveParts {
                part_target: part,
                open: None,
            },
        );
        assert_eq!(read_media(&closed).unwrap().next(), (9, 0));
        assert!(closed.ends_with("seg8.vtt\n"));
    }

    #[test]
    fn written_parts_add_up_to_their_segment() {
        // Ten frames at 30 fps a part: 0.333333… s, six to a 2 s segment.
        let part = Duration::from_nanos(333_333_333);
        let (segs, open) = with_parts(part, 4, |_| {});
        let text = render_live_with_parts(
            &segs,
            0,
            Duration::from_secs(2),
            LiveParts {
                part_target: part,
                open: Some(&open),
            },
        );
        // Read back as a player reads it (decimal text to f64, summed in order).
        let mut sums = std::collections::BTreeMap::<u64, f64>::new();
        let mut extinf = std::collections::BTreeMap::<u64, f64>::new();
        let mut pending = None;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("#EXT-X-PART:DURATION=") {
                let (d, rest) = rest.split_once(',').unwrap();
                let msn: u64 = rest
                    .split("part")
                    .nth(1)
                    .unwrap()
                    .split('.')
                    .next()
                    .unwrap()
                    .parse()
                    .unwrap();
                let d: f64 = d.parse().unwrap();
                assert!((d - part.as_secs_f64()).abs() <= 1e-5, "{line}");
                *sums.entry(msn).or_default() += d;
            } else if let Some(d) = line.strip_prefix("#EXTINF:") {
                pending = Some(d.trim_end_matches(',').parse::<f64>().unwrap());
            } else if let Some(msn) = line
                .strip_prefix("seg")
                .and_then(|l| l.strip_suffix(".vtt"))
            {
                extinf.insert(msn.parse().unwrap(), pending.take().unwrap());
            }
        }
        assert_eq!(sums.keys().copied().collect::<Vec<_>>(), vec![6, 7, 8, 9]);
        for msn in 6..9 {
            assert_eq!(extinf[&msn], 2.0);
            // hls.js takes a segment as loaded when its last part ends within 1 µs of it.
            assert!(
                (sums[&msn] - extinf[&msn]).abs() < 1e-9,
                "{msn}: {} vs {}\n{text}",
                sums[&msn],
                extinf[&msn]
            );
        }
        // The open segment's parts end where its four parts do, to the written precision.
        assert!(
            (sums[&9] - 4.0 * part.as_secs_f64()).abs() < 1e-5,
            "{}",
            sums[&9]
        );
    }

    #[test]
    fn recording_while_live_and_ended() {
        let event =
            render_subtitle_playlist(&segments(), 0, Duration::from_secs(2), Listing::Event);
        assert!(event.contains("#EXT-X-PLAYLIST-TYPE:EVENT\n"));
        assert!(!event.contains("ENDLIST") && !event.contains("SERVER-CONTROL"));
        let vod = render_subtitle_playlist(&segments(), 0, Duration::from_secs(2), Listing::Vod);
        assert!(vod.ends_with("seg8.vtt\n#EXT-X-ENDLIST\n"));
        let parsed = m3u8_rs::parse_media_playlist_res(vod.as_bytes()).unwrap();
        assert!(parsed.end_list);
    }

    #[test]
    fn target_duration_covers_the_longest_segment() {
        let mut s = segments();
        s[1].duration = Duration::from_millis(3400);
        let text = render_subtitle_playlist(&s, 0, Duration::from_secs(2), Listing::Live);
        assert!(text.contains("#EXT-X-TARGETDURATION:3\n"), "{text}");
        // No segment at all yet: still a playlist.
        let empty = render_subtitle_playlist(&[], 0, Duration::from_secs(2), Listing::Live);
        assert!(empty.contains("#EXT-X-MEDIA-SEQUENCE:0\n"));
    }
}
