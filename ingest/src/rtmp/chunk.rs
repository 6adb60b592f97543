//! The RTMP chunk stream (RTMP spec §5.3): a sans-IO decoder that turns the bytes
//! after the handshake into whole [`Message`]s, and an encoder for what we send.
//!
//! The decoder is incremental (an incomplete chunk is simply left buffered) and
//! bounded: message length, chunk size, the number of chunk streams and the bytes
//! held in partly received messages are all capped before anything is allocated.
//! Set Chunk Size and Abort are chunk-layer concerns and are applied here, then
//! passed on like any other message.

use super::message::{msg_type, Message};
use bytes::{Buf, BufMut, BytesMut};
use std::collections::HashMap;

/// Chunk size both sides start with.
pub const DEFAULT_CHUNK_SIZE: u32 = 128;
/// Largest message we accept (a 1080p keyframe is well under 1 MiB).
pub const MAX_MESSAGE_LEN: u32 = 8 * 1024 * 1024;
/// Largest chunk size we accept from the peer (the protocol allows 0x7FFFFFFF).
pub const MAX_CHUNK_SIZE: u32 = 16 * 1024 * 1024;
/// Most chunk streams a peer may use at once (ffmpeg and OBS use fewer than 8).
pub const MAX_CHUNK_STREAMS: usize = 64;
/// Most bytes held in partly received messages, over all chunk streams.
pub const MAX_PENDING_BYTES: usize = 16 * 1024 * 1024;

const EXTENDED_TIMESTAMP: u32 = 0xFF_FFFF;

#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChunkError {
    #[error(
        "chunk stream {csid}: header type {fmt} with no previous full header (at byte {offset})"
    )]
    NoPreviousHeader { csid: u32, fmt: u8, offset: u64 },
    #[error("chunk stream {csid}: message of {len} bytes exceeds the {limit}-byte limit (at byte {offset})")]
    MessageTooLong {
        csid: u32,
        len: u32,
        limit: u32,
        offset: u64,
    },
    #[error(
        "more than {MAX_CHUNK_STREAMS} chunk streams in use (chunk stream {csid} at byte {offset})"
    )]
    TooManyChunkStreams { csid: u32, offset: u64 },
    #[error("more than {limit} bytes in partly received messages (at byte {offset})")]
    TooMuchPending { limit: usize, offset: u64 },
    #[error("chunk stream {csid}: new message header while a message is {received} of {len} bytes in (at byte {offset})")]
    InterruptedMessage {
        csid: u32,
        received: usize,
        len: u32,
        offset: u64,
    },
    #[error("chunk size {0} refused (must be 1 to {MAX_CHUNK_SIZE})")]
    BadChunkSize(u32),
    #[error("malformed {what} message ({len} bytes)")]
    MalformedControl { what: &'static str, len: usize },
}

/// The header fields a chunk stream remembers for header compression.
#[derive(Debug, Clone, Copy, Default)]
struct Header {
    /// Absolute timestamp of the current (or last) message.
    timestamp: u32,
    /// The last timestamp field: absolute for type 0, a delta for types 1 and 2.
    ts_field: u32,
    /// Whether the last full header used an extended timestamp.
    extended: bool,
    length: u32,
    type_id: u8,
    stream_id: u32,
}

#[derive(Debug, Default)]
struct ChunkStream {
    header: Header,
    /// Payload received so far of a message spread over several chunks.
    partial: Option<BytesMut>,
}

/// Reassembles messages from the peer's chunk stream.
#[derive(Debug)]
pub struct ChunkDecoder {
    buf: BytesMut,
    chunk_size: u32,
    streams: HashMap<u32, ChunkStream>,
    pending: usize,
    /// Caps on one message's length and on the bytes of partly received messages
    /// (lowered until the peer is authenticated, see [`Self::set_limits`]).
    max_message_len: u32,
    max_pending: usize,
    /// Bytes consumed so far (after the handshake), for error offsets.
    offset: u64,
}

impl Default for ChunkDecoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkDecoder {
    pub fn new() -> Self {
        ChunkDecoder {
            buf: BytesMut::new(),
            chunk_size: DEFAULT_CHUNK_SIZE,
            streams: HashMap::new(),
            pending: 0,
            max_message_len: MAX_MESSAGE_LEN,
            max_pending: MAX_PENDING_BYTES,
            offset: 0,
        }
    }

    /// Sets the caps on one message's length and on the bytes held in partly received
    /// messages, clamped to [`MAX_MESSAGE_LEN`] and [`MAX_PENDING_BYTES`]. A server
    /// keeps them small until the peer is authenticated: commands are small, media
    /// comes after `publish`. Lowering them applies to messages not yet started.
    pub fn set_limits(&mut self, max_message_len: u32, max_pending: usize) {
        self.max_message_len = max_message_len.min(MAX_MESSAGE_LEN);
        self.max_pending = max_pending.min(MAX_PENDING_BYTES);
    }

    /// Appends bytes received from the peer.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes buffered but not yet part of a complete chunk.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The peer's current chunk size.
    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    pub fn set_chunk_size(&mut self, size: u32) -> Result<(), ChunkError> {
        if size == 0 || size > MAX_CHUNK_SIZE {
            return Err(ChunkError::BadChunkSize(size));
        }
        self.chunk_size = size;
        Ok(())
    }

    /// Discards the partly received message on a chunk stream (Abort message).
    pub fn abort(&mut self, csid: u32) {
        if let Some(partial) = self.streams.get_mut(&csid).and_then(|s| s.partial.take()) {
            self.pending -= partial.len();
        }
    }

    /// Returns the next complete message, or `Ok(None)` when more bytes are needed.
    /// After an error the decoder's state is unspecified: drop the connection.
    pub fn poll_message(&mut self) -> Result<Option<Message>, ChunkError> {
        loop {
            let Some(step) = self.decode_chunk()? else {
                return Ok(None);
            };
            let Some(msg) = step else { continue };
            match msg.type_id {
                msg_type::SET_CHUNK_SIZE => {
                    let size = msg.payload_u32().ok_or(ChunkError::MalformedControl {
                        what: "Set Chunk Size",
                        len: msg.payload.len(),
                    })?;
                    self.set_chunk_size(size)?;
                }
                msg_type::ABORT => {
                    let csid = msg.payload_u32().ok_or(ChunkError::MalformedControl {
                        what: "Abort",
                        len: msg.payload.len(),
                    })?;
                    self.abort(csid);
                }
                _ => {}
            }
            return Ok(Some(msg));
        }
    }

    /// Decodes one chunk: `None` if incomplete, `Some(None)` if it did not finish a
    /// message, `Some(Some(msg))` if it did.
    fn decode_chunk(&mut self) -> Result<Option<Option<Message>>, ChunkError> {
        let b = &self.buf[..];
        let Some(&first) = b.first() else {
            return Ok(None);
        };
        let fmt = first >> 6;
        let (csid, mut pos) = match first & 0x3F {
            0 => match b.get(1) {
                Some(&x) => (64 + u32::from(x), 2),
                None => return Ok(None),
            },
            1 => match (b.get(1), b.get(2)) {
                (Some(&x), Some(&y)) => (64 + u32::from(x) + 256 * u32::from(y), 3),
                _ => return Ok(None),
            },
            n => (u32::from(n), 1),
        };
        let offset = self.offset;
        let (prev, has_partial, received) = match self.streams.get(&csid) {
            Some(s) => (
                Some(s.header),
                s.partial.is_some(),
                s.partial.as_ref().map_or(0, |p| p.len()),
            ),
            None => (None, false, 0),
        };
        let prev = match prev {
            Some(p) => p,
            None if fmt != 0 => return Err(ChunkError::NoPreviousHeader { csid, fmt, offset }),
            None if self.streams.len() >= MAX_CHUNK_STREAMS => {
                return Err(ChunkError::TooManyChunkStreams { csid, offset })
            }
            None => Header::default(),
        };
        if fmt != 3 && has_partial {
            return Err(ChunkError::InterruptedMessage {
                csid,
                received,
                len: prev.length,
                offset,
            });
        }

        let header_len = [11, 7, 3, 0][usize::from(fmt)];
        let Some(h) = b.get(pos..pos + header_len) else {
            return Ok(None);
        };
        pos += header_len;
        let u24 = |s: &[u8]| u32::from(s[0]) << 16 | u32::from(s[1]) << 8 | u32::from(s[2]);
        let mut header = prev;
        let mut field = prev.ts_field;
        if fmt <= 2 {
            field = u24(&h[0..3]);
            header.extended = field == EXTENDED_TIMESTAMP;
        }
        if fmt <= 1 {
            header.length = u24(&h[3..6]);
            header.type_id = h[6];
        }
        if fmt == 0 {
            header.stream_id = u32::from_le_bytes([h[7], h[8], h[9], h[10]]);
        }
        if fmt <= 2 && header.extended {
            let Some(ext) = b.get(pos..pos + 4) else {
                return Ok(None);
            };
            field = u32::from_be_bytes([ext[0], ext[1], ext[2], ext[3]]);
            pos += 4;
        } else if fmt == 3 && header.extended {
            // The spec wants the extended timestamp repeated on type 3 chunks; some
            // senders omit it. Accept it when present (it repeats the last value).
            let Some(ext) = b.get(pos..pos + 4) else {
                return Ok(None);
            };
            if u32::from_be_bytes([ext[0], ext[1], ext[2], ext[3]]) == prev.ts_field {
                pos += 4;
            }
        }
        if header.length > self.max_message_len {
            return Err(ChunkError::MessageTooLong {
                csid,
                len: header.length,
                limit: self.max_message_len,
                offset,
            });
        }
        let new_message = !has_partial;
        let remaining = header.length as usize - received;
        let chunk_len = remaining.min(self.chunk_size as usize);
        if b.len() < pos + chunk_len {
            return Ok(None);
        }
        if new_message && chunk_len < remaining && self.pending + chunk_len > self.max_pending {
            return Err(ChunkError::TooMuchPending {
                limit: self.max_pending,
                offset,
            });
        }

        // The chunk is complete: commit.
        if new_message {
            header.ts_field = field;
            header.timestamp = match fmt {
                0 => field,
                _ => prev.timestamp.wrapping_add(field),
            };
        }
        self.buf.advance(pos);
        let data = self.buf.split_to(chunk_len);
        self.offset += (pos + chunk_len) as u64;
        let stream = self.streams.entry(csid).or_default();
        stream.header = header;
        let payload = match stream.partial.take() {
            None if chunk_len == remaining => data.freeze(),
            None => {
                self.pending += data.len();
                stream.partial = Some(data);
                return Ok(Some(None));
            }
            Some(mut partial) => {
                if self.pending + data.len() > self.max_pending {
                    return Err(ChunkError::TooMuchPending {
                        limit: self.max_pending,
                        offset,
                    });
                }
                self.pending += data.len();
                partial.unsplit(data);
                if partial.len() < header.length as usize {
                    stream.partial = Some(partial);
                    return Ok(Some(None));
                }
                self.pending -= partial.len();
                partial.freeze()
            }
        };
        Ok(Some(Some(Message {
            type_id: header.type_id,
            stream_id: header.stream_id,
            timestamp: header.timestamp,
            payload,
        })))
    }
}

/// Writes our messages as chunks: a type 0 header, then type 3 continuations.
#[derive(Debug)]
pub struct ChunkEncoder {
    chunk_size: u32,
}

impl Default for ChunkEncoder {
    fn default() -> Self {
        Self::new()
    }
}

impl ChunkEncoder {
    pub fn new() -> Self {
        ChunkEncoder {
            chunk_size: DEFAULT_CHUNK_SIZE,
        }
    }

    pub fn chunk_size(&self) -> u32 {
        self.chunk_size
    }

    /// Changes our outgoing chunk size; call it right after encoding the Set Chunk
    /// Size message that announces it. Clamped to 1..=[`MAX_CHUNK_SIZE`].
    pub fn set_chunk_size(&mut self, size: u32) {
        self.chunk_size = size.clamp(1, MAX_CHUNK_SIZE);
    }

    /// Appends `msg` as chunks on chunk stream `csid` (2 to 65599; others are
    /// clamped). Payloads longer than 2^24-1 bytes are truncated in the header, so
    /// never encode one (we only send commands and control messages).
    pub fn encode(&self, csid: u32, msg: &Message, out: &mut BytesMut) {
        let csid = csid.clamp(2, 65599);
        let extended = msg.timestamp >= EXTENDED_TIMESTAMP;
        let len = msg.payload.len().min(0xFF_FFFF);
        put_basic_header(out, 0, csid);
        out.put_uint(u64::from(msg.timestamp.min(EXTENDED_TIMESTAMP)), 3);
        out.put_uint(len as u64, 3);
        out.put_u8(msg.type_id);
        out.put_u32_le(msg.stream_id);
        if extended {
            out.put_u32(msg.timestamp);
        }
        let mut chunks = msg.payload[..len].chunks(self.chunk_size as usize);
        if let Some(c) = chunks.next() {
            out.put_slice(c);
        }
        for c in chunks {
            put_basic_header(out, 3, csid);
            if extended {
                out.put_u32(msg.timestamp);
            }
            out.put_slice(c);
        }
    }
}

fn put_basic_header(out: &mut BytesMut, fmt: u8, csid: u32) {
    let fmt = fmt << 6;
    match csid {
        2..=63 => out.put_u8(fmt | csid as u8),
        64..=319 => {
            out.put_u8(fmt);
            out.put_u8((csid - 64) as u8);
        }
        _ => {
            out.put_u8(fmt | 1);
            out.put_u16_le((csid - 64) as u16);
        }
    }
}

#[cfg(test)]
#[path = "chunk_tests.rs"]
mod tests;
