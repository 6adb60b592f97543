//! Viewer tokens for private events: pure signing and checking, no clock of its own.
//!
//! A token is `{expiry_unix}.{base64url(mac)}` where `mac` is HMAC-SHA256, keyed with the
//! event's viewer secret, over `{event_id}|{expiry_unix}`. It names no viewer: a MOOC
//! platform mints one token per event and expiry bucket and hands the same text to a
//! whole cohort, so the path segment `/live/{event}/t/{token}/…` stays cacheable.
//!
//! A *named* token adds the viewer's display name for events whose Q&A takes names from
//! the course platform: `{expiry_unix}.{base64url(mac)}.{base64url(name)}.{base64url(mac2)}`
//! where `mac2` is keyed the same over `{event_id}|{expiry_unix}|{name}`. Its first two
//! fields are the cohort token, so the player keeps media URLs shared by the cohort and
//! sends the whole token only to the Q&A API.
//!
//! Tokens use only `0-9`, `.`, `A-Z`, `a-z`, `-` and `_`: safe as one URL path segment.

use amphi_time::WallTime;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Longest token text checked; anything longer is refused before decoding.
pub const MAX_TOKEN_LEN: usize = 512;
/// Longest display name a named token carries, in bytes of UTF-8.
pub const MAX_NAME_BYTES: usize = 240;
/// Length of the base64url text of a SHA-256 MAC without padding.
const MAC_B64_LEN: usize = 43;

/// Why a viewer token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    #[error("malformed viewer token")]
    Malformed,
    #[error("viewer token expired at {}", .expires.unix_secs())]
    Expired { expires: WallTime },
    #[error("viewer token signature does not match this event")]
    BadSignature,
}

/// What a valid token grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    pub expires: WallTime,
    /// The viewer's display name, for a named token.
    pub name: Option<String>,
}

/// The MAC over `{event}|{expiry}`, `expiry` being the token's decimal seconds text.
fn mac(secret: &[u8], event: &str, expiry: &str) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret)
        .expect("HMAC-SHA256 takes a key of any length");
    mac.update(event.as_bytes());
    mac.update(b"|");
    mac.update(expiry.as_bytes());
    mac
}

/// The token granting access to `event` until `expires` (whole seconds; a token
/// carries its expiry as Unix seconds).
pub fn sign(secret: &[u8], event: &str, expires: WallTime) -> String {
    let expiry = expires.unix_secs_unsigned().to_string();
    let tag = mac(secret, event, &expiry).finalize().into_bytes();
    format!("{expiry}.{}", URL_SAFE_NO_PAD.encode(tag))
}

fn name_mac(secret: &[u8], event: &str, expiry: &str, name: &str) -> HmacSha256 {
    let mut mac = mac(secret, event, expiry);
    mac.update(b"|");
    mac.update(name.as_bytes());
    mac
}

/// A named token for one viewer of `event` until `expires`; `None` when the name is
/// empty or longer than [`MAX_NAME_BYTES`].
pub fn sign_named(secret: &[u8], event: &str, expires: WallTime, name: &str) -> Option<String> {
    if name.is_empty() || name.len() > MAX_NAME_BYTES {
        return None;
    }
    let expiry = expires.unix_secs_unsigned().to_string();
    let tag = name_mac(secret, event, &expiry, name)
        .finalize()
        .into_bytes();
    Some(format!(
        "{}.{}.{}",
        sign(secret, event, expires),
        URL_SAFE_NO_PAD.encode(name.as_bytes()),
        URL_SAFE_NO_PAD.encode(tag)
    ))
}

/// Checks `token` for `event` at `now`; returns its expiry when valid.
pub fn verify(
    secret: &[u8],
    event: &str,
    token: &str,
    now: WallTime,
) -> Result<WallTime, TokenError> {
    verify_claims(secret, event, token, now).map(|c| c.expires)
}

/// Checks a cohort or named `token` for `event` at `now`; returns what it grants.
pub fn verify_claims(
    secret: &[u8],
    event: &str,
    token: &str,
    now: WallTime,
) -> Result<Claims, TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed);
    }
    let mut fields = token.splitn(3, '.');
    let (Some(expiry), Some(tag)) = (fields.next(), fields.next()) else {
        return Err(TokenError::Malformed);
    };
    let named = fields.next();
    // The canonical decimal form only: "0012" would sign the same MAC input differently.
    let expires = WallTime::parse_unix_secs(expiry).ok_or(TokenError::Malformed)?;
    if tag.len() != MAC_B64_LEN {
        return Err(TokenError::Malformed);
    }
    let tag = URL_SAFE_NO_PAD
        .decode(tag)
        .map_err(|_| TokenError::Malformed)?;
    // Constant-time comparison of the MAC, before looking at the expiry, so a forged
    // token learns nothing from the answer.
    mac(secret, event, expiry)
        .verify_slice(&tag)
        .map_err(|_| TokenError::BadSignature)?;
    let name = match named {
        None => None,
        Some(named) => Some(verify_name(secret, event, expiry, named)?),
    };
    if now >= expires {
        return Err(TokenError::Expired { expires });
    }
    Ok(Claims { expires, name })
}

/// Checks the `{base64url(name)}.{base64url(mac2)}` tail of a named token.
fn verify_name(
    secret: &[u8],
    event: &str,
    expiry: &str,
    named: &str,
) -> Result<String, TokenError> {
    let (name, tag) = named.split_once('.').ok_or(TokenError::Malformed)?;
    if tag.len() != MAC_B64_LEN || name.is_empty() || name.contains('.') {
        return Err(TokenError::Malformed);
    }
    let name = URL_SAFE_NO_PAD
        .decode(name)
        .map_err(|_| TokenError::Malformed)?;
    let tag = URL_SAFE_NO_PAD
        .decode(tag)
        .map_err(|_| TokenError::Malformed)?;
    let name = String::from_utf8(name).map_err(|_| TokenError::Malformed)?;
    name_mac(secret, event, expiry, &name)
        .verify_slice(&tag)
        .map_err(|_| TokenError::BadSignature)?;
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"k3yk3yk3y-viewer-secret";
    const NOW: WallTime = WallTime::from_unix_millis(1_800_000_000_000);

    fn s(secs: u64) -> std::time::Duration {
        std::time::Duration::from_secs(secs)
    }

    #[test]
    fn round_trip() {
        let t = sign(SECRET, "physics-101", NOW + s(3600));
        assert!(t.starts_with("1800003600."));
        assert!(t
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_'));
        assert_eq!(verify(SECRET, "physics-101", &t, NOW), Ok(NOW + s(3600)));
    }

    #[test]
    fn expired_is_rejected() {
        let t = sign(SECRET, "ev", NOW);
        assert_eq!(
            verify(SECRET, "ev", &t, NOW),
            Err(TokenError::Expired { expires: NOW })
        );
        assert_eq!(verify(SECRET, "ev", &t, NOW - s(1)), Ok(NOW));
    }

    #[test]
    fn wrong_event_or_secret_is_rejected() {
        let t = sign(SECRET, "ev", NOW + s(60));
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
        let t = sign(SECRET, "ev", NOW + s(60));
        // A later expiry with the old MAC.
        let (_, tag) = t.split_once('.').expect("a dot");
        let longer = format!("{}.{tag}", 1_800_999_999);
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
    fn named_tokens() {
        let t = sign_named(SECRET, "ev", NOW + s(60), "Ada Lovelace").expect("a name");
        let claims = verify_claims(SECRET, "ev", &t, NOW).expect("valid");
        assert_eq!(claims.name.as_deref(), Some("Ada Lovelace"));
        assert_eq!(claims.expires, NOW + s(60));
        // Its first two fields are the cohort token, valid without a name.
        let cohort: Vec<&str> = t.splitn(3, '.').take(2).collect();
        let cohort = cohort.join(".");
        assert_eq!(cohort, sign(SECRET, "ev", NOW + s(60)));
        assert_eq!(
            verify_claims(SECRET, "ev", &cohort, NOW).map(|c| c.name),
            Ok(None)
        );
        // Another name with the same MAC is refused, and so is a wrong secret.
        let (head, tail) = t.rsplit_once('.').expect("dots");
        let (head, _) = head.rsplit_once('.').expect("dots");
        let other = format!("{head}.{}.{tail}", URL_SAFE_NO_PAD.encode("Eve"));
        assert_eq!(
            verify_claims(SECRET, "ev", &other, NOW),
            Err(TokenError::BadSignature)
        );
        assert!(verify_claims(b"other", "ev", &t, NOW).is_err());
        assert_eq!(
            verify_claims(SECRET, "ev", &t, NOW + s(60)),
            Err(TokenError::Expired {
                expires: NOW + s(60)
            })
        );
        assert_eq!(sign_named(SECRET, "ev", NOW, ""), None);
        assert_eq!(sign_named(SECRET, "ev", NOW, &"x".repeat(241)), None);
        assert!(sign_named(SECRET, "ev", NOW + s(60), &"é".repeat(120))
            .is_some_and(|t| t.len() <= MAX_TOKEN_LEN));
        for bad in [format!("{t}."), format!("{t}.x"), format!("{head}..{tail}")] {
            assert!(verify_claims(SECRET, "ev", &bad, NOW).is_err(), "{bad}");
        }
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
