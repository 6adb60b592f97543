//! RTP H.264 as the WHIP path receives it: a str0m publisher in RTP mode sends the
//! fuzzer's packets (single NAL units, STAP-A, FU-A, any marker, timestamp and losses)
//! over a real ICE + DTLS + SRTP connection on simulated time; the server's
//! [`WhipSession`](crate::whip::session::WhipSession) depacketizes them (str0m) and turns access units into frames
//! ([`crate::whip::h264`]).

use crate::frame::{FrameKind, SessionMessage, VideoConfig};
use crate::rtmp::flv;
use crate::whip::loopback::Loopback;
use std::time::Duration;
use str0m::media::{MediaKind, Mid, Pt};
use str0m::rtp::{ExtensionValues, SeqNo};
use str0m::Rtc;

/// Packets per input: enough for a few access units in fragments.
const MAX_PACKETS: usize = 64;

/// The loopback pair with one H.264 track sent in RTP mode.
struct Net {
    lo: Loopback,
    video: Mid,
    h264: Pt,
}

impl Net {
    fn new() -> Net {
        let client = Rtc::builder()
            .clear_codecs()
            .enable_h264(true)
            .set_rtp_mode(true)
            .build();
        let (lo, mids) = Loopback::negotiate(client, &[MediaKind::Video]);
        let h264 = lo
            .answer
            .lines()
            .find_map(|l| l.strip_prefix("a=rtpmap:")?.strip_suffix(" H264/90000"))
            .and_then(|pt| pt.parse::<u8>().ok())
            .expect("H.264 answered");
        Net {
            lo,
            video: mids[0],
            h264: Pt::from(h264),
        }
    }
}

/// Input: pieces (see [`super::pieces`]) of `[flags, payload…]`. Flags: bit 0 marker,
/// bit 1 next timestamp (+3000), bit 2 a lost packet before this one, bits 4-7 the
/// milliseconds (×4) to let pass after it. Checks: a configuration (valid avcC) comes
/// before any frame, and every video frame is AVCC whose lengths tile it.
pub fn rtp_h264(data: &[u8]) {
    let mut net = Net::new();
    for _ in 0..100 {
        net.lo.run(Duration::from_millis(10));
        if net.lo.connected {
            break;
        }
    }
    assert!(net.lo.connected, "the publisher connects");
    let mut seq = 1000u64;
    let mut ts = 90_000u32;
    for piece in super::pieces(data).take(MAX_PACKETS) {
        let Some((&flags, payload)) = piece.split_first() else {
            continue;
        };
        if flags & 2 != 0 {
            ts = ts.wrapping_add(3000);
        }
        if flags & 4 != 0 {
            seq += 1;
        }
        let now = net.lo.now;
        if let Some(tx) = net.lo.client.direct_api().stream_tx_by_mid(net.video, None) {
            let _ = tx.write_rtp(
                net.h264,
                SeqNo::from(seq),
                ts,
                now,
                flags & 1 != 0,
                ExtensionValues::default(),
                true,
                payload.to_vec(),
            );
        }
        seq += 1;
        net.lo.run(Duration::from_millis(u64::from(flags >> 4) * 4));
    }
    net.lo.run(Duration::from_millis(50));
    let mut configured = false;
    for m in &net.lo.messages {
        match m {
            SessionMessage::Config(config) => {
                assert!(!configured, "one configuration");
                let VideoConfig::H264 { avcc } = &config.video else {
                    panic!("H.264 expected: {:?}", config.video);
                };
                assert!(flv::validate_avcc(avcc).is_ok(), "avcC refused: {avcc:?}");
                configured = true;
            }
            SessionMessage::Frame(f) => {
                assert!(configured, "frame before the configuration");
                if let FrameKind::Video { .. } = f.kind {
                    let mut pos = 0usize;
                    while pos < f.data.len() {
                        let len = f.data.get(pos..pos + 4).expect("4-byte NAL length");
                        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]);
                        pos += 4 + len as usize;
                    }
                    assert_eq!(pos, f.data.len(), "NAL lengths tile the frame");
                }
            }
        }
    }
}
