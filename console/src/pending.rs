//! Logins under way, by their `state` (LTI login initiation, OpenID Connect login): each
//! is kept at most [`LOGIN_TTL`] and taken once; at most [`MAX_PENDING`] wait at once,
//! beyond which new ones are refused until some expire, so a flood of started logins
//! cannot grow the server's memory (sans-IO: time is an argument).

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// How long a started login waits for its answer (the launch, the provider's callback).
pub const LOGIN_TTL: Duration = Duration::from_secs(600);
/// Most logins waiting at once.
pub const MAX_PENDING: usize = 10_000;

/// [`MAX_PENDING`] logins are waiting already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

/// Started logins and what each needs at its end, by state.
#[derive(Debug)]
pub struct PendingLogins<T> {
    by_state: HashMap<String, (T, Instant)>,
}

impl<T> Default for PendingLogins<T> {
    fn default() -> Self {
        PendingLogins {
            by_state: HashMap::new(),
        }
    }
}

impl<T> PendingLogins<T> {
    fn expire(&mut self, now: Instant) {
        self.by_state.retain(|_, (_, expires)| *expires > now);
    }

    /// Logins waiting (expired ones included until the next call that takes a time).
    pub fn len(&self) -> usize {
        self.by_state.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_state.is_empty()
    }

    /// Keeps `value` under `state` until `now` + [`LOGIN_TTL`].
    pub fn start(&mut self, now: Instant, state: String, value: T) -> Result<(), Busy> {
        self.expire(now);
        if self.by_state.len() >= MAX_PENDING {
            return Err(Busy);
        }
        self.by_state.insert(state, (value, now + LOGIN_TTL));
        Ok(())
    }

    /// Takes the login of `state`, if it was started and has not expired; it is gone
    /// afterwards whatever the caller decides.
    pub fn take(&mut self, now: Instant, state: &str) -> Option<T> {
        self.expire(now);
        self.by_state.remove(state).map(|(value, _)| value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taken_once_until_it_expires() {
        let t0 = Instant::now();
        let mut p = PendingLogins::default();
        p.start(t0, "a".into(), 1).expect("room");
        p.start(t0, "b".into(), 2).expect("room");
        assert_eq!(p.take(t0, "a"), Some(1));
        assert_eq!(p.take(t0, "a"), None, "single use");
        assert_eq!(p.take(t0 + LOGIN_TTL, "b"), None, "expired");
        assert!(p.is_empty());
    }

    #[test]
    fn full_until_some_expire() {
        let t0 = Instant::now();
        let mut p = PendingLogins::default();
        for i in 0..MAX_PENDING {
            p.start(t0, i.to_string(), ()).expect("room");
        }
        assert_eq!(p.start(t0, "x".into(), ()), Err(Busy));
        p.start(t0 + LOGIN_TTL, "x".into(), ())
            .expect("the others expired");
        assert_eq!(p.len(), 1);
    }
}
