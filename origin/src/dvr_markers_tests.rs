//! The DVR playlist carries the live playlist's chapters and markers: every
//! `EXT-X-DATERANGE` of the live playlist is in the DVR playlist with the same id, class,
//! START-DATE and `X-` attributes (as m3u8-rs reads each one), at every step of a live
//! whose recording is rewritten every few segments, and markers that left the live
//! window stay in the DVR playlist while their moment is in it.

#![allow(clippy::unwrap_used)]

use super::*;
use amphi_hls::playlist::{DateRange, MediaPlaylist, PlaylistConfig};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

const PART: Duration = Duration::from_micros(333_333);

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000)
}

/// Each `EXT-X-DATERANGE` line of `text`, read by m3u8-rs on its own (m3u8-rs keeps one
/// date range per segment), by id: (class, START-DATE in Unix ms, sorted `X-`
/// attributes).
type Read = (Option<String>, i64, Vec<(String, String)>);

fn date_ranges(text: &str) -> BTreeMap<String, Read> {
    let mut out = BTreeMap::new();
    for line in text.lines().filter(|l| l.starts_with("#EXT-X-DATERANGE:")) {
        let one = format!("#EXTM3U\n#EXT-X-TARGETDURATION:2\n{line}\n#EXTINF:2,\nx.m4s\n");
        let parsed = match m3u8_rs::parse_playlist_res(one.as_bytes()) {
            Ok(m3u8_rs::Playlist::MediaPlaylist(p)) => p,
            other => panic!("unreadable date range ({other:?}): {line}"),
        };
        let d = parsed.segments[0].daterange.clone().expect("a date range");
        let mut x: Vec<(String, String)> = d
            .x_prefixed
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.to_string()))
            .collect();
        x.sort();
        let previous = out.insert(d.id.clone(), (d.class, d.start_date.timestamp_millis(), x));
        assert!(previous.is_none(), "id {} twice in:\n{text}", d.id);
    }
    out
}

/// The program date-time (Unix ms) of the first segment m3u8-rs reads in `text` and the
/// end of the last.
fn span(text: &str) -> (i64, i64) {
    let p = match m3u8_rs::parse_playlist_res(text.as_bytes()) {
        Ok(m3u8_rs::Playlist::MediaPlaylist(p)) => p,
        other => panic!("not a media playlist ({other:?}):\n{text}"),
    };
    let first = p.segments[0].program_date_time.unwrap().timestamp_millis();
    let mut end = first;
    for s in &p.segments {
        if let Some(d) = s.program_date_time {
            end = d.timestamp_millis();
        }
        end += (f64::from(s.duration) * 1000.0).round() as i64;
    }
    (first, end)
}

fn recording_of(p: &MediaPlaylist) -> String {
    p.render_vod()
        .replace("#EXT-X-PLAYLIST-TYPE:VOD", "#EXT-X-PLAYLIST-TYPE:EVENT")
        .replace("#EXT-X-ENDLIST\n", "")
}

#[test]
fn the_dvr_playlist_carries_the_live_markers() {
    let mut p = MediaPlaylist::new(PlaylistConfig {
        window_segments: 3,
        retain_segments: 1000,
        ..PlaylistConfig::default()
    });
    let at = |ms: u64| t0() + Duration::from_millis(ms);
    let markers = vec![
        DateRange::marker("chapter-1", at(1_000), "chapter", "Part 1 — \"Heat\""),
        DateRange::marker(
            "question-7",
            at(9_500),
            "question",
            "Why does entropy grow?",
        ),
        DateRange::marker("chapter-2", at(15_000), "chapter", "Part 2 — Entropy"),
        // Not reached yet at the end: in no playlist.
        DateRange::marker("chapter-3", at(60_000), "chapter", "Later"),
    ];
    p.set_date_ranges(Arc::from(markers));
    let mut recording: Option<String> = None;
    let mut seen_in_live = std::collections::BTreeSet::new();
    for seg in 0..10u64 {
        p.begin_segment(t0() + Duration::from_secs(2 * seg));
        for n in 0..6 {
            p.push_part(PART, n == 0).unwrap();
        }
        p.close_segment();
        if seg % 4 == 3 {
            recording = Some(recording_of(&p));
        }
        let live = p.render(false, &[]);
        let dvr = compose(recording.as_deref(), Some(&live)).unwrap();
        let live_ranges = date_ranges(&live);
        let dvr_ranges = date_ranges(&dvr);
        for (id, read) in &live_ranges {
            assert_eq!(dvr_ranges.get(id), Some(read), "segment {seg}: {id}\n{dvr}");
            seen_in_live.insert(id.clone());
        }
        // Every marker within the DVR playlist's span, and only those.
        let (from, to) = span(&dvr);
        for (id, (_, start, _)) in &dvr_ranges {
            assert!(
                *start >= from && *start <= to,
                "segment {seg}: {id} outside the DVR span"
            );
        }
        for id in ["chapter-1", "question-7", "chapter-2"] {
            let start = date_ranges(&p.render_vod()).get(id).map(|(_, s, _)| *s);
            if start.is_some_and(|s| s >= from && s < to) {
                assert!(
                    dvr_ranges.contains_key(id),
                    "segment {seg}: {id} missing\n{dvr}"
                );
            }
        }
        assert!(!dvr_ranges.contains_key("chapter-3"));
    }
    // The live window (3 segments) moved past the first markers: they were live once
    // and stay in the DVR playlist.
    let live = p.render(false, &[]);
    assert!(!date_ranges(&live).contains_key("chapter-1"), "{live}");
    let dvr = compose(recording.as_deref(), Some(&live)).unwrap();
    let dvr_ranges = date_ranges(&dvr);
    for id in ["chapter-1", "question-7", "chapter-2"] {
        assert!(seen_in_live.contains(id));
        assert!(dvr_ranges.contains_key(id), "{id}\n{dvr}");
    }
    assert_eq!(
        dvr_ranges["question-7"].2,
        vec![
            ("X-AMPHI-KIND".to_owned(), "\"question\"".to_owned()),
            (
                "X-AMPHI-TEXT".to_owned(),
                "\"Why does entropy grow?\"".to_owned()
            ),
        ]
    );
}
