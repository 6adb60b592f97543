//! The few ISO BMFF (MP4) edits that join a recording's fragments into one file, pure
//! and bounded: nothing is allocated from a size a box declares before it is checked
//! against the bytes at hand.
//!
//! - [`InitInfo::parse`] reads an init segment's track ids, timescales and sample
//!   descriptions (`stsd`), so runs with the same codec setup can share one init;
//! - [`with_duration`] gives an init segment the whole file's duration (`mvhd` and a
//!   `mehd` in `mvex`), which fragmented files otherwise lack;
//! - [`Retimer`] rewrites a segment's fragments in place (`tfdt` shifted onto the
//!   file's timeline, `mfhd` renumbered) and keeps only `moof` and `mdat` boxes. No box
//!   changes size, so the data offsets in `trun` stay right.

use std::collections::BTreeMap;
use std::time::Duration;

/// A malformed box, with where it is.
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Fmp4Error {
    #[error("at byte {offset}: {what}")]
    Malformed { offset: usize, what: &'static str },
    #[error("track {track} is not in the init segment")]
    UnknownTrack { track: u32 },
    #[error("track {track}: decode time out of range after shifting the run")]
    TimeRange { track: u32 },
}

fn malformed(offset: usize, what: &'static str) -> Fmp4Error {
    Fmp4Error::Malformed { offset, what }
}

/// One box: its type and where its header and body are in the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct BoxAt {
    kind: [u8; 4],
    start: usize,
    body: usize,
    end: usize,
}

/// The boxes found in `data[from..to]` (offsets are into `data`).
fn children(data: &[u8], from: usize, to: usize) -> Result<Vec<BoxAt>, Fmp4Error> {
    let mut out = Vec::new();
    let mut at = from;
    while at < to {
        let header = data
            .get(at..at + 8)
            .filter(|_| at + 8 <= to)
            .ok_or(malformed(at, "box header cut short"))?;
        let size32 = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
        let kind = [header[4], header[5], header[6], header[7]];
        let (size, body) = match size32 {
            0 => (to - at, at + 8),
            1 => {
                let large = data
                    .get(at + 8..at + 16)
                    .filter(|_| at + 16 <= to)
                    .ok_or(malformed(at, "64-bit box size cut short"))?;
                let mut b = [0u8; 8];
                b.copy_from_slice(large);
                let size = usize::try_from(u64::from_be_bytes(b))
                    .map_err(|_| malformed(at, "box size beyond memory"))?;
                (size, at + 16)
            }
            n => (n as usize, at + 8),
        };
        let end = at
            .checked_add(size)
            .filter(|end| *end <= to && size >= body - at)
            .ok_or(malformed(at, "box size beyond its parent"))?;
        out.push(BoxAt {
            kind,
            start: at,
            body,
            end,
        });
        at = end;
    }
    Ok(out)
}

fn find(boxes: &[BoxAt], kind: &[u8; 4]) -> Option<BoxAt> {
    boxes.iter().find(|b| &b.kind == kind).copied()
}

fn read_u32(data: &[u8], at: usize) -> Result<u32, Fmp4Error> {
    data.get(at..at + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or(malformed(at, "field beyond the box"))
}

fn read_u64(data: &[u8], at: usize) -> Result<u64, Fmp4Error> {
    let b = data
        .get(at..at + 8)
        .ok_or(malformed(at, "field beyond the box"))?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Ok(u64::from_be_bytes(a))
}

/// Offset of the timescale in a full box laid out like `mvhd` and `mdhd`.
fn timescale_at(data: &[u8], b: &BoxAt) -> Result<usize, Fmp4Error> {
    let version = *data
        .get(b.body)
        .ok_or(malformed(b.body, "empty header box"))?;
    Ok(b.body + if version == 1 { 20 } else { 12 })
}

/// What an init segment says about its tracks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitInfo {
    pub movie_timescale: u32,
    /// Per track id: its media timescale and the bytes of its `stsd` (codec setup).
    pub tracks: BTreeMap<u32, (u32, Vec<u8>)>,
}

impl InitInfo {
    pub fn parse(init: &[u8]) -> Result<InitInfo, Fmp4Error> {
        let top = children(init, 0, init.len())?;
        let moov = find(&top, b"moov").ok_or(malformed(0, "no moov box"))?;
        let in_moov = children(init, moov.body, moov.end)?;
        let mvhd = find(&in_moov, b"mvhd").ok_or(malformed(moov.start, "no mvhd in moov"))?;
        let movie_timescale = read_u32(init, timescale_at(init, &mvhd)?)?;
        let mut tracks = BTreeMap::new();
        for trak in in_moov.iter().filter(|b| &b.kind == b"trak") {
            let in_trak = children(init, trak.body, trak.end)?;
            let tkhd = find(&in_trak, b"tkhd").ok_or(malformed(trak.start, "no tkhd"))?;
            let version = *init
                .get(tkhd.body)
                .ok_or(malformed(tkhd.body, "empty tkhd"))?;
            let id = read_u32(init, tkhd.body + if version == 1 { 20 } else { 12 })?;
            let mdia = find(&in_trak, b"mdia").ok_or(malformed(trak.start, "no mdia"))?;
            let in_mdia = children(init, mdia.body, mdia.end)?;
            let mdhd = find(&in_mdia, b"mdhd").ok_or(malformed(mdia.start, "no mdhd"))?;
            let timescale = read_u32(init, timescale_at(init, &mdhd)?)?;
            if timescale == 0 {
                return Err(malformed(mdhd.start, "zero timescale"));
            }
            let minf = find(&in_mdia, b"minf").ok_or(malformed(mdia.start, "no minf"))?;
            let in_minf = children(init, minf.body, minf.end)?;
            let stbl = find(&in_minf, b"stbl").ok_or(malformed(minf.start, "no stbl"))?;
            let in_stbl = children(init, stbl.body, stbl.end)?;
            let stsd = find(&in_stbl, b"stsd").ok_or(malformed(stbl.start, "no stsd"))?;
            tracks.insert(id, (timescale, init[stsd.start..stsd.end].to_vec()));
        }
        if tracks.is_empty() {
            return Err(malformed(moov.start, "no track in moov"));
        }
        Ok(InitInfo {
            movie_timescale,
            tracks,
        })
    }

    /// Whether fragments made for `other` decode with this init (same tracks,
    /// timescales and codec setup).
    pub fn compatible(&self, other: &InitInfo) -> bool {
        self.tracks == other.tracks
    }
}

fn put_box(out: &mut Vec<u8>, kind: &[u8; 4], body: &[u8]) {
    out.extend_from_slice(&((body.len() + 8) as u32).to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(body);
}

/// `init` with the file's `duration` in `mvhd` and in a `mehd` box, so readers know
/// how long the fragmented file is without reading every fragment.
pub fn with_duration(init: &[u8], duration: Duration) -> Result<Vec<u8>, Fmp4Error> {
    let info = InitInfo::parse(init)?;
    let ticks = (duration.as_nanos() * u128::from(info.movie_timescale) / 1_000_000_000)
        .min(u128::from(u64::MAX)) as u64;
    let top = children(init, 0, init.len())?;
    let mut out = Vec::with_capacity(init.len() + 32);
    for b in &top {
        if &b.kind != b"moov" {
            out.extend_from_slice(&init[b.start..b.end]);
            continue;
        }
        let mut moov = Vec::with_capacity(b.end - b.start + 32);
        for c in children(init, b.body, b.end)? {
            match &c.kind {
                b"mvhd" => {
                    let mut body = init[c.body..c.end].to_vec();
                    let version = body.first().copied().unwrap_or(0);
                    if version == 1 {
                        let at = 24;
                        let field = body
                            .get_mut(at..at + 8)
                            .ok_or(malformed(c.body + at, "mvhd cut short"))?;
                        field.copy_from_slice(&ticks.to_be_bytes());
                    } else {
                        let at = 16;
                        let field = body
                            .get_mut(at..at + 4)
                            .ok_or(malformed(c.body + at, "mvhd cut short"))?;
                        field.copy_from_slice(
                            &(ticks.min(u64::from(u32::MAX)) as u32).to_be_bytes(),
                        );
                    }
                    put_box(&mut moov, b"mvhd", &body);
                }
                b"mvex" => {
                    let mut mvex = Vec::new();
                    let mut mehd = vec![1, 0, 0, 0];
                    mehd.extend_from_slice(&ticks.to_be_bytes());
                    put_box(&mut mvex, b"mehd", &mehd);
                    for e in children(init, c.body, c.end)? {
                        if &e.kind != b"mehd" {
                            mvex.extend_from_slice(&init[e.start..e.end]);
                        }
                    }
                    put_box(&mut moov, b"mvex", &mvex);
                }
                _ => moov.extend_from_slice(&init[c.start..c.end]),
            }
        }
        put_box(&mut out, b"moov", &moov);
    }
    Ok(out)
}

/// The first decode time (`tfdt`) of each track in a segment, in seconds.
pub fn first_decode_times(
    segment: &[u8],
    init: &InitInfo,
) -> Result<BTreeMap<u32, f64>, Fmp4Error> {
    let mut out = BTreeMap::new();
    for (track, tfdt_at, version) in fragments(segment)? {
        let value = if version == 1 {
            read_u64(segment, tfdt_at)?
        } else {
            u64::from(read_u32(segment, tfdt_at)?)
        };
        let (timescale, _) = init
            .tracks
            .get(&track)
            .ok_or(Fmp4Error::UnknownTrack { track })?;
        out.entry(track)
            .or_insert(value as f64 / f64::from(*timescale));
    }
    Ok(out)
}

/// `(track id, offset of the tfdt value, tfdt version)` of every `traf` of a segment.
fn fragments(segment: &[u8]) -> Result<Vec<(u32, usize, u8)>, Fmp4Error> {
    let mut out = Vec::new();
    for moof in children(segment, 0, segment.len())?
        .iter()
        .filter(|b| &b.kind == b"moof")
    {
        for traf in children(segment, moof.body, moof.end)?
            .iter()
            .filter(|b| &b.kind == b"traf")
        {
            let in_traf = children(segment, traf.body, traf.end)?;
            let tfhd = find(&in_traf, b"tfhd").ok_or(malformed(traf.start, "traf without tfhd"))?;
            let track = read_u32(segment, tfhd.body + 4)?;
            let tfdt = find(&in_traf, b"tfdt").ok_or(malformed(traf.start, "traf without tfdt"))?;
            let version = *segment
                .get(tfdt.body)
                .ok_or(malformed(tfdt.body, "empty tfdt"))?;
            let width = if version == 1 { 8 } else { 4 };
            if tfdt.body + 4 + width > tfdt.end {
                return Err(malformed(tfdt.start, "tfdt cut short"));
            }
            out.push((track, tfdt.body + 4, version));
        }
    }
    Ok(out)
}

/// Puts one run's fragments on the joined file's timeline: a run whose earliest track
/// starts at `base` seconds (its own media time) is shifted to start at `start`.
#[derive(Debug, Clone)]
pub struct Retimer {
    /// Per track: ticks to add (may be negative).
    shift: BTreeMap<u32, i128>,
}

impl Retimer {
    /// `first` is [`first_decode_times`] of the run's first segment.
    pub fn new(init: &InitInfo, first: &BTreeMap<u32, f64>, start: Duration) -> Retimer {
        let base = first.values().copied().fold(f64::INFINITY, f64::min);
        let base = if base.is_finite() { base } else { 0.0 };
        let delta = start.as_secs_f64() - base;
        let shift = init
            .tracks
            .iter()
            .map(|(id, (timescale, _))| (*id, (delta * f64::from(*timescale)).round() as i128))
            .collect();
        Retimer { shift }
    }

    /// The segment's `moof` and `mdat` boxes with decode times shifted and fragments
    /// numbered from `*sequence` on (other top-level boxes, such as `styp`, dropped).
    pub fn rewrite(&self, segment: &[u8], sequence: &mut u32) -> Result<Vec<u8>, Fmp4Error> {
        let mut out = Vec::with_capacity(segment.len());
        for b in children(segment, 0, segment.len())? {
            if &b.kind != b"moof" && &b.kind != b"mdat" {
                continue;
            }
            let base = out.len();
            out.extend_from_slice(&segment[b.start..b.end]);
            if &b.kind != b"moof" {
                continue;
            }
            let in_moof = children(segment, b.body, b.end)?;
            if let Some(mfhd) = find(&in_moof, b"mfhd") {
                let at = base + (mfhd.body + 4 - b.start);
                let field = out
                    .get_mut(at..at + 4)
                    .ok_or(malformed(mfhd.start, "mfhd cut short"))?;
                field.copy_from_slice(&sequence.to_be_bytes());
                *sequence = sequence.wrapping_add(1);
            }
        }
        // Decode times, found again in the copy (same layout, offsets moved).
        for (track, at, version) in fragments(&out)? {
            let shift = *self
                .shift
                .get(&track)
                .ok_or(Fmp4Error::UnknownTrack { track })?;
            let old = if version == 1 {
                read_u64(&out, at)?
            } else {
                u64::from(read_u32(&out, at)?)
            };
            let new = i128::from(old) + shift;
            if version == 1 {
                let v = u64::try_from(new).map_err(|_| Fmp4Error::TimeRange { track })?;
                out[at..at + 8].copy_from_slice(&v.to_be_bytes());
            } else {
                let v = u32::try_from(new).map_err(|_| Fmp4Error::TimeRange { track })?;
                out[at..at + 4].copy_from_slice(&v.to_be_bytes());
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
#[path = "fmp4_tests.rs"]
mod tests;
