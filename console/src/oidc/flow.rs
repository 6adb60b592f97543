//! Logins under way: the `state`, `nonce` and PKCE verifier of each, kept on the server
//! until the provider sends the browser back (sans-IO: time and random values are
//! arguments).

use super::config::OidcConfig;
use super::discovery::Provider;
use crate::lti::login::encode;
use crate::pending::{Busy, PendingLogins};
pub use crate::pending::{LOGIN_TTL, MAX_PENDING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use sha2_010::{Digest, Sha256};
use std::time::Instant;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlowError {
    #[error("too many logins in progress")]
    Busy,
    #[error("PKCE verifier must be 43 to 128 unreserved characters")]
    Verifier,
    #[error("unknown or expired state (the login was not started here, took too long, or was already used)")]
    State,
    #[error("state does not match this browser's login cookie")]
    Browser,
}

impl From<Busy> for FlowError {
    fn from(_: Busy) -> Self {
        FlowError::Busy
    }
}

/// What the callback needs of a started login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// The client the login was started for (the code is exchanged as this client).
    pub client_id: String,
    /// That client's secret file.
    pub secret_file: std::path::PathBuf,
    pub nonce: String,
    pub verifier: String,
    pub redirect_uri: String,
}

/// The PKCE `S256` challenge of a verifier (RFC 7636 §4.2).
pub fn code_challenge(verifier: &str) -> String {
    B64.encode(Sha256::digest(verifier.as_bytes()))
}

/// Logins waiting for the provider's answer, by state.
#[derive(Debug, Default)]
pub struct Logins {
    pending: PendingLogins<Pending>,
}

/// The fresh random values of one login.
#[derive(Debug, Clone)]
pub struct Secrets {
    pub state: String,
    pub nonce: String,
    pub verifier: String,
}

impl Logins {
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Starts a login; returns the authorization URL to send the browser to.
    pub fn start(
        &mut self,
        now: Instant,
        provider: &Provider,
        config: &OidcConfig,
        redirect_uri: &str,
        secrets: Secrets,
    ) -> Result<String, FlowError> {
        let v = &secrets.verifier;
        if !(43..=128).contains(&v.len())
            || !v
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
        {
            return Err(FlowError::Verifier);
        }
        let sep = if provider.authorization_endpoint.contains('?') {
            '&'
        } else {
            '?'
        };
        let url = format!(
            "{}{sep}response_type=code&client_id={}&redirect_uri={}&scope={}&state={}&nonce={}&code_challenge={}&code_challenge_method=S256",
            provider.authorization_endpoint,
            encode(&config.client_id),
            encode(redirect_uri),
            encode(&config.scopes),
            encode(&secrets.state),
            encode(&secrets.nonce),
            code_challenge(v),
        );
        self.pending.start(
            now,
            secrets.state,
            Pending {
                client_id: config.client_id.clone(),
                secret_file: config.client_secret_file.clone(),
                nonce: secrets.nonce,
                verifier: secrets.verifier,
                redirect_uri: redirect_uri.to_owned(),
            },
        )?;
        Ok(url)
    }

    /// Ends the login of `state` (single use): the browser's login cookie must hold the
    /// same state, so a code cannot be planted in another person's browser.
    pub fn finish(
        &mut self,
        now: Instant,
        state: &str,
        browser_state: Option<&str>,
    ) -> Result<Pending, FlowError> {
        // Taken either way: a state seen with the wrong browser is burnt.
        let pending = self.pending.take(now, state);
        if browser_state != Some(state) {
            return Err(FlowError::Browser);
        }
        pending.ok_or(FlowError::State)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oidc::discovery::ClientAuth;

    fn provider() -> Provider {
        Provider {
            issuer: "https://idp.example.edu".into(),
            authorization_endpoint: "https://idp.example.edu/auth".into(),
            token_endpoint: "https://idp.example.edu/token".into(),
            jwks_uri: "https://idp.example.edu/jwks".into(),
            userinfo_endpoint: None,
            client_auth: ClientAuth::Basic,
        }
    }

    fn secrets(state: &str) -> Secrets {
        Secrets {
            state: state.into(),
            nonce: format!("nonce-{state}"),
            verifier: "v".repeat(43),
        }
    }

    #[test]
    fn pkce_challenge_matches_rfc7636_appendix_b() {
        assert_eq!(
            code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn a_login_finishes_once_in_its_own_browser_and_in_time() {
        let t0 = Instant::now();
        let config = OidcConfig::new("https://idp.example.edu", "amphi", "/s".into());
        let mut logins = Logins::default();
        let url = logins
            .start(
                t0,
                &provider(),
                &config,
                "https://amphi.example.edu/admin/oidc/callback",
                secrets("s1"),
            )
            .expect("start");
        assert!(url.starts_with("https://idp.example.edu/auth?response_type=code&client_id=amphi&"));
        assert!(
            url.contains("redirect_uri=https%3A%2F%2Famphi.example.edu%2Fadmin%2Foidc%2Fcallback")
        );
        assert!(url.contains("&scope=openid%20profile%20email%20groups&"));
        assert!(url.contains("&nonce=nonce-s1&"));
        assert!(url.ends_with(&format!(
            "&code_challenge={}&code_challenge_method=S256",
            code_challenge(&"v".repeat(43))
        )));
        assert!(
            !url.contains(&"v".repeat(43)),
            "the verifier stays on the server"
        );

        let p = logins.finish(t0, "s1", Some("s1")).expect("finish");
        assert_eq!(p.nonce, "nonce-s1");
        assert_eq!(
            logins.finish(t0, "s1", Some("s1")),
            Err(FlowError::State),
            "single use"
        );

        logins
            .start(t0, &provider(), &config, "r", secrets("s2"))
            .expect("start");
        assert_eq!(
            logins.finish(t0, "s2", Some("other")),
            Err(FlowError::Browser)
        );
        assert_eq!(
            logins.finish(t0, "s2", Some("s2")),
            Err(FlowError::State),
            "burnt"
        );

        logins
            .start(t0, &provider(), &config, "r", secrets("s3"))
            .expect("start");
        assert_eq!(
            logins.finish(t0 + LOGIN_TTL, "s3", Some("s3")),
            Err(FlowError::State),
            "expired"
        );

        let mut short = secrets("s4");
        short.verifier = "short".into();
        assert_eq!(
            logins.start(t0, &provider(), &config, "r", short),
            Err(FlowError::Verifier)
        );
    }

    #[test]
    fn pending_logins_are_bounded() {
        let t0 = Instant::now();
        let config = OidcConfig::new("https://idp.example.edu", "amphi", "/s".into());
        let mut logins = Logins::default();
        for i in 0..MAX_PENDING {
            logins
                .start(t0, &provider(), &config, "r", secrets(&i.to_string()))
                .expect("start");
        }
        assert_eq!(
            logins.start(t0, &provider(), &config, "r", secrets("x")),
            Err(FlowError::Busy)
        );
        assert!(logins
            .start(t0 + LOGIN_TTL, &provider(), &config, "r", secrets("x"))
            .is_ok());
        assert_eq!(logins.len(), 1);
    }
}
