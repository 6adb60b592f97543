//! MPEG transport stream (ISO 13818-1) demultiplexer, sans-IO: bytes in, the program's
//! elementary streams and their PES packets out.
//!
//! Scope: what an encoder's SRT output carries — one program (the first in the PAT),
//! its PMT, and PES packets of the streams it lists. Sections and PES packets are
//! reassembled across TS packets with bounded buffers ([`MAX_SECTION`], [`MAX_PES`]);
//! a continuity-counter gap (a packet SRT gave up on) drops the PES packet in progress
//! and is reported, never fatal. Only input that is not a transport stream at all ends
//! the demuxer, with the byte offset where sync was lost.

use bytes::Bytes;
use std::collections::VecDeque;

/// Size of one transport stream packet.
pub const TS_PACKET: usize = 188;
const SYNC: u8 = 0x47;
const PAT_PID: u16 = 0;
const NULL_PID: u16 = 0x1fff;
/// Largest PSI section (PAT, PMT): ISO 13818-1 caps them at 1024 bytes.
pub const MAX_SECTION: usize = 1024;
/// Largest PES packet reassembled: a video access unit larger than this is dropped.
pub const MAX_PES: usize = crate::whip::h264::MAX_ACCESS_UNIT + 64;
/// Most elementary streams followed in the program.
pub const MAX_STREAMS: usize = 8;
/// Bytes scanned for a sync byte before the input is declared not a transport stream.
pub const MAX_RESYNC: usize = 8 * TS_PACKET;

/// PMT stream types this crate names.
pub const STREAM_MPEG1_VIDEO: u8 = 0x01;
pub const STREAM_MPEG2_VIDEO: u8 = 0x02;
pub const STREAM_AAC_ADTS: u8 = 0x0f;
pub const STREAM_MPEG4_VIDEO: u8 = 0x10;
pub const STREAM_AAC_LATM: u8 = 0x11;
pub const STREAM_H264: u8 = 0x1b;
pub const STREAM_HEVC: u8 = 0x24;

#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TsError {
    #[error("not an MPEG transport stream: no sync byte in {skipped} bytes before byte {at}")]
    LostSync { at: u64, skipped: usize },
}

/// One elementary stream of the program, as the PMT lists it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EsInfo {
    pub pid: u16,
    pub stream_type: u8,
}

/// A complete PES packet's payload with its timestamps (90 kHz, 33 bits, as sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pes {
    pub pid: u16,
    pub stream_type: u8,
    pub pts: Option<u64>,
    pub dts: Option<u64>,
    pub data: Bytes,
    /// Offset in the input of the TS packet that started it.
    pub at: u64,
}

/// Why data was dropped (reported, not fatal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// A continuity counter gap: packets were lost.
    Discontinuity,
    /// The PES packet exceeded [`MAX_PES`].
    TooLarge,
    /// The PES header could not be read.
    BadPesHeader,
    /// A PSI section was malformed or failed its CRC.
    BadSection,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TsEvent {
    /// The program's elementary streams (first PMT, and each time it changes).
    Program(Vec<EsInfo>),
    Pes(Pes),
    Dropped {
        pid: u16,
        at: u64,
        reason: DropReason,
    },
}

/// Reassembly state of one PID.
#[derive(Debug, Default)]
struct Assembly {
    buf: Vec<u8>,
    /// Whether a unit is in progress (its start was seen and nothing was lost).
    open: bool,
    last_cc: Option<u8>,
    at: u64,
}

impl Assembly {
    /// Checks the continuity counter of a packet with payload. `Ok(false)` means a
    /// duplicate packet to ignore; `Err` a gap.
    fn continuity(&mut self, cc: u8) -> Result<bool, ()> {
        let prev = self.last_cc.replace(cc);
        match prev {
            Some(p) if p == cc => Ok(false),
            Some(p) if (p + 1) & 0x0f != cc => Err(()),
            _ => Ok(true),
        }
    }
}

#[derive(Debug)]
struct Stream {
    info: EsInfo,
    asm: Assembly,
}

/// The demultiplexer of one transport stream.
#[derive(Debug, Default)]
pub struct TsDemuxer {
    /// Bytes of an incomplete TS packet (fewer than [`TS_PACKET`]).
    partial: Vec<u8>,
    /// Offset of the next input byte.
    offset: u64,
    /// Bytes skipped looking for sync since the last good packet.
    skipped: usize,
    pat: Assembly,
    pmt_pid: Option<u16>,
    pmt: Assembly,
    program: Vec<EsInfo>,
    streams: Vec<Stream>,
    events: VecDeque<TsEvent>,
}

impl TsDemuxer {
    pub fn new() -> Self {
        TsDemuxer::default()
    }

    /// The program's streams, once a PMT was read.
    pub fn program(&self) -> &[EsInfo] {
        &self.program
    }

    /// Feeds bytes (any split: SRT carries seven packets per message).
    pub fn handle_input(&mut self, mut data: &[u8]) -> Result<(), TsError> {
        if !self.partial.is_empty() {
            let need = TS_PACKET - self.partial.len();
            let take = need.min(data.len());
            self.partial.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.partial.len() < TS_PACKET {
                return Ok(());
            }
            let packet = std::mem::take(&mut self.partial);
            let at = self.offset;
            self.offset += TS_PACKET as u64;
            self.packet(&packet, at);
        }
        while !data.is_empty() {
            if data[0] != SYNC {
                let skip = data.iter().position(|&b| b == SYNC).unwrap_or(data.len());
                self.skipped += skip;
                self.offset += skip as u64;
                data = &data[skip..];
                if self.skipped > MAX_RESYNC {
                    return Err(TsError::LostSync {
                        at: self.offset,
                        skipped: self.skipped,
                    });
                }
                continue;
            }
            if data.len() < TS_PACKET {
                self.partial.extend_from_slice(data);
                return Ok(());
            }
            let at = self.offset;
            self.offset += TS_PACKET as u64;
            self.skipped = 0;
            let (packet, rest) = data.split_at(TS_PACKET);
            self.packet(packet, at);
            data = rest;
        }
        Ok(())
    }

    /// The next event, if any. Call until `None` after each [`Self::handle_input`].
    pub fn poll_event(&mut self) -> Option<TsEvent> {
        self.events.pop_front()
    }

    /// Flushes PES packets whose end is only known from the next one's start (the
    /// publisher is gone).
    pub fn finish(&mut self) {
        for i in 0..self.streams.len() {
            self.complete(i);
        }
    }

    fn packet(&mut self, p: &[u8], at: u64) {
        let error = p[1] & 0x80 != 0;
        let start = p[1] & 0x40 != 0;
        let pid = (u16::from(p[1] & 0x1f) << 8) | u16::from(p[2]);
        let scrambled = p[3] & 0xc0 != 0;
        let afc = (p[3] >> 4) & 0x03;
        let cc = p[3] & 0x0f;
        if error || scrambled || pid == NULL_PID {
            return;
        }
        let mut pos = 4usize;
        if afc & 0x02 != 0 {
            pos += 1 + usize::from(p[4]);
        }
        let has_payload = afc & 0x01 != 0;
        if !has_payload || pos > TS_PACKET {
            return;
        }
        let payload = &p[pos..];
        if pid == PAT_PID {
            if let Some(section) = section(&mut self.pat, start, cc, payload, at) {
                self.on_pat(&section, at);
            }
        } else if Some(pid) == self.pmt_pid {
            if let Some(section) = section(&mut self.pmt, start, cc, payload, at) {
                self.on_pmt(&section, at);
            }
        } else if let Some(i) = self.streams.iter().position(|s| s.info.pid == pid) {
            self.pes_payload(i, start, cc, payload, at);
        }
    }

    fn on_pat(&mut self, s: &[u8], at: u64) {
        let Some(body) = section_body(s, 0x00) else {
            return self.dropped(PAT_PID, at, DropReason::BadSection);
        };
        let program = body
            .chunks_exact(4)
            .map(|e| {
                let number = u16::from_be_bytes([e[0], e[1]]);
                let pid = (u16::from(e[2] & 0x1f) << 8) | u16::from(e[3]);
                (number, pid)
            })
            .find(|&(number, _)| number != 0);
        if let Some((_, pid)) = program {
            if self.pmt_pid != Some(pid) {
                self.pmt_pid = Some(pid);
                self.pmt = Assembly::default();
            }
        }
    }

    fn on_pmt(&mut self, s: &[u8], at: u64) {
        let pid = self.pmt_pid.unwrap_or(NULL_PID);
        let Some(body) = section_body(s, 0x02) else {
            return self.dropped(pid, at, DropReason::BadSection);
        };
        if body.len() < 4 {
            return self.dropped(pid, at, DropReason::BadSection);
        }
        let info_len = usize::from(u16::from_be_bytes([body[2], body[3]]) & 0x0fff);
        let mut rest = body.get(4 + info_len..).unwrap_or(&[]);
        let mut program = Vec::new();
        while rest.len() >= 5 && program.len() < MAX_STREAMS {
            let stream_type = rest[0];
            let es_pid = (u16::from(rest[1] & 0x1f) << 8) | u16::from(rest[2]);
            let es_info = usize::from(u16::from_be_bytes([rest[3], rest[4]]) & 0x0fff);
            program.push(EsInfo {
                pid: es_pid,
                stream_type,
            });
            rest = rest.get(5 + es_info..).unwrap_or(&[]);
        }
        if program == self.program {
            return;
        }
        self.program = program.clone();
        self.streams = program
            .iter()
            .map(|&info| Stream {
                info,
                asm: Assembly::default(),
            })
            .collect();
        self.events.push_back(TsEvent::Program(program));
    }

    fn pes_payload(&mut self, i: usize, start: bool, cc: u8, payload: &[u8], at: u64) {
        let pid = self.streams[i].info.pid;
        match self.streams[i].asm.continuity(cc) {
            Ok(false) => return,
            Ok(true) => {}
            Err(()) => {
                let asm = &mut self.streams[i].asm;
                if asm.open {
                    asm.open = false;
                    asm.buf.clear();
                    self.dropped(pid, at, DropReason::Discontinuity);
                }
            }
        }
        if start {
            self.complete(i);
            let asm = &mut self.streams[i].asm;
            asm.open = true;
            asm.at = at;
            asm.buf.clear();
        }
        let asm = &mut self.streams[i].asm;
        if !asm.open {
            return;
        }
        if asm.buf.len() + payload.len() > MAX_PES {
            asm.open = false;
            asm.buf = Vec::new();
            return self.dropped(pid, at, DropReason::TooLarge);
        }
        asm.buf.extend_from_slice(payload);
        // A PES packet with a declared length completes without waiting for the next.
        if asm.buf.len() >= 6 {
            let declared = usize::from(u16::from_be_bytes([asm.buf[4], asm.buf[5]]));
            if declared != 0 && asm.buf.len() >= 6 + declared {
                asm.buf.truncate(6 + declared);
                self.complete(i);
            }
        }
    }

    /// Emits stream `i`'s PES packet in progress, if any.
    fn complete(&mut self, i: usize) {
        let Stream { info, asm } = &mut self.streams[i];
        if !asm.open {
            return;
        }
        asm.open = false;
        let (pid, stream_type, at) = (info.pid, info.stream_type, asm.at);
        let buf = std::mem::take(&mut asm.buf);
        match parse_pes(&buf) {
            Some((pts, dts, header)) => {
                let mut data = Bytes::from(buf);
                let data = data.split_off(header);
                self.events.push_back(TsEvent::Pes(Pes {
                    pid,
                    stream_type,
                    pts,
                    dts,
                    data,
                    at,
                }));
            }
            None => self.dropped(pid, at, DropReason::BadPesHeader),
        }
    }

    fn dropped(&mut self, pid: u16, at: u64, reason: DropReason) {
        self.events.push_back(TsEvent::Dropped { pid, at, reason });
    }
}

/// Reassembles a PSI section; returns it once complete.
fn section(asm: &mut Assembly, start: bool, cc: u8, payload: &[u8], at: u64) -> Option<Vec<u8>> {
    if asm.continuity(cc) == Ok(false) {
        return None;
    }
    if start {
        let pointer = usize::from(*payload.first()?);
        asm.buf.clear();
        asm.buf.extend_from_slice(payload.get(1 + pointer..)?);
        asm.open = true;
        asm.at = at;
    } else if asm.open {
        if asm.buf.len() + payload.len() > MAX_SECTION + TS_PACKET {
            asm.open = false;
            return None;
        }
        asm.buf.extend_from_slice(payload);
    } else {
        return None;
    }
    if asm.buf.len() < 3 {
        return None;
    }
    let len = 3 + usize::from(u16::from_be_bytes([asm.buf[1], asm.buf[2]]) & 0x0fff);
    if len > MAX_SECTION {
        asm.open = false;
        return None;
    }
    if asm.buf.len() < len {
        return None;
    }
    asm.open = false;
    Some(asm.buf[..len].to_vec())
}

/// The body of a long-form section of `table_id` (after its 8-byte header, before its
/// CRC), if its CRC holds.
fn section_body(s: &[u8], table_id: u8) -> Option<&[u8]> {
    if s.len() < 12 || s[0] != table_id || s[1] & 0x80 == 0 || crc32_mpeg2(s) != 0 {
        return None;
    }
    Some(&s[8..s.len() - 4])
}

/// CRC-32/MPEG-2 (polynomial 0x04C11DB7, no reflection); 0 over a section with its CRC.
pub fn crc32_mpeg2(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= u32::from(b) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04c1_1db7
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// Reads a PES header: (PTS, DTS, header length).
fn parse_pes(b: &[u8]) -> Option<(Option<u64>, Option<u64>, usize)> {
    if b.len() < 9 || b[0..3] != [0, 0, 1] || b[6] & 0xc0 != 0x80 {
        return None;
    }
    let flags = b[7] >> 6;
    let header = 9 + usize::from(b[8]);
    if header > b.len() {
        return None;
    }
    let pts = if flags & 0x02 != 0 {
        Some(timestamp(b.get(9..14)?)?)
    } else {
        None
    };
    let dts = if flags == 0x03 {
        Some(timestamp(b.get(14..19)?)?)
    } else {
        None
    };
    Some((pts, dts, header))
}

/// A 33-bit PES timestamp from its 5 bytes (with marker bits).
fn timestamp(t: &[u8]) -> Option<u64> {
    if t.len() < 5 || t[0] & 1 == 0 || t[2] & 1 == 0 || t[4] & 1 == 0 {
        return None;
    }
    Some(
        (u64::from((t[0] >> 1) & 0x07) << 30)
            | (u64::from(t[1]) << 22)
            | (u64::from(t[2] >> 1) << 15)
            | (u64::from(t[3]) << 7)
            | u64::from(t[4] >> 1),
    )
}

#[cfg(test)]
#[path = "ts_tests.rs"]
mod tests;
