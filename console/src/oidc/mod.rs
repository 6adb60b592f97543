//! OpenID Connect login to the console (authorization code flow with PKCE), for an
//! institution's identity provider or the federation proxy in front of it.
//!
//! Flow:
//! 1. `/admin/oidc/login` ([`flow::Logins::start`]): a fresh `state`, `nonce` and PKCE
//!    verifier are kept on the server; the browser goes to the provider's
//!    authorization endpoint (found by [`discovery`]) with the `S256` challenge;
//! 2. `/admin/oidc/callback` ([`flow::Logins::finish`]): the `state` must be one this
//!    server started (single use, bound to the browser by a cookie), the code is
//!    exchanged with the verifier and the client secret, and the ID token's signature
//!    is checked against the provider's key set (the same RS256 verification, ES256 too, and
//!    key-set cache as LTI launches: [`crate::lti::jwt`], [`crate::lti::jwks`]);
//! 3. its claims ([`id_token::check`]: issuer, audience, expiry, nonce) give a user, and
//!    [`mapping::roles`] gives the user's roles; no role, no session. When the ID
//!    token lacks the role claim, the provider's userinfo answer for the same `sub` fills
//!    it in ([`userinfo`]).
//!
//! The settings ([`config`]) live in the data dir and name the client secret's file;
//! the secret itself is never copied, printed nor logged. Everything here is sans-IO:
//! time and random values are arguments, HTTP lives in the binary.

pub mod config;
pub mod discovery;
pub mod flow;
pub mod id_token;
pub mod mapping;
pub mod userinfo;
