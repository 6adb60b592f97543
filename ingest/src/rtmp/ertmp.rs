//! Enhanced RTMP video tags (the E-RTMP v1 and v2 signalling that OBS 30+ and ffmpeg
//! 6.1+ send for HEVC and AV1): the IsExHeader bit, the packet type, ModEx prefixes,
//! the FourCC, single-track multitrack messages, and the bodies of each packet type.
//!
//! Sans-IO and bounded: one message body in, one [`ExVideoTag`] out; nothing is
//! allocated from a declared length; every error carries the byte offset inside the
//! video message body where the tag went wrong.
//!
//! Accepted FourCCs: `hvc1` (HEVCDecoderConfigurationRecord, length-prefixed NAL
//! units), `av01` (AV1CodecConfigurationRecord, low-overhead OBUs) and `avc1` (the
//! classic H.264 payloads, signalled the enhanced way). Others (`vp09`, …) are refused
//! with their FourCC. Of a multitrack message only track 0 is ingested.

use crate::codec::{self, av1, hevc, CodecError};
use bytes::Bytes;
use std::fmt;

/// IsExHeader: bit 7 of a video tag's first byte.
pub const EX_HEADER: u8 = 0x80;

/// E-RTMP video packet types (low 4 bits of the first byte).
pub mod packet_type {
    pub const SEQUENCE_START: u8 = 0;
    pub const CODED_FRAMES: u8 = 1;
    pub const SEQUENCE_END: u8 = 2;
    pub const CODED_FRAMES_X: u8 = 3;
    pub const METADATA: u8 = 4;
    pub const MPEG2TS_SEQUENCE_START: u8 = 5;
    pub const MULTITRACK: u8 = 6;
    pub const MOD_EX: u8 = 7;
}

/// Video frame type 5: a video info/command frame, no picture.
const FRAME_COMMAND: u8 = 5;
/// Multitrack types (high 4 bits of the multitrack byte).
const ONE_TRACK: u8 = 0;
const MANY_TRACKS_MANY_CODECS: u8 = 2;

/// A codec's FourCC as E-RTMP writes it.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct FourCc(pub [u8; 4]);

impl FourCc {
    pub const AVC: FourCc = FourCc(*b"avc1");
    pub const HEVC: FourCc = FourCc(*b"hvc1");
    pub const AV1: FourCc = FourCc(*b"av01");
    /// The FourCCs whose video Amphi ingests (announced in the connect reply).
    pub const SUPPORTED: [FourCc; 3] = [FourCc::AVC, FourCc::HEVC, FourCc::AV1];
}

impl fmt::Display for FourCc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for &b in &self.0 {
            if b.is_ascii_graphic() {
                write!(f, "{}", b as char)?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for FourCc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FourCc({self})")
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExVideoTag {
    /// The codec's configuration record (validated for the FourCC).
    SequenceStart {
        fourcc: FourCc,
        record: Bytes,
    },
    /// One access unit (H.264/H.265: 4-byte-length-prefixed NAL units; AV1: one
    /// temporal unit of OBUs), validated to tile the body exactly.
    CodedFrames {
        fourcc: FourCc,
        keyframe: bool,
        /// Composition time offset (pts − dts) in milliseconds; 0 for AV1 and for
        /// `CodedFramesX`.
        cts: i32,
        data: Bytes,
    },
    SequenceEnd {
        fourcc: FourCc,
    },
    /// Metadata (colour info, HDR), an MPEG-2 TS sequence start or a command frame:
    /// nothing Amphi uses.
    Ignored {
        packet_type: u8,
    },
    /// A multitrack message without track 0.
    OtherTrack,
}

#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErtmpError {
    #[error("{what} truncated at byte {offset} of a {len}-byte video message")]
    Truncated {
        what: &'static str,
        offset: usize,
        len: usize,
    },
    #[error("unknown video packet type {packet_type} at byte {offset}")]
    UnknownPacketType { packet_type: u8, offset: usize },
    #[error(
        "unsupported video codec {fourcc} at byte {offset} (Amphi ingests avc1, hvc1 and av01)"
    )]
    UnsupportedFourCc { fourcc: FourCc, offset: usize },
    #[error("{fourcc} sequence start at byte {offset}: {source}")]
    BadRecord {
        fourcc: FourCc,
        offset: usize,
        source: CodecError,
    },
    #[error("{fourcc} access unit: NAL unit at byte {offset} overruns the {len}-byte message")]
    BadNalLength {
        fourcc: FourCc,
        offset: usize,
        len: usize,
    },
    #[error("av01 temporal unit: OBU at byte {offset} overruns the {len}-byte message")]
    BadObu { offset: usize, len: usize },
}

/// A cursor over one message body that reports where it ran out.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], ErtmpError> {
        let s = self
            .pos
            .checked_add(n)
            .and_then(|end| self.data.get(self.pos..end))
            .ok_or(ErtmpError::Truncated {
                what,
                offset: self.pos,
                len: self.data.len(),
            })?;
        self.pos += n;
        Ok(s)
    }
    fn u8(&mut self, what: &'static str) -> Result<u8, ErtmpError> {
        Ok(self.take(1, what)?[0])
    }
    fn u16(&mut self, what: &'static str) -> Result<usize, ErtmpError> {
        let b = self.take(2, what)?;
        Ok(usize::from(u16::from_be_bytes([b[0], b[1]])))
    }
    fn u24(&mut self, what: &'static str) -> Result<usize, ErtmpError> {
        let b = self.take(3, what)?;
        Ok(usize::from(b[0]) << 16 | usize::from(b[1]) << 8 | usize::from(b[2]))
    }
    fn fourcc(&mut self) -> Result<FourCc, ErtmpError> {
        let b = self.take(4, "FourCC")?;
        Ok(FourCc([b[0], b[1], b[2], b[3]]))
    }
}

/// Whether a video message body uses the enhanced header.
pub fn is_enhanced(payload: &[u8]) -> bool {
    payload.first().is_some_and(|b| b & EX_HEADER != 0)
}

/// Parses an enhanced video message body (its first byte has [`EX_HEADER`] set).
pub fn parse_ex_video(payload: &Bytes) -> Result<ExVideoTag, ErtmpError> {
    let mut r = Reader {
        data: payload,
        pos: 0,
    };
    let first = r.u8("video tag header")?;
    let frame_type = (first >> 4) & 0x07;
    let mut packet = first & 0x0F;
    // ModEx prefixes (a nanosecond timestamp offset, …): skipped, each names the next
    // packet type.
    while packet == packet_type::MOD_EX {
        let mut size = usize::from(r.u8("ModEx size")?) + 1;
        if size == 256 {
            size = r.u16("ModEx size")? + 1;
        }
        r.take(size, "ModEx data")?;
        packet = r.u8("ModEx type")? & 0x0F;
    }
    if frame_type == FRAME_COMMAND && packet != packet_type::METADATA {
        return Ok(ExVideoTag::Ignored {
            packet_type: packet,
        });
    }
    if packet != packet_type::MULTITRACK {
        let fourcc_at = r.pos;
        let fourcc = r.fourcc()?;
        let body = payload.slice(r.pos..);
        return track(fourcc, fourcc_at, frame_type, packet, body, r.pos);
    }
    let at = r.pos;
    let types = r.u8("multitrack type")?;
    let multitrack = types >> 4;
    let packet = types & 0x0F;
    if packet == packet_type::MULTITRACK || packet == packet_type::MOD_EX {
        return Err(ErtmpError::UnknownPacketType {
            packet_type: packet,
            offset: at,
        });
    }
    let mut fourcc_at = r.pos;
    let mut fourcc = if multitrack == MANY_TRACKS_MANY_CODECS {
        None
    } else {
        Some(r.fourcc()?)
    };
    while r.pos < payload.len() {
        if multitrack == MANY_TRACKS_MANY_CODECS {
            fourcc_at = r.pos;
            fourcc = Some(r.fourcc()?);
        }
        let track_id = r.u8("track id")?;
        let len = if multitrack == ONE_TRACK {
            payload.len() - r.pos
        } else {
            r.u24("track size")?
        };
        let start = r.pos;
        r.take(len, "track")?;
        if track_id == 0 {
            let fourcc = fourcc.ok_or(ErtmpError::Truncated {
                what: "FourCC",
                offset: fourcc_at,
                len: payload.len(),
            })?;
            let body = payload.slice(start..start + len);
            return track(fourcc, fourcc_at, frame_type, packet, body, start);
        }
        if multitrack == ONE_TRACK {
            break;
        }
    }
    Ok(ExVideoTag::OtherTrack)
}

/// One track's body; `base` is its offset in the message, for errors.
fn track(
    fourcc: FourCc,
    fourcc_at: usize,
    frame_type: u8,
    packet: u8,
    body: Bytes,
    base: usize,
) -> Result<ExVideoTag, ErtmpError> {
    use packet_type::*;
    if matches!(packet, METADATA | MPEG2TS_SEQUENCE_START) {
        return Ok(ExVideoTag::Ignored {
            packet_type: packet,
        });
    }
    if !FourCc::SUPPORTED.contains(&fourcc) {
        return Err(ErtmpError::UnsupportedFourCc {
            fourcc,
            offset: fourcc_at,
        });
    }
    match packet {
        SEQUENCE_START => {
            let checked = match fourcc {
                FourCc::HEVC => hevc::parse_hvcc(&body).map(|_| ()),
                FourCc::AV1 => av1::parse_av1c(&body).map(|_| ()),
                _ => check_avcc(&body),
            };
            checked.map_err(|source| ErtmpError::BadRecord {
                fourcc,
                offset: base,
                source,
            })?;
            Ok(ExVideoTag::SequenceStart {
                fourcc,
                record: body,
            })
        }
        CODED_FRAMES | CODED_FRAMES_X => {
            let (cts, data, at) = if packet == CODED_FRAMES && fourcc != FourCc::AV1 {
                let h = body.get(..3).ok_or(ErtmpError::Truncated {
                    what: "composition time",
                    offset: base,
                    len: base + body.len(),
                })?;
                let cts =
                    (i32::from(h[0]) << 24 | i32::from(h[1]) << 16 | i32::from(h[2]) << 8) >> 8;
                (cts, body.slice(3..), base + 3)
            } else {
                (0, body, base)
            };
            if fourcc == FourCc::AV1 {
                check_obus(&data, at)?;
            } else {
                check_nalus(fourcc, &data, at)?;
            }
            Ok(ExVideoTag::CodedFrames {
                fourcc,
                keyframe: frame_type == 1 || frame_type == 4,
                cts,
                data,
            })
        }
        SEQUENCE_END => Ok(ExVideoTag::SequenceEnd { fourcc }),
        other => Err(ErtmpError::UnknownPacketType {
            packet_type: other,
            offset: 0,
        }),
    }
}

/// An AVCDecoderConfigurationRecord that the session can use: readable SPS, 4-byte
/// NAL lengths.
fn check_avcc(avcc: &[u8]) -> Result<(), CodecError> {
    codec::parse_avcc(avcc)?;
    match avcc.get(4) {
        Some(b) if b & 0x03 == 3 => Ok(()),
        _ => Err(CodecError::BadAvcc(4)),
    }
}

/// 4-byte NAL lengths tile the access unit exactly.
fn check_nalus(fourcc: FourCc, data: &[u8], base: usize) -> Result<(), ErtmpError> {
    super::flv::nal_lengths_tile(data).map_err(|pos| ErtmpError::BadNalLength {
        fourcc,
        offset: base + pos,
        len: base + data.len(),
    })
}

/// OBUs tile the temporal unit exactly: each has a size field, except possibly the last.
fn check_obus(data: &[u8], base: usize) -> Result<(), ErtmpError> {
    let bad = |pos: usize| ErtmpError::BadObu {
        offset: base + pos,
        len: base + data.len(),
    };
    let mut pos = 0;
    while pos < data.len() {
        let header = data[pos];
        if header & 0x80 != 0 {
            return Err(bad(pos)); // forbidden bit
        }
        let mut p = pos + 1 + usize::from(header & 0x04 != 0);
        if header & 0x02 == 0 {
            // No size field: the OBU runs to the end.
            return if p <= data.len() {
                Ok(())
            } else {
                Err(bad(pos))
            };
        }
        let mut size: u64 = 0;
        let mut done = false;
        for i in 0..8 {
            let b = *data.get(p).ok_or(bad(pos))?;
            p += 1;
            size |= u64::from(b & 0x7F) << (7 * i);
            if b & 0x80 == 0 {
                done = true;
                break;
            }
        }
        let end = usize::try_from(size)
            .ok()
            .and_then(|s| p.checked_add(s))
            .filter(|&end| done && end <= data.len())
            .ok_or(bad(pos))?;
        pos = end;
    }
    Ok(())
}

#[cfg(test)]
#[path = "ertmp_tests.rs"]
mod tests;
