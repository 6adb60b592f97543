//! SRT ingest: encoders (OBS, vMix, ffmpeg, GStreamer, hardware encoders) push an MPEG
//! transport stream with H.264 and AAC over SRT, in caller mode, to one listener port.
//!
//! Each caller's `streamid` names the event and carries its stream key
//! ([`streamid`]); the hub decides from it before the connection is accepted, so a
//! wrong key, an event with a live publisher that may not be taken over, or a full
//! server is refused in the SRT handshake and no media ever flows. A passphrase
//! (global, or per event) encrypts the link when set; callers without it are refused.
//!
//! Layers: [`ts`] demultiplexes the transport stream (sans-IO, bounded), [`adts`]
//! splits AAC frames, [`media`] turns the program into the normalised
//! [`crate::frame::SessionMessage`]s (sans-IO). The SRT protocol itself (handshake,
//! retransmission, latency buffer, encryption) is the `srt-tokio` crate, driven by the
//! thin glue in [`io`], which applies the RTMP listener's connection budget
//! ([`crate::rtmp::budget`]): connection cap, a deadline to start publishing, idle
//! time and a least byte rate.

pub mod adts;
mod io;
pub mod media;
pub mod streamid;
pub mod ts;

use crate::hub::{EventId, Hub};
use crate::rtmp::budget::RtmpLimits;
use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::time::Duration;

/// Default receive latency: time SRT has to recover lost packets before a frame is
/// given up. 200 ms rides out 2 % loss on a continental link; raise it for far peers.
pub const DEFAULT_LATENCY: Duration = Duration::from_millis(200);
/// Time from the handshake to the first frame handed to the packager (a keyframe
/// must come: encoders send one at least every few seconds).
pub const DEFAULT_ESTABLISH: Duration = Duration::from_secs(12);
/// Shortest and longest passphrase SRT allows.
pub const PASSPHRASE_LEN: std::ops::RangeInclusive<usize> = 10..=79;

/// Settings of the SRT listener.
#[derive(Clone)]
pub struct SrtSettings {
    pub latency: Duration,
    /// Passphrase every caller must use, unless its event has its own.
    pub passphrase: Option<String>,
    /// Passphrases of single events (they win over the global one).
    pub event_passphrases: HashMap<EventId, String>,
    /// Connection budget (cap, publish deadline, idle time, least rate).
    pub limits: RtmpLimits,
}

impl Default for SrtSettings {
    fn default() -> Self {
        SrtSettings {
            latency: DEFAULT_LATENCY,
            passphrase: None,
            event_passphrases: HashMap::new(),
            limits: RtmpLimits {
                establish: DEFAULT_ESTABLISH,
                ..RtmpLimits::default()
            },
        }
    }
}

impl fmt::Debug for SrtSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SrtSettings")
            .field("latency", &self.latency)
            .field("passphrase", &self.passphrase.as_ref().map(|_| "…"))
            .field(
                "event_passphrases",
                &self.event_passphrases.keys().collect::<Vec<_>>(),
            )
            .field("limits", &self.limits)
            .finish()
    }
}

#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum SrtSetupError {
    #[error("SRT passphrase{which} must be 10 to 79 characters")]
    Passphrase { which: String },
    #[error("binding SRT on {addr}: {error}")]
    Bind {
        addr: SocketAddr,
        error: std::io::Error,
    },
}

impl SrtSettings {
    fn validate(&self) -> Result<(), SrtSetupError> {
        let bad = |p: &String| !PASSPHRASE_LEN.contains(&p.chars().count());
        if self.passphrase.as_ref().is_some_and(bad) {
            return Err(SrtSetupError::Passphrase { which: "".into() });
        }
        if let Some((event, _)) = self.event_passphrases.iter().find(|(_, p)| bad(p)) {
            return Err(SrtSetupError::Passphrase {
                which: format!(" of event {event}"),
            });
        }
        Ok(())
    }
}

/// A bound SRT listener, not yet accepting.
pub struct SrtServer {
    socket: tokio::net::UdpSocket,
    settings: SrtSettings,
}

impl SrtServer {
    /// Binds the UDP port (fails at once if it is taken or a passphrase is invalid).
    pub async fn bind(addr: SocketAddr, settings: SrtSettings) -> Result<Self, SrtSetupError> {
        settings.validate()?;
        let socket = tokio::net::UdpSocket::bind(addr)
            .await
            .map_err(|error| SrtSetupError::Bind { addr, error })?;
        Ok(SrtServer { socket, settings })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Accepts callers forever, each on its own task.
    pub async fn serve(self, hub: Hub) -> std::io::Result<()> {
        io::serve(self.socket, hub, self.settings).await
    }
}

#[cfg(test)]
mod ts_capture_tests;
