//! RTP H.264 as the WHIP path receives it: a str0m publisher in RTP mode sends the
//! fuzzer's packets (single NAL units, STAP-A, FU-A, any marker, timestamp and losses)
//! over a real ICE + DTLS + SRTP connection on simulated time; the server's
//! [`WhipSession`] depacketizes them (str0m) and turns access units into frames
//! ([`crate::whip::h264`]).

use crate::frame::{FrameKind, SessionMessage, VideoConfig};
use crate::rtmp::flv;
use crate::whip::session::{SessionOutput, WhipSession};
use crate::whip::signal;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use str0m::media::{Direction, MediaKind, Mid, Pt};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{ExtensionValues, SeqNo};
use str0m::{Candidate, Event, Input, Output, Rtc};

/// Packets per input: enough for a few access units in fragments.
const MAX_PACKETS: usize = 64;

struct Net {
    now: Instant,
    client: Rtc,
    client_addr: SocketAddr,
    server: WhipSession,
    server_addr: SocketAddr,
    video: Mid,
    h264: Pt,
    connected: bool,
    messages: Vec<SessionMessage>,
}

impl Net {
    fn new() -> Net {
        let now = Instant::now();
        let client_addr = SocketAddr::from(([10, 0, 0, 1], 5000));
        let server_addr = SocketAddr::from(([10, 0, 0, 2], 8189));
        let mut client = Rtc::builder()
            .clear_codecs()
            .enable_h264(true)
            .set_rtp_mode(true)
            .build();
        let candidate = Candidate::host(client_addr, "udp").expect("host candidate");
        client.add_local_candidate(candidate);
        let mut api = client.sdp_api();
        let video = api.add_media(MediaKind::Video, Direction::SendOnly, None, None, None);
        let (offer, pending) = api.apply().expect("an offer");
        let offer = offer.to_sdp_string();
        let (_, summary) = signal::inspect_offer(offer.as_bytes()).expect("valid offer");
        let accepted = WhipSession::accept(&offer, summary.opus_channels, server_addr, now)
            .expect("offer accepted");
        let h264 = accepted
            .answer
            .lines()
            .find_map(|l| l.strip_prefix("a=rtpmap:")?.strip_suffix(" H264/90000"))
            .and_then(|pt| pt.parse::<u8>().ok())
            .expect("H.264 answered");
        let answer =
            str0m::change::SdpAnswer::from_sdp_string(&accepted.answer).expect("answer parses");
        client
            .sdp_api()
            .accept_answer(pending, answer)
            .expect("answer accepted");
        Net {
            now,
            client,
            client_addr,
            server: accepted.session,
            server_addr,
            video,
            h264: Pt::from(h264),
            connected: false,
            messages: Vec::new(),
        }
    }

    /// Moves datagrams both ways until both sides are idle, then advances time.
    fn run(&mut self, step: Duration) {
        for _ in 0..1000 {
            let mut moved = false;
            while let Ok(out) = self.client.poll_output() {
                match out {
                    Output::Transmit(t) => {
                        let data: Vec<u8> = t.contents.into();
                        if self.server.accepts(self.now, self.client_addr, &data) {
                            self.server.handle_input(self.now, self.client_addr, &data);
                        }
                        moved = true;
                    }
                    Output::Event(Event::Connected) => self.connected = true,
                    Output::Event(_) => {}
                    Output::Timeout(_) => break,
                }
            }
            loop {
                match self.server.poll_output(self.now) {
                    SessionOutput::Transmit { data, .. } => {
                        if let Ok(r) =
                            Receive::new(Protocol::Udp, self.server_addr, self.client_addr, &data)
                        {
                            let _ = self.client.handle_input(Input::Receive(self.now, r));
                        }
                        moved = true;
                    }
                    SessionOutput::Message(m) => self.messages.push(m),
                    SessionOutput::Timeout(_) | SessionOutput::Ended(_) => break,
                }
            }
            if !moved {
                break;
            }
        }
        self.now += step;
        let _ = self.client.handle_input(Input::Timeout(self.now));
        self.server.handle_timeout(self.now);
    }
}

/// Input: pieces (see [`super::pieces`]) of `[flags, payload…]`. Flags: bit 0 marker,
/// bit 1 next timestamp (+3000), bit 2 a lost packet before this one, bits 4-7 the
/// milliseconds (×4) to let pass after it. Checks: a configuration (valid avcC) comes
/// before any frame, and every video frame is AVCC whose lengths tile it.
pub fn rtp_h264(data: &[u8]) {
    let mut net = Net::new();
    for _ in 0..100 {
        net.run(Duration::from_millis(10));
        if net.connected {
            break;
        }
    }
    assert!(net.connected, "the publisher connects");
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
        let now = net.now;
        if let Some(tx) = net.client.direct_api().stream_tx_by_mid(net.video, None) {
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
        net.run(Duration::from_millis(u64::from(flags >> 4) * 4));
    }
    net.run(Duration::from_millis(50));
    let mut configured = false;
    for m in &net.messages {
        match m {
            SessionMessage::Config(config) => {
                assert!(!configured, "one configuration");
                let VideoConfig::H264 { avcc } = &config.video;
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
