//! The DVR playlists: the whole lecture so far, for a viewer who goes back beyond the
//! low-latency live playlist's window, while the live playlist stays small (delta
//! updates stay useful).
//!
//! - `/live/{event}/dvr.m3u8`: the multivariant playlist, the live one with each
//!   `{rendition}/index.m3u8` replaced by `{rendition}/dvr.m3u8`.
//! - `/live/{event}/{rendition}/dvr.m3u8`: the rendition's recording (`recording.m3u8`,
//!   which the packager rewrites every few segments) followed by the complete segments
//!   of the live playlist that came after it, so the DVR reaches the last complete
//!   segment. Segments only (no parts, no blocking reload): the same `seg{msn}.m4s`
//!   objects as the live playlist, with their msn, durations, program date-times,
//!   init segments and discontinuities.
//!
//! Both are the same for every viewer (no per-viewer URL, so caches share them) and are
//! cacheable for about one segment while live. The playlist type is `EVENT` while every
//! segment since the first (msn 0) is listed, none while a retention limit has dropped
//! the oldest (a long sliding window), and the recording's `VOD` once the live ended.
//! Private events need the same viewer token path as the live media.
//!
//! [`compose`] and [`dvr_master`] are pure text functions; [`serve`] reads the store.

use crate::live::{object_response, LiveError, CACHE_MASTER};
use crate::AppState;
use amphi_hls::names;
use amphi_hls::playlist::attribute;
use amphi_hls::store::ContentType;
use axum::response::Response;
use std::collections::HashSet;
use std::fmt::Write;

/// File name of the DVR playlists, beside `master.m3u8` and each `index.m3u8`.
pub(crate) const DVR_PLAYLIST: &str = "dvr.m3u8";
/// A DVR playlist while live: it grows by one segment every target duration.
pub(crate) const CACHE_DVR_LIVE: &str = CACHE_MASTER;
/// A DVR playlist of an ended live (the recording's VOD playlist): it changes only if
/// the lecturer comes back.
pub(crate) const CACHE_DVR_ENDED: &str = "public, max-age=10";

/// What a DVR path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DvrTarget<'a> {
    Master,
    Media { rendition: &'a str },
}

/// `dvr.m3u8` or `{rendition}/dvr.m3u8`; `None` for any other name.
pub(crate) fn parse_dvr_target(rest: &str) -> Option<DvrTarget<'_>> {
    if rest == DVR_PLAYLIST {
        return Some(DvrTarget::Master);
    }
    let (rendition, file) = rest.split_once('/')?;
    (file == DVR_PLAYLIST && crate::live::valid_rendition(rendition))
        .then_some(DvrTarget::Media { rendition })
}

/// The DVR multivariant playlist from the live one: every `…/index.m3u8` URI (variant
/// lines and `URI="…"` attributes) becomes `…/dvr.m3u8`; everything else is kept.
pub(crate) fn dvr_master(live_master: &str) -> String {
    const LIVE: &str = "/index.m3u8";
    const DVR: &str = "/dvr.m3u8";
    let mut out = String::with_capacity(live_master.len() + 64);
    for line in live_master.lines() {
        if line.starts_with('#') {
            out.push_str(&line.replace(&format!("{LIVE}\""), &format!("{DVR}\"")));
        } else if let Some(dir) = line.trim_end().strip_suffix(LIVE) {
            out.push_str(dir);
            out.push_str(DVR);
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// One listed segment: its msn and the lines that make it (tags, `#EXTINF`, URI),
/// without parts and date ranges.
#[derive(Debug, Clone, PartialEq)]
struct Block<'a> {
    msn: u64,
    /// Discontinuity sequence number of the segment.
    dsn: u64,
    lines: Vec<&'a str>,
}

impl<'a> Block<'a> {
    fn map(&self) -> Option<&'a str> {
        self.lines
            .iter()
            .find(|l| l.starts_with("#EXT-X-MAP:"))
            .copied()
    }
    fn has_discontinuity(&self) -> bool {
        self.lines.contains(&"#EXT-X-DISCONTINUITY")
    }
}

/// A media playlist read as our writer writes it: header values and complete segments.
#[derive(Debug, Clone, PartialEq, Default)]
struct Listing<'a> {
    version: Option<&'a str>,
    target: u64,
    ended: bool,
    /// `#EXT-X-DATERANGE` lines, wherever they were.
    date_ranges: Vec<&'a str>,
    blocks: Vec<Block<'a>>,
}

/// Reads a media playlist; `None` if it is not one (no target duration or a bad number).
fn read_listing(text: &str) -> Option<Listing<'_>> {
    fn value<'a>(line: &'a str, tag: &str) -> Option<&'a str> {
        line.strip_prefix(tag).map(str::trim)
    }
    let mut l = Listing::default();
    let mut has_target = false;
    let mut msn = 0u64;
    let mut dsn = 0u64;
    let mut pending: Vec<&str> = Vec::new();
    for line in text.lines().map(str::trim_end) {
        if line.is_empty() || line == "#EXTM3U" {
            continue;
        }
        if let Some(v) = value(line, "#EXT-X-VERSION:") {
            l.version = Some(v);
        } else if let Some(v) = value(line, "#EXT-X-TARGETDURATION:") {
            l.target = v
                .parse::<f64>()
                .ok()
                .filter(|t| t.is_finite() && *t >= 0.0)?
                .ceil() as u64;
            has_target = true;
        } else if let Some(v) = value(line, "#EXT-X-MEDIA-SEQUENCE:") {
            msn = v.parse().ok()?;
        } else if let Some(v) = value(line, "#EXT-X-DISCONTINUITY-SEQUENCE:") {
            dsn = v.parse().ok()?;
        } else if let Some(v) = value(line, "#EXT-X-SKIP:") {
            let skipped: u64 = attribute(v, "SKIPPED-SEGMENTS")?.parse().ok()?;
            msn = msn.checked_add(skipped)?;
        } else if line == "#EXT-X-ENDLIST" {
            l.ended = true;
        } else if line.starts_with("#EXT-X-DATERANGE:") {
            l.date_ranges.push(line);
        } else if [
            "#EXT-X-PLAYLIST-TYPE:",
            "#EXT-X-SERVER-CONTROL:",
            "#EXT-X-PART-INF:",
            "#EXT-X-PART:",
            "#EXT-X-PRELOAD-HINT:",
            "#EXT-X-RENDITION-REPORT:",
            "#EXT-X-INDEPENDENT-SEGMENTS",
            "#EXT-X-START:",
        ]
        .iter()
        .any(|tag| line.starts_with(tag))
        {
            // Live-only or header tags the DVR playlist writes itself (or not at all).
        } else if line.starts_with('#') {
            if line == "#EXT-X-DISCONTINUITY" && !l.blocks.is_empty() {
                dsn += 1;
            }
            pending.push(line);
        } else {
            pending.push(line);
            l.blocks.push(Block {
                msn,
                dsn,
                lines: std::mem::take(&mut pending),
            });
            msn = msn.checked_add(1)?;
        }
    }
    // `pending` holds the open segment's tags: it is not complete, so not listed.
    has_target.then_some(l)
}

/// The `ID` of a date range line.
fn date_range_id(line: &str) -> Option<&str> {
    line.strip_prefix("#EXT-X-DATERANGE:")
        .and_then(|list| attribute(list, "ID"))
}

/// The DVR media playlist from a rendition's recording playlist and its live playlist
/// (either may be missing); `None` when neither lists a complete segment.
///
/// The live playlist's complete segments after the recording's last are appended when
/// they follow it without a gap (the recording is rewritten every few segments, within
/// the live window); otherwise the recording alone is served.
pub(crate) fn compose(recording: Option<&str>, live: Option<&str>) -> Option<String> {
    let rec = recording.and_then(read_listing).unwrap_or_default();
    let live = live.and_then(read_listing).unwrap_or_default();
    let mut blocks: Vec<Block<'_>> = rec.blocks.clone();
    let rec_last = blocks.last().map(|b| (b.msn, b.dsn));
    let mut map = blocks.iter().rev().find_map(Block::map);
    let mut appended = 0usize;
    for b in &live.blocks {
        let next = match rec_last {
            Some((last_msn, _)) if b.msn <= last_msn => continue,
            Some((last_msn, _)) if appended == 0 && b.msn != last_msn + 1 => break,
            _ => b,
        };
        let mut lines: Vec<&str> = Vec::with_capacity(next.lines.len() + 1);
        // The first listed segment of the live playlist never carries its
        // discontinuity tag: its sequence number tells.
        if let Some((_, last_dsn)) = rec_last {
            if appended == 0 && next.dsn > last_dsn && !next.has_discontinuity() {
                lines.push("#EXT-X-DISCONTINUITY");
            }
        }
        for line in &next.lines {
            if line.starts_with("#EXT-X-MAP:") {
                if map == Some(*line) {
                    continue;
                }
                map = Some(line);
            }
            lines.push(line);
        }
        blocks.push(Block {
            lines,
            ..next.clone()
        });
        appended += 1;
    }
    let first = blocks.first()?;
    let ended = rec.ended || live.ended;
    let playlist_type = if ended {
        Some("VOD")
    } else if first.msn == 0 {
        Some("EVENT")
    } else {
        None
    };
    let target = rec.target.max(live.target).max(1);
    let version = rec.version.or(live.version).unwrap_or("9");

    let mut out = String::with_capacity(80 * blocks.len() + 256);
    let _ = writeln!(out, "#EXTM3U");
    let _ = writeln!(out, "#EXT-X-VERSION:{version}");
    let _ = writeln!(out, "#EXT-X-TARGETDURATION:{target}");
    if let Some(t) = playlist_type {
        let _ = writeln!(out, "#EXT-X-PLAYLIST-TYPE:{t}");
    }
    let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{}", first.msn);
    if first.dsn > 0 {
        let _ = writeln!(out, "#EXT-X-DISCONTINUITY-SEQUENCE:{}", first.dsn);
    }
    // Date ranges once each by ID, the live playlist's (newer) first.
    let mut ids = HashSet::new();
    for line in live.date_ranges.iter().chain(rec.date_ranges.iter()) {
        if date_range_id(line).is_none_or(|id| ids.insert(id)) {
            let _ = writeln!(out, "{line}");
        }
    }
    for (i, b) in blocks.iter().enumerate() {
        for line in &b.lines {
            // The first segment's discontinuity is in the sequence number.
            if i == 0 && *line == "#EXT-X-DISCONTINUITY" {
                continue;
            }
            let _ = writeln!(out, "{line}");
        }
    }
    if ended {
        let _ = writeln!(out, "#EXT-X-ENDLIST");
    }
    Some(out)
}

/// Serves a DVR playlist of `event` (access already checked).
pub(crate) async fn serve(
    state: &AppState,
    event: &str,
    target: DvrTarget<'_>,
) -> Result<Response, LiveError> {
    let store = &*state.store;
    match target {
        DvrTarget::Master => {
            let obj = store
                .get(&names::master_key(event))
                .await?
                .ok_or(LiveError::NotFound(
                    "no multivariant playlist: the event is not live",
                ))?;
            let text = std::str::from_utf8(&obj.data)
                .map_err(|_| LiveError::NotFound("the multivariant playlist is not text"))?;
            Ok(object_response(
                dvr_master(text).into(),
                ContentType::Playlist,
                CACHE_DVR_LIVE,
            ))
        }
        DvrTarget::Media { rendition } => {
            let recording = store.get(&names::recording_key(event, rendition)).await?;
            let live = store.get(&names::playlist_key(event, rendition)).await?;
            let text = |o: &Option<amphi_hls::store::Object>| {
                o.as_ref()
                    .and_then(|o| std::str::from_utf8(&o.data).ok())
                    .map(str::to_owned)
            };
            let (recording, live) = (text(&recording), text(&live));
            let body = compose(recording.as_deref(), live.as_deref()).ok_or(
                LiveError::NotFound("no recorded segment for this rendition yet"),
            )?;
            let cache = if body.contains("#EXT-X-ENDLIST") {
                CACHE_DVR_ENDED
            } else {
                CACHE_DVR_LIVE
            };
            Ok(object_response(body.into(), ContentType::Playlist, cache))
        }
    }
}

#[cfg(test)]
#[path = "dvr_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "dvr_subs_tests.rs"]
mod subs_tests;

#[cfg(test)]
#[path = "dvr_markers_tests.rs"]
mod markers_tests;
