//! Reads the live edge back from a stored media playlist and decides, without any I/O,
//! what a blocking request or a preload-hint request should get.
//!
//! The edge is the part the `EXT-X-PRELOAD-HINT` names: every part before it exists
//! (`amphi_hls::playlist::parse_edge` reads it, also from ended playlists).

use amphi_hls::playlist::PlaylistEdge;

pub(crate) use amphi_hls::playlist::parse_edge;

/// A blocking playlist request: `_HLS_msn=N[&_HLS_part=M]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Awaited {
    pub msn: u64,
    pub part: Option<u32>,
}

/// What to do with a blocking playlist request given the current edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PlaylistDecision {
    /// The playlist already has what was asked for (or the stream ended).
    Serve,
    /// Hold the request until the playlist changes.
    Wait,
    /// More than `max_ahead` segments beyond the edge: 400.
    TooFar,
}

pub(crate) fn decide_playlist(
    want: Awaited,
    edge: &PlaylistEdge,
    max_ahead: u64,
) -> PlaylistDecision {
    if edge.ended {
        return PlaylistDecision::Serve;
    }
    if want.msn > edge.next_msn.saturating_add(max_ahead) {
        return PlaylistDecision::TooFar;
    }
    let satisfied = match want.part {
        Some(part) => (want.msn, part) < (edge.next_msn, edge.next_part),
        None => edge.next_msn > want.msn,
    };
    if satisfied {
        PlaylistDecision::Serve
    } else {
        PlaylistDecision::Wait
    }
}

/// What to do with a request for a part or segment that is not in the store (yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MediaDecision {
    /// In the past (evicted or never produced) or the stream ended: 404.
    Gone,
    /// At or just beyond the edge (a preload hint): wait for it to be put.
    Wait,
    /// More than `max_ahead` segments beyond the edge: 400.
    TooFar,
}

/// `part` is `None` for a whole segment.
pub(crate) fn decide_media(
    msn: u64,
    part: Option<u32>,
    edge: &PlaylistEdge,
    max_ahead: u64,
) -> MediaDecision {
    if edge.ended {
        return MediaDecision::Gone;
    }
    if msn > edge.next_msn.saturating_add(max_ahead) {
        return MediaDecision::TooFar;
    }
    let past = match part {
        Some(p) => (msn, p) < (edge.next_msn, edge.next_part),
        None => msn < edge.next_msn,
    };
    if past {
        MediaDecision::Gone
    } else {
        MediaDecision::Wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use amphi_hls::playlist::attribute;
    use std::time::Duration;

    const LIVE: &str = "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:2\n\
        #EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.002\n\
        #EXT-X-PART-INF:PART-TARGET=0.334\n#EXT-X-MEDIA-SEQUENCE:3\n#EXT-X-MAP:URI=\"init.mp4\"\n\
        #EXTINF:2.0,\nseg3.m4s\n\
        #EXT-X-PART:DURATION=0.334,URI=\"part4.0.m4s\",INDEPENDENT=YES\n\
        #EXT-X-PART:DURATION=0.334,URI=\"part4.1.m4s\"\n#EXTINF:2.0,\nseg4.m4s\n\
        #EXT-X-PART:DURATION=0.334,URI=\"part5.0.m4s\",INDEPENDENT=YES\n\
        #EXT-X-PART:DURATION=0.334,URI=\"part5.1.m4s\"\n\
        #EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part5.2.m4s\"\n";

    fn edge(next_msn: u64, next_part: u32, ended: bool) -> PlaylistEdge {
        PlaylistEdge {
            next_msn,
            next_part,
            target_duration: Duration::from_secs(2),
            part_target: Duration::from_millis(334),
            ended,
        }
    }

    #[test]
    fn reads_hint_and_timing() {
        let e = parse_edge(LIVE).expect("edge");
        assert_eq!((e.next_msn, e.next_part), (5, 2));
        assert_eq!(e.target_duration, Duration::from_secs(2));
        assert_eq!(e.part_target, Duration::from_millis(334));
        assert!(!e.ended);
    }

    #[test]
    fn derives_edge_without_hint() {
        let text = LIVE.replace("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part5.2.m4s\"\n", "");
        let e = parse_edge(&text).expect("edge");
        assert_eq!((e.next_msn, e.next_part), (5, 2));
        let ended = format!("{}#EXTINF:0.668,\nseg5.m4s\n#EXT-X-ENDLIST\n", text);
        let e = parse_edge(&ended).expect("edge");
        assert_eq!((e.next_msn, e.next_part, e.ended), (6, 0, true));
    }

    #[test]
    fn counts_skipped_segments() {
        let text = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:10\n\
            #EXT-X-SKIP:SKIPPED-SEGMENTS=6\n#EXTINF:2,\nseg16.m4s\n\
            #EXT-X-PART:DURATION=0.334,URI=\"part17.0.m4s\"\n";
        let e = parse_edge(text).expect("edge");
        assert_eq!((e.next_msn, e.next_part), (17, 1));
    }

    #[test]
    fn rejects_non_media_playlists() {
        assert_eq!(
            parse_edge("#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n720p/index.m3u8\n"),
            None
        );
        assert_eq!(parse_edge(""), None);
        assert_eq!(
            parse_edge("#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:x\n"),
            None
        );
        assert_eq!(parse_edge("#EXT-X-TARGETDURATION:-2\n"), None);
        // Garbage never panics.
        for s in [
            "#EXT-X-PART-INF:PART-TARGET=\"",
            "#EXT-X-SKIP:=",
            "#EXT-X-PRELOAD-HINT:URI=\"",
            "#:\n#",
        ] {
            let _ = parse_edge(s);
        }
    }

    /// Playlists the packager's writer renders, full and delta, at every step of a
    /// stream: the edge read back agrees with the writer's `next_part`.
    #[test]
    fn agrees_with_the_playlist_writer() {
        use amphi_hls::playlist::{MediaPlaylist, PlaylistConfig};
        use std::time::SystemTime;
        let mut p = MediaPlaylist::new(PlaylistConfig {
            window_segments: 4,
            ..PlaylistConfig::default()
        });
        let check = |p: &MediaPlaylist| {
            for skip in [false, true] {
                let text = p.render(skip, &[]);
                let mine = parse_edge(&text).expect("an edge");
                assert_eq!(mine.ended, p.is_ended(), "{text}");
                if !p.is_ended() {
                    assert_eq!((mine.next_msn, mine.next_part), p.next_part(), "{text}");
                }
            }
        };
        for seg in 0..10u32 {
            p.begin_segment(SystemTime::UNIX_EPOCH);
            for part in 0..6 {
                p.push_part(Duration::from_millis(334), part == 0)
                    .expect("an open segment");
                check(&p);
            }
            if seg % 3 == 2 {
                p.discontinuity(u64::from(seg));
            }
            p.close_segment();
            check(&p);
        }
        p.end();
        check(&p);
    }

    #[test]
    fn attributes_with_quotes() {
        assert_eq!(
            attribute("TYPE=PART,URI=\"a,b.m4s\",X=1", "URI"),
            Some("a,b.m4s")
        );
        assert_eq!(attribute("TYPE=PART,URI=\"a,b.m4s\",X=1", "X"), Some("1"));
        assert_eq!(attribute("TYPE=PART", "URI"), None);
    }

    #[test]
    fn playlist_decisions() {
        let e = edge(5, 2, false);
        let want = |msn, part| Awaited { msn, part };
        assert_eq!(
            decide_playlist(want(5, Some(1)), &e, 2),
            PlaylistDecision::Serve
        );
        assert_eq!(
            decide_playlist(want(5, Some(2)), &e, 2),
            PlaylistDecision::Wait
        );
        assert_eq!(
            decide_playlist(want(4, None), &e, 2),
            PlaylistDecision::Serve
        );
        assert_eq!(
            decide_playlist(want(5, None), &e, 2),
            PlaylistDecision::Wait
        );
        assert_eq!(
            decide_playlist(want(7, Some(0)), &e, 2),
            PlaylistDecision::Wait
        );
        assert_eq!(
            decide_playlist(want(8, None), &e, 2),
            PlaylistDecision::TooFar
        );
        assert_eq!(
            decide_playlist(want(99, None), &edge(5, 2, true), 2),
            PlaylistDecision::Serve
        );
    }

    #[test]
    fn media_decisions() {
        let e = edge(5, 2, false);
        assert_eq!(decide_media(5, Some(1), &e, 2), MediaDecision::Gone);
        assert_eq!(decide_media(5, Some(2), &e, 2), MediaDecision::Wait);
        assert_eq!(decide_media(4, None, &e, 2), MediaDecision::Gone);
        assert_eq!(decide_media(5, None, &e, 2), MediaDecision::Wait);
        assert_eq!(decide_media(7, Some(3), &e, 2), MediaDecision::Wait);
        assert_eq!(decide_media(8, Some(0), &e, 2), MediaDecision::TooFar);
        assert_eq!(
            decide_media(5, Some(2), &edge(5, 2, true), 2),
            MediaDecision::Gone
        );
    }
}
