//! Login rate limiting: failed logins are counted per client address and per user name
//! over a sliding window; past the limit, logins are refused (429) until the oldest
//! failure leaves the window, even with the right password. Sans-IO: time is passed in.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

pub const DEFAULT_WINDOW: Duration = Duration::from_secs(15 * 60);
/// Failed logins allowed per user name in the window.
pub const DEFAULT_PER_USER: usize = 5;
/// Failed logins allowed per client address in the window (a shared campus NAT).
pub const DEFAULT_PER_ADDRESS: usize = 20;
/// Names and addresses tracked at once (memory bound under a spray of names).
const MAX_KEYS: usize = 50_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitConfig {
    pub window: Duration,
    pub per_user: usize,
    pub per_address: usize,
}

impl Default for LimitConfig {
    fn default() -> Self {
        LimitConfig {
            window: DEFAULT_WINDOW,
            per_user: DEFAULT_PER_USER,
            per_address: DEFAULT_PER_ADDRESS,
        }
    }
}

/// A refused login: which limit, and when to try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many failed logins for this {scope}: retry in {}s", retry_after.as_secs())]
pub struct Limited {
    pub scope: &'static str,
    pub retry_after: Duration,
}

#[derive(Debug, Default)]
pub struct LoginLimiter {
    config: LimitConfig,
    by_user: HashMap<String, VecDeque<Instant>>,
    by_address: HashMap<IpAddr, VecDeque<Instant>>,
}

fn prune(q: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while q
        .front()
        .is_some_and(|t| now.saturating_duration_since(*t) >= window)
    {
        q.pop_front();
    }
}

fn over(
    q: Option<&mut VecDeque<Instant>>,
    now: Instant,
    config: &LimitConfig,
    limit: usize,
    scope: &'static str,
) -> Result<(), Limited> {
    let Some(q) = q else { return Ok(()) };
    prune(q, now, config.window);
    if q.len() < limit {
        return Ok(());
    }
    let oldest = q.front().copied().unwrap_or(now);
    Err(Limited {
        scope,
        retry_after: (oldest + config.window).saturating_duration_since(now),
    })
}

impl LoginLimiter {
    pub fn new(config: LimitConfig) -> LoginLimiter {
        LoginLimiter {
            config,
            ..LoginLimiter::default()
        }
    }

    /// Whether a login attempt may be checked at all (call before verifying).
    pub fn check(&mut self, now: Instant, addr: IpAddr, user: &str) -> Result<(), Limited> {
        let c = self.config;
        over(
            self.by_address.get_mut(&addr),
            now,
            &c,
            c.per_address,
            "address",
        )?;
        over(self.by_user.get_mut(user), now, &c, c.per_user, "user")
    }

    pub fn failed(&mut self, now: Instant, addr: IpAddr, user: &str) {
        if self.by_user.len() + self.by_address.len() >= MAX_KEYS {
            let w = self.config.window;
            self.by_user.retain(|_, q| {
                prune(q, now, w);
                !q.is_empty()
            });
            self.by_address.retain(|_, q| {
                prune(q, now, w);
                !q.is_empty()
            });
        }
        if self.by_user.len() + self.by_address.len() < MAX_KEYS {
            self.by_user
                .entry(user.to_owned())
                .or_default()
                .push_back(now);
            self.by_address.entry(addr).or_default().push_back(now);
        }
    }

    /// A successful login clears the user's failures (not the address's).
    pub fn succeeded(&mut self, user: &str) {
        self.by_user.remove(user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_user_and_per_address() {
        let config = LimitConfig {
            window: Duration::from_secs(60),
            per_user: 3,
            per_address: 5,
        };
        let mut l = LoginLimiter::new(config);
        let a: IpAddr = "192.0.2.1".parse().expect("ip");
        let b: IpAddr = "192.0.2.2".parse().expect("ip");
        let t0 = Instant::now();
        for i in 0..3 {
            assert!(l.check(t0, a, "ada").is_ok(), "{i}");
            l.failed(t0 + Duration::from_secs(i), a, "ada");
        }
        // The user is locked from any address…
        let e = l
            .check(t0 + Duration::from_secs(10), b, "ada")
            .expect_err("locked");
        assert_eq!(e.scope, "user");
        assert_eq!(e.retry_after, Duration::from_secs(50));
        // …until the window slides past the first failure.
        assert!(l.check(t0 + Duration::from_secs(60), b, "ada").is_ok());
        // Address limit: many names from one address (one failure of `ada` is left).
        for i in 0..4 {
            l.failed(t0 + Duration::from_secs(61), a, &format!("user{i}"));
        }
        let e = l
            .check(t0 + Duration::from_secs(61), a, "grace")
            .expect_err("addr");
        assert_eq!(e.scope, "address");
        assert!(l.check(t0 + Duration::from_secs(61), b, "grace").is_ok());
        l.succeeded("ada");
        assert!(l.check(t0 + Duration::from_secs(30), b, "ada").is_ok());
    }
}
