//! The claims of a signature-checked ID token (OpenID Connect Core §3.1.3.7): issuer,
//! audience and authorized party, expiry and issue time (the console's one rule for each,
//! [`crate::audience`] and [`crate::token_times`], as for LTI launches), and the nonce
//! sent at login.

use crate::audience::{self, AudienceError};
use crate::token_times::{self, TimeError};
use amphi_time::WallTime;
use serde_json::{Map, Value};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum IdTokenError {
    #[error("ID token has no {0} claim (or not of the right type)")]
    Missing(&'static str),
    #[error("ID token issuer {found:?} is not the configured issuer")]
    Issuer { found: String },
    #[error("ID token audience {found} does not include this console's client id")]
    Audience { found: String },
    #[error("ID token authorized party {found:?} is not this console's client id")]
    AuthorizedParty { found: String },
    #[error("ID token {0}")]
    Times(TimeError),
    #[error("ID token has no nonce (replayed or unsolicited token)")]
    NoNonce,
    #[error("ID token nonce does not match this login's (replayed token)")]
    Nonce,
}

/// What the token must say.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
}

fn string<'a>(claims: &'a Map<String, Value>, name: &'static str) -> Result<&'a str, IdTokenError> {
    claims
        .get(name)
        .and_then(Value::as_str)
        .ok_or(IdTokenError::Missing(name))
}

impl From<AudienceError> for IdTokenError {
    fn from(e: AudienceError) -> Self {
        match e {
            AudienceError::Missing => IdTokenError::Missing("aud"),
            AudienceError::NotNamed { found } => IdTokenError::Audience { found },
            AudienceError::NoAuthorizedParty => IdTokenError::Missing("azp"),
            AudienceError::AuthorizedParty { found } => IdTokenError::AuthorizedParty { found },
        }
    }
}

impl From<TimeError> for IdTokenError {
    fn from(e: TimeError) -> Self {
        match e {
            TimeError::Missing(name) => IdTokenError::Missing(name),
            other => IdTokenError::Times(other),
        }
    }
}

/// Checks the claims of a token whose signature was verified, at `now`.
pub fn check(
    claims: &Map<String, Value>,
    expected: &Expected<'_>,
    now: WallTime,
) -> Result<(), IdTokenError> {
    let iss = string(claims, "iss")?;
    if iss.trim_end_matches('/') != expected.issuer.trim_end_matches('/') {
        return Err(IdTokenError::Issuer {
            found: iss.to_owned(),
        });
    }
    string(claims, "sub")?;
    audience::check(claims, expected.client_id)?;
    token_times::check(claims, now)?;
    match claims.get("nonce").and_then(Value::as_str) {
        None => Err(IdTokenError::NoNonce),
        Some(n) if !constant_time_eq(n.as_bytes(), expected.nonce.as_bytes()) => {
            Err(IdTokenError::Nonce)
        }
        Some(_) => Ok(()),
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The user name for the console: `user_claim` if configured, else the first of
/// preferred_username, email and sub; at most 64 characters.
pub fn user_name(claims: &Map<String, Value>, user_claim: Option<&str>) -> Option<String> {
    let pick = |name: &str| {
        claims
            .get(name)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let found = match user_claim {
        Some(c) => pick(c),
        None => super::config::DEFAULT_USER_CLAIMS
            .iter()
            .find_map(|c| pick(c)),
    }?;
    Some(found.chars().filter(|c| !c.is_control()).take(64).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: u64 = 1_800_000_000;

    fn at(secs: u64) -> WallTime {
        WallTime::from_unix_secs(secs)
    }

    fn claims(edit: impl FnOnce(&mut Value)) -> Map<String, Value> {
        let mut c = json!({
            "iss": "https://idp.example.edu",
            "sub": "u-1",
            "aud": "amphi",
            "exp": NOW + 300,
            "iat": NOW - 5,
            "nonce": "n1",
            "preferred_username": "ada",
        });
        edit(&mut c);
        match c {
            Value::Object(m) => m,
            _ => unreachable!("an object literal"),
        }
    }

    const EXPECTED: Expected<'static> = Expected {
        issuer: "https://idp.example.edu",
        client_id: "amphi",
        nonce: "n1",
    };

    #[test]
    fn a_good_token_passes_and_each_bad_claim_is_named() {
        assert_eq!(check(&claims(|_| {}), &EXPECTED, at(NOW)), Ok(()));
        type Edit = Box<dyn FnOnce(&mut Value)>;
        let cases: Vec<(Edit, IdTokenError)> = vec![
            (
                Box::new(|c| c["iss"] = json!("https://evil.example")),
                IdTokenError::Issuer {
                    found: "https://evil.example".into(),
                },
            ),
            (
                Box::new(|c| c["aud"] = json!("grades")),
                IdTokenError::Audience {
                    found: "[\"grades\"]".into(),
                },
            ),
            (
                Box::new(|c| c["aud"] = json!(["amphi", "grades"])),
                IdTokenError::Missing("azp"),
            ),
            (
                Box::new(|c| {
                    c["aud"] = json!(["amphi", "grades"]);
                    c["azp"] = json!("grades")
                }),
                IdTokenError::AuthorizedParty {
                    found: "grades".into(),
                },
            ),
            (
                Box::new(|c| c["exp"] = json!(NOW - 61)),
                IdTokenError::Times(TimeError::Expired {
                    exp: at(NOW - 61),
                    now: at(NOW),
                }),
            ),
            (
                Box::new(|c| c["iat"] = json!(NOW + 120)),
                IdTokenError::Times(TimeError::IssuedInFuture {
                    iat: at(NOW + 120),
                    now: at(NOW),
                }),
            ),
            (
                Box::new(|c| c["iat"] = json!(NOW - 3600)),
                IdTokenError::Times(TimeError::TooOld {
                    iat: at(NOW - 3600),
                    now: at(NOW),
                }),
            ),
            (
                Box::new(|c| {
                    c.as_object_mut().map(|o| o.remove("nonce"));
                }),
                IdTokenError::NoNonce,
            ),
            (Box::new(|c| c["nonce"] = json!("n2")), IdTokenError::Nonce),
            (
                Box::new(|c| {
                    c.as_object_mut().map(|o| o.remove("sub"));
                }),
                IdTokenError::Missing("sub"),
            ),
            (
                Box::new(|c| c["exp"] = json!("soon")),
                IdTokenError::Missing("exp"),
            ),
        ];
        for (edit, want) in cases {
            assert_eq!(check(&claims(edit), &EXPECTED, at(NOW)), Err(want));
        }
        // Within the leeway.
        assert_eq!(
            check(&claims(|c| c["exp"] = json!(NOW - 30)), &EXPECTED, at(NOW)),
            Ok(())
        );
        assert_eq!(
            check(&claims(|c| c["aud"] = json!(["amphi"])), &EXPECTED, at(NOW)),
            Ok(())
        );
    }

    #[test]
    fn user_names() {
        assert_eq!(user_name(&claims(|_| {}), None).as_deref(), Some("ada"));
        let no_name = claims(|c| {
            c.as_object_mut().map(|o| o.remove("preferred_username"));
        });
        assert_eq!(user_name(&no_name, None).as_deref(), Some("u-1"));
        assert_eq!(user_name(&claims(|_| {}), Some("email")), None);
        let long = claims(|c| c["preferred_username"] = json!("x\u{7}".repeat(100)));
        assert_eq!(user_name(&long, None).map(|s| s.len()), Some(64));
    }
}
