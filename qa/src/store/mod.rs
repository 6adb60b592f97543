//! Durable Q&A state behind the [`QaStore`] trait, and the in-process fan-out
//! [`Hub`] each backend feeds with committed changes, in sequence order.
//!
//! Invariants both backends keep:
//! - each event has a change counter (`qa_events.last_seq`); every change takes
//!   the event's row lock, bumps the counter and writes a `qa_changes` row in the
//!   same transaction, so per-event sequence order is commit order;
//! - the rate limit and bans are checked inside that transaction, so they hold
//!   across origin processes sharing the database;
//! - a change reaches the [`Hub`] only after it is committed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::sync::broadcast;

use crate::error::QaError;
use crate::events::{Change, ChangeRecord};
use crate::model::{EventQaSettings, ModAction, NewQuestion, Question};

pub mod postgres;
pub mod sqlite;

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

/// Questions of an event together with the change sequence they reflect.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub seq: i64,
    pub questions: Vec<Question>,
}

/// Storage of questions, votes, bans and the change log.
#[async_trait]
pub trait QaStore: Send + Sync + 'static {
    /// Stores a new question after checking the ban list and the rate limit.
    async fn post(
        &self,
        q: NewQuestion,
        settings: EventQaSettings,
        now_ms: i64,
    ) -> Result<Question, QaError>;
    /// Records one vote of `viewer`; returns the question's vote count.
    async fn vote(&self, event: &str, id: i64, viewer: &str, now_ms: i64) -> Result<u32, QaError>;
    /// Applies a moderator action; returns the question's new state.
    async fn moderate(
        &self,
        event: &str,
        id: i64,
        action: ModAction,
        program_time: Option<i64>,
        now_ms: i64,
    ) -> Result<Question, QaError>;
    /// Bans a viewer from posting and voting in an event (idempotent).
    async fn ban(&self, event: &str, viewer: &str, now_ms: i64) -> Result<(), QaError>;
    /// Every question of the event (any status) and the matching sequence.
    async fn snapshot(&self, event: &str) -> Result<Snapshot, QaError>;
    /// Changes of the event with `seq > after`, oldest first, at most `limit`.
    async fn changes_since(
        &self,
        event: &str,
        after: i64,
        limit: u32,
    ) -> Result<Vec<ChangeRecord>, QaError>;
    /// The fan-out this store publishes committed changes to.
    fn hub(&self) -> &Hub;
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
        let mut map = self.events.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(event.to_owned())
            .or_insert_with(|| broadcast::channel(HUB_CAPACITY).0)
            .subscribe()
    }

    /// Sends a committed change to every subscriber of its event, once.
    pub fn publish(&self, change: Change) {
        let mut map = self.events.lock().unwrap_or_else(|p| p.into_inner());
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
        self.events.lock().map(|m| m.len()).unwrap_or(0)
    }
}

pub(crate) fn status_from_db(s: &str) -> Result<crate::model::Status, crate::error::StoreError> {
    crate::model::Status::parse(s).ok_or_else(|| crate::error::StoreError::Corrupt {
        table: "qa_questions",
        reason: format!("unknown status {s:?}"),
    })
}

pub(crate) fn votes_from_db(v: i64) -> Result<u32, crate::error::StoreError> {
    u32::try_from(v).map_err(|_| crate::error::StoreError::Corrupt {
        table: "qa_questions",
        reason: format!("vote count {v}"),
    })
}
