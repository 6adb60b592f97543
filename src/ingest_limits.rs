//! Publisher-side limits of `amphi serve`: what a source may send (picture size, frame
//! rate, bitrate) and what an RTMP connection may cost (connection counts, deadlines).
//! The defaults are `amphi_ingest`'s named constants.

use amphi_ingest::limits::{
    SourceLimits, DEFAULT_MAX_BITRATE, DEFAULT_MAX_FPS, DEFAULT_MAX_HEIGHT, DEFAULT_MAX_WIDTH,
};
use amphi_ingest::rtmp::budget::{
    RtmpLimits, DEFAULT_ESTABLISH, DEFAULT_IDLE, DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MAX_UNAUTHENTICATED, DEFAULT_MIN_RATE,
};
use std::time::Duration;

#[derive(clap::Args, Debug, Clone)]
pub struct IngestLimitArgs {
    /// Largest source picture width (a portrait picture may swap width and height).
    #[arg(long, default_value_t = DEFAULT_MAX_WIDTH)]
    pub max_source_width: u32,
    /// Largest source picture height.
    #[arg(long, default_value_t = DEFAULT_MAX_HEIGHT)]
    pub max_source_height: u32,
    /// Highest source frame rate (measured on the source's timestamps).
    #[arg(long, default_value_t = DEFAULT_MAX_FPS)]
    pub max_source_fps: u32,
    /// Highest source bitrate in kb/s, audio and video (measured over 3 s of media).
    #[arg(long, default_value_t = DEFAULT_MAX_BITRATE / 1000)]
    pub max_source_kbps: u64,
    /// Most RTMP connections open at once; more are closed at accept.
    #[arg(long, default_value_t = DEFAULT_MAX_CONNECTIONS)]
    pub rtmp_max_connections: usize,
    /// Most RTMP connections at once that are not yet publishing (handshake, connect).
    #[arg(long, default_value_t = DEFAULT_MAX_UNAUTHENTICATED)]
    pub rtmp_max_unauthenticated: usize,
    /// Seconds an RTMP connection has for handshake, connect and an accepted publish.
    #[arg(long, default_value_t = DEFAULT_ESTABLISH.as_secs())]
    pub rtmp_establish_secs: u64,
    /// Seconds of silence after which a publishing RTMP connection is closed.
    #[arg(long, default_value_t = DEFAULT_IDLE.as_secs())]
    pub rtmp_idle_secs: u64,
    /// Least average rate of a publishing RTMP connection, in bytes per second over 10 s.
    #[arg(long, default_value_t = DEFAULT_MIN_RATE)]
    pub rtmp_min_rate: u64,
}

impl IngestLimitArgs {
    pub fn source(&self) -> SourceLimits {
        SourceLimits {
            max_width: self.max_source_width.max(16),
            max_height: self.max_source_height.max(16),
            max_fps: self.max_source_fps.max(1),
            max_bitrate: self.max_source_kbps.max(1).saturating_mul(1000),
        }
    }

    pub fn rtmp(&self) -> RtmpLimits {
        RtmpLimits {
            establish: Duration::from_secs(self.rtmp_establish_secs.max(1)),
            idle: Duration::from_secs(self.rtmp_idle_secs.max(1)),
            min_rate: self.rtmp_min_rate,
            max_connections: self.rtmp_max_connections.max(1),
            max_unauthenticated: self.rtmp_max_unauthenticated.max(1),
            ..RtmpLimits::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        limits: IngestLimitArgs,
    }

    #[test]
    fn defaults_are_the_ingest_constants_and_flags_override_them() {
        let cli = Cli::parse_from(["amphi"]);
        assert_eq!(cli.limits.source(), SourceLimits::default());
        assert_eq!(cli.limits.rtmp(), RtmpLimits::default());
        let cli = Cli::parse_from([
            "amphi",
            "--max-source-width",
            "1280",
            "--max-source-height",
            "720",
            "--max-source-kbps",
            "8000",
            "--rtmp-max-unauthenticated",
            "4",
        ]);
        let s = cli.limits.source();
        assert_eq!(
            (s.max_width, s.max_height, s.max_bitrate),
            (1280, 720, 8_000_000)
        );
        assert_eq!(cli.limits.rtmp().max_unauthenticated, 4);
    }
}
