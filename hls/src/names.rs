//! Stable, cache-friendly object names (DESIGN.md): `live/{event}/master.m3u8`,
//! `live/{event}/{rendition}/index.m3u8`, `init.mp4`, `seg{msn}.m4s`, `part{msn}.{n}.m4s`.
//! `recording.m3u8` beside each `index.m3u8` lists the whole recording.
//! Every name is immutable once written except the playlists.

/// Key prefix of an event: `live/{event}`.
pub fn event_prefix(event: &str) -> String {
    format!("live/{event}")
}

pub fn master_key(event: &str) -> String {
    format!("live/{event}/master.m3u8")
}

pub fn playlist_key(event: &str, rendition: &str) -> String {
    format!("live/{event}/{rendition}/index.m3u8")
}

/// The same playlist with older segments skipped (EXT-X-SKIP), for `_HLS_skip=YES`.
pub fn delta_playlist_key(event: &str, rendition: &str) -> String {
    format!("live/{event}/{rendition}/index.delta.m3u8")
}

/// A rendition's recording: every complete segment from the first publish on, as an
/// event playlist while live and a VOD playlist once the live has ended.
pub fn recording_key(event: &str, rendition: &str) -> String {
    format!("live/{event}/{rendition}/{RECORDING_PLAYLIST}")
}

/// File name of a rendition's recording playlist.
pub const RECORDING_PLAYLIST: &str = "recording.m3u8";

pub fn rendition_key(event: &str, rendition: &str, name: &str) -> String {
    format!("live/{event}/{rendition}/{name}")
}

/// Init segment name for a discontinuity generation: `init.mp4` for the first, then
/// `init-{n}.mp4`, so every name stays immutable when a publisher reconnects.
pub fn init_name(generation: u64) -> String {
    if generation == 0 {
        "init.mp4".to_owned()
    } else {
        format!("init-{generation}.mp4")
    }
}

pub fn segment_name(msn: u64) -> String {
    format!("seg{msn}.m4s")
}

pub fn part_name(msn: u64, part: u32) -> String {
    format!("part{msn}.{part}.m4s")
}

/// Folder of the subtitles rendition: `live/{event}/subs/index.m3u8`, `seg{msn}.vtt`,
/// `part{msn}.{n}.vtt` (live only), `recording.m3u8`, and the whole lecture's `captions.vtt`.
pub const SUBTITLES_RENDITION: &str = "subs";

/// File name of the replay's whole WebVTT file in the subtitles folder.
pub const CAPTIONS_FILE: &str = "captions.vtt";

/// A subtitles segment, numbered like the media segment it captions.
pub fn subtitle_segment_name(msn: u64) -> String {
    format!("seg{msn}.vtt")
}

/// A part of a subtitles segment, numbered like the media part it captions.
pub fn subtitle_part_name(msn: u64, part: u32) -> String {
    format!("part{msn}.{part}.vtt")
}

/// A media object name parsed back (the origin uses it to validate requests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaName {
    Init {
        generation: u64,
    },
    Segment {
        msn: u64,
    },
    Part {
        msn: u64,
        part: u32,
    },
    Playlist,
    DeltaPlaylist,
    /// `seg{msn}.vtt` in the subtitles folder.
    SubtitleSegment {
        msn: u64,
    },
    /// `part{msn}.{n}.vtt` in the subtitles folder.
    SubtitlePart {
        msn: u64,
        part: u32,
    },
    /// The replay's whole `captions.vtt` in the subtitles folder.
    Captions,
}

/// Parses a file name inside a rendition folder; `None` for anything else.
pub fn parse_media_name(name: &str) -> Option<MediaName> {
    fn num<T: std::str::FromStr>(s: &str) -> Option<T> {
        if s.is_empty() || s.len() > 19 || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    }
    match name {
        "index.m3u8" => return Some(MediaName::Playlist),
        "index.delta.m3u8" => return Some(MediaName::DeltaPlaylist),
        "init.mp4" => return Some(MediaName::Init { generation: 0 }),
        CAPTIONS_FILE => return Some(MediaName::Captions),
        _ => {}
    }
    if let Some(g) = name
        .strip_prefix("init-")
        .and_then(|s| s.strip_suffix(".mp4"))
    {
        return num(g)
            .filter(|g| *g > 0)
            .map(|generation| MediaName::Init { generation });
    }
    if let Some(m) = name
        .strip_prefix("seg")
        .and_then(|s| s.strip_suffix(".m4s"))
    {
        return num(m).map(|msn| MediaName::Segment { msn });
    }
    if let Some(m) = name
        .strip_prefix("seg")
        .and_then(|s| s.strip_suffix(".vtt"))
    {
        return num(m).map(|msn| MediaName::SubtitleSegment { msn });
    }
    if let Some(rest) = name
        .strip_prefix("part")
        .and_then(|s| s.strip_suffix(".m4s"))
    {
        let (m, p) = rest.split_once('.')?;
        return Some(MediaName::Part {
            msn: num(m)?,
            part: num(p)?,
        });
    }
    if let Some(rest) = name
        .strip_prefix("part")
        .and_then(|s| s.strip_suffix(".vtt"))
    {
        let (m, p) = rest.split_once('.')?;
        return Some(MediaName::SubtitlePart {
            msn: num(m)?,
            part: num(p)?,
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        assert_eq!(
            parse_media_name(&segment_name(12)),
            Some(MediaName::Segment { msn: 12 })
        );
        assert_eq!(
            parse_media_name(&part_name(12, 3)),
            Some(MediaName::Part { msn: 12, part: 3 })
        );
        assert_eq!(
            parse_media_name(&init_name(0)),
            Some(MediaName::Init { generation: 0 })
        );
        assert_eq!(
            parse_media_name(&init_name(4)),
            Some(MediaName::Init { generation: 4 })
        );
        assert_eq!(parse_media_name("index.m3u8"), Some(MediaName::Playlist));
        assert_eq!(
            parse_media_name(&subtitle_segment_name(7)),
            Some(MediaName::SubtitleSegment { msn: 7 })
        );
        assert_eq!(
            parse_media_name(&subtitle_part_name(7, 2)),
            Some(MediaName::SubtitlePart { msn: 7, part: 2 })
        );
        assert_eq!(parse_media_name(CAPTIONS_FILE), Some(MediaName::Captions));
    }

    #[test]
    fn rejects_odd_names() {
        for n in [
            "seg.m4s",
            "seg-1.m4s",
            "part1.m4s",
            "part1..m4s",
            "init-0.mp4",
            "x",
            "seg1.m4s.bak",
            "seg.vtt",
            "seg1.vtt.m4s",
            "part1.vtt",
            "part1..vtt",
            "part1.2.3.vtt",
            "../seg1.m4s",
            "seg99999999999999999999.m4s",
        ] {
            assert_eq!(parse_media_name(n), None, "{n}");
        }
    }
}
