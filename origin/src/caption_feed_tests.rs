#![allow(clippy::unwrap_used)]
use super::*;
use amphi_hls::playlist::read_media;
use amphi_hls::subtitles::{render_live_with_parts, LiveParts, SubtitleSegment};
use amphi_hls::vtt::{render_segment, VttCue};
use std::time::SystemTime;

const PART: Duration = Duration::from_millis(500);
const SEG: Duration = Duration::from_secs(2);

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000)
}

/// Program time `ms` after `t0`.
fn at(ms: u64) -> ProgramTime {
    ProgramTime::from(t0() + Duration::from_millis(ms))
}

fn segment(msn: u64, parts: usize, complete: bool) -> SubtitleSegment {
    SubtitleSegment {
        msn,
        duration: if complete { SEG } else { Duration::ZERO },
        program_date_time: t0() + SEG * msn as u32,
        discontinuity: false,
        parts: vec![PART; parts],
    }
}

/// The live subtitles playlist: segments `first..open` complete with four parts each,
/// then `open` with `open_parts` parts.
fn playlist(first: u64, open: u64, open_parts: usize) -> MediaListing {
    let segs: Vec<SubtitleSegment> = (first..open).map(|m| segment(m, 4, true)).collect();
    let open = segment(open, open_parts, false);
    let text = render_live_with_parts(
        &segs,
        0,
        SEG,
        LiveParts {
            part_target: PART,
            open: (open_parts > 0).then_some(&open),
        },
    );
    read_media(&text).unwrap()
}

/// A WebVTT object of segment `msn` as the packager writes it: the segment's media
/// start is 100 s + 2 s × msn (a session that began before the program's zero), its
/// 90 kHz time elsewhere; cues at program ms after `t0`.
fn vtt(msn: u64, cues: &[(u64, u64, &str)]) -> String {
    let local = Duration::from_secs(100) + SEG * msn as u32;
    let seg_start = SEG.as_millis() as u64 * msn;
    let cues: Vec<VttCue<'_>> = cues
        .iter()
        .map(|&(s, e, text)| VttCue {
            start: local + Duration::from_millis(s) - Duration::from_millis(seg_start),
            end: local + Duration::from_millis(e) - Duration::from_millis(seg_start),
            text,
        })
        .collect();
    render_segment(12_345 + 180_000 * msn, local, &cues)
}

fn names(fetches: &[Fetch]) -> Vec<String> {
    fetches.iter().map(Fetch::file).collect()
}

#[test]
fn follows_the_open_segment_part_by_part() {
    let mut feed = CaptionFeed::new();
    // Segment 5 is open with two parts: both read, nothing else.
    let f = feed.on_playlist(&playlist(5, 5, 2));
    assert_eq!(names(&f), ["part5.0.vtt", "part5.1.vtt"]);
    assert!(feed.on_vtt(f[0], &vtt(5, &[])).unwrap().is_empty());
    let new = feed
        .on_vtt(f[1], &vtt(5, &[(10_600, 12_600, "Entropy & <bits>")]))
        .unwrap();
    assert_eq!(
        new.iter().map(|c| (**c).clone()).collect::<Vec<_>>(),
        vec![PushedCue {
            start: at(10_600),
            end: at(12_600),
            text: "Entropy & <bits>".into()
        }]
    );
    // The same playlist again: nothing to read.
    assert!(feed.on_playlist(&playlist(5, 5, 2)).is_empty());
    // Two more parts, then the segment closes and 6 opens: parts only, no segment read.
    let f = feed.on_playlist(&playlist(5, 5, 4));
    assert_eq!(names(&f), ["part5.2.vtt", "part5.3.vtt"]);
    // The cue spans parts: repeated, pushed once.
    for fetch in f {
        assert!(feed
            .on_vtt(fetch, &vtt(5, &[(10_600, 12_600, "Entropy & <bits>")]))
            .unwrap()
            .is_empty());
    }
    let f = feed.on_playlist(&playlist(5, 6, 1));
    assert_eq!(names(&f), ["part6.0.vtt"]);
    let new = feed
        .on_vtt(
            f[0],
            &vtt(
                6,
                &[
                    (10_600, 12_600, "Entropy & <bits>"),
                    (12_100, 13_000, "Next"),
                ],
            ),
        )
        .unwrap();
    assert_eq!(new.len(), 1);
    assert_eq!((new[0].start, new[0].end), (at(12_100), at(13_000)));
    assert_eq!(
        feed.recent().map(|c| c.text.as_str()).collect::<Vec<_>>(),
        ["Entropy & <bits>", "Next"]
    );
}

#[test]
fn a_follower_that_joins_reads_complete_segments_whole() {
    let mut feed = CaptionFeed::new();
    // Joining with 3..6 complete and 6 open from part 0: segments whole, parts of 6.
    let f = feed.on_playlist(&playlist(3, 6, 2));
    assert_eq!(
        names(&f),
        [
            "seg3.vtt",
            "seg4.vtt",
            "seg5.vtt",
            "part6.0.vtt",
            "part6.1.vtt"
        ]
    );
    assert_eq!(f[0].program_date_time, at(6_000));
    assert_eq!(f[4].program_date_time, at(12_000));
    // An open segment first seen without its first part (captions began mid-way, or
    // the playlist dropped it): read whole once complete.
    let mut feed = CaptionFeed::new();
    let listing = playlist(6, 6, 3);
    let mut missing = listing.clone();
    missing.parts.retain(|p| p.index != 0);
    assert!(feed.on_playlist(&missing).is_empty());
    assert_eq!(names(&feed.on_playlist(&playlist(6, 7, 0))), ["seg6.vtt"]);
}

#[test]
fn a_part_never_listed_falls_back_to_the_segment() {
    let mut feed = CaptionFeed::new();
    assert_eq!(
        names(&feed.on_playlist(&playlist(5, 5, 1))),
        ["part5.0.vtt"]
    );
    // Part 1 is skipped in what this follower reads (a playlist it never saw listed
    // part 1, and the next one lists part 2 only after a gap): no part out of order.
    let mut gap = playlist(5, 5, 3);
    gap.parts.retain(|p| p.index != 1);
    assert!(feed.on_playlist(&gap).is_empty());
    // Complete with four parts, one of which was never read: the whole segment.
    let mut closed = playlist(5, 6, 0);
    closed.parts.retain(|p| !(p.msn == 5 && p.index == 1));
    assert_eq!(names(&feed.on_playlist(&closed)), ["seg5.vtt"]);
}

#[test]
fn keeps_the_recent_window_only() {
    let mut feed = CaptionFeed::new();
    let f = feed.on_playlist(&playlist(0, 1, 0));
    assert_eq!(names(&f), ["seg0.vtt"]);
    feed.on_vtt(f[0], &vtt(0, &[(500, 1_500, "old")])).unwrap();
    assert_eq!(feed.recent().count(), 1);
    // 40 s later, the old cue is out of the window; the segments before the window
    // are not read at all.
    let f = feed.on_playlist(&playlist(3, 20, 1));
    assert!(
        names(&f).first().is_some_and(|n| n == "seg4.vtt"),
        "{:?}",
        names(&f)
    );
    assert_eq!(feed.recent().count(), 0);
    // Bounded whatever the times.
    let many: Vec<(u64, u64, String)> = (0..MAX_RECENT as u64 + 10)
        .map(|i| (40_000 + i, 40_500 + i, format!("cue {i}")))
        .collect();
    let cues: Vec<(u64, u64, &str)> = many.iter().map(|(s, e, t)| (*s, *e, t.as_str())).collect();
    let fetch = Fetch {
        msn: 20,
        part: Some(0),
        program_date_time: at(40_000),
    };
    let new = feed.on_vtt(fetch, &vtt(20, &cues)).unwrap();
    assert_eq!(new.len(), MAX_RECENT + 10);
    assert_eq!(feed.recent().count(), MAX_RECENT);
}

#[test]
fn bad_webvtt_is_an_error_not_a_panic() {
    let mut feed = CaptionFeed::new();
    let fetch = Fetch {
        msn: 1,
        part: Some(0),
        program_date_time: at(0),
    };
    assert!(feed.on_vtt(fetch, "not webvtt").is_err());
    assert!(feed
        .on_vtt(fetch, "WEBVTT\n\n99:00:00.000 --> 00:00:01.000\nx\n")
        .unwrap()
        .is_empty());
}
