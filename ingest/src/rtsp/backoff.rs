//! How long to wait before pulling a camera again: exponential from one second up to
//! thirty, and back to one second after a session that ran long enough to count as
//! healthy (a camera that reboots once a day should come back at once).

use std::time::Duration;

/// First wait after a failure.
pub const INITIAL_BACKOFF: Duration = Duration::from_secs(1);
/// Longest wait between two attempts.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A session that ran at least this long resets the wait to [`INITIAL_BACKOFF`].
pub const HEALTHY_SESSION: Duration = Duration::from_secs(30);

/// The retry schedule of one camera.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    healthy: Duration,
    next: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(INITIAL_BACKOFF, MAX_BACKOFF, HEALTHY_SESSION)
    }
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration, healthy: Duration) -> Self {
        let initial = initial.min(max);
        Backoff {
            initial,
            max,
            healthy,
            next: initial,
        }
    }

    /// An attempt ended (failed to connect, or a session that ran for `ran`); returns
    /// how long to wait before the next one.
    pub fn after_attempt(&mut self, ran: Duration) -> Duration {
        if ran >= self.healthy {
            self.next = self.initial;
        }
        let wait = self.next;
        self.next = self.next.saturating_mul(2).min(self.max);
        wait
    }

    /// The wait the next failure would get.
    pub fn peek(&self) -> Duration {
        self.next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(v: &[u64]) -> Vec<Duration> {
        v.iter().copied().map(Duration::from_secs).collect()
    }

    #[test]
    fn doubles_up_to_the_cap() {
        let mut b = Backoff::default();
        let waits: Vec<_> = (0..8).map(|_| b.after_attempt(Duration::ZERO)).collect();
        assert_eq!(waits, secs(&[1, 2, 4, 8, 16, 30, 30, 30]));
    }

    #[test]
    fn a_healthy_session_resets_the_schedule() {
        let mut b = Backoff::default();
        for _ in 0..5 {
            b.after_attempt(Duration::from_secs(2));
        }
        assert_eq!(b.peek(), Duration::from_secs(30));
        assert_eq!(b.after_attempt(HEALTHY_SESSION), Duration::from_secs(1));
        assert_eq!(
            b.after_attempt(Duration::from_secs(29)),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn initial_above_max_is_capped() {
        let mut b = Backoff::new(
            Duration::from_secs(60),
            Duration::from_secs(5),
            HEALTHY_SESSION,
        );
        assert_eq!(b.after_attempt(Duration::ZERO), Duration::from_secs(5));
        assert_eq!(b.after_attempt(Duration::ZERO), Duration::from_secs(5));
    }
}
