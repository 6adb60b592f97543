//! Amphi Q&A: students ask and upvote questions during a live lecture,
//! moderators approve, hide, answer and pin them, and every open panel sees the
//! changes live over Server-Sent Events.
//!
//! Model and invariants:
//! - all state is in the database ([`store::SqliteStore`] for one process,
//!   [`store::PgStore`] for several origins), so origins stay stateless;
//! - every change gets a per-event sequence number, assigned under the event's
//!   row lock and committed with the change; SSE `id:` is that number, so a
//!   panel resumes with `Last-Event-ID` without gaps or duplicates;
//! - each change is serialised once (moderator and viewer forms) and shared by
//!   every connected panel through one broadcast channel per event per process;
//! - viewers never see pending or hidden questions, nor other viewers' ids;
//! - text is plain text in JSON strings: no HTML is produced server-side;
//! - viewers are known by ids the server mints and signs ([`identity`]); rate
//!   limits key on the id and on the client address, votes count once per id;
//! - a private event's Q&A is closed to anyone without its viewer token.
//!
//! Pure rules live in [`model`] (validation, moderation transitions),
//! [`ratelimit`], [`identity`] and [`export`] ([`turns`] keeps one viewer's burst
//! from queueing others' writes behind it); [`core`] applies them, once, in a
//! transaction of either store; the stores ([`store`]) only read and write rows;
//! HTTP lives in [`http`] and [`sse`].

pub mod chapters;
pub mod core;
pub mod error;
pub mod events;
pub mod export;
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod identity;
pub mod model;
pub mod ratelimit;
pub mod sse;
pub mod store;
pub mod turns;

pub use chapters::{Chapter, ChapterListener, MarkerKind};
pub use error::{QaError, StoreError};
pub use events::{QaEvent, QaEventKind};
pub use http::{router, QaEvents, QaState, TokenClaims};
pub use model::{EventQaSettings, Limits, Question, Status};
pub use store::{PgStore, QaStore, SqliteStore};
