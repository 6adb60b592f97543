//! Per-viewer question rate limit: a pure decision from what the database
//! counted in the rolling window. Enforced by the store inside the same
//! transaction as the insert, so it holds across origin processes.

/// Length of the rolling window, ms.
pub const WINDOW_MS: i64 = 60_000;

/// What the viewer's recent questions allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Denied; the oldest question of the window leaves it in this many seconds.
    Deny {
        retry_after_secs: u64,
    },
}

/// `recent` questions were posted since `now - WINDOW_MS`, the oldest at
/// `oldest_ms`. A limit of 0 forbids posting.
pub fn decide(recent: u64, oldest_ms: Option<i64>, limit: u32, now_ms: i64) -> Decision {
    if recent < u64::from(limit) {
        return Decision::Allow;
    }
    let frees_at = oldest_ms.unwrap_or(now_ms).saturating_add(WINDOW_MS);
    let wait_ms = frees_at.saturating_sub(now_ms).clamp(1, WINDOW_MS);
    // Round up so a client that waits exactly Retry-After succeeds.
    let secs = (wait_ms + 999) / 1000;
    Decision::Deny {
        retry_after_secs: u64::try_from(secs).unwrap_or(60),
    }
}

/// Start of the window for `now_ms` (exclusive).
pub fn window_start(now_ms: i64) -> i64 {
    now_ms.saturating_sub(WINDOW_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_below_limit() {
        assert_eq!(decide(0, None, 5, 1000), Decision::Allow);
        assert_eq!(decide(4, Some(0), 5, 1000), Decision::Allow);
    }

    #[test]
    fn denies_at_limit_until_oldest_leaves() {
        let now = 100_000;
        assert_eq!(
            decide(5, Some(now - 10_000), 5, now),
            Decision::Deny {
                retry_after_secs: 50
            }
        );
        assert_eq!(
            decide(5, Some(now - 59_999), 5, now),
            Decision::Deny {
                retry_after_secs: 1
            }
        );
        assert_eq!(
            decide(5, Some(now - 10_500), 5, now),
            Decision::Deny {
                retry_after_secs: 50
            }
        );
    }

    #[test]
    fn zero_limit_and_clock_skew() {
        assert_eq!(
            decide(0, None, 0, 5),
            Decision::Deny {
                retry_after_secs: 60
            }
        );
        // A row from the future (another origin's clock ahead) never asks for more than a window.
        assert_eq!(
            decide(9, Some(i64::MAX), 5, 0),
            Decision::Deny {
                retry_after_secs: 60
            }
        );
    }
}
