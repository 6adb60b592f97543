//! Compact JWS with RS256 (and ES256 where asked for): verification against a key set,
//! and signing with the tool's key.
//!
//! One place for every ID token the console checks (LTI 1.3 launches, OpenID Connect
//! logins). LTI launches accept only `RS256` ([`parse`]); OpenID Connect logins accept
//! `RS256` and `ES256` ([`parse_with`], [`OIDC_ALGORITHMS`]). `none`, HMAC and any other
//! algorithm are refused before any key is looked at, and a key checks only tokens of
//! its own kind (an RSA key RS256, a P-256 key ES256), so a token cannot choose how it
//! is checked.

use super::jwks::PublicKey;
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
    #[error("token algorithm {0:?} is not one accepted here")]
    Algorithm(String),
    #[error("token algorithm {alg} does not match the key its kid names")]
    KeyMismatch { alg: &'static str },
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

/// A signature algorithm this module checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// ECDSA on P-256 with SHA-256 (`r || s`, 64 bytes).
    Es256,
}

impl Algorithm {
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Rs256 => "RS256",
            Algorithm::Es256 => "ES256",
        }
    }
}

/// What OpenID Connect logins accept.
pub const OIDC_ALGORITHMS: &[Algorithm] = &[Algorithm::Rs256, Algorithm::Es256];

/// A token split into its parts, signature not yet checked.
#[derive(Debug)]
pub struct Unverified<'a> {
    /// The header's `kid`, if any.
    pub kid: Option<String>,
    /// The header's `alg`, one of those the parse accepted.
    pub alg: Algorithm,
    signing_input: &'a str,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

/// Splits `token` and checks its header asks for RS256.
pub fn parse(token: &str) -> Result<Unverified<'_>, JwtError> {
    parse_with(token, &[Algorithm::Rs256])
}

/// Splits `token` and checks its header asks for one of `accepted`.
pub fn parse_with<'a>(token: &'a str, accepted: &[Algorithm]) -> Result<Unverified<'a>, JwtError> {
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
    let Some(alg) = accepted.iter().copied().find(|a| a.name() == header.alg) else {
        return Err(JwtError::Algorithm(header.alg));
    };
    Ok(Unverified {
        kid: header.kid,
        alg,
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

    /// Checks the signature with `key`, which must be of the token's algorithm;
    /// returns the payload's claims.
    pub fn verify(&self, key: &PublicKey) -> Result<serde_json::Map<String, Value>, JwtError> {
        match (self.alg, key) {
            (Algorithm::Rs256, PublicKey::Rsa(key)) => self.verify_rs256(key)?,
            (Algorithm::Es256, PublicKey::P256(point)) => {
                ring::signature::UnparsedPublicKey::new(
                    &ring::signature::ECDSA_P256_SHA256_FIXED,
                    point,
                )
                .verify(self.signing_input.as_bytes(), &self.signature)
                .map_err(|_| JwtError::BadSignature)?;
            }
            (alg, _) => return Err(JwtError::KeyMismatch { alg: alg.name() }),
        }
        match serde_json::from_slice(&self.payload) {
            Ok(Value::Object(claims)) => Ok(claims),
            _ => Err(JwtError::Payload),
        }
    }
}

impl Unverified<'_> {
    fn verify_rs256(&self, key: &RsaPublicKey) -> Result<(), JwtError> {
        let signature =
            Signature::try_from(self.signature.as_slice()).map_err(|_| JwtError::BadSignature)?;
        VerifyingKey::<Sha256>::new(key.clone())
            .verify(self.signing_input.as_bytes(), &signature)
            .map_err(|_| JwtError::BadSignature)
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
        let public = PublicKey::Rsa(key.to_public_key());
        let claims = parsed.verify(&public).expect("verify");
        assert_eq!(claims["sub"], "a");

        let (head, _) = token.rsplit_once('.').expect("three parts");
        let body = B64.encode(r#"{"sub":"b"}"#);
        let h = head.split('.').next().expect("header");
        let forged = format!("{h}.{body}.{}", token.rsplit('.').next().expect("sig"));
        assert_eq!(
            parse(&forged).expect("parse").verify(&public),
            Err(JwtError::BadSignature)
        );
    }

    /// An ES256 token signed by a fresh P-256 key; returns it and the key's point.
    fn es256_token(claims: &Value) -> (String, Vec<u8>) {
        use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).expect("key");
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .expect("key pair");
        let header = serde_json::json!({ "alg": "ES256", "kid": "ec1" });
        let input = format!(
            "{}.{}",
            B64.encode(header.to_string()),
            B64.encode(claims.to_string())
        );
        let sig = pair.sign(&rng, input.as_bytes()).expect("sign");
        (
            format!("{input}.{}", B64.encode(sig.as_ref())),
            pair.public_key().as_ref().to_vec(),
        )
    }

    #[test]
    fn es256_verifies_where_accepted_and_only_with_its_own_kind_of_key() {
        let (token, point) = es256_token(&serde_json::json!({"sub": "e"}));
        let ec = PublicKey::P256(point);
        assert_eq!(
            parse(&token).err(),
            Some(JwtError::Algorithm("ES256".into())),
            "LTI launches take RS256 only"
        );
        let parsed = parse_with(&token, OIDC_ALGORITHMS).expect("parse");
        assert_eq!(parsed.alg, Algorithm::Es256);
        assert_eq!(parsed.verify(&ec).expect("verify")["sub"], "e");
        let rsa = PublicKey::Rsa(test_key().to_public_key());
        assert_eq!(
            parsed.verify(&rsa),
            Err(JwtError::KeyMismatch { alg: "ES256" })
        );
        let (other, _) = es256_token(&serde_json::json!({"sub": "e"}));
        let (input, _) = token.rsplit_once('.').expect("parts");
        let forged = format!("{input}.{}", other.rsplit('.').next().expect("sig"));
        assert_eq!(
            parse_with(&forged, OIDC_ALGORITHMS)
                .expect("parse")
                .verify(&ec),
            Err(JwtError::BadSignature)
        );
        // An RS256 token is not checked with a P-256 key.
        let rs = sign(test_key(), "k1", &serde_json::json!({"sub": "r"}));
        assert_eq!(
            parse_with(&rs, OIDC_ALGORITHMS).expect("parse").verify(&ec),
            Err(JwtError::KeyMismatch { alg: "RS256" })
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
