//! Plans the renditions of one publish session from its source (pure).
//!
//! The source is passed through as the top rendition when it is H.264 that every
//! player decodes (Baseline/Main/High, 8-bit 4:2:0, at most 1080p); renditions at or
//! above the source height are skipped; the others are encoded with x264.
//!
//! Where keyframes come from is part of the plan ([`KeyframePolicy`]): encoders with
//! a keyframe cadence (OBS over RTMP, cameras over RTSP) are followed keyframe for
//! keyframe, and the source itself can be the top rendition. Browsers publishing over
//! WHIP send a keyframe only at the start and when asked, so their sessions cut every
//! encoded rendition on a fixed grid instead, and the source (which cannot be cut on
//! that grid) is re-encoded at its own size rather than passed through.

use crate::codec::{AudioInfo, VideoInfo};
use amphi_ingest::Protocol;
use std::time::Duration;

/// Nominal audio bitrate, counted in every variant's BANDWIDTH.
pub const AUDIO_BITRATE: u64 = 128_000;
/// Frame rate assumed when the SPS carries no timing information.
pub const DEFAULT_FRAME_RATE: f64 = 30.0;
/// Largest source passed through untouched.
pub const MAX_PASSTHROUGH_HEIGHT: u32 = 1080;
/// Bitrate assumed for a passthrough source when none is known.
pub const PASSTHROUGH_BITRATE: u64 = 4_500_000;

/// Bitrate of the rendition at the source size that replaces passthrough on the
/// keyframe grid, for a 1920x1080 source (scaled by pixel count for others).
pub const SOURCE_SIZE_BITRATE_1080P: u64 = 4_500_000;
/// Lowest bitrate of an encoded rendition at the source size.
pub const MIN_SOURCE_SIZE_BITRATE: u64 = 400_000;
/// On the keyframe grid, a ladder rung at least this fraction of the source height
/// counts as "the source size"; otherwise one is added at the source height.
pub const SOURCE_SIZE_TOLERANCE: f64 = 0.9;

/// Where every encoded rendition starts a GOP (and so where segments are cut).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyframePolicy {
    /// Exactly where the source has a keyframe: the source's own cadence (normally one
    /// keyframe per segment duration) cuts the segments, and passthrough is possible.
    FollowSource,
    /// On a grid in source time: the first frame at least the duration (the segment
    /// duration) after the previous keyframe, whatever the source does; for sources
    /// without a keyframe cadence. No passthrough rendition.
    Grid(Duration),
}

impl KeyframePolicy {
    /// The policy for a publisher's protocol: browsers (WHIP) send keyframes only at
    /// the start and on request, every other source has a regular cadence.
    pub fn for_protocol(protocol: Protocol, segment_duration: Duration) -> KeyframePolicy {
        match protocol {
            Protocol::Whip => KeyframePolicy::Grid(segment_duration),
            Protocol::Rtmp | Protocol::Srt | Protocol::Rtsp | Protocol::Demo => {
                KeyframePolicy::FollowSource
            }
        }
    }
}

/// One rung of the encoded ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rung {
    pub height: u32,
    pub bitrate: u64,
}

/// The default ladder for lecture content (DESIGN.md media contract).
pub const DEFAULT_LADDER: [Rung; 3] = [
    Rung {
        height: 720,
        bitrate: 2_500_000,
    },
    Rung {
        height: 480,
        bitrate: 1_000_000,
    },
    Rung {
        height: 360,
        bitrate: 600_000,
    },
];

#[derive(Debug, Clone, PartialEq)]
pub enum RenditionKind {
    /// The source's own H.264, remuxed.
    Passthrough,
    /// Decoded, scaled and encoded with x264 at `bitrate` bits/s.
    Encoded { bitrate: u64 },
}

#[derive(Debug, Clone, PartialEq)]
pub struct RenditionPlan {
    /// Folder name and menu label, e.g. `720p`.
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub frame_rate: f64,
    pub kind: RenditionKind,
    /// Nominal video bitrate (bits/s).
    pub video_bitrate: u64,
}

impl RenditionPlan {
    /// Nominal average bandwidth including audio.
    pub fn average_bandwidth(&self, audio: bool) -> u64 {
        self.video_bitrate + if audio { AUDIO_BITRATE } else { 0 }
    }

    /// Peak bandwidth: x264 in ABR with a VBV of about one second stays within ~20 %.
    pub fn peak_bandwidth(&self, audio: bool) -> u64 {
        self.average_bandwidth(audio) * 6 / 5
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub source: VideoInfo,
    /// The audio every rendition carries (AAC; Opus sources are transcoded to it).
    pub audio: Option<AudioInfo>,
    pub renditions: Vec<RenditionPlan>,
    pub keyframes: KeyframePolicy,
}

/// Whether players can decode the source as it is.
pub fn passthrough_fits(v: &VideoInfo) -> bool {
    v.codec == crate::codec::VideoCodec::H264
        && matches!(v.profile_idc, 66 | 77 | 100)
        && v.height <= MAX_PASSTHROUGH_HEIGHT
        && v.width <= 1920
}

/// Rounds to an even number (x264 needs even sizes for 4:2:0).
fn even(x: f64) -> u32 {
    let v = x.round() as u32;
    (v + (v & 1)).max(2)
}

/// Bitrate for an encoded rendition at `width`x`height` that stands in for the source.
fn source_size_bitrate(width: u32, height: u32) -> u64 {
    let pixels = width as f64 * height as f64;
    let scaled = SOURCE_SIZE_BITRATE_1080P as f64 * pixels / (1920.0 * 1080.0);
    (scaled.round() as u64).clamp(MIN_SOURCE_SIZE_BITRATE, SOURCE_SIZE_BITRATE_1080P)
}

pub fn plan(
    source: VideoInfo,
    audio: Option<AudioInfo>,
    ladder: &[Rung],
    keyframes: KeyframePolicy,
) -> Plan {
    match keyframes {
        KeyframePolicy::FollowSource => follow_source_plan(source, audio, ladder),
        KeyframePolicy::Grid(_) => grid_plan(source, audio, ladder, keyframes),
    }
}

/// Every rendition encoded: the ladder's rungs up to the source height, topped by one
/// at the source size (at most 1080p) unless a rung is already close to it.
fn grid_plan(
    source: VideoInfo,
    audio: Option<AudioInfo>,
    ladder: &[Rung],
    keyframes: KeyframePolicy,
) -> Plan {
    let frame_rate = source.frame_rate.unwrap_or(DEFAULT_FRAME_RATE);
    let aspect = source.width as f64 / source.height as f64;
    let top = source.height.min(MAX_PASSTHROUGH_HEIGHT);
    let encoded = |height: u32, bitrate: u64| RenditionPlan {
        name: format!("{height}p"),
        width: even(height as f64 * aspect),
        height,
        frame_rate,
        kind: RenditionKind::Encoded { bitrate },
        video_bitrate: bitrate,
    };
    let mut rungs: Vec<Rung> = ladder.iter().copied().filter(|r| r.height <= top).collect();
    rungs.sort_by_key(|r| std::cmp::Reverse(r.height));
    rungs.dedup_by_key(|r| r.height);
    let near_source = rungs
        .first()
        .is_some_and(|r| r.height as f64 >= SOURCE_SIZE_TOLERANCE * top as f64);
    let mut renditions = Vec::new();
    if !near_source {
        let height = even(top as f64);
        let width = even(height as f64 * aspect);
        renditions.push(encoded(height, source_size_bitrate(width, height)));
    }
    renditions.extend(rungs.iter().map(|r| encoded(r.height, r.bitrate)));
    Plan {
        source,
        audio,
        renditions,
        keyframes,
    }
}

fn follow_source_plan(source: VideoInfo, audio: Option<AudioInfo>, ladder: &[Rung]) -> Plan {
    let frame_rate = source.frame_rate.unwrap_or(DEFAULT_FRAME_RATE);
    let mut renditions = Vec::new();
    let top_encoded_limit = if passthrough_fits(&source) {
        renditions.push(RenditionPlan {
            name: format!("{}p", source.height),
            width: source.width,
            height: source.height,
            frame_rate,
            kind: RenditionKind::Passthrough,
            video_bitrate: PASSTHROUGH_BITRATE,
        });
        source.height // strictly below the source
    } else {
        // Not decodable everywhere (or larger than 1080p): every rendition is encoded,
        // including one at the source height if it is in the ladder.
        source.height + 1
    };
    let aspect = source.width as f64 / source.height as f64;
    for rung in ladder {
        if rung.height >= top_encoded_limit {
            continue;
        }
        renditions.push(RenditionPlan {
            name: format!("{}p", rung.height),
            width: even(rung.height as f64 * aspect),
            height: rung.height,
            frame_rate,
            kind: RenditionKind::Encoded {
                bitrate: rung.bitrate,
            },
            video_bitrate: rung.bitrate,
        });
    }
    if renditions.is_empty() {
        // A tiny non-passthrough source: encode it at its own size.
        renditions.push(RenditionPlan {
            name: format!("{}p", source.height),
            width: even(source.width as f64),
            height: even(source.height as f64),
            frame_rate,
            kind: RenditionKind::Encoded { bitrate: 400_000 },
            video_bitrate: 400_000,
        });
    }
    if hevc_passthrough_fits(&source) {
        // An HEVC source (Enhanced RTMP) is also offered as it is, to the players
        // whose browser declares HEVC support (CODECS `hvc1.…`). Last in the plan,
        // so what takes the first rendition (captions' timing) stays on H.264.
        renditions.push(RenditionPlan {
            name: format!("{}p-hevc", source.height),
            width: source.width,
            height: source.height,
            frame_rate,
            kind: RenditionKind::Passthrough,
            video_bitrate: PASSTHROUGH_BITRATE,
        });
    }
    Plan {
        source,
        audio,
        renditions,
        keyframes: KeyframePolicy::FollowSource,
    }
}

/// Whether an HEVC source is also offered as a passthrough rendition.
pub fn hevc_passthrough_fits(v: &VideoInfo) -> bool {
    v.codec == crate::codec::VideoCodec::H265
        && v.height <= MAX_PASSTHROUGH_HEIGHT
        && v.width <= 1920
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(w: u32, h: u32, profile: u8) -> VideoInfo {
        VideoInfo {
            codec: Default::default(),
            width: w,
            height: h,
            frame_rate: Some(30.0),
            profile_idc: profile,
            constraint_flags: 0,
            level_idc: 40,
        }
    }

    #[test]
    fn full_ladder_from_1080p_high() {
        let p = plan(
            src(1920, 1080, 100),
            None,
            &DEFAULT_LADDER,
            KeyframePolicy::FollowSource,
        );
        let names: Vec<_> = p.renditions.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["1080p", "720p", "480p", "360p"]);
        assert_eq!(p.renditions[0].kind, RenditionKind::Passthrough);
        assert_eq!((p.renditions[1].width, p.renditions[1].height), (1280, 720));
        assert_eq!((p.renditions[2].width, p.renditions[2].height), (854, 480));
        assert_eq!((p.renditions[3].width, p.renditions[3].height), (640, 360));
    }

    #[test]
    fn skips_renditions_at_or_above_the_source() {
        let p = plan(
            src(1280, 720, 77),
            None,
            &DEFAULT_LADDER,
            KeyframePolicy::FollowSource,
        );
        let names: Vec<_> = p.renditions.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["720p", "480p", "360p"]);
        let p = plan(
            src(640, 360, 66),
            None,
            &DEFAULT_LADDER,
            KeyframePolicy::FollowSource,
        );
        assert_eq!(p.renditions.len(), 1);
        assert_eq!(p.renditions[0].kind, RenditionKind::Passthrough);
    }

    #[test]
    fn unusual_profiles_and_sizes_are_encoded() {
        // High 4:4:4 Predictive is not decodable everywhere: the 720p rung is encoded too.
        let p = plan(
            src(1280, 720, 244),
            None,
            &DEFAULT_LADDER,
            KeyframePolicy::FollowSource,
        );
        assert!(p
            .renditions
            .iter()
            .all(|r| matches!(r.kind, RenditionKind::Encoded { .. })));
        assert_eq!(p.renditions[0].height, 720);
        // 4K: no passthrough, the ladder tops at 720p.
        let p = plan(
            src(3840, 2160, 100),
            None,
            &DEFAULT_LADDER,
            KeyframePolicy::FollowSource,
        );
        assert_eq!(p.renditions[0].name, "720p");
        // 4:3 source keeps its aspect ratio.
        let p = plan(
            src(1024, 768, 100),
            None,
            &DEFAULT_LADDER,
            KeyframePolicy::FollowSource,
        );
        assert_eq!((p.renditions[1].width, p.renditions[1].height), (960, 720));
    }

    const GRID: KeyframePolicy = KeyframePolicy::Grid(Duration::from_secs(2));

    fn summary(p: &Plan) -> Vec<(String, u32, u32, bool)> {
        p.renditions
            .iter()
            .map(|r| {
                let passthrough = r.kind == RenditionKind::Passthrough;
                (r.name.clone(), r.width, r.height, passthrough)
            })
            .collect()
    }

    #[test]
    fn browsers_get_the_keyframe_grid_and_encoders_are_followed() {
        let d = Duration::from_secs(2);
        assert_eq!(KeyframePolicy::for_protocol(Protocol::Whip, d), GRID);
        for p in [Protocol::Rtmp, Protocol::Rtsp, Protocol::Demo] {
            assert_eq!(
                KeyframePolicy::for_protocol(p, d),
                KeyframePolicy::FollowSource
            );
        }
        let follow = plan(
            src(1280, 720, 66),
            None,
            &DEFAULT_LADDER,
            KeyframePolicy::FollowSource,
        );
        assert_eq!(follow.keyframes, KeyframePolicy::FollowSource);
        assert_eq!(follow.renditions[0].kind, RenditionKind::Passthrough);
        let grid = plan(src(1280, 720, 66), None, &DEFAULT_LADDER, GRID);
        assert_eq!(grid.keyframes, GRID);
    }

    #[test]
    fn grid_plans_never_pass_through_but_keep_the_source_size() {
        // A 720p webcam: the 720p rung is the source size, encoded.
        let p = plan(src(1280, 720, 66), None, &DEFAULT_LADDER, GRID);
        assert_eq!(
            summary(&p),
            [
                ("720p".into(), 1280, 720, false),
                ("480p".into(), 854, 480, false),
                ("360p".into(), 640, 360, false),
            ]
        );
        // 640x360: one rendition, at the source size, encoded.
        let p = plan(src(640, 360, 66), None, &DEFAULT_LADDER, GRID);
        assert_eq!(summary(&p), [("360p".into(), 640, 360, false)]);
        // A 1080p screen: a 1080p rendition is added above the ladder.
        let p = plan(src(1920, 1080, 100), None, &DEFAULT_LADDER, GRID);
        assert_eq!(p.renditions.len(), 4);
        assert_eq!(
            (p.renditions[0].width, p.renditions[0].height),
            (1920, 1080)
        );
        assert_eq!(
            p.renditions[0].kind,
            RenditionKind::Encoded {
                bitrate: SOURCE_SIZE_BITRATE_1080P
            }
        );
        // 1366x768 laptop screen: 720p is close enough to the source size.
        let p = plan(src(1366, 768, 100), None, &DEFAULT_LADDER, GRID);
        assert_eq!(p.renditions[0].name, "720p");
        // A 1440p screen tops at 1080p; a tiny odd-sized window is encoded at even sizes.
        let p = plan(src(2560, 1440, 100), None, &DEFAULT_LADDER, GRID);
        assert_eq!(
            (p.renditions[0].width, p.renditions[0].height),
            (1920, 1080)
        );
        let p = plan(src(321, 241, 66), None, &DEFAULT_LADDER, GRID);
        assert_eq!(summary(&p), [("242p".into(), 322, 242, false)]);
        assert!(p
            .renditions
            .iter()
            .all(|r| r.video_bitrate >= MIN_SOURCE_SIZE_BITRATE));
    }

    #[test]
    fn hevc_source_feeds_the_h264_ladder_and_is_offered_as_it_is() {
        let mut hevc = src(1920, 1080, 1);
        hevc.codec = crate::codec::VideoCodec::H265;
        assert!(!passthrough_fits(&hevc));
        let p = plan(hevc, None, &DEFAULT_LADDER, KeyframePolicy::FollowSource);
        let names: Vec<(&str, bool)> = p
            .renditions
            .iter()
            .map(|r| (r.name.as_str(), r.kind == RenditionKind::Passthrough))
            .collect();
        assert_eq!(
            names,
            [
                ("720p", false),
                ("480p", false),
                ("360p", false),
                ("1080p-hevc", true)
            ]
        );
        // A tiny HEVC source: encoded at its own size, and offered as it is.
        let mut tiny = src(320, 180, 1);
        tiny.codec = crate::codec::VideoCodec::H265;
        let p = plan(tiny, None, &DEFAULT_LADDER, KeyframePolicy::FollowSource);
        let kinds: Vec<_> = p
            .renditions
            .iter()
            .map(|r| (r.name.as_str(), r.kind.clone()))
            .collect();
        assert_eq!(kinds[0].0, "180p");
        assert_eq!(kinds[1], ("180p-hevc", RenditionKind::Passthrough));
        // AV1 is only decoded.
        let mut av1 = src(1280, 720, 0);
        av1.codec = crate::codec::VideoCodec::Av1;
        let p = plan(av1, None, &DEFAULT_LADDER, KeyframePolicy::FollowSource);
        assert!(p
            .renditions
            .iter()
            .all(|r| r.kind != RenditionKind::Passthrough));
    }
}
