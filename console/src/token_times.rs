//! The time claims of a signature-checked token (RFC 7519 `exp` and `iat`, JWT numeric
//! dates): one rule for LTI 1.3 launches and OpenID Connect ID tokens, on [`WallTime`].
//!
//! A token is good from `iat` − [`LEEWAY`] until before `exp` + [`LEEWAY`], and for at
//! most [`MAX_AGE`] (plus the leeway) after `iat`: a login or launch takes minutes, not
//! hours, whatever life the issuer gave the token.

use amphi_time::WallTime;
use serde_json::{Map, Value};
use std::time::Duration;

/// Clock difference tolerated between the token's issuer and this server.
pub const LEEWAY: Duration = Duration::from_secs(60);
/// A token issued longer ago than this (plus the leeway) is refused.
pub const MAX_AGE: Duration = Duration::from_secs(600);

/// Why a token's times were refused; instants in the messages are unix seconds.
#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum TimeError {
    #[error("has no {0} claim (or not a number of seconds)")]
    Missing(&'static str),
    #[error("expired at {} ({}s ago)", .exp.unix_secs(), .now.saturating_duration_since(*.exp).as_secs())]
    Expired { exp: WallTime, now: WallTime },
    #[error("issued at {}, {}s in the future (clocks apart?)", .iat.unix_secs(), .iat.saturating_duration_since(*.now).as_secs())]
    IssuedInFuture { iat: WallTime, now: WallTime },
    #[error("issued at {}, {}s ago: too long before its use", .iat.unix_secs(), .now.saturating_duration_since(*.iat).as_secs())]
    TooOld { iat: WallTime, now: WallTime },
}

/// A token's checked times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Times {
    pub issued: WallTime,
    pub expires: WallTime,
}

/// The numeric date `name` (whole or fractional seconds since 1970, fractions dropped).
pub fn numeric_date(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<WallTime, TimeError> {
    let v = claims.get(name).ok_or(TimeError::Missing(name))?;
    v.as_u64()
        .or_else(|| v.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64))
        .map(WallTime::from_unix_secs)
        .ok_or(TimeError::Missing(name))
}

/// Checks `exp` and `iat` at `now`.
pub fn check(claims: &Map<String, Value>, now: WallTime) -> Result<Times, TimeError> {
    let exp = numeric_date(claims, "exp")?;
    if now >= exp + LEEWAY {
        return Err(TimeError::Expired { exp, now });
    }
    let iat = numeric_date(claims, "iat")?;
    if iat > now + LEEWAY {
        return Err(TimeError::IssuedInFuture { iat, now });
    }
    if now > iat + MAX_AGE + LEEWAY {
        return Err(TimeError::TooOld { iat, now });
    }
    Ok(Times {
        issued: iat,
        expires: exp,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: u64 = 1_800_000_000;

    fn at(secs: u64) -> WallTime {
        WallTime::from_unix_secs(secs)
    }

    fn claims(exp: Value, iat: Value) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("exp".into(), exp);
        m.insert("iat".into(), iat);
        m
    }

    #[test]
    fn good_times_are_returned() {
        let c = claims(json!(NOW + 300), json!(NOW - 5));
        assert_eq!(
            check(&c, at(NOW)),
            Ok(Times {
                issued: at(NOW - 5),
                expires: at(NOW + 300)
            })
        );
        let fractional = claims(json!(NOW as f64 + 300.75), json!(NOW as f64 - 0.5));
        assert_eq!(
            check(&fractional, at(NOW)).map(|t| t.expires),
            Ok(at(NOW + 300))
        );
    }

    #[test]
    fn each_bound_holds_to_the_second() {
        let leeway = LEEWAY.as_secs();
        let c = claims(json!(NOW + 300), json!(NOW));
        assert!(check(&c, at(NOW + 299 + leeway)).is_ok(), "within leeway");
        let late = at(NOW + 300 + leeway);
        assert_eq!(
            check(&c, late),
            Err(TimeError::Expired {
                exp: at(NOW + 300),
                now: late
            })
        );
        assert_eq!(
            check(&c, at(NOW + 300 + leeway)).map_err(|e| e.to_string()),
            Err(format!("expired at {} ({leeway}s ago)", NOW + 300))
        );
        assert!(check(&c, at(NOW - leeway)).is_ok(), "issued within leeway");
        assert_eq!(
            check(&c, at(NOW - leeway - 1)),
            Err(TimeError::IssuedInFuture {
                iat: at(NOW),
                now: at(NOW - leeway - 1)
            })
        );
        let long = claims(json!(NOW + 7200), json!(NOW));
        let max = MAX_AGE.as_secs() + leeway;
        assert!(check(&long, at(NOW + max)).is_ok(), "oldest accepted");
        assert_eq!(
            check(&long, at(NOW + max + 1)),
            Err(TimeError::TooOld {
                iat: at(NOW),
                now: at(NOW + max + 1)
            })
        );
    }

    #[test]
    fn missing_or_not_numbers() {
        let mut no_exp = claims(json!(NOW), json!(NOW));
        no_exp.remove("exp");
        assert_eq!(check(&no_exp, at(NOW)), Err(TimeError::Missing("exp")));
        for bad in [json!("soon"), json!(-1), json!(null), json!([NOW])] {
            assert_eq!(
                check(&claims(json!(NOW + 10), bad.clone()), at(NOW)),
                Err(TimeError::Missing("iat")),
                "{bad}"
            );
        }
    }
}
