//! The subtitles rendition has its DVR playlist too: `subs/dvr.m3u8` is the subtitles
//! recording followed by the live subtitles playlist's later segments, with the same msn,
//! durations, program date-times and discontinuities as the WebVTT segments listed live
//! (m3u8-rs reads it), EVENT while live and VOD once ended; the DVR multivariant playlist
//! points at it.

#![allow(clippy::unwrap_used)]

use super::*;
use amphi_hls::subtitles::{
    render_live_with_parts, render_subtitle_playlist, Listing, LiveParts, SubtitleSegment,
};
use std::time::{Duration, SystemTime};

const NOMINAL: Duration = Duration::from_secs(2);

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000)
}

/// Ten WebVTT segments as the packager lists them: a reconnect before msn 6 (a
/// discontinuity, and a short last segment before it).
fn segments() -> Vec<SubtitleSegment> {
    let mut at = t0();
    (0..10u64)
        .map(|msn| {
            let duration = if msn == 5 {
                Duration::from_millis(1_300)
            } else {
                Duration::from_millis(2_000 + 7 * msn)
            };
            let pdt = if msn == 6 {
                at + Duration::from_secs(30)
            } else {
                at
            };
            at = pdt + duration;
            SubtitleSegment {
                msn,
                duration,
                program_date_time: pdt,
                discontinuity: msn == 6,
                parts: Vec::new(),
            }
        })
        .collect()
}

/// The live window (last `window` segments) as the packager renders it: with the parts
/// of its segments and of the open one after them.
fn live_text(all: &[SubtitleSegment], window: usize) -> String {
    let first = all.len().saturating_sub(window);
    let dsn = all[1..=first].iter().filter(|s| s.discontinuity).count() as u64;
    let part = Duration::from_micros(333_333);
    let listed: Vec<SubtitleSegment> = all[first..]
        .iter()
        .map(|s| SubtitleSegment {
            parts: vec![part; 6],
            ..s.clone()
        })
        .collect();
    let last = &all[all.len() - 1];
    let open = SubtitleSegment {
        msn: last.msn + 1,
        duration: Duration::ZERO,
        program_date_time: last.program_date_time + last.duration,
        discontinuity: false,
        parts: vec![part; 2],
    };
    let text = render_live_with_parts(
        &listed,
        dsn,
        NOMINAL,
        LiveParts {
            part_target: part,
            open: Some(&open),
        },
    );
    assert!(text.contains(&format!("part{}.1.vtt", open.msn)), "{text}");
    text
}

fn parse(text: &str) -> m3u8_rs::MediaPlaylist {
    match m3u8_rs::parse_playlist_res(text.as_bytes()) {
        Ok(m3u8_rs::Playlist::MediaPlaylist(p)) => p,
        other => panic!("not a media playlist ({other:?}):\n{text}"),
    }
}

/// Checks `text` lists `expected` exactly: names, durations, dates, discontinuities,
/// and no segment longer than the target duration.
fn assert_lists(text: &str, expected: &[SubtitleSegment]) {
    let p = parse(text);
    assert_eq!(p.media_sequence, expected[0].msn, "{text}");
    assert_eq!(p.segments.len(), expected.len(), "{text}");
    let mut dsn = p.discontinuity_sequence;
    for (i, (got, want)) in p.segments.iter().zip(expected).enumerate() {
        assert_eq!(got.uri, names::subtitle_segment_name(want.msn), "{text}");
        assert!(
            (f64::from(got.duration) - want.duration.as_secs_f64()).abs() < 1e-3,
            "duration of msn {}: {text}",
            want.msn
        );
        assert!(
            f64::from(got.duration) <= p.target_duration as f64 + 0.5,
            "msn {} longer than EXT-X-TARGETDURATION:{}",
            want.msn,
            p.target_duration
        );
        let pdt = got.program_date_time.expect("every segment dated");
        let want_ms = want
            .program_date_time
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        assert_eq!(pdt.timestamp_millis(), want_ms, "date of msn {}", want.msn);
        if i > 0 && got.discontinuity {
            dsn += 1;
        }
        assert_eq!(
            i > 0 && got.discontinuity,
            i > 0 && want.discontinuity,
            "discontinuity before msn {}: {text}",
            want.msn
        );
    }
    let all_dsn = expected.iter().skip(1).filter(|s| s.discontinuity).count() as u64;
    assert_eq!(dsn - p.discontinuity_sequence, all_dsn, "{text}");
    // Segments only: no parts, no blocking reload (the live playlist's business).
    assert!(
        !text.contains("#EXT-X-PART") && !text.contains("#EXT-X-SERVER-CONTROL"),
        "{text}"
    );
}

#[test]
fn the_subtitles_dvr_playlist_is_the_recording_then_the_live_window() {
    let all = segments();
    // The recording was rewritten after msn 7; the live window is msn 6..=9.
    let recording = render_subtitle_playlist(&all[..8], 0, NOMINAL, Listing::Event);
    let live = live_text(&all, 4);
    let text = compose(Some(&recording), Some(&live)).unwrap();
    assert_lists(&text, &all);
    let p = parse(&text);
    assert_eq!(p.playlist_type, Some(m3u8_rs::MediaPlaylistType::Event));
    assert!(!p.end_list);
    assert!(text.ends_with("seg9.vtt\n"), "{text}");

    // A recording older than the window start: the live window is not bridged.
    let stale = render_subtitle_playlist(&all[..3], 0, NOMINAL, Listing::Event);
    let text = compose(Some(&stale), Some(&live)).unwrap();
    assert_lists(&text, &all[..3]);

    // Ended: the recording's VOD playlist.
    let vod = render_subtitle_playlist(&all, 0, NOMINAL, Listing::Vod);
    let text = compose(Some(&vod), Some(&vod)).unwrap();
    assert_lists(&text, &all);
    let p = parse(&text);
    assert_eq!(p.playlist_type, Some(m3u8_rs::MediaPlaylistType::Vod));
    assert!(p.end_list);
}

#[test]
fn each_step_of_a_live_lists_every_subtitles_segment_so_far() {
    let all = segments();
    for closed in 1..=all.len() {
        // The packager rewrites the recording every five segments.
        let recorded = closed - closed % 5;
        let recording = (recorded > 0)
            .then(|| render_subtitle_playlist(&all[..recorded], 0, NOMINAL, Listing::Event));
        let live = live_text(&all[..closed], 6);
        let text = compose(recording.as_deref(), Some(&live)).unwrap();
        let from = if recording.is_some() || closed <= 6 {
            0
        } else {
            closed - 6
        };
        assert_lists(&text, &all[from..closed]);
    }
}

mod http {
    use super::*;
    use crate::{build, Access, EventCatalog, EventInfo, OriginConfig};
    use amphi_hls::store::{MemoryStore, Object, Store};
    use axum::http::{header, StatusCode};
    use std::sync::Arc;

    struct Public;
    impl EventCatalog for Public {
        fn events(&self) -> Vec<EventInfo> {
            Vec::new()
        }
        fn access(&self, _event: &str) -> Access {
            Access::Public
        }
    }

    async fn put(store: &MemoryStore, key: &str, text: &str) {
        let object = Object {
            data: text.to_owned().into(),
            content_type: ContentType::Playlist,
        };
        store.put(key, object).await.unwrap();
    }

    #[tokio::test]
    async fn the_dvr_group_carries_the_subtitles() {
        let store = Arc::new(MemoryStore::new());
        let all = segments();
        put(
            &store,
            "live/ev/master.m3u8",
            "#EXTM3U\n\
             #EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"subs\",NAME=\"Captions\",LANGUAGE=\"en\",AUTOSELECT=YES,URI=\"subs/index.m3u8\"\n\
             #EXT-X-STREAM-INF:BANDWIDTH=700000,SUBTITLES=\"subs\"\n360p/index.m3u8\n",
        )
        .await;
        put(
            &store,
            "live/ev/subs/recording.m3u8",
            &render_subtitle_playlist(&all[..8], 0, NOMINAL, Listing::Event),
        )
        .await;
        put(&store, "live/ev/subs/index.m3u8", &live_text(&all, 4)).await;
        let app = build(
            store,
            Arc::new(Public),
            OriginConfig::default(),
            crate::assets::PLAYER_ASSETS,
            Arc::default(),
        );

        let res = crate::test_support::request(&app, "GET", "/live/ev/dvr.m3u8").await;
        assert_eq!(res.status(), StatusCode::OK);
        let master = crate::test_support::body_string(res).await;
        let parsed = match m3u8_rs::parse_playlist_res(master.as_bytes()) {
            Ok(m3u8_rs::Playlist::MasterPlaylist(m)) => m,
            other => panic!("{other:?}\n{master}"),
        };
        let subs = parsed
            .alternatives
            .iter()
            .find(|a| a.media_type == m3u8_rs::AlternativeMediaType::Subtitles)
            .expect("the DVR multivariant playlist keeps the subtitles group");
        assert_eq!(subs.uri.as_deref(), Some("subs/dvr.m3u8"));
        assert_eq!(parsed.variants[0].subtitles.as_deref(), Some("subs"));

        let res = crate::test_support::request(&app, "GET", "/live/ev/subs/dvr.m3u8").await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()[header::CACHE_CONTROL], CACHE_DVR_LIVE);
        assert_eq!(
            res.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN.as_str()],
            "*"
        );
        let text = crate::test_support::body_string(res).await;
        assert_lists(&text, &all);
    }
}
