//! Compact JWS with RS256: verification against a key set, and signing with the tool's key.
//!
//! One place for every ID token the console checks (LTI 1.3 launches, OpenID Connect
//! logins). Only `RS256` is accepted: `none`, HMAC and other algorithms are refused before
//! any key is looked at, so a token cannot choose how it is checked.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::{RsaPrivateKey, RsaPublicKey};
use serde::Deserialize;
use serde_json::Value;
use sha2_010::Sha256;

/// Longest token text looked at; anything longer is refused before decoding.
pub const MAX_JWT_LEN: usize = 16 * 1024;

/// Why a token's signature was not accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum JwtError {
    #[error("token is not a compact JWS (three base64url parts, at most {MAX_JWT_LEN} bytes)")]
    Malformed,
    #[error("token header: {0}")]
    Header(String),
    #[error("token algorithm {0:?} is not RS256")]
    Algorithm(String),
    #[error("no key with kid {0:?} in the issuer's key set")]
    UnknownKid(String),
    #[error("token signature does not verify")]
    BadSignature,
    #[error("token payload is not a JSON object")]
    Payload,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

/// A token split into its parts, signature not yet checked.
#[derive(Debug)]
pub struct Unverified<'a> {
    /// The header's `kid`, if any.
    pub kid: Option<String>,
    signing_input: &'a str,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

/// Splits `token` and checks its header asks for RS256.
pub fn parse(token: &str) -> Result<Unverified<'_>, JwtError> {
    if token.len() > MAX_JWT_LEN {
        return Err(JwtError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtError::Malformed);
    };
    let header = B64.decode(h).map_err(|_| JwtError::Malformed)?;
    let header: Header =
        serde_json::from_slice(&header).map_err(|e| JwtError::Header(e.to_string()))?;
    if header.alg != "RS256" {
        return Err(JwtError::Algorithm(header.alg));
    }
    Ok(Unverified {
        kid: header.kid,
        signing_input: &token[..h.len() + 1 + p.len()],
        payload: B64.decode(p).map_err(|_| JwtError::Malformed)?,
        signature: B64.decode(s).map_err(|_| JwtError::Malformed)?,
    })
}

impl Unverified<'_> {
    /// The payload's claims before the signature is checked: only to pick the issuer's
    /// key set, never to decide anything else.
    pub fn unverified_claims(&self) -> Option<serde_json::Map<String, Value>> {
        match serde_json::from_slice(&self.payload) {
            Ok(Value::Object(claims)) => Some(claims),
            _ => None,
        }
    }

    /// Checks the signature with `key`; returns the payload's claims.
    pub fn verify(&self, key: &RsaPublicKey) -> Result<serde_json::Map<String, Value>, JwtError> {
        let signature =
            Signature::try_from(self.signature.as_slice()).map_err(|_| JwtError::BadSignature)?;
        VerifyingKey::<Sha256>::new(key.clone())
            .verify(self.signing_input.as_bytes(), &signature)
            .map_err(|_| JwtError::BadSignature)?;
        match serde_json::from_slice(&self.payload) {
            Ok(Value::Object(claims)) => Ok(claims),
            _ => Err(JwtError::Payload),
        }
    }
}

/// Signs `claims` with RS256 under `kid`.
pub fn sign(key: &RsaPrivateKey, kid: &str, claims: &Value) -> String {
    let header = serde_json::json!({ "alg": "RS256", "typ": "JWT", "kid": kid });
    let input = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    );
    let signature = SigningKey::<Sha256>::new(key.clone()).sign(input.as_bytes());
    format!("{input}.{}", B64.encode(signature.to_vec()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::sync::OnceLock;

    /// One 2048-bit key for all tests of the crate (generating one takes a while).
    pub(crate) fn test_key() -> &'static RsaPrivateKey {
        static KEY: OnceLock<RsaPrivateKey> = OnceLock::new();
        KEY.get_or_init(|| {
            RsaPrivateKey::new(&mut rand::thread_rng(), 2048).expect("generating a test key")
        })
    }

    #[test]
    fn signed_token_verifies_and_tampering_does_not() {
        let key = test_key();
        let token = sign(key, "k1", &serde_json::json!({"sub": "a"}));
        let parsed = parse(&token).expect("parse");
        assert_eq!(parsed.kid.as_deref(), Some("k1"));
        let claims = parsed.verify(&key.to_public_key()).expect("verify");
        assert_eq!(claims["sub"], "a");

        let (head, _) = token.rsplit_once('.').expect("three parts");
        let body = B64.encode(r#"{"sub":"b"}"#);
        let h = head.split('.').next().expect("header");
        let forged = format!("{h}.{body}.{}", token.rsplit('.').next().expect("sig"));
        assert_eq!(
            parse(&forged).expect("parse").verify(&key.to_public_key()),
            Err(JwtError::BadSignature)
        );
    }

    #[test]
    fn other_algorithms_and_shapes_are_refused() {
        let none = format!("{}.{}.", B64.encode(r#"{"alg":"none"}"#), B64.encode("{}"));
        assert_eq!(parse(&none).err(), Some(JwtError::Algorithm("none".into())));
        let hs = format!(
            "{}.{}.AA",
            B64.encode(r#"{"alg":"HS256"}"#),
            B64.encode("{}")
        );
        assert_eq!(parse(&hs).err(), Some(JwtError::Algorithm("HS256".into())));
        assert_eq!(parse("a.b").err(), Some(JwtError::Malformed));
        assert_eq!(parse("a.b.c.d").err(), Some(JwtError::Malformed));
        assert_eq!(
            parse(&"a".repeat(MAX_JWT_LEN + 1)).err(),
            Some(JwtError::Malformed)
        );
    }
}
