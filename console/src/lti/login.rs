//! OIDC login initiation (third-party initiated login) and the single-use state and nonce
//! that bind it to the launch (sans-IO: time and random values are arguments).

use super::platform::Platform;
use crate::pending::{Busy, PendingLogins};
pub use crate::pending::{LOGIN_TTL, MAX_PENDING};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// The parameters a platform sends to `/lti/login`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct LoginParams {
    pub iss: Option<String>,
    pub login_hint: Option<String>,
    pub target_link_uri: Option<String>,
    pub lti_message_hint: Option<String>,
    pub client_id: Option<String>,
    pub lti_deployment_id: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoginError {
    #[error("login initiation without {0}")]
    Missing(&'static str),
    #[error("no platform registered for issuer {0:?}")]
    UnknownIssuer(String),
    #[error("target_link_uri {0:?} is not on this tool")]
    Target(String),
    #[error("too many logins in progress")]
    Busy,
    #[error("unknown or expired state (the login was not started here, or was used)")]
    State,
    #[error("nonce was already used (replayed launch)")]
    Replay,
    #[error("nonce does not match the one sent at login")]
    Nonce,
}

impl From<Busy> for LoginError {
    fn from(_: Busy) -> Self {
        LoginError::Busy
    }
}

#[derive(Debug, Clone)]
struct Pending {
    issuer: String,
    client_id: String,
    nonce: String,
}

/// Logins waiting for their launch, and nonces already used.
#[derive(Debug, Default)]
pub struct Logins {
    pending: PendingLogins<Pending>,
    used_nonces: HashMap<String, Instant>,
}

/// Percent-encodes a query value.
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Where this tool is reached.
#[derive(Debug, Clone)]
pub struct ToolUrls<'a> {
    /// This tool's `/lti/launch` (the `redirect_uri`).
    pub launch: &'a str,
    /// The prefix every `target_link_uri` must have.
    pub base: &'a str,
}

impl Logins {
    fn forget_used_nonces(&mut self, now: Instant) {
        self.used_nonces.retain(|_, until| *until > now);
    }

    /// Starts a login: returns the platform authorization URL to redirect to. `state` and
    /// `nonce` are fresh random values.
    pub fn initiate(
        &mut self,
        platforms: &[Platform],
        params: &LoginParams,
        tool: &ToolUrls<'_>,
        now: Instant,
        state: String,
        nonce: String,
    ) -> Result<String, LoginError> {
        let iss = params.iss.as_deref().ok_or(LoginError::Missing("iss"))?;
        let hint = params
            .login_hint
            .as_deref()
            .ok_or(LoginError::Missing("login_hint"))?;
        let target = params
            .target_link_uri
            .as_deref()
            .ok_or(LoginError::Missing("target_link_uri"))?;
        let platform = platforms
            .iter()
            .find(|p| {
                p.issuer == iss && params.client_id.as_deref().is_none_or(|c| c == p.client_id)
            })
            .ok_or_else(|| LoginError::UnknownIssuer(iss.to_owned()))?;
        let base = tool.base.trim_end_matches('/');
        if !(target == base || target.starts_with(&format!("{base}/"))) {
            return Err(LoginError::Target(target.to_owned()));
        }
        let mut url = format!(
            "{}{}scope=openid&response_type=id_token&response_mode=form_post&prompt=none\
             &client_id={}&redirect_uri={}&login_hint={}&state={}&nonce={}",
            platform.auth_url,
            if platform.auth_url.contains('?') {
                '&'
            } else {
                '?'
            },
            encode(&platform.client_id),
            encode(tool.launch),
            encode(hint),
            encode(&state),
            encode(&nonce),
        );
        if let Some(m) = &params.lti_message_hint {
            url.push_str(&format!("&lti_message_hint={}", encode(m)));
        }
        self.pending.start(
            now,
            state,
            Pending {
                issuer: platform.issuer.clone(),
                client_id: platform.client_id.clone(),
                nonce,
            },
        )?;
        Ok(url)
    }

    /// Ends a login at launch: `nonce` of the verified token (valid until `exp_in` from
    /// now) must not have been used and must be the one sent with `state`, and the token
    /// must come from the platform the login started with.
    pub fn finish(
        &mut self,
        state: &str,
        issuer: &str,
        client_id: &str,
        nonce: &str,
        exp_in: Duration,
        now: Instant,
    ) -> Result<(), LoginError> {
        self.forget_used_nonces(now);
        if self.used_nonces.contains_key(nonce) {
            return Err(LoginError::Replay);
        }
        let pending = self.pending.take(now, state).ok_or(LoginError::State)?;
        if pending.issuer != issuer || pending.client_id != client_id {
            return Err(LoginError::State);
        }
        if pending.nonce != nonce {
            return Err(LoginError::Nonce);
        }
        self.used_nonces
            .insert(nonce.to_owned(), now + exp_in.max(LOGIN_TTL));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn platforms() -> Vec<Platform> {
        vec![Platform {
            issuer: "https://lms.example".into(),
            client_id: "tool-1".into(),
            auth_url: "https://lms.example/auth".into(),
            jwks_url: "https://lms.example/jwks".into(),
            deployment_ids: vec!["d".into()],
        }]
    }

    fn params() -> LoginParams {
        LoginParams {
            iss: Some("https://lms.example".into()),
            login_hint: Some("u 1".into()),
            target_link_uri: Some("https://tool.example/lti/launch".into()),
            lti_message_hint: Some("m".into()),
            ..Default::default()
        }
    }

    const TOOL: ToolUrls<'static> = ToolUrls {
        launch: "https://tool.example/lti/launch",
        base: "https://tool.example",
    };

    #[test]
    fn initiation_redirects_with_state_and_nonce() {
        let mut l = Logins::default();
        let now = Instant::now();
        let url = l
            .initiate(
                &platforms(),
                &params(),
                &TOOL,
                now,
                "s1".into(),
                "n1".into(),
            )
            .expect("initiate");
        assert!(url.starts_with("https://lms.example/auth?scope=openid"));
        for part in [
            "state=s1",
            "nonce=n1",
            "login_hint=u%201",
            "lti_message_hint=m",
            "redirect_uri=https%3A%2F%2Ftool.example%2Flti%2Flaunch",
            "client_id=tool-1",
        ] {
            assert!(url.contains(part), "{part} in {url}");
        }
        let day = Duration::from_secs(60);
        let iss = "https://lms.example";
        assert_eq!(
            l.finish("s1", iss, "tool-1", "n2", day, now),
            Err(LoginError::Nonce)
        );
        // The state was consumed by the failed attempt.
        assert_eq!(
            l.finish("s1", iss, "tool-1", "n1", day, now),
            Err(LoginError::State)
        );
    }

    #[test]
    fn nonce_is_single_use_and_state_expires() {
        let mut l = Logins::default();
        let now = Instant::now();
        let iss = "https://lms.example";
        let ttl = Duration::from_secs(60);
        for s in ["s1", "s2"] {
            l.initiate(&platforms(), &params(), &TOOL, now, s.into(), "n1".into())
                .expect("initiate");
        }
        l.finish("s1", iss, "tool-1", "n1", ttl, now)
            .expect("first use");
        assert_eq!(
            l.finish("s2", iss, "tool-1", "n1", ttl, now),
            Err(LoginError::Replay)
        );
        l.initiate(
            &platforms(),
            &params(),
            &TOOL,
            now,
            "s3".into(),
            "n3".into(),
        )
        .expect("initiate");
        assert_eq!(
            l.finish("s3", iss, "tool-1", "n3", ttl, now + LOGIN_TTL),
            Err(LoginError::State),
            "expired"
        );
    }

    #[test]
    fn initiation_refusals() {
        let mut l = Logins::default();
        let now = Instant::now();
        let mut p = params();
        p.iss = Some("https://evil.example".into());
        assert!(matches!(
            l.initiate(&platforms(), &p, &TOOL, now, "s".into(), "n".into()),
            Err(LoginError::UnknownIssuer(_))
        ));
        let mut p = params();
        p.target_link_uri = Some("https://tool.example.evil/x".into());
        assert!(matches!(
            l.initiate(&platforms(), &p, &TOOL, now, "s".into(), "n".into()),
            Err(LoginError::Target(_))
        ));
        let mut p = params();
        p.login_hint = None;
        assert_eq!(
            l.initiate(&platforms(), &p, &TOOL, now, "s".into(), "n".into()),
            Err(LoginError::Missing("login_hint"))
        );
    }
}
