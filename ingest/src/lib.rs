//! Amphi ingest: accepts publishers and turns each into one normalised stream of
//! timestamped encoded frames per event ([`frame::SessionMessage`]).
//!
//! Model: protocol logic is sans-IO (bytes and time in, messages and bytes out) in
//! its own modules; the tokio glue that owns sockets is kept apart. Every byte from
//! the network is hostile: parsers are bounded and never panic.

pub mod codec;
mod conn;
pub mod frame;
#[doc(hidden)]
pub mod fuzzing;
pub mod hub;
pub mod limits;
pub mod pii;
pub mod refusals;
pub mod rtmp;
pub mod rtsp;
pub mod srt;
pub mod whip;

#[cfg(test)]
mod test_bytes;

pub use frame::{
    AudioConfig, EncodedFrame, FrameKind, MediaTime, SessionEpoch, SessionMessage, StreamConfig,
    VideoConfig,
};
pub use hub::{
    EventId, Hub, KeyDirectory, Protocol, PublishError, PublishSession, Publisher, Takeover,
};
pub use limits::{SourceLimits, SourceRefusal};
