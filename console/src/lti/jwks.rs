//! An issuer's JSON Web Key Set and when to fetch it again (sans-IO: the caller fetches).
//! Its RSA keys (RS256) and P-256 keys (ES256) are kept; a key checks only tokens of its
//! own algorithm ([`crate::lti::jwt`]).
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

/// A signing key of a key set.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PublicKey {
    /// Checks RS256 signatures.
    Rsa(RsaPublicKey),
    /// Checks ES256 signatures: the uncompressed P-256 point (`04 || x || y`, 65 bytes).
    P256(Vec<u8>),
}

/// The signing keys of a key set, by `kid` (keys without a kid under "").
#[derive(Debug, Clone, Default)]
pub struct Jwks {
    keys: HashMap<String, PublicKey>,
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
    #[serde(default)]
    crv: Option<String>,
    #[serde(default)]
    x: Option<String>,
    #[serde(default)]
    y: Option<String>,
}

impl Jwk {
    /// The key, when it is an RSA or P-256 signing key with well-formed parameters.
    fn public_key(self) -> Option<PublicKey> {
        if self.use_.as_deref().is_some_and(|u| u != "sig") {
            return None;
        }
        match self.kty.as_str() {
            "RSA" => {
                let n = B64.decode(self.n?).ok()?;
                let e = B64.decode(self.e?).ok()?;
                RsaPublicKey::new(BigUint::from_bytes_be(&n), BigUint::from_bytes_be(&e))
                    .ok()
                    .map(PublicKey::Rsa)
            }
            "EC" if self.crv.as_deref() == Some("P-256") => {
                let x = B64.decode(self.x?).ok()?;
                let y = B64.decode(self.y?).ok()?;
                if x.len() != 32 || y.len() != 32 {
                    return None;
                }
                let mut point = Vec::with_capacity(65);
                point.push(4);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                Some(PublicKey::P256(point))
            }
            _ => None,
        }
    }
}

impl Jwks {
    /// Parses a key set document; keys that are neither RSA nor P-256 signing keys are
    /// skipped.
    pub fn parse(body: &[u8]) -> Result<Jwks, JwksError> {
        if body.len() > MAX_JWKS_BYTES {
            return Err(JwksError::TooLarge);
        }
        let doc: Doc = serde_json::from_slice(body).map_err(|e| JwksError::Json(e.to_string()))?;
        let mut keys = HashMap::new();
        for k in doc.keys {
            let kid = k.kid.clone().unwrap_or_default();
            if let Some(key) = k.public_key() {
                keys.insert(kid, key);
            }
        }
        Ok(Jwks { keys })
    }

    /// The key for `kid`; a token without kid matches a set holding exactly one key.
    pub fn key(&self, kid: Option<&str>) -> Option<&PublicKey> {
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
    pub fn key(&self, issuer: &str, kid: Option<&str>) -> Option<&PublicKey> {
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
        let expected = PublicKey::Rsa(public);
        assert_eq!(jwks.key(Some("k1")), Some(&expected));
        assert_eq!(jwks.key(None), Some(&expected), "a lone key matches no kid");
        assert!(jwks.key(Some("k2")).is_none());
        let mixed = r#"{"keys":[{"kty":"EC","kid":"e","crv":"P-256","x":"AA","y":"AA"},
            {"kty":"EC","kid":"p384","crv":"P-384","x":"AA","y":"AA"},
            {"kty":"RSA","kid":"enc","use":"enc","n":"AQAB","e":"AQAB"}]}"#;
        assert!(Jwks::parse(mixed.as_bytes()).expect("parse").is_empty());
        let x = B64.encode([1u8; 32]);
        let y = B64.encode([2u8; 32]);
        let ec =
            format!(r#"{{"keys":[{{"kty":"EC","kid":"e","crv":"P-256","x":"{x}","y":"{y}"}}]}}"#);
        let ec = Jwks::parse(ec.as_bytes()).expect("parse");
        let Some(PublicKey::P256(point)) = ec.key(Some("e")) else {
            panic!("a P-256 key");
        };
        assert_eq!((point.len(), point[0], point[1], point[64]), (65, 4, 1, 2));
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
