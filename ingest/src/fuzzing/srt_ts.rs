//! SRT media path: a transport stream, arriving in arbitrary reads, through the TS
//! demuxer and the media assembler.

use super::pieces;
use crate::frame::{FrameKind, SessionMessage};
use crate::srt::media::MediaAssembler;
use crate::srt::ts::TsDemuxer;

/// Invariants: no panic; one configuration, before any frame; video payloads are AVCC
/// whose length prefixes cover the payload exactly.
pub fn srt_ts(data: &[u8]) {
    let mut demux = TsDemuxer::new();
    let mut media = MediaAssembler::new();
    let mut configured = false;
    let mut check = |m: SessionMessage| match m {
        SessionMessage::Config(_) => {
            assert!(!configured, "a second configuration");
            configured = true;
        }
        SessionMessage::Frame(f) => {
            assert!(configured, "a frame before the configuration");
            if let FrameKind::Video { .. } = f.kind {
                let mut rest = &f.data[..];
                while !rest.is_empty() {
                    assert!(rest.len() >= 4, "a truncated length prefix");
                    let n = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
                    assert!(rest.len() >= 4 + n, "a length beyond the payload");
                    rest = &rest[4 + n..];
                }
            }
        }
    };
    for piece in pieces(data) {
        if demux.handle_input(piece).is_err() {
            return;
        }
        while let Some(e) = demux.poll_event() {
            if media.handle_event(e).is_err() {
                return;
            }
            while let Some(m) = media.poll_message() {
                check(m);
            }
        }
    }
}
