//! One viewer's writes take turns in this process: a viewer's posts and votes reach
//! the database one at a time, and a viewer with [`MAX_WAITING`] already waiting is
//! refused at once (`429`, retry after a second) without touching the database.
//!
//! So a burst of a thousand posts from one viewer costs the database a handful of
//! transactions, and another viewer's question is not queued behind them for the
//! store's connections. The per-minute limits ([`crate::ratelimit`]) stay the rule
//! across processes; this only keeps one viewer from filling a process's queue.
//! Memory is bounded by the requests in flight: a viewer's entry goes with its last
//! request.

use crate::error::QaError;
use amphi_time::sync::lock;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Requests of one viewer that may hold or wait for its turn; more are refused.
pub const MAX_WAITING: usize = 8;
/// `Retry-After` of a request refused because its viewer has too many waiting.
pub const RETRY_AFTER_SECS: u64 = 1;

struct Line {
    turn: Arc<Semaphore>,
    /// Requests holding or waiting for the turn.
    requests: usize,
}

/// The turns of every viewer with a write in flight. Cheap to clone.
#[derive(Clone, Default)]
pub struct Turns {
    lines: Arc<Mutex<HashMap<String, Line>>>,
}

impl std::fmt::Debug for Turns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Turns")
            .field("viewers", &lock(&self.lines).len())
            .finish()
    }
}

/// A viewer's turn: its request may write until this is dropped.
#[must_use = "the turn ends when dropped"]
pub struct Turn {
    _permit: OwnedSemaphorePermit,
    _place: Place,
}

/// A request's place in its viewer's line; leaving it frees the entry when last.
struct Place {
    turns: Turns,
    viewer: String,
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut lines = lock(&self.turns.lines);
        if let Some(line) = lines.get_mut(&self.viewer) {
            line.requests -= 1;
            if line.requests == 0 {
                lines.remove(&self.viewer);
            }
        }
    }
}

impl Turns {
    /// Waits for `viewer`'s turn, or refuses at once when its line is full.
    pub async fn take(&self, viewer: &str) -> Result<Turn, QaError> {
        let turn = {
            let mut lines = lock(&self.lines);
            let line = lines.entry(viewer.to_owned()).or_insert_with(|| Line {
                turn: Arc::new(Semaphore::new(1)),
                requests: 0,
            });
            if line.requests >= MAX_WAITING {
                return Err(QaError::RateLimited {
                    retry_after_secs: RETRY_AFTER_SECS,
                });
            }
            line.requests += 1;
            line.turn.clone()
        };
        // From here the place is held, so a cancelled wait still leaves the line.
        let place = Place {
            turns: self.clone(),
            viewer: viewer.to_owned(),
        };
        let permit = turn
            .acquire_owned()
            .await
            .expect("a viewer's turn semaphore is never closed");
        Ok(Turn {
            _permit: permit,
            _place: place,
        })
    }

    /// Viewers with a request in flight.
    pub fn viewers(&self) -> usize {
        lock(&self.lines).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn one_at_a_time_and_a_full_line_is_refused() {
        let turns = Turns::default();
        let first = turns.take("a").await.expect("first");
        let mut waiting = Vec::new();
        for _ in 1..MAX_WAITING {
            let t = turns.clone();
            waiting.push(tokio::spawn(async move { t.take("a").await.map(|_| ()) }));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(waiting.iter().all(|h| !h.is_finished()), "they wait");
        match turns.take("a").await {
            Err(QaError::RateLimited { retry_after_secs }) => {
                assert_eq!(retry_after_secs, RETRY_AFTER_SECS)
            }
            other => panic!("a full line: {:?}", other.map(|_| ())),
        }
        // Another viewer is not in that line.
        drop(turns.take("b").await.expect("another viewer"));
        drop(first);
        for h in waiting {
            h.await.expect("task").expect("its turn came");
        }
        assert_eq!(turns.viewers(), 0, "entries leave with their last request");
    }

    #[tokio::test]
    async fn a_cancelled_wait_leaves_the_line() {
        let turns = Turns::default();
        let first = turns.take("a").await.expect("first");
        for _ in 1..MAX_WAITING {
            let wait = tokio::time::timeout(Duration::from_millis(1), turns.take("a")).await;
            assert!(wait.is_err(), "still waiting when cancelled");
        }
        // The cancelled waits left: the line has room again.
        let t = turns.clone();
        let next = tokio::spawn(async move { t.take("a").await.map(|_| ()) });
        drop(first);
        next.await.expect("task").expect("its turn");
        assert_eq!(turns.viewers(), 0);
    }
}
