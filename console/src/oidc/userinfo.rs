//! The provider's userinfo answer, read when the ID token lacks the role claim: many
//! providers (and federation proxies) put only `sub` in the ID token of the code flow and
//! the groups or entitlements in userinfo (OpenID Connect Core §5.3, §5.4).
//!
//! The answer is trusted only for the user the ID token names: its `sub` must be the ID
//! token's (§5.3.2, a substitution defence). Only claims the ID token lacks are taken
//! from it, so userinfo never overrides what the signed token says. Sans-IO: the binary
//! calls the endpoint with the access token and hands the body here.

use serde_json::{Map, Value};

/// Largest userinfo answer accepted, in bytes.
pub const MAX_USERINFO_BYTES: usize = 64 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum UserinfoError {
    #[error("userinfo answer is larger than {MAX_USERINFO_BYTES} bytes")]
    TooLarge,
    #[error(
        "userinfo answer is not a JSON object (a signed or encrypted answer is not supported): {0}"
    )]
    Json(String),
    #[error("userinfo answer has no sub")]
    NoSub,
    #[error("userinfo answer is about another user than the ID token (sub differs)")]
    OtherUser,
}

/// Whether the ID token's claims lack `role_claim` (and so userinfo should be asked).
pub fn lacks(claims: &Map<String, Value>, role_claim: &str) -> bool {
    !claims.contains_key(role_claim)
}

/// Adds to `claims` (the checked ID token's) each claim of the userinfo `body` they
/// lack; returns the names added. Refuses an answer about another `sub`.
pub fn merge(claims: &mut Map<String, Value>, body: &[u8]) -> Result<Vec<String>, UserinfoError> {
    if body.len() > MAX_USERINFO_BYTES {
        return Err(UserinfoError::TooLarge);
    }
    let info: Map<String, Value> =
        serde_json::from_slice(body).map_err(|e| UserinfoError::Json(e.to_string()))?;
    let Some(sub) = info.get("sub").and_then(Value::as_str) else {
        return Err(UserinfoError::NoSub);
    };
    if claims.get("sub").and_then(Value::as_str) != Some(sub) {
        return Err(UserinfoError::OtherUser);
    }
    let mut added = Vec::new();
    for (name, value) in info {
        if !claims.contains_key(&name) {
            added.push(name.clone());
            claims.insert(name, value);
        }
    }
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn id_token_claims() -> Map<String, Value> {
        match json!({"sub": "alice", "iss": "https://idp.example.edu", "name": "Alice"}) {
            Value::Object(m) => m,
            _ => unreachable!("an object literal"),
        }
    }

    #[test]
    fn missing_claims_are_added_and_none_overridden() {
        let mut claims = id_token_claims();
        assert!(lacks(&claims, "groups"));
        let body = json!({"sub": "alice", "groups": ["it-video"], "name": "Mallory"}).to_string();
        let added = merge(&mut claims, body.as_bytes()).expect("merge");
        assert_eq!(added, ["groups"]);
        assert_eq!(claims["groups"], json!(["it-video"]));
        assert_eq!(claims["name"], "Alice", "the signed token wins");
        assert!(!lacks(&claims, "groups"));
    }

    #[test]
    fn another_user_or_a_malformed_answer_is_refused() {
        let mut claims = id_token_claims();
        let other = json!({"sub": "bob", "groups": ["it-video"]}).to_string();
        assert_eq!(
            merge(&mut claims, other.as_bytes()),
            Err(UserinfoError::OtherUser)
        );
        assert_eq!(
            merge(&mut claims, br#"{"groups":["it-video"]}"#),
            Err(UserinfoError::NoSub)
        );
        assert!(matches!(
            merge(&mut claims, b"eyJhbGciOiJSUzI1NiJ9.e30.sig"),
            Err(UserinfoError::Json(_))
        ));
        let big = vec![b' '; MAX_USERINFO_BYTES + 1];
        assert_eq!(merge(&mut claims, &big), Err(UserinfoError::TooLarge));
        assert!(!claims.contains_key("groups"), "nothing added on a refusal");
    }
}
