//! Durable Q&A state behind the [`QaStore`] trait, and the in-process fan-out
//! [`Hub`] each backend feeds with committed changes, in sequence order.
//!
//! The stores are storage only: reads and writes of rows inside a transaction
//! ([`QaTx`]). Every rule (bans, rate limits, moderation, which changes a panel
//! sees) lives once in [`crate::core`], which drives a transaction of either
//! backend.
//!
//! Invariants both backends keep:
//! - each event has a change counter (`qa_events.last_seq`); a transaction
//!   opened with the event lock holds the event's row lock until it ends, and
//!   [`QaTx::commit`] writes the `qa_changes` rows and advances the counter in
//!   that transaction, so per-event sequence order is commit order;
//! - rate-limit counts and bans read under that lock are exact across origin
//!   processes sharing the database;
//! - a change reaches the [`Hub`] only after it is committed;
//! - a transaction dropped without [`QaTx::commit`] or [`QaTx::rollback`]
//!   (a cancelled request) is rolled back.

use amphi_time::sync::lock;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::sync::broadcast;

use crate::chapters::{Chapter, MarkerKind};
use crate::error::StoreError;
use crate::events::{Change, ChangeRecord};
use crate::model::{NewQuestion, Question, Status};

pub mod postgres;
mod rows;
pub mod sqlite;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// Questions of an event together with the change sequence they reflect.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub seq: i64,
    pub questions: Vec<Question>,
}

/// What a viewer did, counted for rate limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    Question,
    Vote,
    /// A fresh viewer id was minted.
    Mint,
}

impl Activity {
    /// Stable name used in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Activity::Question => "question",
            Activity::Vote => "vote",
            Activity::Mint => "mint",
        }
    }
}

/// Whose activity is counted: one viewer id, or every viewer behind one client address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor<'a> {
    Viewer(&'a str),
    /// An address tag (a keyed hash of the client address, never the address itself).
    Address(&'a str),
}

/// Activity in a window: how many, and when the oldest was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Window {
    pub count: u64,
    pub oldest_ms: Option<i64>,
}

/// Storage of questions, votes, bans, activity and the change log.
#[async_trait]
pub trait QaStore: Send + Sync + 'static {
    /// Opens a transaction. With `lock_event`, it holds `event`'s lock until it ends
    /// (changes of the event are serialised); without it, it is for cheap reads only
    /// and must end with [`QaTx::rollback`].
    async fn begin(&self, event: &str, lock_event: bool) -> Result<Box<dyn QaTx>, StoreError>;
    /// Every question of the event (any status) and the matching sequence.
    async fn snapshot(&self, event: &str) -> Result<Snapshot, StoreError>;
    /// Changes of the event with `seq > after`, oldest first, at most `limit`.
    async fn changes_since(
        &self,
        event: &str,
        after: i64,
        limit: u32,
    ) -> Result<Vec<ChangeRecord>, StoreError>;
    /// The secret named `name`, stored as `fresh` the first time it is asked for;
    /// every process sharing the database reads the same value.
    async fn secret(&self, name: &str, fresh: &str) -> Result<String, StoreError>;
    /// The fan-out this store publishes committed changes to.
    fn hub(&self) -> &Hub;
    /// Every marker of the event, by program time then id.
    async fn chapters(&self, event: &str) -> Result<Vec<Chapter>, StoreError>;
}

/// One transaction: row reads and writes, no rules.
#[async_trait]
pub trait QaTx: Send {
    /// The event's change sequence when the transaction took its lock (0 without it).
    fn last_seq(&self) -> i64;
    /// Whether `viewer` is banned from the event.
    async fn is_banned(&mut self, event: &str, viewer: &str) -> Result<bool, StoreError>;
    /// Until when (ms) the address tag may not mint viewer ids for the event, if banned.
    async fn address_banned_until(
        &mut self,
        event: &str,
        addr: &str,
    ) -> Result<Option<i64>, StoreError>;
    /// `actor`'s activity of `kind` in the event since `since_ms` (exclusive).
    async fn activity(
        &mut self,
        event: &str,
        kind: Activity,
        actor: Actor<'_>,
        since_ms: i64,
    ) -> Result<Window, StoreError>;
    /// Records one activity; forgets the event's activity older than `forget_before_ms`.
    async fn log_activity(
        &mut self,
        event: &str,
        kind: Activity,
        viewer: &str,
        addr: Option<&str>,
        now_ms: i64,
        forget_before_ms: i64,
    ) -> Result<(), StoreError>;
    /// The address tag `viewer` last acted from in the event, if any is remembered.
    async fn last_address(
        &mut self,
        event: &str,
        viewer: &str,
    ) -> Result<Option<String>, StoreError>;
    /// Stores a new question; returns its id.
    async fn insert_question(
        &mut self,
        q: &NewQuestion,
        status: Status,
        now_ms: i64,
    ) -> Result<i64, StoreError>;
    /// One question of the event.
    async fn question(&mut self, event: &str, id: i64) -> Result<Option<Question>, StoreError>;
    /// Records `viewer`'s vote on question `id` unless it is already there; returns the
    /// new vote count, or `None` when the viewer had voted.
    async fn add_vote(
        &mut self,
        id: i64,
        viewer: &str,
        now_ms: i64,
    ) -> Result<Option<u32>, StoreError>;
    /// Sets a question's status and pin.
    async fn set_state(&mut self, id: i64, status: Status, pinned: bool) -> Result<(), StoreError>;
    /// Sets (or clears) a question's answer text.
    async fn set_answer(&mut self, id: i64, answer: Option<&str>) -> Result<(), StoreError>;
    /// Unpins every pinned question of the event but `id`; returns them as they now are.
    async fn unpin_others(&mut self, event: &str, id: i64) -> Result<Vec<Question>, StoreError>;
    /// Bans `viewer` from the event (idempotent).
    async fn ban(&mut self, event: &str, viewer: &str, now_ms: i64) -> Result<(), StoreError>;
    /// Refuses new viewer ids to the address tag until `until_ms` (the later deadline wins).
    async fn ban_address(
        &mut self,
        event: &str,
        addr: &str,
        until_ms: i64,
    ) -> Result<(), StoreError>;
    /// How many markers of `kind` the event has.
    async fn count_chapters(&mut self, event: &str, kind: MarkerKind) -> Result<i64, StoreError>;
    /// Stores a marker unless one with its id exists in the event; returns whether it
    /// was stored.
    async fn insert_chapter(&mut self, chapter: &Chapter) -> Result<bool, StoreError>;
    /// Writes `changes` (consecutive sequence numbers after [`QaTx::last_seq`]) to the
    /// change log, advances the event's sequence, commits, then publishes them.
    async fn commit(
        self: Box<Self>,
        changes: Vec<ChangeRecord>,
        now_ms: i64,
    ) -> Result<(), StoreError>;
    /// Ends the transaction without writing.
    async fn rollback(self: Box<Self>) -> Result<(), StoreError>;
}

/// Capacity of each event's broadcast channel; a panel lagging further behind
/// catches up from the database.
pub const HUB_CAPACITY: usize = 512;

/// One broadcast channel per event within this process.
#[derive(Debug, Default)]
pub struct Hub {
    events: Mutex<HashMap<String, broadcast::Sender<Arc<Change>>>>,
}

impl Hub {
    pub fn new() -> Hub {
        Hub::default()
    }

    /// Subscribes to the event's committed changes.
    pub fn subscribe(&self, event: &str) -> broadcast::Receiver<Arc<Change>> {
        let mut map = lock(&self.events);
        map.entry(event.to_owned())
            .or_insert_with(|| broadcast::channel(HUB_CAPACITY).0)
            .subscribe()
    }

    /// Sends a committed change to every subscriber of its event, once.
    pub fn publish(&self, change: Change) {
        let mut map = lock(&self.events);
        let event = change.event.clone();
        if let Some(tx) = map.get(&event) {
            if tx.send(Arc::new(change)).is_err() {
                // Nobody listens any more: forget the channel.
                map.remove(&event);
            }
        }
    }

    /// Number of events with a channel (for tests and metrics).
    pub fn channels(&self) -> usize {
        lock(&self.events).len()
    }
}

pub(crate) fn status_from_db(s: &str) -> Result<Status, StoreError> {
    Status::parse(s).ok_or_else(|| StoreError::Corrupt {
        table: "qa_questions",
        reason: format!("unknown status {s:?}"),
    })
}

pub(crate) fn votes_from_db(v: i64) -> Result<u32, StoreError> {
    u32::try_from(v).map_err(|_| StoreError::Corrupt {
        table: "qa_questions",
        reason: format!("vote count {v}"),
    })
}

pub(crate) fn kind_from_db(s: &str) -> Result<MarkerKind, StoreError> {
    MarkerKind::parse(s).ok_or_else(|| StoreError::Corrupt {
        table: "qa_chapters",
        reason: format!("unknown marker kind {s:?}"),
    })
}

/// Markers in program time (see [`crate::chapters`]), shared by both backends.
pub(crate) const MIGRATION_3: &str = r#"
CREATE TABLE qa_chapters (
    event TEXT NOT NULL,
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL,
    program_time BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (event, id)
);
CREATE INDEX qa_chapters_by_time ON qa_chapters (event, program_time);
"#;

/// Schema changes after the first version, shared by both backends (portable SQL).
pub(crate) const MIGRATION_2: &str = r#"
CREATE TABLE qa_activity (
    event TEXT NOT NULL,
    kind TEXT NOT NULL,
    viewer TEXT NOT NULL,
    addr TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX qa_activity_by_viewer ON qa_activity (event, kind, viewer, created_at);
CREATE INDEX qa_activity_by_addr ON qa_activity (event, kind, addr, created_at);
CREATE TABLE qa_address_bans (
    event TEXT NOT NULL,
    addr TEXT NOT NULL,
    until_ms BIGINT NOT NULL,
    PRIMARY KEY (event, addr)
);
CREATE TABLE qa_secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL);
"#;
