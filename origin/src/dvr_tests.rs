//! The DVR playlists conform (m3u8-rs reads them): EVENT type while live, every complete
//! segment from the first to the live playlist's last, the same msn, durations,
//! program date-times, init segments and discontinuities as the live playlist; VOD once
//! ended; served with the live media's token rules and cache headers.

#![allow(clippy::unwrap_used)]

use super::*;
use amphi_hls::master::{render_master, Variant};
use amphi_hls::playlist::{MediaPlaylist, PlaylistConfig};
use m3u8_rs::{MediaPlaylist as Parsed, MediaPlaylistType};
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

const PART: Duration = Duration::from_micros(333_333);

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000)
}

fn parse(text: &str) -> Parsed {
    match m3u8_rs::parse_playlist_res(text.as_bytes()) {
        Ok(m3u8_rs::Playlist::MediaPlaylist(p)) => p,
        other => panic!("not a media playlist ({other:?}):\n{text}"),
    }
}

/// What the packager knows of a closed segment.
#[derive(Debug, Clone, PartialEq)]
struct Expected {
    pdt: SystemTime,
    duration: Duration,
    generation: u64,
    discontinuity: bool,
}

/// The packager's recording playlist of `p` (an event playlist while live).
fn recording_of(p: &MediaPlaylist) -> String {
    let vod = p.render_vod();
    if p.is_ended() {
        vod
    } else {
        vod.replace("#EXT-X-PLAYLIST-TYPE:VOD", "#EXT-X-PLAYLIST-TYPE:EVENT")
            .replace("#EXT-X-ENDLIST\n", "")
    }
}

/// Each segment of a parsed playlist by msn: (uri, duration, pdt, init URI,
/// discontinuity sequence number).
fn segments_of(p: &Parsed) -> BTreeMap<u64, (String, f32, Option<String>, String, u64)> {
    let mut map = None;
    let mut dsn = p.discontinuity_sequence;
    let mut out = BTreeMap::new();
    for (i, s) in p.segments.iter().enumerate() {
        if s.discontinuity && i > 0 {
            dsn += 1;
        }
        if let Some(m) = &s.map {
            map = Some(m.uri.clone());
        }
        out.insert(
            p.media_sequence + i as u64,
            (
                s.uri.clone(),
                s.duration,
                s.program_date_time.map(|d| d.to_rfc3339()),
                map.clone().expect("an EXT-X-MAP before the first segment"),
                dsn,
            ),
        );
    }
    out
}

/// Drives a rendition like the packager (two publish sessions, the recording rewritten
/// every five segments) and checks the DVR playlist after every closed segment.
#[test]
fn conforms_at_every_step_of_a_live_with_a_reconnect() {
    let mut p = MediaPlaylist::new(PlaylistConfig {
        window_segments: 6,
        retain_segments: 1000,
        ..PlaylistConfig::default()
    });
    let mut expected: Vec<Expected> = Vec::new();
    let mut recording: Option<String> = None;
    let mut generation = 0;
    for seg in 0..24u64 {
        let discontinuity = seg == 9 || seg == 17;
        if discontinuity {
            generation += 1;
            p.discontinuity(generation);
        }
        let pdt = t0() + Duration::from_secs(2 * seg + if seg >= 9 { 30 } else { 0 });
        p.begin_segment(pdt);
        let parts = if seg % 4 == 3 { 5 } else { 6 };
        for n in 0..parts {
            p.push_part(PART, n == 0).unwrap();
        }
        // Mid-segment: the open segment is not in the DVR playlist.
        let open = compose(recording.as_deref(), Some(&p.render(false, &[]))).unwrap_or_default();
        assert!(!open.contains(&format!("seg{seg}.m4s")), "{open}");
        p.close_segment();
        expected.push(Expected {
            pdt,
            duration: PART * parts,
            generation,
            discontinuity,
        });
        if (seg + 1) % 5 == 0 {
            recording = Some(recording_of(&p));
        }

        let live_text = p.render(false, &[]);
        let text = compose(recording.as_deref(), Some(&live_text)).expect("a DVR playlist");
        let dvr = parse(&text);
        assert_eq!(dvr.playlist_type, Some(MediaPlaylistType::Event), "{text}");
        assert!(!dvr.end_list, "{text}");
        assert_eq!(dvr.media_sequence, 0);
        assert_eq!(dvr.discontinuity_sequence, 0);
        assert_eq!(
            dvr.segments.len() as u64,
            seg + 1,
            "every closed segment:\n{text}"
        );
        assert!(
            !text.contains("#EXT-X-PART"),
            "no parts in the DVR playlist"
        );
        assert!(!text.contains("PRELOAD-HINT") && !text.contains("SERVER-CONTROL"));
        let longest = expected.iter().map(|e| e.duration).max().unwrap();
        assert!(
            dvr.target_duration as f64 >= longest.as_secs_f64().round(),
            "{text}"
        );

        let listed = segments_of(&dvr);
        let mut dsn = 0;
        for (msn, e) in expected.iter().enumerate() {
            let (uri, duration, pdt, map, seq) = &listed[&(msn as u64)];
            if e.discontinuity {
                dsn += 1;
            }
            assert_eq!(uri, &names::segment_name(msn as u64));
            assert!((*duration as f64 - e.duration.as_secs_f64()).abs() < 1e-4);
            let want = chrono_like(e.pdt);
            assert_eq!(pdt.as_deref(), Some(want.as_str()), "seg{msn}");
            assert_eq!(map, &names::init_name(e.generation), "seg{msn}:\n{text}");
            assert_eq!(*seq, dsn, "discontinuity sequence of seg{msn}:\n{text}");
        }
        // Aligned with the live playlist: every complete segment it lists is in the
        // DVR playlist with the same msn, URI, duration, date, init and sequence.
        let live = segments_of(&parse(&live_text));
        for (msn, seg) in &live {
            assert_eq!(listed.get(msn), Some(seg), "seg{msn}:\n{text}\n{live_text}");
        }
    }

    p.end();
    let ended = compose(Some(&recording_of(&p)), Some(&p.render(false, &[]))).unwrap();
    let dvr = parse(&ended);
    assert_eq!(dvr.playlist_type, Some(MediaPlaylistType::Vod));
    assert!(dvr.end_list);
    assert_eq!(dvr.segments.len(), 24);
}

/// `EXT-X-PROGRAM-DATE-TIME` as m3u8-rs gives it back (chrono's RFC 3339).
fn chrono_like(t: SystemTime) -> String {
    let text = format!(
        "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-PROGRAM-DATE-TIME:{}\n#EXTINF:2,\ns\n",
        amphi_hls::playlist::format_pdt(t)
    );
    parse(&text).segments[0]
        .program_date_time
        .unwrap()
        .to_rfc3339()
}

fn two_sessions() -> MediaPlaylist {
    let mut p = MediaPlaylist::new(PlaylistConfig {
        window_segments: 3,
        retain_segments: 1000,
        ..PlaylistConfig::default()
    });
    for seg in 0..8u64 {
        if seg == 5 {
            p.discontinuity(1);
        }
        p.begin_segment(t0() + Duration::from_secs(2 * seg));
        for n in 0..6 {
            p.push_part(PART, n == 0).unwrap();
        }
        p.close_segment();
    }
    p
}

/// The live playlist's first listed segment opens a session: its discontinuity tag is
/// not written there (it is in the sequence number), the DVR playlist writes it.
#[test]
fn a_discontinuity_at_the_join_is_kept() {
    let p = two_sessions();
    // A recording of segments 0-4 (session 0), a live window of 5-7 (session 1).
    let mut rec = MediaPlaylist::new(PlaylistConfig {
        window_segments: 3,
        retain_segments: 1000,
        ..PlaylistConfig::default()
    });
    for seg in 0..5u64 {
        rec.begin_segment(t0() + Duration::from_secs(2 * seg));
        for n in 0..6 {
            rec.push_part(PART, n == 0).unwrap();
        }
        rec.close_segment();
    }
    let live_text = p.render(false, &[]);
    assert!(live_text.contains("#EXT-X-MEDIA-SEQUENCE:5\n#EXT-X-DISCONTINUITY-SEQUENCE:1\n"));
    assert!(!live_text.contains("#EXT-X-DISCONTINUITY\n"), "{live_text}");
    let text = compose(Some(&recording_of(&rec)), Some(&live_text)).unwrap();
    let dvr = parse(&text);
    assert_eq!(dvr.segments.len(), 8);
    assert!(dvr.segments[5].discontinuity, "{text}");
    assert_eq!(
        dvr.segments[5].map.as_ref().map(|m| m.uri.as_str()),
        Some("init-1.mp4")
    );
    assert_eq!(segments_of(&dvr)[&7], segments_of(&parse(&live_text))[&7]);
}

#[test]
fn a_stale_recording_is_served_alone_and_no_recording_is_the_live_window() {
    let p = two_sessions();
    let live_text = p.render(false, &[]);
    // A recording that stops two segments before the live window: no gap is bridged.
    let stale = "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:2\n#EXT-X-PLAYLIST-TYPE:EVENT\n\
        #EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-MAP:URI=\"init.mp4\"\n\
        #EXT-X-PROGRAM-DATE-TIME:2025-11-24T16:00:00.000Z\n#EXTINF:2.00000,\nseg0.m4s\n\
        #EXT-X-PROGRAM-DATE-TIME:2025-11-24T16:00:02.000Z\n#EXTINF:2.00000,\nseg1.m4s\n";
    let text = compose(Some(stale), Some(&live_text)).unwrap();
    assert_eq!(parse(&text).segments.len(), 2, "{text}");
    // No recording (retention within the window): the live window's complete segments,
    // no playlist type (it slides).
    let text = compose(None, Some(&live_text)).unwrap();
    let dvr = parse(&text);
    assert_eq!(dvr.media_sequence, 5);
    assert_eq!(dvr.discontinuity_sequence, 1);
    assert_eq!(dvr.playlist_type, None);
    assert_eq!(dvr.segments.len(), 3);
    assert!(!dvr.segments[0].discontinuity);
    // Nothing at all.
    assert_eq!(compose(None, None), None);
    assert_eq!(compose(Some("garbage"), Some("#EXTM3U\n")), None);
}

#[test]
fn date_ranges_once_each_newest_first() {
    let rec = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n\
        #EXT-X-DATERANGE:ID=\"c1\",START-DATE=\"2025-11-24T16:00:00.000Z\",X-TITLE=\"old\"\n\
        #EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:2,\nseg0.m4s\n";
    let live = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:1\n\
        #EXT-X-DATERANGE:ID=\"c1\",START-DATE=\"2025-11-24T16:00:00.000Z\",X-TITLE=\"new\"\n\
        #EXT-X-DATERANGE:ID=\"c2\",START-DATE=\"2025-11-24T16:00:03.000Z\"\n\
        #EXT-X-MAP:URI=\"init.mp4\"\n#EXTINF:2,\nseg1.m4s\n";
    let text = compose(Some(rec), Some(live)).unwrap();
    assert_eq!(text.matches("ID=\"c1\"").count(), 1, "{text}");
    assert!(text.contains("X-TITLE=\"new\""));
    assert!(text.contains("ID=\"c2\""));
    assert_eq!(text.matches("#EXT-X-MAP").count(), 1, "{text}");
    assert_eq!(parse(&text).segments.len(), 2);
}

#[test]
fn the_multivariant_playlist_points_at_the_dvr_playlists() {
    let variant = |name: &str, bandwidth| Variant {
        uri: format!("{name}/index.m3u8"),
        bandwidth,
        average_bandwidth: bandwidth,
        width: 640,
        height: 360,
        codecs: "avc1.4d401e,mp4a.40.2".into(),
        frame_rate: 30.0,
        name: name.into(),
    };
    let live = render_master(&[variant("720p", 2_600_000), variant("360p", 700_000)]);
    let live = format!(
        "{live}#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"subs\",NAME=\"Captions\",URI=\"subs/index.m3u8\"\n"
    );
    let text = dvr_master(&live);
    let parsed = match m3u8_rs::parse_playlist_res(text.as_bytes()) {
        Ok(m3u8_rs::Playlist::MasterPlaylist(m)) => m,
        other => panic!("{other:?}"),
    };
    let uris: Vec<&str> = parsed.variants.iter().map(|v| v.uri.as_str()).collect();
    assert_eq!(uris, ["720p/dvr.m3u8", "360p/dvr.m3u8"]);
    assert!(text.contains("URI=\"subs/dvr.m3u8\""), "{text}");
    assert!(!text.contains("index.m3u8"));
}

#[test]
fn dvr_names() {
    assert_eq!(parse_dvr_target("dvr.m3u8"), Some(DvrTarget::Master));
    assert_eq!(
        parse_dvr_target("720p/dvr.m3u8"),
        Some(DvrTarget::Media { rendition: "720p" })
    );
    for other in [
        "index.m3u8",
        "720p/index.m3u8",
        "a/b/dvr.m3u8",
        "../dvr.m3u8",
        "/dvr.m3u8",
    ] {
        assert_eq!(parse_dvr_target(other), None, "{other}");
    }
}

mod http {
    use crate::token;
    use crate::{build, Access, EventCatalog, EventInfo, OriginConfig};
    use amphi_hls::store::{ContentType, MemoryStore, Object, Store};
    use axum::http::{header, StatusCode};
    use std::sync::Arc;

    struct Private;
    impl EventCatalog for Private {
        fn events(&self) -> Vec<EventInfo> {
            Vec::new()
        }
        fn access(&self, event: &str) -> Access {
            if event == "priv" {
                Access::Private {
                    viewer_secret: "s3cret".into(),
                }
            } else {
                Access::Public
            }
        }
    }

    async fn put(store: &MemoryStore, key: &str, text: &str) {
        store
            .put(
                key,
                Object {
                    data: text.to_owned().into(),
                    content_type: ContentType::Playlist,
                },
            )
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn served_like_live_playlists() {
        let store = Arc::new(MemoryStore::new());
        let live = super::two_sessions().render(false, &[]);
        for ev in ["pub", "priv"] {
            put(
                &store,
                &format!("live/{ev}/master.m3u8"),
                "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n360p/index.m3u8\n",
            )
            .await;
            put(&store, &format!("live/{ev}/360p/index.m3u8"), &live).await;
        }
        let app = build(
            store,
            Arc::new(Private),
            OriginConfig::default(),
            crate::assets::PLAYER_ASSETS,
            Arc::default(),
        );
        let req = |uri: String| {
            let app = app.clone();
            async move { crate::test_support::request(&app, "GET", &uri).await }
        };
        let res = req("/live/pub/dvr.m3u8".into()).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()[header::CACHE_CONTROL], "public, max-age=2");
        assert_eq!(
            res.headers()[header::ACCESS_CONTROL_ALLOW_ORIGIN.as_str()],
            "*"
        );
        let body = crate::test_support::body_string(res).await;
        assert!(body.contains("\n360p/dvr.m3u8\n"), "{body}");

        let res = req("/live/pub/360p/dvr.m3u8".into()).await;
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()[header::CACHE_CONTROL], "public, max-age=2");
        let body = crate::test_support::body_string(res).await;
        assert!(
            body.contains("seg7.m4s") && !body.contains("PART"),
            "{body}"
        );

        assert_eq!(
            req("/live/pub/480p/dvr.m3u8".into()).await.status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            req("/live/nope/dvr.m3u8".into()).await.status(),
            StatusCode::NOT_FOUND
        );

        // Private: the live media's token rules.
        assert_eq!(
            req("/live/priv/dvr.m3u8".into()).await.status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            req("/live/priv/360p/dvr.m3u8".into()).await.status(),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            req("/live/priv/t/1.bad/360p/dvr.m3u8".into())
                .await
                .status(),
            StatusCode::FORBIDDEN
        );
        let tok = token::sign(
            b"s3cret",
            "priv",
            amphi_time::WallTime::from_unix_secs(4_000_000_000),
        );
        let res = req(format!("/live/priv/t/{tok}/360p/dvr.m3u8")).await;
        assert_eq!(res.status(), StatusCode::OK);
        let res = req(format!("/live/priv/t/{tok}/dvr.m3u8")).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
}
