//! Viewer tokens for private events: pure signing and checking, no clock of its own.
//!
//! A token is `{expiry_unix}.{base64url(mac)}` where `mac` is HMAC-SHA256, keyed with the
//! event's viewer secret, over `{event_id}|{expiry_unix}`. It names no viewer: a MOOC
//! platform mints one token per event and expiry bucket and hands the same text to a
//! whole cohort, so the path segment `/live/{event}/t/{token}/…` stays cacheable.
//!
//! Tokens use only `0-9`, `.`, `A-Z`, `a-z`, `-` and `_`: safe as one URL path segment.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Longest token text checked; anything longer is refused before decoding.
pub const MAX_TOKEN_LEN: usize = 128;
/// Length of the base64url text of a SHA-256 MAC without padding.
const MAC_B64_LEN: usize = 43;

/// Why a viewer token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    #[error("malformed viewer token")]
    Malformed,
    #[error("viewer token expired at {expires_unix}")]
    Expired { expires_unix: u64 },
    #[error("viewer token signature does not match this event")]
    BadSignature,
}

fn mac(secret: &[u8], event: &str, expires_unix: u64) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret)
        .expect("HMAC-SHA256 takes a key of any length");
    mac.update(event.as_bytes());
    mac.update(b"|");
    mac.update(expires_unix.to_string().as_bytes());
    mac
}

/// The token granting access to `event` until `expires_unix` (seconds since 1970).
pub fn sign(secret: &[u8], event: &str, expires_unix: u64) -> String {
    let tag = mac(secret, event, expires_unix).finalize().into_bytes();
    format!("{expires_unix}.{}", URL_SAFE_NO_PAD.encode(tag))
}

/// Checks `token` for `event` at `now_unix`; returns its expiry when valid.
pub fn verify(secret: &[u8], event: &str, token: &str, now_unix: u64) -> Result<u64, TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed);
    }
    let (expiry, tag) = token.split_once('.').ok_or(TokenError::Malformed)?;
    if expiry.is_empty() || expiry.len() > 20 || !expiry.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TokenError::Malformed);
    }
    let expires_unix: u64 = expiry.parse().map_err(|_| TokenError::Malformed)?;
    if tag.len() != MAC_B64_LEN {
        return Err(TokenError::Malformed);
    }
    let tag = URL_SAFE_NO_PAD
        .decode(tag)
        .map_err(|_| TokenError::Malformed)?;
    // Constant-time comparison of the MAC, before looking at the expiry, so a forged
    // token learns nothing from the answer.
    mac(secret, event, expires_unix)
        .verify_slice(&tag)
        .map_err(|_| TokenError::BadSignature)?;
    // The canonical decimal form only: "0012" would sign the same MAC input differently.
    if expiry != expires_unix.to_string() {
        return Err(TokenError::Malformed);
    }
    if now_unix >= expires_unix {
        return Err(TokenError::Expired { expires_unix });
    }
    Ok(expires_unix)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"k3yk3yk3y-viewer-secret";
    const NOW: u64 = 1_800_000_000;

    #[test]
    fn round_trip() {
        let t = sign(SECRET, "physics-101", NOW + 3600);
        assert!(t.starts_with("1800003600."));
        assert!(t
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_'));
        assert_eq!(verify(SECRET, "physics-101", &t, NOW), Ok(NOW + 3600));
    }

    #[test]
    fn expired_is_rejected() {
        let t = sign(SECRET, "ev", NOW);
        assert_eq!(
            verify(SECRET, "ev", &t, NOW),
            Err(TokenError::Expired { expires_unix: NOW })
        );
        assert_eq!(verify(SECRET, "ev", &t, NOW - 1), Ok(NOW));
    }

    #[test]
    fn wrong_event_or_secret_is_rejected() {
        let t = sign(SECRET, "ev", NOW + 60);
        assert_eq!(
            verify(SECRET, "other", &t, NOW),
            Err(TokenError::BadSignature)
        );
        assert_eq!(
            verify(b"another secret", "ev", &t, NOW),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn tampered_is_rejected() {
        let t = sign(SECRET, "ev", NOW + 60);
        // A later expiry with the old MAC.
        let (_, tag) = t.split_once('.').expect("a dot");
        let longer = format!("{}.{tag}", NOW + 999_999);
        assert_eq!(
            verify(SECRET, "ev", &longer, NOW),
            Err(TokenError::BadSignature)
        );
        // Every single-character change of the MAC.
        let dot = t.find('.').expect("a dot");
        for i in dot + 1..t.len() {
            let mut bytes = t.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let bad = String::from_utf8(bytes).expect("ascii");
            assert!(verify(SECRET, "ev", &bad, NOW).is_err(), "{bad}");
        }
        // A leading zero changes the text but not the number.
        let padded = format!("0{t}");
        assert_eq!(
            verify(SECRET, "ev", &padded, NOW),
            Err(TokenError::Malformed)
        );
    }

    #[test]
    fn garbage_never_panics() {
        let long = "9".repeat(500);
        let inputs = [
            "",
            ".",
            "..",
            "abc",
            "123",
            "123.",
            ".abc",
            "18446744073709551616.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "99999999999999999999.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "-1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            "1.!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
            "1.é",
            "1.ééééééééééééééééééééé",
            &long,
        ];
        for input in inputs {
            assert!(verify(SECRET, "ev", input, NOW).is_err(), "{input:?}");
        }
        for len in 0..100 {
            let s: String = (0..len)
                .map(|i| (b'.' + (i * 7 % 77) as u8) as char)
                .collect();
            assert!(verify(SECRET, "ev", &s, NOW).is_err());
        }
    }
}
