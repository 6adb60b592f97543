//! Server-side sessions of the console: random ids, an absolute lifetime and an idle
//! timeout, each with the CSRF token bound to it. Sans-IO: the caller passes the time.
//!
//! The id travels in one cookie, set only by the console's routes (never on media or
//! playlist responses, which stay cacheable by a CDN):
//! `__Host-amphi_session=…; Secure; HttpOnly; SameSite=Strict; Path=/`. A browser keeps a
//! `Secure` cookie only over HTTPS (or on `localhost`), so a server bound to a loopback
//! address and reached over plain HTTP uses [`CookieMode::LoopbackPlain`]: the name
//! `amphi_session` without `__Host-` and without `Secure` (the prefix demands it).

use crate::roles::Principal;
use rand::Rng;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A session ends this long after login, however active.
pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// A session ends after this long without a request.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Sessions held at once; beyond, the least recently used is dropped.
pub const DEFAULT_MAX_SESSIONS: usize = 10_000;
/// Length of session ids and CSRF tokens (alphanumeric, ~238 bits).
pub const TOKEN_LEN: usize = 40;

pub const SECURE_COOKIE: &str = "__Host-amphi_session";
pub const LOOPBACK_COOKIE: &str = "amphi_session";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    pub lifetime: Duration,
    pub idle_timeout: Duration,
    pub max_sessions: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            lifetime: DEFAULT_LIFETIME,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            max_sessions: DEFAULT_MAX_SESSIONS,
        }
    }
}

/// Why a request's session is not accepted (each answered 401).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionError {
    #[error("no session cookie")]
    Missing,
    #[error("unknown session (logged out, or the server restarted)")]
    Unknown,
    #[error("session expired (older than its lifetime)")]
    Expired,
    #[error("session expired (idle for too long)")]
    Idle,
}

#[derive(Debug, Clone)]
pub struct Session {
    pub principal: Principal,
    /// Synchronizer token: every state-changing request must carry it in a header.
    pub csrf_token: String,
    created: Instant,
    last_seen: Instant,
}

impl Session {
    /// When the session ends if it stays idle, or at the latest.
    fn ends(&self, config: &SessionConfig) -> Instant {
        (self.last_seen + config.idle_timeout).min(self.created + config.lifetime)
    }
}

/// A random alphanumeric token of [`TOKEN_LEN`] characters.
pub fn random_token(rng: &mut impl Rng) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    (0..TOKEN_LEN)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// The sessions of one process. A restart logs everyone out (by design: nothing to
/// leak from disk).
#[derive(Debug, Default)]
pub struct SessionTable {
    config: SessionConfig,
    sessions: HashMap<String, Session>,
}

impl SessionTable {
    pub fn new(config: SessionConfig) -> SessionTable {
        SessionTable {
            config,
            sessions: HashMap::new(),
        }
    }

    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Opens a session for `principal`; returns its id and the session.
    pub fn create(
        &mut self,
        now: Instant,
        principal: Principal,
        rng: &mut impl Rng,
    ) -> (String, &Session) {
        self.sweep(now);
        if self.sessions.len() >= self.config.max_sessions.max(1) {
            let oldest = self
                .sessions
                .iter()
                .min_by_key(|(_, s)| s.last_seen)
                .map(|(id, _)| id.clone());
            if let Some(id) = oldest {
                self.sessions.remove(&id);
            }
        }
        let id = random_token(rng);
        let session = Session {
            principal,
            csrf_token: random_token(rng),
            created: now,
            last_seen: now,
        };
        let entry = self.sessions.entry(id.clone()).or_insert(session);
        (id, entry)
    }

    /// The session of `id`, if still valid; counts as activity (resets the idle timer).
    pub fn touch(&mut self, now: Instant, id: &str) -> Result<&Session, SessionError> {
        let config = self.config;
        let Some(s) = self.sessions.get(id) else {
            return Err(SessionError::Unknown);
        };
        let error = if now >= s.created + config.lifetime {
            Some(SessionError::Expired)
        } else if now >= s.last_seen + config.idle_timeout {
            Some(SessionError::Idle)
        } else {
            None
        };
        if let Some(e) = error {
            self.sessions.remove(id);
            return Err(e);
        }
        let s = self.sessions.get_mut(id).ok_or(SessionError::Unknown)?;
        s.last_seen = now;
        Ok(s)
    }

    /// Logs one session out.
    pub fn remove(&mut self, id: &str) -> bool {
        self.sessions.remove(id).is_some()
    }

    /// Logs a user out everywhere (their password or roles changed).
    pub fn remove_user(&mut self, user: &str) {
        self.sessions.retain(|_, s| s.principal.user != user);
    }

    /// Forgets sessions that have ended.
    pub fn sweep(&mut self, now: Instant) {
        let config = self.config;
        self.sessions.retain(|_, s| now < s.ends(&config));
    }
}

/// Which cookie carries the session id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieMode {
    /// `__Host-amphi_session`, `Secure`: served over HTTPS (directly or behind a proxy).
    Secure,
    /// `amphi_session` without `Secure`: plain HTTP, only when bound to loopback.
    LoopbackPlain,
}

impl CookieMode {
    pub fn name(self) -> &'static str {
        match self {
            CookieMode::Secure => SECURE_COOKIE,
            CookieMode::LoopbackPlain => LOOPBACK_COOKIE,
        }
    }

    fn attributes(self) -> &'static str {
        match self {
            CookieMode::Secure => "; Secure; HttpOnly; SameSite=Strict; Path=/",
            CookieMode::LoopbackPlain => "; HttpOnly; SameSite=Strict; Path=/",
        }
    }

    /// `Set-Cookie` value opening a session for at most `max_age`.
    pub fn set_cookie(self, id: &str, max_age: Duration) -> String {
        format!(
            "{}={id}; Max-Age={}{}",
            self.name(),
            max_age.as_secs(),
            self.attributes()
        )
    }

    /// `Set-Cookie` value that makes the browser forget the session.
    pub fn clear_cookie(self) -> String {
        format!("{}=; Max-Age=0{}", self.name(), self.attributes())
    }

    /// The session id in a `Cookie` request header, if any.
    pub fn find(self, cookie_header: &str) -> Option<&str> {
        cookie_values(cookie_header, self.name())
            .next()
            .filter(|v| !v.is_empty())
    }
}

/// The values of the cookie `name` in one `Cookie` request header, in the header's
/// order (a browser may send a name twice, for two paths).
pub fn cookie_values<'a>(
    cookie_header: &'a str,
    name: &'a str,
) -> impl Iterator<Item = &'a str> + 'a {
    cookie_header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(move |(n, _)| *n == name)
        .map(|(_, value)| value.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_values_in_header_order() {
        let h = "a=1; amphi_state=x ;b=2;amphi_state=y; amphi_state_2=z; novalue";
        let found: Vec<&str> = cookie_values(h, "amphi_state").collect();
        assert_eq!(found, ["x", "y"]);
        assert_eq!(cookie_values("", "a").next(), None);
    }
    use rand::SeedableRng;

    fn ada() -> Principal {
        Principal {
            user: "ada".into(),
            roles: vec![crate::roles::Role::Admin],
        }
    }

    #[test]
    fn idle_timeout_and_lifetime_on_injected_time() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let config = SessionConfig {
            lifetime: Duration::from_secs(3600),
            idle_timeout: Duration::from_secs(600),
            max_sessions: 10,
        };
        let mut table = SessionTable::new(config);
        let t0 = Instant::now();
        let (id, s) = table.create(t0, ada(), &mut rng);
        assert_eq!(id.len(), TOKEN_LEN);
        assert_eq!(s.csrf_token.len(), TOKEN_LEN);
        assert_ne!(id, s.csrf_token);
        // Activity every 9 minutes keeps it open…
        let mut t = t0;
        for _ in 0..6 {
            t += Duration::from_secs(540);
            assert!(table.touch(t, &id).is_ok(), "at {:?}", t - t0);
        }
        // …until the lifetime ends it.
        t += Duration::from_secs(540);
        assert_eq!(table.touch(t, &id).err(), Some(SessionError::Expired));
        assert_eq!(table.touch(t, &id).err(), Some(SessionError::Unknown));

        let (id, _) = table.create(t, ada(), &mut rng);
        assert_eq!(
            table.touch(t + Duration::from_secs(600), &id).err(),
            Some(SessionError::Idle)
        );
        assert!(table.is_empty());
    }

    #[test]
    fn logout_cap_and_sweep() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(8);
        let config = SessionConfig {
            max_sessions: 2,
            ..SessionConfig::default()
        };
        let mut table = SessionTable::new(config);
        let t0 = Instant::now();
        let (a, _) = table.create(t0, ada(), &mut rng);
        let (b, _) = table.create(t0 + Duration::from_secs(1), ada(), &mut rng);
        let (c, _) = table.create(t0 + Duration::from_secs(2), ada(), &mut rng);
        assert_eq!(table.len(), 2);
        let t = t0 + Duration::from_secs(3);
        assert_eq!(table.touch(t, &a).err(), Some(SessionError::Unknown));
        assert!(table.remove(&b));
        assert!(table.touch(t, &c).is_ok());
        table.remove_user("ada");
        assert!(table.is_empty());
        table.create(t, ada(), &mut rng);
        table.sweep(t + DEFAULT_IDLE_TIMEOUT);
        assert!(table.is_empty());
    }

    #[test]
    fn cookies() {
        let set = CookieMode::Secure.set_cookie("abc", Duration::from_secs(60));
        assert_eq!(
            set,
            "__Host-amphi_session=abc; Max-Age=60; Secure; HttpOnly; SameSite=Strict; Path=/"
        );
        let plain = CookieMode::LoopbackPlain.set_cookie("abc", Duration::from_secs(60));
        assert!(plain.starts_with("amphi_session=abc;"));
        assert!(!plain.contains("Secure"));
        assert!(CookieMode::Secure.clear_cookie().contains("Max-Age=0"));
        let header = "theme=dark; __Host-amphi_session=s1; amphi_session=s2";
        assert_eq!(CookieMode::Secure.find(header), Some("s1"));
        assert_eq!(CookieMode::LoopbackPlain.find(header), Some("s2"));
        assert_eq!(CookieMode::Secure.find("amphi_session=s2"), None);
        assert_eq!(CookieMode::LoopbackPlain.find("amphi_session="), None);
    }
}
