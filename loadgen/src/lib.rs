//! `amphi-loadgen`: N simulated LL-HLS viewers against an origin or a CDN.
//!
//! This library holds the pure parts, unit-tested: reading multivariant and media
//! playlists (only what a viewer loop needs), program date times, percentiles. The
//! binary (`src/main.rs`) holds the tokio/reqwest glue and the viewer loop:
//!
//! 1. GET `master.m3u8`, pick a rendition (lowest bandwidth by default);
//! 2. GET the media playlist and its init segment, then the newest part;
//! 3. loop: blocking reload `index.m3u8?_HLS_msn=N&_HLS_part=M` for the part the
//!    preload hint names, then GET every part the answer lists beyond the last one
//!    fetched, as hls.js does in low-latency mode.
//!
//! Latency behind the live edge is measured when a part has been received:
//! wall clock now − `EXT-X-PROGRAM-DATE-TIME` of that part's first sample.

/// One `EXT-X-STREAM-INF` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variant {
    pub bandwidth: u64,
    pub uri: String,
}

/// The variants of a multivariant playlist, in order.
pub fn parse_master(text: &str) -> Vec<Variant> {
    let mut out = Vec::new();
    let mut pending: Option<u64> = None;
    for line in text.lines().map(str::trim) {
        if let Some(attrs) = line.strip_prefix("#EXT-X-STREAM-INF:") {
            pending = Some(
                attr(attrs, "BANDWIDTH")
                    .and_then(|b| b.parse().ok())
                    .unwrap_or(0),
            );
        } else if !line.is_empty() && !line.starts_with('#') {
            if let Some(bandwidth) = pending.take() {
                out.push(Variant {
                    bandwidth,
                    uri: line.to_owned(),
                });
            }
        }
    }
    out
}

/// Which rendition a viewer watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pick {
    Lowest,
    Highest,
    /// The variant whose URI contains this text.
    Named(String),
}

impl std::str::FromStr for Pick {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "lowest" => Pick::Lowest,
            "highest" => Pick::Highest,
            other => Pick::Named(other.to_owned()),
        })
    }
}

pub fn pick<'a>(variants: &'a [Variant], how: &Pick) -> Option<&'a Variant> {
    match how {
        Pick::Lowest => variants.iter().min_by_key(|v| v.bandwidth),
        Pick::Highest => variants.iter().max_by_key(|v| v.bandwidth),
        Pick::Named(n) => variants.iter().find(|v| v.uri.contains(n.as_str())),
    }
}

/// The value of attribute `name` in an attribute list, quotes removed.
pub fn attr<'a>(list: &'a str, name: &str) -> Option<&'a str> {
    let mut rest = list;
    while !rest.is_empty() {
        let (key, after) = rest.split_once('=')?;
        let (value, next) = if let Some(q) = after.strip_prefix('"') {
            let end = q.find('"')?;
            (&q[..end], q[end + 1..].trim_start_matches(','))
        } else {
            match after.split_once(',') {
                Some((v, n)) => (v, n),
                None => (after, ""),
            }
        };
        if key.trim() == name {
            return Some(value);
        }
        rest = next;
    }
    None
}

/// One `EXT-X-PART`, with its position and program date time.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    pub msn: u64,
    pub index: u32,
    pub uri: String,
    pub duration: f64,
    /// Unix milliseconds of the part's first sample, when the playlist has a PDT.
    pub pdt_ms: Option<i64>,
}

/// What a viewer needs from a media playlist.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MediaPlaylist {
    pub part_target: f64,
    pub map_uri: Option<String>,
    pub parts: Vec<Part>,
    /// The `_HLS_msn`/`_HLS_part` of the next blocking reload: the part the
    /// `EXT-X-PRELOAD-HINT` names when its URI ends in `{msn}.{part}.{ext}`, else the
    /// part after the last listed one. (A full segment's hint names the next
    /// segment's first part before the `EXTINF` closing it is listed.)
    pub next: (u64, u32),
    pub ended: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlaylistError {
    NotM3u8,
    BadTag { line: usize, tag: &'static str },
}

impl std::fmt::Display for PlaylistError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlaylistError::NotM3u8 => write!(f, "not a playlist: no #EXTM3U header"),
            PlaylistError::BadTag { line, tag } => write!(f, "bad {tag} at line {line}"),
        }
    }
}

impl std::error::Error for PlaylistError {}

pub fn parse_media(text: &str) -> Result<MediaPlaylist, PlaylistError> {
    let mut lines = text.lines().map(str::trim).enumerate();
    if lines.next().map(|(_, l)| l) != Some("#EXTM3U") {
        return Err(PlaylistError::NotM3u8);
    }
    let mut pl = MediaPlaylist::default();
    let mut msn = 0u64;
    let mut index = 0u32;
    // PDT of the current segment's start, and the offset of the next part in it.
    let mut seg_pdt: Option<f64> = None;
    let mut offset = 0.0f64;
    let mut hint = None;
    for (n, line) in lines {
        let bad = |tag| PlaylistError::BadTag { line: n + 1, tag };
        if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            msn = v.parse().map_err(|_| bad("EXT-X-MEDIA-SEQUENCE"))?;
        } else if let Some(v) = line.strip_prefix("#EXT-X-PART-INF:") {
            pl.part_target = attr(v, "PART-TARGET")
                .and_then(|t| t.parse().ok())
                .ok_or(bad("EXT-X-PART-INF"))?;
        } else if let Some(v) = line.strip_prefix("#EXT-X-SKIP:") {
            let skipped: u64 = attr(v, "SKIPPED-SEGMENTS")
                .and_then(|t| t.parse().ok())
                .ok_or(bad("EXT-X-SKIP"))?;
            msn += skipped;
        } else if let Some(v) = line.strip_prefix("#EXT-X-MAP:") {
            pl.map_uri = Some(attr(v, "URI").ok_or(bad("EXT-X-MAP"))?.to_owned());
        } else if let Some(v) = line.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:") {
            seg_pdt = Some(parse_pdt_ms(v).ok_or(bad("EXT-X-PROGRAM-DATE-TIME"))? as f64);
            offset = 0.0;
        } else if let Some(v) = line.strip_prefix("#EXT-X-PART:") {
            let uri = attr(v, "URI").ok_or(bad("EXT-X-PART"))?;
            let duration: f64 = attr(v, "DURATION")
                .and_then(|d| d.parse().ok())
                .ok_or(bad("EXT-X-PART"))?;
            pl.parts.push(Part {
                msn,
                index,
                uri: uri.to_owned(),
                duration,
                pdt_ms: seg_pdt.map(|p| (p + offset * 1000.0).round() as i64),
            });
            offset += duration;
            index += 1;
        } else if let Some(v) = line.strip_prefix("#EXTINF:") {
            let duration: f64 = v
                .split(',')
                .next()
                .and_then(|d| d.parse().ok())
                .ok_or(bad("EXTINF"))?;
            seg_pdt = seg_pdt.map(|p| p + duration * 1000.0);
            offset = 0.0;
            msn += 1;
            index = 0;
        } else if let Some(v) = line.strip_prefix("#EXT-X-PRELOAD-HINT:") {
            if attr(v, "TYPE") == Some("PART") {
                hint = attr(v, "URI").and_then(part_position);
            }
        } else if line == "#EXT-X-ENDLIST" {
            pl.ended = true;
        }
    }
    pl.next = hint.unwrap_or((msn, index));
    Ok(pl)
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

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYY-MM-DDThh:mm:ss[.fff](Z|±hh:mm)` as Unix milliseconds.
pub fn parse_pdt_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut millis = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        for (i, c) in frac.bytes().take(3).take(digits).enumerate() {
            millis += i64::from(c - b'0') * [100, 10, 1][i];
        }
        rest = &frac[digits..];
    }
    let tz_secs = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let hm = rest.get(1..)?;
            let (th, tm) = hm.split_once(':')?;
            if th.len() != 2 || tm.len() != 2 {
                return None;
            }
            sign * (th.parse::<i64>().ok()? * 3600 + tm.parse::<i64>().ok()? * 60)
        }
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - tz_secs;
    Some(secs * 1000 + millis)
}

/// The `p`-th percentile (0–100) of sorted values, nearest rank; `None` if empty.
pub fn percentile<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn master_variants_and_pick() {
        let v = parse_master(MASTER);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].bandwidth, 2_800_000);
        assert_eq!(
            pick(&v, &Pick::Lowest).map(|v| v.uri.as_str()),
            Some("360p/index.m3u8")
        );
        assert_eq!(
            pick(&v, &Pick::Highest).map(|v| v.uri.as_str()),
            Some("720p/index.m3u8")
        );
        assert_eq!(
            pick(&v, &"720p".parse().expect("infallible")).map(|v| v.bandwidth),
            Some(2_800_000)
        );
        assert_eq!(pick(&v, &Pick::Named("1080p".into())), None);
        assert!(parse_master("#EXTM3U\n").is_empty());
    }

    #[test]
    fn attributes_with_quotes_and_commas() {
        let l = "BANDWIDTH=1,CODECS=\"avc1.64001f,mp4a.40.2\",RESOLUTION=1x1";
        assert_eq!(attr(l, "CODECS"), Some("avc1.64001f,mp4a.40.2"));
        assert_eq!(attr(l, "RESOLUTION"), Some("1x1"));
        assert_eq!(attr(l, "BANDWIDTH"), Some("1"));
        assert_eq!(attr(l, "NOPE"), None);
        assert_eq!(attr("URI=\"unterminated", "URI"), None);
    }

    #[test]
    fn media_parts_positions_and_next() {
        let pl = parse_media(MEDIA).expect("parses");
        assert_eq!(pl.part_target, 0.334);
        assert_eq!(pl.map_uri.as_deref(), Some("init.mp4"));
        let pos: Vec<_> = pl.parts.iter().map(|p| (p.msn, p.index)).collect();
        assert_eq!(pos, [(7, 0), (7, 1), (8, 0), (8, 1)]);
        assert_eq!(pl.next, (8, 2));
        assert!(!pl.ended);
        let t0 = parse_pdt_ms("2025-11-24T16:00:00.000Z").expect("pdt");
        let pdts: Vec<_> = pl
            .parts
            .iter()
            .map(|p| p.pdt_ms.expect("pdt") - t0)
            .collect();
        assert_eq!(pdts, [0, 1000, 2000, 2333]);
    }

    #[test]
    fn next_after_a_completed_segment_is_part_zero_of_the_next() {
        let text = "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:3\n#EXT-X-PART:DURATION=1,URI=\"part3.0.m4s\"\n#EXTINF:1,\nseg3.m4s\n";
        let pl = parse_media(text).expect("parses");
        assert_eq!(pl.next, (4, 0));
        assert_eq!(pl.parts[0].pdt_ms, None);
        let ended = parse_media(&format!("{text}#EXT-X-ENDLIST\n")).expect("parses");
        assert!(ended.ended);
    }

    #[test]
    fn next_follows_a_preload_hint_into_the_next_segment() {
        // Segment 4 has all its parts, but its EXTINF is not listed yet.
        let text = "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:4\n#EXT-X-PART:DURATION=1,URI=\"part4.0.m4s\"\n#EXT-X-PART:DURATION=1,URI=\"part4.1.m4s\"\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part5.0.m4s\"\n";
        assert_eq!(parse_media(text).expect("parses").next, (5, 0));
        let map_hint = text.replace("TYPE=PART", "TYPE=MAP");
        assert_eq!(parse_media(&map_hint).expect("parses").next, (4, 2));
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
        let text = "#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:10\n#EXT-X-SKIP:SKIPPED-SEGMENTS=5\n#EXTINF:2,\nseg15.m4s\n#EXT-X-PART:DURATION=1,URI=\"part16.0.m4s\"\n";
        let pl = parse_media(text).expect("parses");
        assert_eq!((pl.parts[0].msn, pl.parts[0].index), (16, 0));
        assert_eq!(pl.next, (16, 1));
    }

    #[test]
    fn malformed_media_playlists_are_errors_not_panics() {
        assert_eq!(parse_media("").err(), Some(PlaylistError::NotM3u8));
        assert_eq!(parse_media("<html>").err(), Some(PlaylistError::NotM3u8));
        assert_eq!(
            parse_media("#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:x\n").err(),
            Some(PlaylistError::BadTag {
                line: 2,
                tag: "EXT-X-MEDIA-SEQUENCE"
            })
        );
        assert!(parse_media("#EXTM3U\n#EXT-X-PART:URI=\"a\"\n").is_err());
        assert!(parse_media("#EXTM3U\n#EXT-X-PROGRAM-DATE-TIME:yesterday\n").is_err());
        assert!(parse_media("#EXTM3U\n#EXTINF:,\n").is_err());
    }

    #[test]
    fn program_date_times() {
        assert_eq!(parse_pdt_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_pdt_ms("1970-01-01T00:00:01.5Z"), Some(1500));
        assert_eq!(
            parse_pdt_ms("2000-03-01T00:00:00.000Z"),
            Some(951_868_800_000)
        );
        assert_eq!(
            parse_pdt_ms("2025-11-24T16:00:00.123456Z"),
            Some(1_764_000_000_123)
        );
        assert_eq!(
            parse_pdt_ms("2025-11-24T17:00:00.123+01:00"),
            Some(1_764_000_000_123)
        );
        assert_eq!(
            parse_pdt_ms("2025-11-24T15:30:00.123-00:30"),
            Some(1_764_000_000_123)
        );
        for bad in [
            "",
            "2025-11-24",
            "2025-11-24T16:00:00",
            "2025-13-24T16:00:00Z",
            "2025-11-24T16:00:00.Z",
            "2025-11-24T16:00:00+1",
            "２025-11-24T16:00:00Z",
        ] {
            assert_eq!(parse_pdt_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn percentiles_nearest_rank() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&v, 100.0), Some(100));
        assert_eq!(percentile(&v, 0.0), Some(1));
        assert_eq!(percentile::<u32>(&[], 50.0), None);
        assert_eq!(percentile(&[7], 99.9), Some(7));
    }
}
