//! Whom a signed token is for (`aud`, `azp`): one rule for LTI 1.3 launches and OpenID
//! Connect ID tokens (OpenID Connect Core §3.1.3.7 items 3–5, which LTI 1.3 §5.1.3
//! repeats). The audience must name the client id; a token for several audiences must
//! name the client as its authorized party (`azp`), and an `azp` present must be the
//! client id whatever the audience.

use serde_json::{Map, Value};

/// Why a token is not for this client.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum AudienceError {
    #[error("token has no aud claim (or not a string or an array)")]
    Missing,
    #[error("token audience {found} does not include the client id")]
    NotNamed { found: String },
    #[error("token names several audiences but no authorized party (azp)")]
    NoAuthorizedParty,
    #[error("token authorized party {found:?} is not the client id")]
    AuthorizedParty { found: String },
}

/// Checks that the token of `claims` is for `client_id`.
pub fn check(claims: &Map<String, Value>, client_id: &str) -> Result<(), AudienceError> {
    let (audiences, several): (Vec<&str>, bool) = match claims.get("aud") {
        Some(Value::String(a)) => (vec![a.as_str()], false),
        Some(Value::Array(list)) => (
            list.iter().filter_map(Value::as_str).collect(),
            list.len() > 1,
        ),
        _ => return Err(AudienceError::Missing),
    };
    if !audiences.contains(&client_id) {
        return Err(AudienceError::NotNamed {
            found: format!("{audiences:?}"),
        });
    }
    match claims.get("azp").and_then(Value::as_str) {
        Some(azp) if azp != client_id => Err(AudienceError::AuthorizedParty {
            found: azp.to_owned(),
        }),
        None if several => Err(AudienceError::NoAuthorizedParty),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn each_case_of_the_rule() {
        let ok = |v: Value| check(&claims(v), "tool");
        assert_eq!(ok(json!({"aud": "tool"})), Ok(()));
        assert_eq!(ok(json!({"aud": ["tool"]})), Ok(()));
        assert_eq!(ok(json!({"aud": ["tool", "x"], "azp": "tool"})), Ok(()));
        assert_eq!(ok(json!({"aud": "tool", "azp": "tool"})), Ok(()));
        assert_eq!(ok(json!({})), Err(AudienceError::Missing));
        assert_eq!(ok(json!({"aud": 5})), Err(AudienceError::Missing));
        assert_eq!(
            ok(json!({"aud": "other"})),
            Err(AudienceError::NotNamed {
                found: "[\"other\"]".into()
            })
        );
        assert_eq!(
            ok(json!({"aud": ["tool", "x"]})),
            Err(AudienceError::NoAuthorizedParty)
        );
        assert_eq!(
            ok(json!({"aud": ["tool", 5]})),
            Err(AudienceError::NoAuthorizedParty),
            "every entry counts"
        );
        for aud in [json!("tool"), json!(["tool", "x"])] {
            assert_eq!(
                ok(json!({"aud": aud, "azp": "x"})),
                Err(AudienceError::AuthorizedParty { found: "x".into() })
            );
        }
    }
}
