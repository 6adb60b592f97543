//! Amphi time: the three clocks of a live lecture as distinct types, so they are never
//! mixed by accident (moonfire-nvr's model: `Time − Time = Duration`,
//! `Time + Duration = Time`).
//!
//! - [`MediaTime`] / [`MediaDuration`]: a publish session's 90 kHz media clock, local to
//!   that session (zero at its first frame). Frames carry it.
//! - [`ProgramTime`]: the stream's program date-time (`EXT-X-PROGRAM-DATE-TIME`), the
//!   wall-clock instant a piece of media was captured. Q&A items carry it so a panel
//!   follows the video each viewer is watching.
//! - [`WallTime`]: a wall-clock instant on this machine (now, an expiry, a creation
//!   date). Wall time becomes program time only through a named conversion.
//!
//! Differences of program or wall times are [`TimeDelta`]s (signed nanoseconds); a
//! non-negative [`std::time::Duration`] may be added to or taken from either.
//!
//! No type has a public raw field: conversions are named by unit or timescale. Arithmetic
//! saturates at the ends of each type's range (about ±292 years around 1970 for program
//! and wall time, ±3 million years for media time), where overflow could otherwise occur.
//! This crate reads no clock: "now" is always passed in.
//!
//! Being the one crate every other Amphi crate depends on, it also holds two small
//! rules the whole workspace shares, each in a module of its own and free of any
//! dependency: [`sync::lock`], locking shared state whose holder may have panicked, and
//! [`header::bearer_token`], reading an `Authorization: Bearer` value.

pub mod header;
mod media;
pub mod sync;
mod wall;

pub use media::{MediaDuration, MediaTime, MEDIA_CLOCK_HZ};
pub use wall::{ProgramTime, TimeDelta, WallTime};
