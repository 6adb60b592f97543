//! WHIP ingest (RFC 9725): OBS 30+ and browsers publish H.264 + Opus over WebRTC.
//!
//! Model, as for RTMP: the protocol logic is sans-IO and synchronous —
//! [`signal`] checks tokens, content types and SDP offers; [`session`] wraps one
//! str0m `Rtc` per publisher and turns its depacketized media into the normalised
//! [`crate::frame::SessionMessage`] stream ([`h264`] converts Annex B to AVCC and
//! builds `avcC`, [`timing`] maps RTP time to the 90 kHz media clock). [`io`] is the
//! thin tokio edge: one UDP socket shared by every session, datagrams routed with
//! `Rtc::accepts`, and one task per session feeding the hub [`crate::hub::Publisher`].
//!
//! The HTTP routes live in the binary; they call [`WhipServer::publish`] and
//! [`WhipServer::end`]. Signalling is non-trickle: the answer carries the server's
//! one host candidate, and `PATCH` is refused.

pub mod h264;
pub mod io;
#[doc(hidden)]
pub mod loopback;
pub mod session;
pub mod signal;
pub mod timing;

pub use io::{WhipAnswer, WhipServer};
pub use session::{EndReason, MEDIA_TIMEOUT, PLI_INTERVAL};
pub use signal::{WhipError, MAX_OFFER_BYTES, SDP_CONTENT_TYPE};

#[cfg(test)]
mod capture_tests;
