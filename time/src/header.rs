//! One reading of an HTTP `Authorization: Bearer <token>` value, shared by every API
//! that takes a bearer token (WHIP publishing, Q&A, captions, health), free of any HTTP
//! library.
//!
//! Model: the value is `<scheme> <token>`, the scheme compared in any case as HTTP
//! schemes are, whitespace around the value and the token ignored. An empty token is no
//! token: the caller answers as it does for a missing header.

/// The token of an `Authorization` header value whose scheme is `Bearer`, or `None`
/// (another scheme, no token).
pub fn bearer_token(authorization: &str) -> Option<&str> {
    let (scheme, token) = authorization.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::bearer_token;

    #[test]
    fn reads_the_token_of_a_bearer_value() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token(" BEARER abc"), Some("abc"));
    }

    #[test]
    fn refuses_other_schemes_and_empty_tokens() {
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token(""), None);
        assert_eq!(bearer_token("Bearerabc"), None);
    }
}
