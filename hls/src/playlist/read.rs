//! Reading playlists back: the one attribute-list parser and the one media and
//! multivariant playlist reader. The origin reads the edge of a stored playlist with
//! it, the load generator follows a stream like a viewer with it, and the end-to-end
//! tests check what the server answers with it.
//!
//! The reader takes what any LL-HLS writer may produce, not only ours: part URIs with a
//! path or a query and any name ending in `{msn}.{part}.{ext}`, fractional target
//! durations, a preload hint behind the listing. A tag whose value it needs and cannot
//! read is an error naming the line.

use super::daterange::DateRange;
use std::time::{Duration, SystemTime};

/// The value of attribute `name` in an attribute list (what follows `#TAG:`), without
/// quotes. Quoted values may hold commas.
pub fn attribute<'a>(list: &'a str, name: &str) -> Option<&'a str> {
    attributes(list)
        .find(|(key, _)| *key == name)
        .map(|(_, v)| v)
}

/// Every `(name, value)` of an attribute list, in order, values without quotes; stops
/// at the first malformed one (no `=`, an unterminated quoted string).
pub fn attributes(list: &str) -> Attributes<'_> {
    Attributes { rest: list }
}

/// Iterator of [`attributes`].
#[derive(Debug, Clone)]
pub struct Attributes<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Attributes<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let Some((key, after)) = self.rest.split_once('=') else {
            self.rest = "";
            return None;
        };
        let (value, tail) = if let Some(quoted) = after.strip_prefix('"') {
            let Some(end) = quoted.find('"') else {
                self.rest = "";
                return None;
            };
            (&quoted[..end], quoted[end + 1..].trim_start_matches(','))
        } else {
            match after.split_once(',') {
                Some((v, t)) => (v, t),
                None => (after, ""),
            }
        };
        self.rest = tail;
        Some((key.trim(), value))
    }
}

/// `(msn, part)` from a part URI whose file name ends in `{msn}.{part}.{ext}`
/// (`part12.3.m4s`, `../v/fileSequence12.3.mp4?x=1`).
pub fn part_position(uri: &str) -> Option<(u64, u32)> {
    let path = uri.split(['?', '#']).next()?;
    let file = path.rsplit('/').next()?;
    let (stem, _ext) = file.rsplit_once('.')?;
    let (head, part) = stem.rsplit_once('.')?;
    let digits = head.len() - head.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let msn = &head[head.len() - digits..];
    if msn.is_empty() || part.is_empty() || !part.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((msn.parse().ok()?, part.parse().ok()?))
}

/// An `EXT-X-PROGRAM-DATE-TIME` value (RFC 3339: `2026-11-30T10:15:00.123Z`, any
/// offset, any number of fractional digits).
pub fn parse_pdt(value: &str) -> Option<SystemTime> {
    let t =
        time::OffsetDateTime::parse(value.trim(), &time::format_description::well_known::Rfc3339)
            .ok()?;
    Some(SystemTime::from(t))
}

fn seconds(s: &str) -> Option<Duration> {
    let v: f64 = s.trim().parse().ok()?;
    Duration::try_from_secs_f64(v).ok()
}

#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("not a playlist: no #EXTM3U header")]
    NotM3u8,
    #[error("bad {tag} at line {line}")]
    BadTag { line: usize, tag: &'static str },
}

/// One `EXT-X-PART` as listed, with its position and program date time.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedPart {
    pub msn: u64,
    pub index: u32,
    pub uri: String,
    pub duration: Duration,
    pub independent: bool,
    /// The part's first sample, when the playlist has an `EXT-X-PROGRAM-DATE-TIME`.
    pub program_date_time: Option<SystemTime>,
}

/// One media segment as listed: a complete one (`EXTINF` and URI) or, last in a
/// listing, the open one whose parts are listed but whose `EXTINF` is not yet.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedSegment {
    /// Its position in the listing (`EXT-X-MEDIA-SEQUENCE` plus the segments before).
    pub msn: u64,
    /// `None` for the open segment.
    pub uri: Option<String>,
    /// The `EXTINF` duration; `None` for the open segment.
    pub duration: Option<Duration>,
    /// An `EXT-X-DISCONTINUITY` precedes it.
    pub discontinuity: bool,
    /// Its first sample, when the playlist has an `EXT-X-PROGRAM-DATE-TIME` (its own
    /// or one before, carried on by the durations between).
    pub program_date_time: Option<SystemTime>,
    /// The `EXT-X-MAP` URI in force for it.
    pub map_uri: Option<String>,
}

/// What a media playlist (full or delta, live or ended) lists.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MediaListing {
    pub target_duration: Option<Duration>,
    pub part_target: Option<Duration>,
    pub media_sequence: u64,
    /// `EXT-X-SKIP:SKIPPED-SEGMENTS` of a delta update.
    pub skipped_segments: u64,
    /// The `EXT-X-MAP` URI in force at the end of the playlist.
    pub map_uri: Option<String>,
    /// URIs of the complete segments listed, in order.
    pub segment_uris: Vec<String>,
    /// Every segment listed, in order, with the tags that apply to it; the last may be
    /// the open one.
    pub segments: Vec<ListedSegment>,
    pub parts: Vec<ListedPart>,
    /// The part the `EXT-X-PRELOAD-HINT` (TYPE=PART) names.
    pub hint: Option<(u64, u32)>,
    /// The part after the last segment and part listed.
    pub after_listed: (u64, u32),
    /// `EXT-X-ENDLIST` present.
    pub ended: bool,
    /// The `EXT-X-DATERANGE`s with a `START-DATE`, in order (client attributes: the
    /// `X-` ones).
    pub date_ranges: Vec<DateRange>,
}

impl MediaListing {
    /// The part to wait for next (`_HLS_msn`/`_HLS_part` of a blocking reload): the
    /// one the preload hint names, or, without a hint or with one behind the listing,
    /// the one after the listing. (A full segment's hint names the next segment's
    /// first part before the `EXTINF` closing it is listed.)
    pub fn next(&self) -> (u64, u32) {
        match self.hint {
            Some(h) => h.max(self.after_listed),
            None => self.after_listed,
        }
    }
}

/// Reads a media playlist.
pub fn read_media(text: &str) -> Result<MediaListing, ReadError> {
    let mut lines = text.lines().map(str::trim).enumerate();
    if lines.next().map(|(_, l)| l) != Some("#EXTM3U") {
        return Err(ReadError::NotM3u8);
    }
    let mut out = MediaListing::default();
    let mut msn = 0u64;
    let mut index = 0u32;
    // The current segment's start, and the offset of the next part in it.
    let mut segment_pdt: Option<SystemTime> = None;
    let mut offset = Duration::ZERO;
    let mut in_segment = false;
    let mut discontinuity = false;
    for (n, line) in lines {
        let bad = |tag| ReadError::BadTag { line: n + 1, tag };
        if line.is_empty() {
            continue;
        }
        let Some(tag) = line.strip_prefix('#') else {
            // A URI line: the segment an EXTINF opened.
            if std::mem::take(&mut in_segment) {
                out.segment_uris.push(line.to_owned());
                if let Some(segment) = out.segments.last_mut() {
                    segment.uri = Some(line.to_owned());
                }
            }
            continue;
        };
        let (name, value) = tag.split_once(':').unwrap_or((tag, ""));
        match name {
            "EXT-X-TARGETDURATION" => {
                out.target_duration = Some(seconds(value).ok_or(bad("EXT-X-TARGETDURATION"))?);
            }
            "EXT-X-PART-INF" => {
                out.part_target = Some(
                    attribute(value, "PART-TARGET")
                        .and_then(seconds)
                        .ok_or(bad("EXT-X-PART-INF"))?,
                );
            }
            "EXT-X-MEDIA-SEQUENCE" => {
                out.media_sequence = value
                    .trim()
                    .parse()
                    .map_err(|_| bad("EXT-X-MEDIA-SEQUENCE"))?;
                msn = out.media_sequence.saturating_add(out.skipped_segments);
            }
            "EXT-X-SKIP" => {
                out.skipped_segments = attribute(value, "SKIPPED-SEGMENTS")
                    .and_then(|v| v.parse().ok())
                    .ok_or(bad("EXT-X-SKIP"))?;
                msn = out.media_sequence.saturating_add(out.skipped_segments);
            }
            "EXT-X-MAP" => {
                out.map_uri = Some(attribute(value, "URI").ok_or(bad("EXT-X-MAP"))?.to_owned());
            }
            "EXT-X-PROGRAM-DATE-TIME" => {
                segment_pdt = Some(parse_pdt(value).ok_or(bad("EXT-X-PROGRAM-DATE-TIME"))?);
                offset = Duration::ZERO;
            }
            "EXT-X-PART" => {
                let uri = attribute(value, "URI").ok_or(bad("EXT-X-PART"))?;
                let duration = attribute(value, "DURATION")
                    .and_then(seconds)
                    .ok_or(bad("EXT-X-PART"))?;
                out.parts.push(ListedPart {
                    msn,
                    index,
                    uri: uri.to_owned(),
                    duration,
                    independent: attribute(value, "INDEPENDENT") == Some("YES"),
                    program_date_time: segment_pdt.and_then(|p| p.checked_add(offset)),
                });
                // Durations come from the text: absurd ones must not overflow.
                offset = offset.saturating_add(duration);
                index = index.saturating_add(1);
            }
            "EXTINF" => {
                let duration = value
                    .split(',')
                    .next()
                    .and_then(seconds)
                    .ok_or(bad("EXTINF"))?;
                out.segments.push(ListedSegment {
                    msn,
                    uri: None,
                    duration: Some(duration),
                    discontinuity: std::mem::take(&mut discontinuity),
                    program_date_time: segment_pdt,
                    map_uri: out.map_uri.clone(),
                });
                segment_pdt = segment_pdt.and_then(|p| p.checked_add(duration));
                offset = Duration::ZERO;
                msn = msn.saturating_add(1);
                index = 0;
                in_segment = true;
            }
            "EXT-X-PRELOAD-HINT" if attribute(value, "TYPE") == Some("PART") => {
                out.hint = attribute(value, "URI").and_then(part_position);
            }
            "EXT-X-ENDLIST" => out.ended = true,
            "EXT-X-DISCONTINUITY" => discontinuity = true,
            "EXT-X-DATERANGE" => {
                if let Some(range) = read_date_range(value).map_err(|_| bad("EXT-X-DATERANGE"))? {
                    out.date_ranges.push(range);
                }
            }
            _ => {}
        }
    }
    if index > 0 {
        // Parts listed after the last EXTINF: the open segment.
        out.segments.push(ListedSegment {
            msn,
            uri: None,
            duration: None,
            discontinuity,
            program_date_time: segment_pdt,
            map_uri: out.map_uri.clone(),
        });
    }
    out.after_listed = (msn, index);
    Ok(out)
}

/// One `EXT-X-DATERANGE` attribute list: `Ok(None)` without a `START-DATE` (a range
/// known by its id alone), `Err` without an `ID` or with a bad date.
fn read_date_range(list: &str) -> Result<Option<DateRange>, ()> {
    let id = attribute(list, "ID").ok_or(())?;
    let Some(start) = attribute(list, "START-DATE") else {
        return Ok(None);
    };
    Ok(Some(DateRange {
        id: id.to_owned(),
        class: attribute(list, "CLASS").map(str::to_owned),
        start: parse_pdt(start).ok_or(())?,
        attributes: attributes(list)
            .filter(|(name, _)| name.starts_with("X-"))
            .map(|(n, v)| (n.to_owned(), v.to_owned()))
            .collect(),
    }))
}

/// What an origin needs from a stored media playlist to answer blocking requests.
#[derive(Debug, Clone, PartialEq)]
pub struct PlaylistEdge {
    /// The part the preload hint names: every part before it is available.
    pub next_msn: u64,
    pub next_part: u32,
    pub target_duration: Duration,
    pub part_target: Duration,
    /// EXT-X-ENDLIST present.
    pub ended: bool,
}

impl PlaylistEdge {
    /// Whether part `part` of segment `msn` (or, with `None`, the whole segment) is
    /// listed in the playlist this edge was read from.
    pub fn has(&self, msn: u64, part: Option<u32>) -> bool {
        if self.ended {
            return true;
        }
        match part {
            Some(p) => (msn, p) < (self.next_msn, self.next_part),
            None => msn < self.next_msn,
        }
    }
}

/// Reads the edge back from a media playlist (full or delta, live or ended): see
/// [`MediaListing::next`]. `None` if `text` is not a media playlist (no
/// `#EXT-X-TARGETDURATION`) or [`read_media`] fails.
pub fn parse_edge(text: &str) -> Option<PlaylistEdge> {
    let listing = read_media(text).ok()?;
    let (next_msn, next_part) = listing.next();
    Some(PlaylistEdge {
        next_msn,
        next_part,
        target_duration: listing.target_duration?,
        part_target: listing.part_target.unwrap_or_default(),
        ended: listing.ended,
    })
}

/// One `EXT-X-STREAM-INF` entry of a multivariant playlist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedVariant {
    pub bandwidth: u64,
    pub uri: String,
}

/// The variants of a multivariant playlist, in order (a missing or malformed
/// BANDWIDTH reads as 0).
pub fn read_multivariant(text: &str) -> Vec<ListedVariant> {
    let mut out = Vec::new();
    let mut pending: Option<u64> = None;
    for line in text.lines().map(str::trim) {
        if let Some(attrs) = line.strip_prefix("#EXT-X-STREAM-INF:") {
            pending = Some(
                attribute(attrs, "BANDWIDTH")
                    .and_then(|b| b.parse().ok())
                    .unwrap_or(0),
            );
        } else if !line.is_empty() && !line.starts_with('#') {
            if let Some(bandwidth) = pending.take() {
                out.push(ListedVariant {
                    bandwidth,
                    uri: line.to_owned(),
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::super::fixtures::{playlist, t0};
    use super::super::write::format_pdt;
    use super::*;

    const MASTER: &str = "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-INDEPENDENT-SEGMENTS\n\
#EXT-X-STREAM-INF:BANDWIDTH=2800000,AVERAGE-BANDWIDTH=2500000,RESOLUTION=1280x720,CODECS=\"avc1.64001f,mp4a.40.2\",FRAME-RATE=30.000\n\
720p/index.m3u8\n\
#EXT-X-STREAM-INF:BANDWIDTH=700000,RESOLUTION=640x360,CODECS=\"avc1.4d401e,mp4a.40.2\"\n\
360p/index.m3u8\n";

    const MEDIA: &str = "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-TARGETDURATION:2\n\
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.002,CAN-SKIP-UNTIL=12.0\n\
#EXT-X-PART-INF:PART-TARGET=0.334\n#EXT-X-MEDIA-SEQUENCE:7\n#EXT-X-MAP:URI=\"init.mp4\"\n\
#EXT-X-PROGRAM-DATE-TIME:2025-11-24T16:00:00.000Z\n\
#EXT-X-PART:DURATION=1.00000,URI=\"part7.0.m4s\",INDEPENDENT=YES\n\
#EXT-X-PART:DURATION=1.00000,URI=\"part7.1.m4s\"\n\
#EXTINF:2.00000,\nseg7.m4s\n\
#EXT-X-PART:DURATION=0.33333,URI=\"part8.0.m4s\",INDEPENDENT=YES\n\
#EXT-X-PART:DURATION=0.33333,URI=\"part8.1.m4s\"\n\
#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part8.2.m4s\"\n\
#EXT-X-RENDITION-REPORT:URI=\"../720p/index.m3u8\",LAST-MSN=8,LAST-PART=1\n";

    fn ms(t: SystemTime) -> i64 {
        match t.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(d) => d.as_millis() as i64,
            Err(e) => -(e.duration().as_millis() as i64),
        }
    }

    #[test]
    fn attribute_lists() {
        let l = "BANDWIDTH=1,CODECS=\"avc1.64001f,mp4a.40.2\",RESOLUTION=1x1";
        assert_eq!(attribute(l, "CODECS"), Some("avc1.64001f,mp4a.40.2"));
        assert_eq!(attribute(l, "RESOLUTION"), Some("1x1"));
        assert_eq!(attribute(l, "BANDWIDTH"), Some("1"));
        assert_eq!(attribute(l, "NOPE"), None);
        assert_eq!(attribute("A=1,B=2", "B"), Some("2"));
        assert_eq!(attribute("junk", "C"), None);
        assert_eq!(attribute("URI=\"unterminated", "URI"), None);
    }

    #[test]
    fn multivariant_variants() {
        let v = read_multivariant(MASTER);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].bandwidth, 2_800_000);
        assert_eq!(v[1].uri, "360p/index.m3u8");
        assert!(read_multivariant("#EXTM3U\n").is_empty());
    }

    #[test]
    fn media_parts_positions_and_next() {
        let pl = read_media(MEDIA).unwrap();
        assert_eq!(pl.target_duration, Some(Duration::from_secs(2)));
        assert_eq!(pl.part_target, Some(Duration::from_millis(334)));
        assert_eq!(pl.map_uri.as_deref(), Some("init.mp4"));
        assert_eq!(pl.segment_uris, ["seg7.m4s"]);
        let pos: Vec<_> = pl.parts.iter().map(|p| (p.msn, p.index)).collect();
        assert_eq!(pos, [(7, 0), (7, 1), (8, 0), (8, 1)]);
        let independent: Vec<_> = pl.parts.iter().map(|p| p.independent).collect();
        assert_eq!(independent, [true, false, true, false]);
        assert_eq!(pl.hint, Some((8, 2)));
        assert_eq!(pl.next(), (8, 2));
        assert!(!pl.ended);
        let t0 = parse_pdt("2025-11-24T16:00:00.000Z").unwrap();
        let pdts: Vec<_> = pl
            .parts
            .iter()
            .map(|p| ms(p.program_date_time.unwrap()) - ms(t0))
            .collect();
        assert_eq!(pdts, [0, 1000, 2000, 2333]);
    }

    #[test]
    fn segments_carry_their_map_discontinuity_and_program_date_time() {
        let text = "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:4\n#EXT-X-MAP:URI=\"init-1.mp4\"\n\
#EXT-X-PROGRAM-DATE-TIME:2026-11-30T10:00:08.000Z\n#EXTINF:2.0,\nseg4.m4s\n#EXTINF:1.5,\nseg5.m4s\n\
#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init-2.mp4\"\n\
#EXT-X-PROGRAM-DATE-TIME:2026-11-30T10:01:00.000Z\n\
#EXT-X-PART:DURATION=0.5,URI=\"part6.0.m4s\",INDEPENDENT=YES\n";
        let pl = read_media(text).unwrap();
        let t = |s| parse_pdt(s).unwrap();
        let seen: Vec<_> = pl
            .segments
            .iter()
            .map(|s| {
                (
                    s.msn,
                    s.uri.as_deref(),
                    s.duration.map(|d| d.as_millis()),
                    s.discontinuity,
                    s.map_uri.as_deref(),
                    s.program_date_time,
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                (
                    4,
                    Some("seg4.m4s"),
                    Some(2000),
                    false,
                    Some("init-1.mp4"),
                    Some(t("2026-11-30T10:00:08Z"))
                ),
                (
                    5,
                    Some("seg5.m4s"),
                    Some(1500),
                    false,
                    Some("init-1.mp4"),
                    Some(t("2026-11-30T10:00:10Z"))
                ),
                (
                    6,
                    None,
                    None,
                    true,
                    Some("init-2.mp4"),
                    Some(t("2026-11-30T10:01:00Z"))
                ),
            ]
        );
        assert_eq!(pl.segment_uris, ["seg4.m4s", "seg5.m4s"]);
    }

    #[test]
    fn next_after_a_completed_segment_is_part_zero_of_the_next() {
        let text = "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:3\n#EXT-X-PART:DURATION=1,URI=\"part3.0.m4s\"\n#EXTINF:1,\nseg3.m4s\n";
        let pl = read_media(text).unwrap();
        assert_eq!(pl.next(), (4, 0));
        assert_eq!(pl.parts[0].program_date_time, None);
        let ended = read_media(&format!("{text}#EXT-X-ENDLIST\n")).unwrap();
        assert!(ended.ended);
        // Not a media playlist for the origin: no target duration.
        assert_eq!(parse_edge(text), None);
    }

    #[test]
    fn next_follows_a_preload_hint_into_the_next_segment() {
        // Segment 4 has all its parts, but its EXTINF is not listed yet.
        let text = "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:4\n#EXT-X-PART:DURATION=1,URI=\"part4.0.m4s\"\n#EXT-X-PART:DURATION=1,URI=\"part4.1.m4s\"\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part5.0.m4s\"\n";
        assert_eq!(read_media(text).unwrap().next(), (5, 0));
        let map_hint = text.replace("TYPE=PART", "TYPE=MAP");
        assert_eq!(read_media(&map_hint).unwrap().next(), (4, 2));
        // A hint behind the listing does not move the edge back.
        let behind = text.replace("part5.0.m4s\"", "../v/part3.1.m4s?x=1\"");
        assert_eq!(read_media(&behind).unwrap().next(), (4, 2));
    }

    #[test]
    fn part_positions_from_uris() {
        assert_eq!(part_position("part12.3.m4s"), Some((12, 3)));
        assert_eq!(
            part_position("../v/fileSequence12.3.mp4?x=1"),
            Some((12, 3))
        );
        for bad in [
            "seg12.m4s",
            "part.3.m4s",
            "part12..m4s",
            "part12.x.m4s",
            "",
            "12",
        ] {
            assert_eq!(part_position(bad), None, "{bad}");
        }
    }

    #[test]
    fn delta_playlists_count_skipped_segments() {
        let text = "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:10\n#EXT-X-SKIP:SKIPPED-SEGMENTS=5\n#EXTINF:2,\nseg15.m4s\n#EXT-X-PART:DURATION=1,URI=\"part16.0.m4s\"\n";
        let pl = read_media(text).unwrap();
        assert_eq!((pl.parts[0].msn, pl.parts[0].index), (16, 0));
        assert_eq!(pl.next(), (16, 1));
        let edge = parse_edge(text).unwrap();
        assert_eq!((edge.next_msn, edge.next_part), (16, 1));
    }

    #[test]
    fn malformed_media_playlists_are_errors_not_panics() {
        assert_eq!(read_media("").err(), Some(ReadError::NotM3u8));
        assert_eq!(read_media("<html>").err(), Some(ReadError::NotM3u8));
        assert_eq!(
            read_media("#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:x\n").err(),
            Some(ReadError::BadTag {
                line: 2,
                tag: "EXT-X-MEDIA-SEQUENCE"
            })
        );
        for bad in [
            "#EXTM3U\n#EXT-X-PART:URI=\"a\"\n",
            "#EXTM3U\n#EXT-X-PROGRAM-DATE-TIME:yesterday\n",
            "#EXTM3U\n#EXTINF:,\n",
            "#EXTM3U\n#EXT-X-TARGETDURATION:-2\n",
            "#EXTM3U\n#EXT-X-PART-INF:PART-TARGET=\"\n",
            "#EXTM3U\n#EXT-X-SKIP:=\n",
        ] {
            assert!(read_media(bad).is_err(), "{bad}");
            assert_eq!(parse_edge(bad), None, "{bad}");
        }
        for garbage in ["#EXTM3U\n#EXT-X-PRELOAD-HINT:URI=\"", "#EXTM3U\n#:\n#"] {
            let _ = read_media(garbage);
        }
    }

    #[test]
    fn edge_reads_back_the_hint() {
        let p = playlist(4, 2);
        let edge = parse_edge(&p.render(false, &[])).unwrap();
        assert_eq!((edge.next_msn, edge.next_part), (4, 2));
        assert_eq!(edge.target_duration, Duration::from_secs(2));
        assert_eq!(edge.part_target, Duration::from_millis(334));
        assert!(!edge.ended);
        assert!(edge.has(4, Some(1)));
        assert!(!edge.has(4, Some(2)));
        assert!(edge.has(3, None));
        assert!(!edge.has(4, None));
        assert_eq!(parse_edge("garbage"), None);
        assert_eq!(parse_edge("#EXTM3U\n#EXT-X-TARGETDURATION:x\n"), None);
    }

    #[test]
    fn reads_what_the_writer_wrote() {
        let p = playlist(3, 2);
        let listing = read_media(&p.render(false, &[])).unwrap();
        assert_eq!(listing.segment_uris, ["seg0.m4s", "seg1.m4s", "seg2.m4s"]);
        assert_eq!(listing.parts.len(), 3 * 6 + 2);
        let last = listing.parts.last().unwrap();
        assert_eq!((last.msn, last.index), (3, 1));
        // Program date times survive the millisecond rounding of the writer.
        let first = listing.parts.first().unwrap();
        assert_eq!(first.program_date_time, Some(t0()));
        let open = listing.parts.iter().find(|p| p.msn == 3).unwrap();
        assert_eq!(open.program_date_time, Some(t0() + Duration::from_secs(6)));
    }

    #[test]
    fn program_date_times() {
        let at = |s| parse_pdt(s).map(ms);
        assert_eq!(at("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(at("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(at("2000-03-01T00:00:00.000Z"), Some(951_868_800_000));
        assert_eq!(at("2025-11-24T16:00:00.123456Z"), Some(1_764_000_000_123));
        assert_eq!(at("2025-11-24T17:00:00.123+01:00"), Some(1_764_000_000_123));
        assert_eq!(at("2025-11-24T15:30:00.123-00:30"), Some(1_764_000_000_123));
        for bad in [
            "",
            "2025-11-24",
            "2025-11-24T16:00:00",
            "2025-13-24T16:00:00Z",
            "2025-11-24T16:00:00.Z",
            "2025-11-24T16:00:00+1",
            "２025-11-24T16:00:00Z",
        ] {
            assert_eq!(parse_pdt(bad), None, "{bad}");
        }
        let t = t0() + Duration::from_millis(123);
        assert_eq!(parse_pdt(&format_pdt(t)), Some(t));
    }
}
