//! Writing to the store in order: every write goes through the retry queue, which
//! keeps it in memory, then in the local spool, while the store refuses it; a new run
//! first replays what an earlier one left in the spool.

use super::{EventPackager, DRAIN_SLICE};
use crate::retry::SpoolAction;
use crate::segmenter::StoreOp;
use std::time::{Duration, Instant};
use tracing::{debug, info, warn};

impl EventPackager {
    /// Queues `ops` and writes what is due, in order. While the store fails this makes
    /// at most one attempt per backoff period, so the live edge is never held long;
    /// a backlog drains in slices of [`DRAIN_SLICE`].
    pub(super) async fn apply(&mut self, ops: Vec<StoreOp>) {
        for op in ops {
            self.retry.push(op);
        }
        self.run_spool().await;
        let started = Instant::now();
        loop {
            while let Some(id) = self.retry.wants_load() {
                match self.spool.read(id).await {
                    Ok(op) => self.retry.loaded(id, op),
                    Err(e) => {
                        warn!(reason = %e, "could not read a spooled write back: it is lost");
                        self.retry.spool_failed(id);
                    }
                }
                self.run_spool().await;
            }
            let Some(op) = self.retry.next(Instant::now()) else {
                break;
            };
            let result = match op {
                StoreOp::Put { key, object } => self.store.put(key, object.clone()).await,
                StoreOp::Delete { key } => self.store.delete(key).await,
            };
            match result {
                Ok(()) => {
                    self.retry.succeeded();
                    self.run_spool().await;
                    if self.store_failing && self.retry.is_empty() {
                        info!("store writes succeed again; delayed writes flushed");
                        self.store_failing = false;
                    }
                }
                Err(e) => {
                    self.retry.failed(Instant::now());
                    if !self.store_failing {
                        warn!(reason = %e, "store write failed; retrying in order (errors are not logged again until it recovers)");
                        self.store_failing = true;
                    }
                    break;
                }
            }
            if started.elapsed() >= DRAIN_SLICE {
                break;
            }
        }
        let (spooled, bytes) = self.retry.spooled();
        if spooled == 0 && self.spilling {
            info!("spooled writes are all back in the store");
            self.spilling = false;
        }
        let dropped = self.retry.take_dropped();
        if dropped > 0 {
            warn!(
                dropped,
                spooled,
                spool_bytes = bytes,
                "the spool is full: writes the store refused were lost"
            );
        }
    }

    /// Writes and removes the spool files the queue asks for.
    pub(super) async fn run_spool(&mut self) {
        for action in self.retry.take_actions() {
            match action {
                SpoolAction::Write { id, op } => {
                    if !self.spilling {
                        warn!(dir = %self.spool.dir().display(), "writes waiting for the store passed the memory bound: spilling writes to the local spool (bounded by its free space)");
                        self.spilling = true;
                    }
                    if let Err(e) = self.spool.write(id, &op).await {
                        warn!(reason = %e, "spool write failed");
                        self.retry.spool_failed(id);
                    }
                }
                SpoolAction::Copy { id, op } => {
                    // Memory keeps the write; a failed copy only loses the copy.
                    if let Err(e) = self.spool.write(id, &op).await {
                        debug!(reason = %e, "could not copy a write waiting for the store to the spool");
                        self.retry.spool_failed(id);
                    }
                }
                SpoolAction::Remove { id } => self.spool.remove(id).await,
            }
        }
    }

    /// Retries queued writes until they are stored or `timeout` passes.
    pub(super) async fn flush(&mut self, timeout: Duration) {
        let deadline = tokio::time::Instant::now() + timeout;
        while !self.retry.is_empty() {
            if let Some(at) = self.retry.retry_at() {
                let at = tokio::time::Instant::from_std(at);
                if at > deadline {
                    break;
                }
                tokio::time::sleep_until(at).await;
            }
            self.apply(Vec::new()).await;
            if tokio::time::Instant::now() >= deadline {
                break;
            }
        }
        if !self.retry.is_empty() {
            warn!(
                pending = self.retry.len(),
                "session ended with writes the store still refuses; they stay queued and are retried in order"
            );
        }
    }
    /// Writes what an earlier run left in the spool (it died during a store outage)
    /// before resuming from the store, so that media is not lost.
    pub(super) async fn replay_spool(&mut self) {
        if self.spool.leftovers().await.is_empty() {
            return;
        }
        let r = self
            .spool
            .replay(&*self.store, || tokio::time::sleep(crate::retry::MAX_RETRY))
            .await;
        info!(
            event = %self.event,
            written = r.written,
            already_stored = r.already_stored,
            conflicts = r.conflicts,
            playlists_skipped = r.playlists_skipped,
            unreadable = r.unreadable,
            "replayed the writes an earlier run left in the spool"
        );
    }
}
