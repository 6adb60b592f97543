//! Refused connections, logged at most once per period per listener: a flood of
//! refused peers must not flood the log too. The line names the protocol, the peer
//! (redacted) and the reason, with how many refusals the last period kept quiet.

use crate::pii::RedactedAddr;
use std::fmt::Display;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tracing::warn;

/// At most one log line per this period about refused connections.
pub const REFUSAL_LOG_PERIOD: Duration = Duration::from_secs(1);

/// One listener's refusal log.
pub struct RefusalLog {
    protocol: &'static str,
    last: Option<Instant>,
    suppressed: u64,
}

impl RefusalLog {
    pub fn new(protocol: &'static str) -> RefusalLog {
        RefusalLog {
            protocol,
            last: None,
            suppressed: 0,
        }
    }

    pub fn refused(&mut self, peer: SocketAddr, reason: &dyn Display) {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < REFUSAL_LOG_PERIOD)
        {
            self.suppressed += 1;
            return;
        }
        warn!(
            peer = %RedactedAddr(peer),
            also_refused = self.suppressed,
            "{} connection refused: {reason}",
            self.protocol
        );
        self.last = Some(now);
        self.suppressed = 0;
    }
}
