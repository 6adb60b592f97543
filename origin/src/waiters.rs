//! Wake-ups of held blocking requests, by store key.
//!
//! The store announces every key it puts on one broadcast channel. If each held request
//! listened there itself, every put would wake every held request of every event and
//! rendition (10,000 held requests × a few dozen puts a second). Instead one dispatcher
//! task per origin listens, and wakes only the requests waiting for the announced key:
//! each key with waiters has a generation counter (`watch`), bumped on announcement.
//! An [`ANY_KEY`] announcement, or a dispatcher that lagged, bumps every key.
//!
//! A request registers its keys *before* reading the store, then waits for a change:
//! a put between the read and the wait is not missed. Keys nobody waits for any more
//! are dropped from the table (by the last waiter leaving), so the table is as large as
//! the set of awaited keys, never more.

use amphi_hls::store::{Store, ANY_KEY};
use amphi_time::sync::lock;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;

#[derive(Default)]
pub(crate) struct Waiters {
    keys: Mutex<HashMap<Arc<str>, watch::Sender<u64>>>,
    dispatcher: OnceLock<()>,
}

impl Waiters {
    fn table(&self) -> MutexGuard<'_, HashMap<Arc<str>, watch::Sender<u64>>> {
        lock(&self.keys)
    }

    /// Starts the dispatcher on first use (from a request, so inside the runtime).
    fn ensure_dispatcher(self: &Arc<Self>, store: &Arc<dyn Store>) {
        self.dispatcher.get_or_init(|| {
            let mut rx = store.subscribe();
            let waiters = Arc::downgrade(self);
            tokio::spawn(async move {
                loop {
                    let key = match rx.recv().await {
                        Ok(key) => Some(key),
                        Err(RecvError::Lagged(_)) => None,
                        Err(RecvError::Closed) => return,
                    };
                    let Some(waiters) = waiters.upgrade() else {
                        return;
                    };
                    waiters.announce(key.as_deref());
                }
            });
        });
    }

    /// `None` or [`ANY_KEY`]: anything may have changed.
    fn announce(&self, key: Option<&str>) {
        let table = self.table();
        match key {
            Some(k) if k != ANY_KEY => {
                if let Some(tx) = table.get(k) {
                    tx.send_modify(|g| *g = g.wrapping_add(1));
                }
            }
            _ => {
                for tx in table.values() {
                    tx.send_modify(|g| *g = g.wrapping_add(1));
                }
            }
        }
    }

    /// Registers interest in `keys`; wait with [`Watch::changed`].
    pub(crate) fn watch(self: &Arc<Self>, store: &Arc<dyn Store>, keys: &[&str]) -> Watch {
        self.ensure_dispatcher(store);
        let mut table = self.table();
        let receivers = keys
            .iter()
            .map(|k| match table.get(*k) {
                Some(tx) => tx.subscribe(),
                None => {
                    let (tx, rx) = watch::channel(0);
                    table.insert(Arc::from(*k), tx);
                    rx
                }
            })
            .collect();
        Watch {
            waiters: Arc::clone(self),
            keys: keys.iter().map(|k| Arc::from(*k)).collect(),
            receivers,
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.table().len()
    }
}

/// One request's interest in some keys; dropping it unregisters them.
pub(crate) struct Watch {
    waiters: Arc<Waiters>,
    keys: Vec<Arc<str>>,
    receivers: Vec<watch::Receiver<u64>>,
}

impl Watch {
    /// Resolves when one of the keys was announced since the last call (or since
    /// registering).
    pub(crate) async fn changed(&mut self) {
        let waits = self.receivers.iter_mut().map(|rx| Box::pin(rx.changed()));
        // A closed sender cannot happen while we hold our entry; treat it as a change.
        let _ = futures_util::future::select_all(waits).await;
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let receivers = std::mem::take(&mut self.receivers);
        drop(receivers);
        let mut table = self.waiters.table();
        for key in &self.keys {
            if table.get(key).is_some_and(|tx| tx.receiver_count() == 0) {
                table.remove(key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use amphi_hls::store::{ContentType, MemoryStore, Object};
    use bytes::Bytes;
    use std::time::Duration;

    #[tokio::test]
    async fn wakes_only_waiters_of_the_announced_key_and_forgets_keys() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
        let waiters = Arc::new(Waiters::default());
        let mut a = waiters.watch(&store, &["ev/720p/index.m3u8"]);
        let mut b = waiters.watch(&store, &["ev/360p/index.m3u8", "ev/360p/part1.0.m4s"]);
        assert_eq!(waiters.len(), 3);
        let part = Object {
            data: Bytes::from_static(b"x"),
            content_type: ContentType::Mp4,
        };
        store.put("ev/360p/part1.0.m4s", part).await.expect("put");
        tokio::time::timeout(Duration::from_secs(1), b.changed())
            .await
            .expect("the 360p waiter wakes");
        assert!(
            tokio::time::timeout(Duration::from_millis(100), a.changed())
                .await
                .is_err(),
            "the 720p waiter sleeps on"
        );
        drop(b);
        assert_eq!(waiters.len(), 1, "keys nobody waits for are dropped");
        waiters.announce(Some(ANY_KEY));
        tokio::time::timeout(Duration::from_secs(1), a.changed())
            .await
            .expect("ANY_KEY wakes everyone");
        drop(a);
        assert_eq!(waiters.len(), 0);
    }
}
