//! RTSP pull ingest: Amphi connects to a lecture-hall IP camera (`rtsp://`), takes its
//! H.264 video and AAC audio (or video alone), and publishes them to the event like
//! any other publisher, through the [`Hub`](crate::hub::Hub).
//!
//! Model: the RTSP protocol itself (DESCRIBE/SETUP/PLAY, RTP depacketizing, digest
//! and basic authentication, TCP-interleaved or UDP transport) is `retina`'s. This
//! module keeps the pure decisions apart and unit-tested — [`source`] (the URL and its
//! credentials, never logged), [`timeline`] (RTP times onto the session's 90 kHz
//! clock), [`backoff`] (when to try again) — and the tokio glue in `io.rs`.
//!
//! Invariants: one puller per event; it claims the event only once the camera sends
//! a keyframe, and waits while another publisher (e.g. RTMP) has the event. An
//! encoder that publishes (RTMP, WHIP) takes the event over from the camera at once;
//! the camera never takes over from an encoder, it takes the event again once the
//! encoder leaves. Whatever
//! ends a camera session (refused, unreachable, silent, closed) ends the publish
//! session — the packager shows the gap as a discontinuity — and the puller retries
//! with [`backoff::Backoff`]. Nothing the camera sends can panic the puller.

pub mod backoff;
mod io;
pub mod source;
pub mod timeline;

pub use backoff::Backoff;
pub use io::{run, PullError};
pub use source::{redact_password, Credentials, SourceUrl, SourceUrlError};

use crate::hub::EventId;
use std::fmt;
use std::str::FromStr;

/// How RTP reaches Amphi from the camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Transport {
    /// Interleaved in the RTSP TCP connection: passes firewalls and NAT, no loss.
    #[default]
    Tcp,
    /// Separate UDP ports: for a camera on the same LAN that handles TCP poorly.
    Udp,
}

impl FromStr for Transport {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Ok(Transport::Tcp),
            "udp" => Ok(Transport::Udp),
            other => Err(format!("unknown RTSP transport {other:?}: use tcp or udp")),
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::Tcp => "tcp",
            Transport::Udp => "udp",
        })
    }
}

/// One camera pulled into one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtspSource {
    pub event: EventId,
    pub url: SourceUrl,
    pub transport: Transport,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_names() {
        assert_eq!("tcp".parse::<Transport>(), Ok(Transport::Tcp));
        assert_eq!("UDP".parse::<Transport>(), Ok(Transport::Udp));
        assert!("sctp".parse::<Transport>().is_err());
        assert_eq!(Transport::default().to_string(), "tcp");
    }
}
