//! The provider's metadata (`/.well-known/openid-configuration`): where to send the
//! browser, where to exchange the code, where its keys are, where its userinfo is.

use crate::lti::platform::check_url;
use serde::Deserialize;

/// Largest discovery document accepted, in bytes.
pub const MAX_DISCOVERY_BYTES: usize = 64 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum DiscoveryError {
    #[error("discovery document is larger than {MAX_DISCOVERY_BYTES} bytes")]
    TooLarge,
    #[error("discovery document is not OpenID provider metadata: {0}")]
    Json(String),
    #[error("discovery document names issuer {found:?}, expected {expected:?}")]
    Issuer { expected: String, found: String },
    #[error("discovery document: {field} {url:?} must be https:// (http:// only for localhost)")]
    Url { field: &'static str, url: String },
    #[error("provider does not support PKCE with S256")]
    Pkce,
    #[error("provider supports neither client_secret_basic nor client_secret_post")]
    ClientAuth,
}

/// How the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// HTTP Basic with the client id and secret (the default of the spec).
    Basic,
    /// `client_id` and `client_secret` in the form.
    Post,
}

/// What the console uses of the provider's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provider {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    /// Asked for the role claim when the ID token lacks it.
    pub userinfo_endpoint: Option<String>,
    pub client_auth: ClientAuth,
}

#[derive(Deserialize)]
struct Doc {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    #[serde(default)]
    userinfo_endpoint: Option<String>,
    #[serde(default)]
    token_endpoint_auth_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    code_challenge_methods_supported: Option<Vec<String>>,
}

impl Provider {
    /// Parses a discovery document fetched for `expected_issuer`; its `issuer` must be
    /// that issuer (OpenID Connect Discovery §4.3), every endpoint https.
    pub fn parse(body: &[u8], expected_issuer: &str) -> Result<Provider, DiscoveryError> {
        if body.len() > MAX_DISCOVERY_BYTES {
            return Err(DiscoveryError::TooLarge);
        }
        let doc: Doc =
            serde_json::from_slice(body).map_err(|e| DiscoveryError::Json(e.to_string()))?;
        if doc.issuer.trim_end_matches('/') != expected_issuer.trim_end_matches('/') {
            return Err(DiscoveryError::Issuer {
                expected: expected_issuer.to_owned(),
                found: doc.issuer,
            });
        }
        for (field, url) in [
            ("authorization_endpoint", &doc.authorization_endpoint),
            ("token_endpoint", &doc.token_endpoint),
            ("jwks_uri", &doc.jwks_uri),
        ]
        .into_iter()
        .chain(
            doc.userinfo_endpoint
                .as_ref()
                .map(|u| ("userinfo_endpoint", u)),
        ) {
            check_url(url).map_err(|_| DiscoveryError::Url {
                field,
                url: url.clone(),
            })?;
        }
        // Absent means unknown: try S256 (every current provider has it).
        if doc
            .code_challenge_methods_supported
            .as_ref()
            .is_some_and(|m| !m.iter().any(|m| m == "S256"))
        {
            return Err(DiscoveryError::Pkce);
        }
        let client_auth = match &doc.token_endpoint_auth_methods_supported {
            None => ClientAuth::Basic,
            Some(m) if m.iter().any(|m| m == "client_secret_basic") => ClientAuth::Basic,
            Some(m) if m.iter().any(|m| m == "client_secret_post") => ClientAuth::Post,
            Some(_) => return Err(DiscoveryError::ClientAuth),
        };
        Ok(Provider {
            issuer: doc.issuer,
            authorization_endpoint: doc.authorization_endpoint,
            token_endpoint: doc.token_endpoint,
            jwks_uri: doc.jwks_uri,
            userinfo_endpoint: doc.userinfo_endpoint,
            client_auth,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
        let mut d = json!({
            "issuer": "https://idp.example.edu",
            "authorization_endpoint": "https://idp.example.edu/auth",
            "token_endpoint": "https://idp.example.edu/token",
            "jwks_uri": "https://idp.example.edu/jwks",
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        });
        edit(&mut d);
        d.to_string().into_bytes()
    }

    #[test]
    fn parses_and_checks_the_metadata() {
        let p = Provider::parse(&doc(|_| {}), "https://idp.example.edu/").expect("parse");
        assert_eq!(p.token_endpoint, "https://idp.example.edu/token");
        assert_eq!(p.client_auth, ClientAuth::Basic);
        let post =
            doc(|d| d["token_endpoint_auth_methods_supported"] = json!(["client_secret_post"]));
        assert_eq!(
            Provider::parse(&post, "https://idp.example.edu")
                .expect("parse")
                .client_auth,
            ClientAuth::Post
        );
        assert!(matches!(
            Provider::parse(&doc(|_| {}), "https://other.example.edu"),
            Err(DiscoveryError::Issuer { .. })
        ));
        let plain = doc(|d| d["token_endpoint"] = json!("http://idp.example.edu/token"));
        assert!(matches!(
            Provider::parse(&plain, "https://idp.example.edu"),
            Err(DiscoveryError::Url {
                field: "token_endpoint",
                ..
            })
        ));
        let no_pkce = doc(|d| d["code_challenge_methods_supported"] = json!(["plain"]));
        assert_eq!(
            Provider::parse(&no_pkce, "https://idp.example.edu"),
            Err(DiscoveryError::Pkce)
        );
        let jwt_only =
            doc(|d| d["token_endpoint_auth_methods_supported"] = json!(["private_key_jwt"]));
        assert_eq!(
            Provider::parse(&jwt_only, "https://idp.example.edu"),
            Err(DiscoveryError::ClientAuth)
        );
        assert!(matches!(
            Provider::parse(b"[]", "https://idp.example.edu"),
            Err(DiscoveryError::Json(_))
        ));
        let big = vec![b' '; MAX_DISCOVERY_BYTES + 1];
        assert_eq!(
            Provider::parse(&big, "https://idp.example.edu"),
            Err(DiscoveryError::TooLarge)
        );
    }
}
