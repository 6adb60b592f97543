//! The event directory: which events exist, their titles and publisher stream keys.
//! Persisted as `events.json` in the data directory (managed by `amphi event …` and the
//! console's `/api/admin/…`, which share the operations below: [`EventsFileStore::create`],
//! [`EventsFileStore::edit`], [`EventsFileStore::rotate_key`], [`EventsFileStore::delete`],
//! [`EventsFileStore::secrets`], [`embed_snippets`]); events given on the command line
//! live only as long as the process.
//!
//! - [`record`]: one event's record, the checked changes to it and its summary.
//! - [`file`]: `events.json` and the operations on it.
//! - [`directory`]: the events this process serves, as ingest, Q&A and origin ask.
//! - [`embed`]: the code that embeds an event's player in a page.

mod directory;
mod embed;
mod file;
mod record;
#[cfg(test)]
mod tests;

pub(crate) use directory::constant_time_eq;
pub use directory::{Catalog, Directory};
pub use embed::{embed_iframe, embed_snippets, EmbedSnippets};
pub use file::EventsFileStore;
#[cfg(test)]
pub(crate) use file::EVENTS_FILE;
pub use record::{EventChanges, EventRecord, EventSummary, TakeoverPolicy, DEMO_EVENT};
