//! CSRF protection of the console: every state-changing request (POST, PUT, PATCH,
//! DELETE) carries the session's synchronizer token in the [`CSRF_HEADER`] header, and
//! an `Origin` header naming this server. `SameSite=Strict` on the session cookie is a
//! third layer, not relied on alone.
//!
//! The login request has no session yet: it is checked by its `Origin` only.

/// Header carrying the session's CSRF token.
pub const CSRF_HEADER: &str = "x-csrf-token";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CsrfError {
    #[error("missing {CSRF_HEADER} header")]
    MissingToken,
    #[error("{CSRF_HEADER} does not match the session's token")]
    WrongToken,
    #[error("missing Origin header on a state-changing request")]
    MissingOrigin,
    #[error("Origin {given:?} is not this server ({expected})")]
    WrongOrigin { given: String, expected: String },
}

/// Whether requests with this method change state (and so need the checks).
pub fn changes_state(method: &str) -> bool {
    matches!(method, "POST" | "PUT" | "PATCH" | "DELETE")
}

/// Checks the `Origin` header against this server's own origin(s), e.g.
/// `https://lectures.example.edu` (scheme, host and port; no path).
pub fn check_origin(origin: Option<&str>, allowed: &[String]) -> Result<(), CsrfError> {
    let Some(given) = origin.map(str::trim) else {
        return Err(CsrfError::MissingOrigin);
    };
    let given = given.trim_end_matches('/');
    if allowed
        .iter()
        .any(|a| a.trim_end_matches('/').eq_ignore_ascii_case(given))
    {
        Ok(())
    } else {
        Err(CsrfError::WrongOrigin {
            given: given.chars().take(100).collect(),
            expected: allowed.join(" or "),
        })
    }
}

/// Checks a state-changing request of a session: `Origin`, then the token.
pub fn check(
    session_token: &str,
    header_token: Option<&str>,
    origin: Option<&str>,
    allowed_origins: &[String],
) -> Result<(), CsrfError> {
    check_origin(origin, allowed_origins)?;
    let Some(given) = header_token else {
        return Err(CsrfError::MissingToken);
    };
    if constant_time_eq(session_token.as_bytes(), given.trim().as_bytes()) {
        Ok(())
    } else {
        Err(CsrfError::WrongToken)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_and_origin() {
        let allowed = vec!["http://127.0.0.1:8080".to_owned()];
        let origin = Some("http://127.0.0.1:8080");
        assert_eq!(check("tok", Some("tok"), origin, &allowed), Ok(()));
        assert_eq!(
            check("tok", None, origin, &allowed),
            Err(CsrfError::MissingToken)
        );
        assert_eq!(
            check("tok", Some("tol"), origin, &allowed),
            Err(CsrfError::WrongToken)
        );
        assert_eq!(
            check("tok", Some("tok2"), origin, &allowed),
            Err(CsrfError::WrongToken)
        );
        assert_eq!(
            check("tok", Some("tok"), None, &allowed),
            Err(CsrfError::MissingOrigin)
        );
        assert!(matches!(
            check("tok", Some("tok"), Some("https://evil.example"), &allowed),
            Err(CsrfError::WrongOrigin { .. })
        ));
        // A port is part of the origin.
        assert!(check_origin(Some("http://127.0.0.1:8081"), &allowed).is_err());
        assert!(check_origin(Some("HTTP://127.0.0.1:8080/"), &allowed).is_ok());
    }

    #[test]
    fn methods() {
        for m in ["POST", "PUT", "PATCH", "DELETE"] {
            assert!(changes_state(m));
        }
        for m in ["GET", "HEAD", "OPTIONS"] {
            assert!(!changes_state(m));
        }
    }
}
