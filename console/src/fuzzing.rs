//! Entry points of the console's fuzz targets (`fuzz/fuzz_targets/`), replayed on stable
//! by `tests/fuzz_corpus.rs`: whatever an identity provider answers, or a browser sends
//! back with it, must be refused or accepted without a panic.

use crate::lti::{jwks::Jwks, jwt};
use crate::oidc::config::OidcConfig;
use crate::oidc::discovery::Provider;
use crate::oidc::{id_token, mapping, userinfo};
use crate::session::{cookie_values, CookieMode};
use amphi_time::WallTime;
use serde_json::Value;

/// A provider's answers: a discovery document, a key set, an ID token (compact JWS,
/// RS256 or ES256) and its claims, a userinfo answer, all from the same bytes.
pub fn oidc_answers(data: &[u8]) {
    let _ = Provider::parse(data, "https://idp.example.edu");
    let _ = Jwks::parse(data);
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(token) = jwt::parse_with(text.trim(), jwt::OIDC_ALGORITHMS) {
            let _ = token.unverified_claims();
        }
        // The browser's Cookie header on the callback (the login's state cookie).
        let _ = cookie_values(text, "amphi_oidc_state").count();
        let _ = CookieMode::Secure.find(text);
    }
    if let Ok(Value::Object(claims)) = serde_json::from_slice::<Value>(data) {
        let expected = id_token::Expected {
            issuer: "https://idp.example.edu",
            client_id: "amphi",
            nonce: "n",
        };
        for now in [0, 1_800_000_000, u64::MAX] {
            let _ = id_token::check(&claims, &expected, WallTime::from_unix_secs(now));
        }
        let _ = id_token::user_name(&claims, None);
        let mut config = OidcConfig::new("https://idp.example.edu", "amphi", "/s".into());
        config.admin_groups = vec!["it-video".into()];
        let _ = mapping::roles(&config, &claims);
    }
    let mut claims = serde_json::Map::new();
    claims.insert("sub".into(), Value::from("alice"));
    let _ = userinfo::merge(&mut claims, data);
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_seed_corpus_and_mangled_answers_do_not_panic() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/oidc_answers");
        let mut seeds = 0;
        for entry in std::fs::read_dir(&dir).expect("corpus dir") {
            let data = std::fs::read(entry.expect("entry").path()).expect("seed");
            super::oidc_answers(&data);
            for cut in 0..data.len() {
                super::oidc_answers(&data[..cut]);
            }
            seeds += 1;
        }
        assert!(seeds >= 4, "{seeds} seeds");
    }
}
