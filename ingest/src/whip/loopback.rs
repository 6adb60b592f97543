//! A [`WhipSession`] and a real str0m publisher joined by an in-memory network on
//! simulated time: ICE, DTLS, SRTP and depacketization run for real, without sockets.
//! Shared by the session tests and the RTP fuzz target.

use super::session::{EndReason, SessionOutput, WhipSession};
use super::signal;
use crate::frame::SessionMessage;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use str0m::media::{Direction, MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc};

/// The publisher's address on the simulated network.
pub const CLIENT_ADDR: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)),
    5000,
);
/// The server's address on the simulated network.
pub const SERVER_ADDR: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2)),
    8189,
);

pub struct Loopback {
    pub now: Instant,
    pub client: Rtc,
    pub server: WhipSession,
    /// The server's SDP answer.
    pub answer: String,
    /// What the session emitted, in order.
    pub messages: Vec<SessionMessage>,
    pub ended: Option<EndReason>,
    pub keyframe_requests: usize,
    /// The publisher saw ICE connect.
    pub connected: bool,
    /// The first error of the publisher's side or of the network, if any.
    pub client_error: Option<String>,
}

impl Loopback {
    /// Offers one send-only media per `kinds` from `client` (with a host candidate on
    /// [`CLIENT_ADDR`]) and applies the server's answer; returns the media ids in order.
    pub fn negotiate(mut client: Rtc, kinds: &[MediaKind]) -> (Loopback, Vec<Mid>) {
        let now = Instant::now();
        client.add_local_candidate(Candidate::host(CLIENT_ADDR, "udp").expect("host candidate"));
        let mut api = client.sdp_api();
        let mids = kinds
            .iter()
            .map(|&kind| api.add_media(kind, Direction::SendOnly, None, None, None))
            .collect();
        let (offer, pending) = api.apply().expect("an offer");
        let offer = offer.to_sdp_string();
        let (_, summary) = signal::inspect_offer(offer.as_bytes()).expect("valid offer");
        let accepted = WhipSession::accept(&offer, summary.opus_channels, SERVER_ADDR, now)
            .expect("offer accepted");
        let answer =
            str0m::change::SdpAnswer::from_sdp_string(&accepted.answer).expect("answer parses");
        client
            .sdp_api()
            .accept_answer(pending, answer)
            .expect("answer accepted");
        let net = Loopback {
            now,
            client,
            server: accepted.session,
            answer: accepted.answer,
            messages: Vec::new(),
            ended: None,
            keyframe_requests: 0,
            connected: false,
            client_error: None,
        };
        (net, mids)
    }

    fn client_failed(&mut self, what: &str, e: impl std::fmt::Display) {
        self.client_error
            .get_or_insert_with(|| format!("{what}: {e}"));
    }

    /// Moves datagrams both ways until both sides are idle, then advances time by `step`.
    pub fn run(&mut self, step: Duration) {
        for _ in 0..10_000 {
            let mut moved = false;
            loop {
                match self.client.poll_output() {
                    Ok(Output::Transmit(t)) => {
                        let data: Vec<u8> = t.contents.into();
                        if self.server.accepts(self.now, CLIENT_ADDR, &data) {
                            self.server.handle_input(self.now, CLIENT_ADDR, &data);
                        }
                        moved = true;
                    }
                    Ok(Output::Event(Event::Connected)) => self.connected = true,
                    Ok(Output::Event(Event::KeyframeRequest(_))) => self.keyframe_requests += 1,
                    Ok(Output::Event(_)) => {}
                    Ok(Output::Timeout(_)) => break,
                    Err(e) => {
                        self.client_failed("client poll", e);
                        break;
                    }
                }
            }
            loop {
                match self.server.poll_output(self.now) {
                    SessionOutput::Transmit { destination, data } => {
                        assert_eq!(destination, CLIENT_ADDR, "the session answers its peer");
                        match Receive::new(Protocol::Udp, SERVER_ADDR, CLIENT_ADDR, &data) {
                            Ok(r) => {
                                if let Err(e) =
                                    self.client.handle_input(Input::Receive(self.now, r))
                                {
                                    self.client_failed("client input", e);
                                }
                            }
                            Err(e) => self.client_failed("datagram", e),
                        }
                        moved = true;
                    }
                    SessionOutput::Message(m) => self.messages.push(m),
                    SessionOutput::Timeout(_) => break,
                    SessionOutput::Ended(r) => {
                        self.ended = Some(r);
                        break;
                    }
                }
            }
            if !moved {
                break;
            }
        }
        self.now += step;
        if let Err(e) = self.client.handle_input(Input::Timeout(self.now)) {
            self.client_failed("client timeout", e);
        }
        self.server.handle_timeout(self.now);
    }
}
