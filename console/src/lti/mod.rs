//! LTI 1.3 tool side: MOOC platforms (Moodle, Open edX) open Amphi from a course page.
//!
//! Flow (IMS LTI 1.3 core, OIDC third-party initiated login):
//! 1. the platform calls `/lti/login` ([`login::Logins::initiate`]): the tool answers with a
//!    redirect to the platform's authorization URL carrying a fresh `state` and `nonce`;
//! 2. the platform posts an RS256 `id_token` and the `state` to `/lti/launch`: the
//!    signature is checked against the platform's key set ([`jwt`], [`jwks`]), then the
//!    claims ([`launch::check`]), then the state and the single-use nonce
//!    ([`login::Logins::finish`]);
//! 3. deep linking returns an `LtiDeepLinkingResponse` signed with the tool's own key
//!    ([`keys`]).
//!
//! Platforms are registered by the operator ([`platform`]). Everything here is sans-IO
//! except the two small files in the data dir; HTTP and key-set fetching live in the binary.

pub mod jwks;
pub mod jwt;
pub mod keys;
pub mod launch;
pub mod login;
pub mod platform;
