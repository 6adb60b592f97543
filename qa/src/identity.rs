//! Viewer ids minted and signed by the server: who a viewer is on the Q&A API.
//! Pure signing and checking; the key and the clock come from outside.
//!
//! A signed viewer id is `{id}.{expiry_unix}.{base64url(name)}.{base64url(mac)}`:
//! `id` is 22 characters of base64url (16 random bytes), the name is empty unless
//! the event takes names from viewer tokens, and `mac` is HMAC-SHA256 with the
//! server's Q&A key over `amphi-qa-viewer|{event}|{access}|{id}|{expiry}|{name}`,
//! where `access` is `private` or `public`: an id is good for one event, and one
//! minted while the event was public stops working when it becomes private.
//!
//! Rate limits, votes and bans key on `id`, which stays the same when the panel
//! renews its id before expiry. The value travels as `Authorization: Bearer` on the
//! Q&A API only, never on media or playlist URLs.
//!
//! Client addresses are never stored: [`address_tag`] turns one into a keyed hash.

use amphi_time::WallTime;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// How long a minted viewer id is valid (a private event's id never outlives its token).
pub const VIEWER_ID_TTL_SECS: u64 = 12 * 3600;
/// Characters of the random part of a viewer id.
pub const ID_CHARS: usize = 22;
/// Longest signed viewer id checked; anything longer is refused before decoding.
pub const MAX_SIGNED_LEN: usize = 512;
/// Length of the base64url text of a SHA-256 MAC without padding.
const MAC_B64_LEN: usize = 43;

/// What a signed viewer id says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViewerId {
    /// The stable part: rate limits, votes and bans key on it.
    pub id: String,
    pub expires: WallTime,
    /// Display name from a named viewer token.
    pub name: Option<String>,
}

/// Why a signed viewer id was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    #[error("malformed viewer id")]
    Malformed,
    #[error("viewer id signature does not match this event")]
    BadSignature,
    #[error("viewer id expired at {}", .expires.unix_secs())]
    Expired { expires: WallTime },
}

fn keyed(key: &[u8]) -> HmacSha256 {
    <HmacSha256 as KeyInit>::new_from_slice(key).expect("HMAC-SHA256 takes a key of any length")
}

fn mac(key: &[u8], event: &str, private: bool, v: &ViewerId) -> HmacSha256 {
    let mut mac = keyed(key);
    let access = if private { "private" } else { "public" };
    mac.update(
        format!(
            "amphi-qa-viewer|{event}|{access}|{}|{}|",
            v.id,
            v.expires.unix_secs_unsigned()
        )
        .as_bytes(),
    );
    mac.update(v.name.as_deref().unwrap_or("").as_bytes());
    mac
}

/// A fresh random id from 16 random bytes.
pub fn new_id(random: [u8; 16]) -> String {
    URL_SAFE_NO_PAD.encode(random)
}

/// The signed text of `v` for `event`.
pub fn sign(key: &[u8], event: &str, private: bool, v: &ViewerId) -> String {
    let tag = mac(key, event, private, v).finalize().into_bytes();
    format!(
        "{}.{}.{}.{}",
        v.id,
        v.expires.unix_secs_unsigned(),
        URL_SAFE_NO_PAD.encode(v.name.as_deref().unwrap_or("").as_bytes()),
        URL_SAFE_NO_PAD.encode(tag)
    )
}

fn is_b64url(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Checks a signed viewer id for `event` at `now`.
pub fn verify(
    key: &[u8],
    event: &str,
    private: bool,
    text: &str,
    now: WallTime,
) -> Result<ViewerId, IdError> {
    if text.len() > MAX_SIGNED_LEN {
        return Err(IdError::Malformed);
    }
    let mut fields = text.split('.');
    let (Some(id), Some(expiry), Some(name), Some(tag), None) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return Err(IdError::Malformed);
    };
    if id.len() != ID_CHARS || !is_b64url(id) || tag.len() != MAC_B64_LEN {
        return Err(IdError::Malformed);
    }
    let expires = WallTime::parse_unix_secs(expiry).ok_or(IdError::Malformed)?;
    let name = URL_SAFE_NO_PAD
        .decode(name)
        .ok()
        .and_then(|n| String::from_utf8(n).ok())
        .ok_or(IdError::Malformed)?;
    let tag = URL_SAFE_NO_PAD
        .decode(tag)
        .map_err(|_| IdError::Malformed)?;
    let v = ViewerId {
        id: id.to_owned(),
        expires,
        name: (!name.is_empty()).then_some(name),
    };
    // Constant-time comparison before looking at the expiry.
    mac(key, event, private, &v)
        .verify_slice(&tag)
        .map_err(|_| IdError::BadSignature)?;
    if now >= expires {
        return Err(IdError::Expired { expires });
    }
    Ok(v)
}

/// A keyed hash naming a client address in the database (16 characters): equal
/// addresses give equal tags, and the address cannot be read back without the key.
pub fn address_tag(key: &[u8], addr: std::net::IpAddr) -> String {
    let mut mac = keyed(key);
    mac.update(format!("amphi-qa-address|{addr}").as_bytes());
    let tag = mac.finalize().into_bytes();
    let mut text = URL_SAFE_NO_PAD.encode(tag);
    text.truncate(16);
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"server-qa-key-for-tests";
    const NOW: WallTime = WallTime::from_unix_millis(1_800_000_000_000);

    fn s(secs: u64) -> std::time::Duration {
        std::time::Duration::from_secs(secs)
    }

    fn v(name: Option<&str>) -> ViewerId {
        ViewerId {
            id: new_id([7; 16]),
            expires: NOW + s(60),
            name: name.map(str::to_owned),
        }
    }

    #[test]
    fn round_trip() {
        for name in [None, Some("Ada Lovelace"), Some("Zoë <b>")] {
            let t = sign(KEY, "ev", false, &v(name));
            assert!(t
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)));
            assert_eq!(verify(KEY, "ev", false, &t, NOW), Ok(v(name)));
        }
        assert_eq!(new_id([0; 16]).len(), ID_CHARS);
    }

    #[test]
    fn bound_to_event_access_key_and_time() {
        let t = sign(KEY, "ev", false, &v(None));
        assert_eq!(
            verify(KEY, "other", false, &t, NOW),
            Err(IdError::BadSignature)
        );
        assert_eq!(verify(KEY, "ev", true, &t, NOW), Err(IdError::BadSignature));
        assert_eq!(
            verify(b"another key", "ev", false, &t, NOW),
            Err(IdError::BadSignature)
        );
        assert_eq!(
            verify(KEY, "ev", false, &t, NOW + s(60)),
            Err(IdError::Expired {
                expires: NOW + s(60)
            })
        );
    }

    #[test]
    fn tampering_is_refused() {
        let t = sign(KEY, "ev", true, &v(Some("Ada")));
        let parts: Vec<&str> = t.split('.').collect();
        let later = format!("{}.{}.{}.{}", parts[0], 1_800_009_999, parts[2], parts[3]);
        let renamed = format!(
            "{}.{}.{}.{}",
            parts[0],
            parts[1],
            URL_SAFE_NO_PAD.encode("Eve"),
            parts[3]
        );
        let other_id = format!("{}.{}.{}.{}", new_id([8; 16]), parts[1], parts[2], parts[3]);
        for bad in [later, renamed, other_id] {
            assert_eq!(
                verify(KEY, "ev", true, &bad, NOW),
                Err(IdError::BadSignature)
            );
        }
        let padded = format!("{}.0{}.{}.{}", parts[0], parts[1], parts[2], parts[3]);
        assert!(verify(KEY, "ev", true, &padded, NOW).is_err());
    }

    #[test]
    fn garbage_never_panics() {
        let long = "a.".repeat(300);
        for input in [
            "",
            "...",
            "viewer-0001",
            "AAAAAAAAAAAAAAAAAAAAAA.1.",
            "AAAAAAAAAAAAAAAAAAAAAA.1..AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.x",
            "AAAAAAAAAAAAAAAAAAAAAA.99999999999999999999..AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "AAAAAAAAAAAAAAAAAAAAAA.1.//.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "AAAAAAAAAAAAAAAAAAAAAA.1.gA.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "ééééééééééééééééééééé.1..AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            &long,
        ] {
            assert!(verify(KEY, "ev", false, input, NOW).is_err(), "{input:?}");
        }
    }

    #[test]
    fn address_tags() {
        let a: std::net::IpAddr = "192.0.2.7".parse().expect("ip");
        let b: std::net::IpAddr = "2001:db8::7".parse().expect("ip");
        assert_eq!(address_tag(KEY, a), address_tag(KEY, a));
        assert_ne!(address_tag(KEY, a), address_tag(KEY, b));
        assert_ne!(address_tag(KEY, a), address_tag(b"other", a));
        assert!(!address_tag(KEY, a).contains("192"));
        assert_eq!(address_tag(KEY, a).len(), 16);
    }
}
