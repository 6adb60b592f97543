//! A [`WhipSession`] against a real str0m publisher over an in-memory network, on
//! simulated time: ICE, DTLS, SRTP, depacketization and the frame conversion run for
//! real, without sockets.

use super::super::loopback::{Loopback, CLIENT_ADDR};
use super::*;
use crate::frame::{FrameKind, SessionMessage, VideoConfig};
use str0m::format::Codec;
use str0m::media::{MediaKind, MediaTime as RtpTime, Mid};
use str0m::Rtc;

const SPS: &[u8] = &[0x67, 0x42, 0xe0, 0x1f, 0xda, 0x01, 0x40, 0x16, 0xe8];
const PPS: &[u8] = &[0x68, 0xce, 0x3c, 0x80];

fn annex_b(nals: &[&[u8]]) -> Vec<u8> {
    nals.iter()
        .flat_map(|n| [&[0u8, 0, 0, 1][..], n].concat())
        .collect()
}

fn idr() -> Vec<u8> {
    annex_b(&[SPS, PPS, &[0x65, 0x88, 0x84, 0x21, 0x43]])
}

fn p_frame(n: u8) -> Vec<u8> {
    annex_b(&[&[0x41, 0x9a, n, 0x10]])
}

/// The loopback pair with a video and an audio track.
struct Net {
    lo: Loopback,
    video: Mid,
    audio: Mid,
}

impl std::ops::Deref for Net {
    type Target = Loopback;
    fn deref(&self) -> &Loopback {
        &self.lo
    }
}

impl std::ops::DerefMut for Net {
    fn deref_mut(&mut self) -> &mut Loopback {
        &mut self.lo
    }
}

impl Net {
    fn new() -> Net {
        let client = Rtc::builder()
            .clear_codecs()
            .enable_h264(true)
            .enable_opus(true)
            .build();
        let (lo, mids) = Loopback::negotiate(client, &[MediaKind::Video, MediaKind::Audio]);
        Net {
            lo,
            video: mids[0],
            audio: mids[1],
        }
    }

    /// Moves packets both ways until both sides are idle, then advances time by `step`;
    /// the publisher's side never fails.
    fn run(&mut self, step: Duration) {
        self.lo.run(step);
        assert_eq!(self.lo.client_error, None);
    }

    fn connect(&mut self) {
        for _ in 0..200 {
            self.run(Duration::from_millis(10));
            if self.client.is_connected() && self.server.rtc.is_connected() {
                // Let DTLS finish.
                for _ in 0..20 {
                    self.run(Duration::from_millis(10));
                }
                return;
            }
        }
        panic!("no connection");
    }

    fn write(&mut self, mid: Mid, codec: Codec, rtp: RtpTime, data: Vec<u8>) {
        let now = self.now;
        let writer = self.lo.client.writer(mid).expect("writer");
        let pt = writer
            .payload_params()
            .find(|p| p.spec().codec == codec)
            .expect("negotiated")
            .pt();
        writer.write(pt, now, rtp, data).expect("write");
    }

    fn frames(&self) -> Vec<&crate::frame::EncodedFrame> {
        self.messages
            .iter()
            .filter_map(|m| match m {
                SessionMessage::Frame(f) => Some(f),
                _ => None,
            })
            .collect()
    }
}

#[test]
fn keyframe_first_then_config_then_frames() {
    let mut net = Net::new();
    net.connect();
    // Delta frames before any keyframe are held back and a keyframe is requested.
    for n in 0..3u8 {
        let rtp = RtpTime::from_90khz(3000 * u64::from(n));
        net.write(net.video, Codec::H264, rtp, p_frame(n));
        net.write(
            net.audio,
            Codec::Opus,
            RtpTime::new(960 * u64::from(n), str0m::media::Frequency::FORTY_EIGHT_KHZ),
            vec![0xfc, n],
        );
        net.run(Duration::from_millis(33));
    }
    assert!(net.messages.is_empty(), "{:?}", net.messages);
    for _ in 0..20 {
        net.run(Duration::from_millis(50));
    }
    assert!(
        net.keyframe_requests >= 1,
        "no PLI while waiting for a keyframe"
    );
    let requests = net.keyframe_requests;
    assert!(
        requests <= 4,
        "{requests} PLIs in ~1 s (rate limit is 500 ms)"
    );

    // The keyframe: Config with avcC from its SPS/PPS, then the frame (AVCC).
    net.write(net.video, Codec::H264, RtpTime::from_90khz(9000), idr());
    net.run(Duration::from_millis(33));
    net.write(
        net.audio,
        Codec::Opus,
        RtpTime::new(4800, str0m::media::Frequency::FORTY_EIGHT_KHZ),
        vec![0xfc, 9],
    );
    net.run(Duration::from_millis(10));
    net.write(
        net.video,
        Codec::H264,
        RtpTime::from_90khz(12000),
        p_frame(4),
    );
    net.run(Duration::from_millis(33));
    // str0m hands a frame over once the next one starts.
    net.write(
        net.video,
        Codec::H264,
        RtpTime::from_90khz(15000),
        p_frame(5),
    );
    net.run(Duration::from_millis(33));

    let SessionMessage::Config(config) = &net.messages[0] else {
        panic!("first message is not Config: {:?}", net.messages[0]);
    };
    let VideoConfig::H264 { avcc } = &config.video else {
        panic!("H.264 expected: {:?}", config.video);
    };
    assert_eq!(
        &avcc[..],
        &super::super::h264::build_avcc(SPS, PPS).expect("avcc")[..]
    );
    assert_eq!(
        config.audio,
        Some(crate::frame::AudioConfig::Opus { channels: 1 })
    );
    let frames = net.frames();
    assert_eq!(frames.len(), 3, "{:?}", net.messages);
    assert_eq!(frames[0].kind, FrameKind::Video { keyframe: true });
    assert_eq!(frames[0].pts.ticks(), 0);
    // AVCC: 4-byte lengths, parameter sets kept in-band.
    assert_eq!(&frames[0].data[..5], &[0, 0, 0, SPS.len() as u8, 0x67]);
    assert_eq!(frames[1].kind, FrameKind::Audio);
    assert_eq!(&frames[1].data[..], &[0xfc, 9]);
    assert_eq!(frames[2].kind, FrameKind::Video { keyframe: false });
    assert_eq!(frames[2].pts.ticks(), 3000, "video follows its RTP clock");
    assert_eq!(&frames[2].data[..4], &[0, 0, 0, 4]);
}

#[test]
fn no_media_ends_the_session() {
    let mut net = Net::new();
    net.connect();
    net.write(net.video, Codec::H264, RtpTime::from_90khz(0), idr());
    net.run(Duration::from_millis(10));
    net.write(
        net.video,
        Codec::H264,
        RtpTime::from_90khz(3000),
        p_frame(1),
    );
    net.run(Duration::from_millis(10));
    assert!(!net.frames().is_empty());
    let mut waited = Duration::ZERO;
    while net.ended.is_none() && waited < Duration::from_secs(15) {
        net.run(Duration::from_millis(500));
        waited += Duration::from_millis(500);
    }
    assert_eq!(net.ended, Some(EndReason::NoMedia));
    assert!(waited >= Duration::from_secs(9), "ended after {waited:?}");
}

#[test]
fn delete_ends_the_session() {
    let mut net = Net::new();
    net.connect();
    net.server.end(EndReason::Deleted);
    net.run(Duration::from_millis(10));
    assert_eq!(net.ended, Some(EndReason::Deleted));
    assert!(net.server.is_over());
}

#[test]
fn malformed_datagrams_do_not_panic() {
    let mut net = Net::new();
    net.connect();
    let mut hostile = crate::test_bytes::HostileBytes::new(0x2545_f491);
    for len in 0..20_000usize {
        // First bytes chosen to hit every demultiplexing branch (STUN, DTLS, RTP).
        let mut data = hostile.take(len % 400);
        if let Some(b) = data.first_mut() {
            *b = [0x00, 0x01, 0x16, 0x17, 0x80, 0x90, 0xff][len % 7];
        }
        let now = net.now;
        if net.server.accepts(now, CLIENT_ADDR, &data) {
            net.server.handle_input(now, CLIENT_ADDR, &data);
        }
        net.server
            .handle_input(now, "10.9.9.9:1".parse().expect("addr"), &data);
    }
    net.run(Duration::from_millis(10));
    assert!(net.ended.is_none(), "{:?}", net.ended);
}
