//! RTMP ingest: publishers (OBS, ffmpeg) push H.264 (or, with Enhanced RTMP, HEVC or
//! AV1) and AAC over RTMP; each accepted publish becomes one
//! [`crate::PublishSession`] through the [`Hub`].
//!
//! Layers, each sans-IO and unit-tested with byte vectors: [`handshake`], [`chunk`]
//! (chunk stream ↔ [`message::Message`]), [`amf0`] (command encoding), [`flv`] (audio
//! and video tag bodies), [`ertmp`] (Enhanced RTMP video tags: FourCC, packet types),
//! [`session`] (the server's state machine: commands in, replies and media events
//! out). The tokio glue lives in [`io`].

pub mod amf0;
pub mod budget;
pub mod chunk;
pub mod ertmp;
pub mod flv;
pub mod handshake;
mod io;
pub mod message;
pub mod session;

pub use budget::RtmpLimits;

use crate::Hub;
use tokio::net::TcpListener;

/// Accepts RTMP connections forever, each on its own task, with the default limits.
pub async fn serve(listener: TcpListener, hub: Hub) -> std::io::Result<()> {
    io::serve(listener, hub, RtmpLimits::default()).await
}

/// Accepts RTMP connections forever within `limits` (connection counts, deadlines).
pub async fn serve_with_limits(
    listener: TcpListener,
    hub: Hub,
    limits: RtmpLimits,
) -> std::io::Result<()> {
    io::serve(listener, hub, limits).await
}

#[cfg(test)]
pub(crate) mod testutil;

#[cfg(test)]
mod capture_tests;
