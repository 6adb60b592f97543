//! What one RTMP connection may cost the server, sans-IO: the deadlines a connection
//! must meet ([`Watchdog`], with injected time) and the limits the listener applies
//! ([`RtmpLimits`]).
//!
//! A connection first has [`RtmpLimits::establish`] in all to finish the handshake,
//! `connect` and a `publish` the hub accepts; a peer that trickles bytes gains nothing,
//! the deadline is fixed at accept. Once publishing, it must keep sending: nothing for
//! [`RtmpLimits::idle`] closes it, and so does averaging less than
//! [`RtmpLimits::min_rate`] bytes per second over any [`RtmpLimits::rate_window`]
//! (every byte restarts no timer). After an unpublish the connection is back to the
//! establishing deadline, counted from then.

use std::fmt;
use std::time::{Duration, Instant};

/// Time for handshake + `connect` + an accepted `publish`.
pub const DEFAULT_ESTABLISH: Duration = Duration::from_secs(5);
/// A publishing connection that sends nothing for this long is closed.
pub const DEFAULT_IDLE: Duration = Duration::from_secs(10);
/// Least average rate of a publishing connection (8 kb/s: far below any encoder's
/// audio alone, far above a peer trickling bytes to hold a connection).
pub const DEFAULT_MIN_RATE: u64 = 1_000;
/// Window the average rate is measured over.
pub const DEFAULT_RATE_WINDOW: Duration = Duration::from_secs(10);
/// Most RTMP connections at once.
pub const DEFAULT_MAX_CONNECTIONS: usize = 256;
/// Most connections at once that have not yet been accepted as publishers.
pub const DEFAULT_MAX_UNAUTHENTICATED: usize = 32;

/// Limits of the RTMP listener and of each connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtmpLimits {
    pub establish: Duration,
    pub idle: Duration,
    /// Bytes per second, averaged over `rate_window`.
    pub min_rate: u64,
    pub rate_window: Duration,
    pub max_connections: usize,
    pub max_unauthenticated: usize,
}

impl Default for RtmpLimits {
    fn default() -> Self {
        RtmpLimits {
            establish: DEFAULT_ESTABLISH,
            idle: DEFAULT_IDLE,
            min_rate: DEFAULT_MIN_RATE,
            rate_window: DEFAULT_RATE_WINDOW,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_unauthenticated: DEFAULT_MAX_UNAUTHENTICATED,
        }
    }
}

/// Why a connection's time ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expired {
    /// Handshake, `connect` and `publish` not done in time.
    Establish(Duration),
    /// Nothing received while publishing.
    Idle(Duration),
    /// Publishing, but too few bytes over the window.
    TooSlow { bytes: u64, window: Duration },
}

impl fmt::Display for Expired {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expired::Establish(d) => write!(
                f,
                "handshake, connect and publish not done within {} s",
                d.as_secs_f32()
            ),
            Expired::Idle(d) => write!(f, "nothing received for {} s", d.as_secs_f32()),
            Expired::TooSlow { bytes, window } => write!(
                f,
                "{bytes} bytes in {} s, below the minimum rate",
                window.as_secs_f32()
            ),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    Establishing {
        deadline: Instant,
    },
    Publishing {
        last_byte: Instant,
        window_start: Instant,
        window_bytes: u64,
    },
}

/// The deadlines of one connection.
#[derive(Debug, Clone)]
pub struct Watchdog {
    limits: RtmpLimits,
    phase: Phase,
}

impl Watchdog {
    /// A connection accepted at `now`.
    pub fn new(now: Instant, limits: RtmpLimits) -> Self {
        Watchdog {
            limits,
            phase: Phase::Establishing {
                deadline: now + limits.establish,
            },
        }
    }

    /// Bytes arrived.
    pub fn on_bytes(&mut self, now: Instant, n: usize) {
        if let Phase::Publishing {
            last_byte,
            window_bytes,
            ..
        } = &mut self.phase
        {
            if n > 0 {
                *last_byte = now;
                *window_bytes += n as u64;
            }
        }
    }

    /// The hub accepted the publish.
    pub fn on_publishing(&mut self, now: Instant) {
        self.phase = Phase::Publishing {
            last_byte: now,
            window_start: now,
            window_bytes: 0,
        };
    }

    /// The peer stopped publishing but keeps the connection: it must publish again
    /// (or leave) within the establishing time.
    pub fn on_unpublished(&mut self, now: Instant) {
        self.phase = Phase::Establishing {
            deadline: now + self.limits.establish,
        };
    }

    pub fn is_publishing(&self) -> bool {
        matches!(self.phase, Phase::Publishing { .. })
    }

    /// When [`Self::check`] must next be called.
    pub fn poll_timeout(&self) -> Instant {
        match self.phase {
            Phase::Establishing { deadline } => deadline,
            Phase::Publishing {
                last_byte,
                window_start,
                ..
            } => (last_byte + self.limits.idle).min(window_start + self.limits.rate_window),
        }
    }

    /// Checks the deadlines at `now`; an error means: close the connection.
    pub fn check(&mut self, now: Instant) -> Result<(), Expired> {
        match &mut self.phase {
            Phase::Establishing { deadline } => {
                if now >= *deadline {
                    return Err(Expired::Establish(self.limits.establish));
                }
            }
            Phase::Publishing {
                last_byte,
                window_start,
                window_bytes,
            } => {
                if now.saturating_duration_since(*last_byte) >= self.limits.idle {
                    return Err(Expired::Idle(self.limits.idle));
                }
                let window = now.saturating_duration_since(*window_start);
                if window >= self.limits.rate_window {
                    let needed = self.limits.min_rate as f64 * window.as_secs_f64();
                    if (*window_bytes as f64) < needed {
                        return Err(Expired::TooSlow {
                            bytes: *window_bytes,
                            window,
                        });
                    }
                    *window_start = now;
                    *window_bytes = 0;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn establishing_has_one_fixed_deadline_whatever_arrives() {
        let t0 = Instant::now();
        let mut w = Watchdog::new(t0, RtmpLimits::default());
        for s in 0..5 {
            let now = t0 + secs(f64::from(s));
            w.on_bytes(now, 1);
            assert_eq!(w.check(now), Ok(()));
        }
        assert_eq!(w.poll_timeout(), t0 + DEFAULT_ESTABLISH);
        assert_eq!(
            w.check(t0 + DEFAULT_ESTABLISH),
            Err(Expired::Establish(DEFAULT_ESTABLISH))
        );
    }

    #[test]
    fn a_publisher_that_goes_silent_is_closed_after_the_idle_time() {
        let t0 = Instant::now();
        let mut w = Watchdog::new(t0, RtmpLimits::default());
        w.on_publishing(t0 + secs(1.0));
        w.on_bytes(t0 + secs(2.0), 50_000);
        assert_eq!(w.poll_timeout(), t0 + secs(11.0), "the rate window first");
        assert_eq!(w.check(t0 + secs(11.9)), Ok(()));
        assert_eq!(w.poll_timeout(), t0 + secs(12.0), "then the idle time");
        assert_eq!(
            w.check(t0 + secs(12.0)),
            Err(Expired::Idle(DEFAULT_IDLE)),
            "10 s after the last byte"
        );
    }

    #[test]
    fn a_trickling_publisher_is_closed_at_the_end_of_the_rate_window() {
        let t0 = Instant::now();
        let mut w = Watchdog::new(t0, RtmpLimits::default());
        w.on_publishing(t0);
        let mut closed = None;
        for s in 1..=30u32 {
            let now = t0 + secs(f64::from(s));
            w.on_bytes(now, 1); // one byte a second restarts no timer
            if let Err(e) = w.check(now) {
                closed = Some((s, e));
                break;
            }
        }
        let (at, why) = closed.expect("closed");
        assert_eq!(at, 10);
        assert!(matches!(why, Expired::TooSlow { bytes: 10, .. }), "{why:?}");
        assert!(why.to_string().contains("below the minimum rate"));
    }

    #[test]
    fn a_steady_publisher_is_never_closed_and_unpublish_rearms_the_deadline() {
        let t0 = Instant::now();
        let mut w = Watchdog::new(t0, RtmpLimits::default());
        w.on_publishing(t0 + secs(0.5));
        for tenth in 6..600u32 {
            let now = t0 + secs(f64::from(tenth) / 10.0);
            w.on_bytes(now, 2_000); // 20 kB/s
            assert_eq!(w.check(now), Ok(()), "at {tenth}");
        }
        let t = t0 + secs(60.0);
        w.on_unpublished(t);
        assert!(!w.is_publishing());
        assert_eq!(w.check(t + secs(4.9)), Ok(()));
        assert!(matches!(
            w.check(t + DEFAULT_ESTABLISH),
            Err(Expired::Establish(_))
        ));
    }
}
