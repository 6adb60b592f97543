//! Amphi console: who may use the operator's console, and how they stay logged in.
//!
//! Model and invariants:
//! - A [`roles::Principal`] (user name and roles) is what every permission check sees,
//!   whatever produced it: a local account ([`accounts`]), an OpenID Connect login
//!   ([`oidc`]) or an LTI launch.
//! - Passwords are stored only as argon2id hashes; failed logins are limited per
//!   address and per user ([`ratelimit`]).
//! - Sessions live on the server ([`session`]): the browser holds a random id in one
//!   `HttpOnly`, `SameSite=Strict` cookie, set only by console routes, never on media.
//! - Every state-changing request carries the session's CSRF token in a header and an
//!   `Origin` naming this server ([`csrf`]).
//! - Each rule is written once for every way in: whom a signed token is for
//!   ([`audience`]) and when it is good ([`token_times`], on `WallTime`), for LTI launches
//!   and OIDC ID tokens alike; logins under way ([`pending`]); the data dir's JSON files
//!   ([`data_file`]: written whole through a rename).
//! - Everything is sans-IO: time and randomness are passed in; HTTP lives in the binary.

pub mod accounts;
pub mod audience;
pub mod csrf;
pub mod data_file;
pub mod fuzzing;
pub mod lti;
pub mod oidc;
pub mod pending;
pub mod ratelimit;
pub mod roles;
pub mod session;
pub mod token_times;

pub use roles::{Action, Principal, Role};
