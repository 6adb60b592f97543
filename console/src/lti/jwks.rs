//! An issuer's JSON Web Key Set and when to fetch it again (sans-IO: the caller fetches).
//!
//! Keys are cached per issuer. A token whose `kid` is not in the cache asks for one
//! refetch (the platform may have rotated its key), at most once per
//! [`REFETCH_INTERVAL`], so a stream of tokens with made-up kids cannot make the tool
//! hammer the platform. A cached set older than [`MAX_AGE`] is refreshed on next use.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use rsa::{BigUint, RsaPublicKey};
use serde::Deserialize;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Least time between two fetches of one issuer's key set.
pub const REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// A cached key set is fetched again after this long.
pub const MAX_AGE: Duration = Duration::from_secs(3600);
/// Largest key set document accepted, in bytes.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwksError {
    #[error("key set is not JSON with a \"keys\" array: {0}")]
    Json(String),
    #[error("key set is larger than {MAX_JWKS_BYTES} bytes")]
    TooLarge,
}

/// The RSA signing keys of a key set, by `kid` (keys without a kid under "").
#[derive(Debug, Clone, Default)]
pub struct Jwks {
    keys: HashMap<String, RsaPublicKey>,
}

#[derive(Deserialize)]
struct Doc {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default, rename = "use")]
    use_: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
}

impl Jwks {
    /// Parses a key set document; keys that are not RSA signing keys are skipped.
    pub fn parse(body: &[u8]) -> Result<Jwks, JwksError> {
        if body.len() > MAX_JWKS_BYTES {
            return Err(JwksError::TooLarge);
        }
        let doc: Doc = serde_json::from_slice(body).map_err(|e| JwksError::Json(e.to_string()))?;
        let mut keys = HashMap::new();
        for k in doc.keys {
            if k.kty != "RSA" || k.use_.as_deref().is_some_and(|u| u != "sig") {
                continue;
            }
            let (Some(n), Some(e)) = (k.n, k.e) else {
                continue;
            };
            let (Ok(n), Ok(e)) = (B64.decode(n), B64.decode(e)) else {
                continue;
            };
            if let Ok(key) =
                RsaPublicKey::new(BigUint::from_bytes_be(&n), BigUint::from_bytes_be(&e))
            {
                keys.insert(k.kid.unwrap_or_default(), key);
            }
        }
        Ok(Jwks { keys })
    }

    /// The key for `kid`; a token without kid matches a set holding exactly one key.
    pub fn key(&self, kid: Option<&str>) -> Option<&RsaPublicKey> {
        match kid {
            Some(kid) => self.keys.get(kid),
            None if self.keys.len() == 1 => self.keys.values().next(),
            None => None,
        }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[derive(Debug, Default)]
struct Entry {
    jwks: Option<Jwks>,
    fetched: Option<Instant>,
    attempted: Option<Instant>,
}

/// Key sets per issuer, with the fetch policy above.
#[derive(Debug, Default)]
pub struct JwksCache {
    issuers: HashMap<String, Entry>,
}

impl JwksCache {
    /// Whether the caller should fetch `issuer`'s key set before checking a token with
    /// `kid`; when true, the attempt is recorded (call [`JwksCache::store`] with the result).
    pub fn should_fetch(&mut self, issuer: &str, kid: Option<&str>, now: Instant) -> bool {
        let entry = self.issuers.entry(issuer.to_owned()).or_default();
        let stale = match (&entry.jwks, entry.fetched) {
            (Some(jwks), Some(at)) => {
                now.saturating_duration_since(at) >= MAX_AGE || jwks.key(kid).is_none()
            }
            _ => true,
        };
        let allowed = entry
            .attempted
            .is_none_or(|at| now.saturating_duration_since(at) >= REFETCH_INTERVAL);
        if stale && allowed {
            entry.attempted = Some(now);
            true
        } else {
            false
        }
    }

    /// Records a fetched key set.
    pub fn store(&mut self, issuer: &str, jwks: Jwks, now: Instant) {
        let entry = self.issuers.entry(issuer.to_owned()).or_default();
        entry.jwks = Some(jwks);
        entry.fetched = Some(now);
    }

    /// The cached key for `kid` of `issuer`.
    pub fn key(&self, issuer: &str, kid: Option<&str>) -> Option<&RsaPublicKey> {
        self.issuers.get(issuer)?.jwks.as_ref()?.key(kid)
    }

    /// Forgets an issuer (its platform was removed).
    pub fn forget(&mut self, issuer: &str) {
        self.issuers.remove(issuer);
    }
}

/// The public key set document for `key` under `kid`.
pub fn document(key: &RsaPublicKey, kid: &str) -> serde_json::Value {
    use rsa::traits::PublicKeyParts;
    serde_json::json!({
        "keys": [{
            "kty": "RSA",
            "alg": "RS256",
            "use": "sig",
            "kid": kid,
            "n": B64.encode(key.n().to_bytes_be()),
            "e": B64.encode(key.e().to_bytes_be()),
        }]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lti::jwt::tests::test_key;

    #[test]
    fn document_round_trips_and_foreign_keys_are_skipped() {
        let public = test_key().to_public_key();
        let doc = document(&public, "k1");
        let jwks = Jwks::parse(doc.to_string().as_bytes()).expect("parse");
        assert_eq!(jwks.key(Some("k1")), Some(&public));
        assert_eq!(jwks.key(None), Some(&public), "a lone key matches no kid");
        assert!(jwks.key(Some("k2")).is_none());
        let mixed = r#"{"keys":[{"kty":"EC","kid":"e","crv":"P-256","x":"AA","y":"AA"},
            {"kty":"RSA","kid":"enc","use":"enc","n":"AQAB","e":"AQAB"}]}"#;
        assert!(Jwks::parse(mixed.as_bytes()).expect("parse").is_empty());
        assert!(matches!(Jwks::parse(b"[]"), Err(JwksError::Json(_))));
    }

    #[test]
    fn unknown_kid_refetches_at_most_once_per_interval() {
        let t0 = Instant::now();
        let mut cache = JwksCache::default();
        assert!(cache.should_fetch("iss", Some("k1"), t0), "nothing cached");
        assert!(
            !cache.should_fetch("iss", Some("k1"), t0),
            "fetch under way"
        );
        let doc = document(&test_key().to_public_key(), "k1");
        cache.store(
            "iss",
            Jwks::parse(doc.to_string().as_bytes()).expect("parse"),
            t0,
        );
        assert!(!cache.should_fetch("iss", Some("k1"), t0 + REFETCH_INTERVAL));
        assert!(cache.key("iss", Some("k1")).is_some());
        // A rotated (unknown) kid: one refetch, then none until the interval passes.
        let t1 = t0 + REFETCH_INTERVAL;
        assert!(cache.should_fetch("iss", Some("k9"), t1));
        assert!(!cache.should_fetch("iss", Some("k9"), t1 + Duration::from_secs(1)));
        assert!(cache.should_fetch("iss", Some("k9"), t1 + REFETCH_INTERVAL));
        // An old set is refreshed even for a known kid.
        assert!(cache.should_fetch("iss", Some("k1"), t0 + MAX_AGE));
    }
}
