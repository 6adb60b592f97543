//! The subtitles rendition's media playlist (pure): one WebVTT segment per media
//! segment, same media sequence numbers, durations, program date-times and
//! discontinuities as the video it captions. No parts: rfc8216bis allows a rendition
//! without them in a low-latency presentation, and players fetch it segment by segment.
//! The live playlist allows blocking reloads (`_HLS_msn`), so a player learns of a new
//! subtitles segment when it is written, not a reload interval later.

use crate::playlist::format_pdt;
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
    let target = segments
        .iter()
        .map(|s| s.duration)
        .chain(std::iter::once(nominal))
        .max()
        .map_or(1, |d| (d.as_secs_f64().round() as u64).max(1));
    let first_msn = segments.first().map_or(0, |s| s.msn);
    let mut out = String::with_capacity(256 + 96 * segments.len());
    let _ = writeln!(
        out,
        "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:{target}"
    );
    match listing {
        Listing::Live => {
            let _ = writeln!(out, "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES");
        }
        Listing::Event => {
            let _ = writeln!(out, "#EXT-X-PLAYLIST-TYPE:EVENT");
        }
        Listing::Vod => {
            let _ = writeln!(out, "#EXT-X-PLAYLIST-TYPE:VOD");
        }
    }
    let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{first_msn}");
    if discontinuity_sequence > 0 {
        let _ = writeln!(
            out,
            "#EXT-X-DISCONTINUITY-SEQUENCE:{discontinuity_sequence}"
        );
    }
    for (i, seg) in segments.iter().enumerate() {
        if seg.discontinuity && i > 0 {
            let _ = writeln!(out, "#EXT-X-DISCONTINUITY");
        }
        let _ = writeln!(
            out,
            "#EXT-X-PROGRAM-DATE-TIME:{}\n#EXTINF:{:.5},\n{}",
            format_pdt(seg.program_date_time),
            seg.duration.as_secs_f64(),
            crate::names::subtitle_segment_name(seg.msn)
        );
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

    fn segments() -> Vec<SubtitleSegment> {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000);
        (5..9)
            .map(|msn| SubtitleSegment {
                msn,
                duration: Duration::from_millis(2000),
                program_date_time: t0 + Duration::from_secs(2 * msn),
                discontinuity: msn == 7,
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
