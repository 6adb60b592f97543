//! Plans the renditions of one publish session from its source (pure).
//!
//! The source is passed through as the top rendition when it is H.264 that every
//! player decodes (Baseline/Main/High, 8-bit 4:2:0, at most 1080p); renditions at or
//! above the source height are skipped; the others are encoded with x264.

use crate::codec::{AudioInfo, VideoInfo};

/// Nominal audio bitrate, counted in every variant's BANDWIDTH.
pub const AUDIO_BITRATE: u64 = 128_000;
/// Frame rate assumed when the SPS carries no timing information.
pub const DEFAULT_FRAME_RATE: f64 = 30.0;
/// Largest source passed through untouched.
pub const MAX_PASSTHROUGH_HEIGHT: u32 = 1080;
/// Bitrate assumed for a passthrough source when none is known.
pub const PASSTHROUGH_BITRATE: u64 = 4_500_000;

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
    pub audio: Option<AudioInfo>,
    pub renditions: Vec<RenditionPlan>,
}

/// Whether players can decode the source as it is.
pub fn passthrough_fits(v: &VideoInfo) -> bool {
    matches!(v.profile_idc, 66 | 77 | 100) && v.height <= MAX_PASSTHROUGH_HEIGHT && v.width <= 1920
}

/// Rounds to an even number (x264 needs even sizes for 4:2:0).
fn even(x: f64) -> u32 {
    let v = x.round() as u32;
    (v + (v & 1)).max(2)
}

pub fn plan(source: VideoInfo, audio: Option<AudioInfo>, ladder: &[Rung]) -> Plan {
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
    Plan {
        source,
        audio,
        renditions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(w: u32, h: u32, profile: u8) -> VideoInfo {
        VideoInfo {
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
        let p = plan(src(1920, 1080, 100), None, &DEFAULT_LADDER);
        let names: Vec<_> = p.renditions.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["1080p", "720p", "480p", "360p"]);
        assert_eq!(p.renditions[0].kind, RenditionKind::Passthrough);
        assert_eq!((p.renditions[1].width, p.renditions[1].height), (1280, 720));
        assert_eq!((p.renditions[2].width, p.renditions[2].height), (854, 480));
        assert_eq!((p.renditions[3].width, p.renditions[3].height), (640, 360));
    }

    #[test]
    fn skips_renditions_at_or_above_the_source() {
        let p = plan(src(1280, 720, 77), None, &DEFAULT_LADDER);
        let names: Vec<_> = p.renditions.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["720p", "480p", "360p"]);
        let p = plan(src(640, 360, 66), None, &DEFAULT_LADDER);
        assert_eq!(p.renditions.len(), 1);
        assert_eq!(p.renditions[0].kind, RenditionKind::Passthrough);
    }

    #[test]
    fn unusual_profiles_and_sizes_are_encoded() {
        // High 4:4:4 Predictive is not decodable everywhere: the 720p rung is encoded too.
        let p = plan(src(1280, 720, 244), None, &DEFAULT_LADDER);
        assert!(p
            .renditions
            .iter()
            .all(|r| matches!(r.kind, RenditionKind::Encoded { .. })));
        assert_eq!(p.renditions[0].height, 720);
        // 4K: no passthrough, the ladder tops at 720p.
        let p = plan(src(3840, 2160, 100), None, &DEFAULT_LADDER);
        assert_eq!(p.renditions[0].name, "720p");
        // 4:3 source keeps its aspect ratio.
        let p = plan(src(1024, 768, 100), None, &DEFAULT_LADDER);
        assert_eq!((p.renditions[1].width, p.renditions[1].height), (960, 720));
    }
}
