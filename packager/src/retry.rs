//! Retry of store writes, without I/O: the event task asks what to write next and
//! reports how it went; nothing produced is dropped while there is disk to spill to.
//!
//! Writes keep their order (a playlist never names a part the store has not got before
//! it). While the store fails, new writes queue behind the failed one and one attempt
//! is made per backoff period (200 ms doubling to 2 s), so the live edge is held by at
//! most one failing store call at a time. A newer put of a key replaces a queued older
//! one (playlists), so an outage queues media, not playlist versions.
//!
//! Memory holds the head of the queue, up to [`Limits`]; past them the tail goes to a
//! local spool (the caller writes and reads the files this queue asks for), so the
//! queue is "memory first, then disk", in order. When the store returns and the head
//! drains, spooled writes are loaded back (oldest first) as memory frees up. Only a
//! spool write that fails (disk full) loses a write; it is counted.
//!
//! While the store fails, the writes held in memory are also copied to the spool
//! ([`SpoolAction::Copy`]; the queued ones at the first failure, then each new one), so
//! a process killed during an outage (`kill -9`, power loss) leaves every write it
//! could not store on disk, and the next run replays them ([`crate::spool`]). A copy
//! is removed once its write is stored or superseded.

use crate::segmenter::StoreOp;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

pub const INITIAL_RETRY: Duration = Duration::from_millis(200);
pub const MAX_RETRY: Duration = Duration::from_secs(2);
pub const MAX_PENDING_OPS: usize = 4096;
/// About a minute of a full 1080p ladder.
pub const MAX_PENDING_BYTES: usize = 128 << 20;

/// How much of the queue is kept in memory before spilling to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_ops: usize,
    pub max_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_ops: MAX_PENDING_OPS,
            max_bytes: MAX_PENDING_BYTES,
        }
    }
}

#[derive(Debug)]
enum Entry {
    /// In memory; `copied` when the spool file `id` holds a copy too.
    Memory { op: StoreOp, copied: bool },
    /// In the spool file `id`; only its key and size stay in memory.
    Spooled {
        key: String,
        bytes: usize,
        put: bool,
    },
}

/// What the caller must do with the spool, in order, before asking for more.
#[derive(Debug, PartialEq)]
pub(crate) enum SpoolAction {
    /// Write this op to spool file `id` (spilled: memory no longer holds it).
    Write { id: u64, op: StoreOp },
    /// Write a copy of this op, still held in memory, to spool file `id`.
    Copy { id: u64, op: StoreOp },
    /// Spool file `id` is no longer needed (loaded back or superseded).
    Remove { id: u64 },
}

#[derive(Default)]
pub(crate) struct RetryQueue {
    limits: Limits,
    /// Queued writes by sequence number (the order they are written in). Memory
    /// entries always come before spooled ones; a spooled entry's id is its sequence.
    entries: BTreeMap<u64, Entry>,
    next_seq: u64,
    /// Queued puts by key, to supersede them.
    puts: HashMap<String, u64>,
    memory_ops: usize,
    memory_bytes: usize,
    spooled_ops: usize,
    spooled_bytes: usize,
    actions: Vec<SpoolAction>,
    /// Set while failing: no attempt before this instant.
    next_attempt: Option<Instant>,
    backoff: Duration,
    /// Writes lost since the last report (the spool could not take them).
    dropped: u64,
    /// Writes in memory get a spool copy (the store failed and the queue has not
    /// emptied since).
    copying: bool,
}

fn size(op: &StoreOp) -> usize {
    match op {
        StoreOp::Put { object, .. } => object.data.len(),
        StoreOp::Delete { .. } => 0,
    }
}

fn key(op: &StoreOp) -> &str {
    match op {
        StoreOp::Put { key, .. } | StoreOp::Delete { key } => key,
    }
}

impl RetryQueue {
    pub(crate) fn new(limits: Limits) -> Self {
        RetryQueue {
            limits,
            ..RetryQueue::default()
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Writes and bytes waiting in the spool.
    pub(crate) fn spooled(&self) -> (usize, usize) {
        (self.spooled_ops, self.spooled_bytes)
    }

    fn remove(&mut self, seq: u64) {
        match self.entries.remove(&seq) {
            Some(Entry::Memory { op, copied }) => {
                self.memory_ops -= 1;
                self.memory_bytes -= size(&op);
                if matches!(op, StoreOp::Put { .. }) {
                    self.puts.remove(key(&op));
                }
                if copied {
                    self.actions.push(SpoolAction::Remove { id: seq });
                }
            }
            Some(Entry::Spooled { key, bytes, put }) => {
                self.spooled_ops -= 1;
                self.spooled_bytes -= bytes;
                if put {
                    self.puts.remove(&key);
                }
                self.actions.push(SpoolAction::Remove { id: seq });
            }
            None => {}
        }
    }

    fn memory_has_room(&self, bytes: usize) -> bool {
        self.memory_ops == 0
            || (self.memory_ops < self.limits.max_ops
                && self.memory_bytes + bytes <= self.limits.max_bytes)
    }

    /// Queues a write behind the pending ones.
    pub(crate) fn push(&mut self, op: StoreOp) {
        let is_put = matches!(op, StoreOp::Put { .. });
        if is_put {
            // A queued put of the same key is superseded (playlists are rewritten).
            if let Some(old) = self.puts.get(key(&op)).copied() {
                self.remove(old);
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        if is_put {
            self.puts.insert(key(&op).to_owned(), seq);
        }
        let bytes = size(&op);
        if self.spooled_ops == 0 && self.memory_has_room(bytes) {
            self.memory_ops += 1;
            self.memory_bytes += bytes;
            let copied = self.copying;
            if copied {
                self.actions.push(SpoolAction::Copy {
                    id: seq,
                    op: op.clone(),
                });
            }
            self.entries.insert(seq, Entry::Memory { op, copied });
        } else {
            self.spooled_ops += 1;
            self.spooled_bytes += bytes;
            self.entries.insert(
                seq,
                Entry::Spooled {
                    key: key(&op).to_owned(),
                    bytes,
                    put: is_put,
                },
            );
            self.actions.push(SpoolAction::Write { id: seq, op });
        }
    }

    /// What the caller must do with the spool now, in order.
    pub(crate) fn take_actions(&mut self) -> Vec<SpoolAction> {
        std::mem::take(&mut self.actions)
    }

    /// A spool write failed (disk full): a spilled write is lost; a copy is only
    /// not made (memory still holds the write).
    pub(crate) fn spool_failed(&mut self, id: u64) {
        match self.entries.get_mut(&id) {
            Some(Entry::Spooled { .. }) => {
                self.remove(id);
                self.dropped += 1;
            }
            Some(Entry::Memory { copied, .. }) => *copied = false,
            None => {}
        }
    }

    /// The spooled write to load back now, if memory has room for it.
    pub(crate) fn wants_load(&self) -> Option<u64> {
        self.entries
            .iter()
            .find_map(|(seq, e)| match e {
                Entry::Spooled { bytes, .. } => Some((*seq, *bytes)),
                Entry::Memory { .. } => None,
            })
            .filter(|(_, bytes)| self.memory_has_room(*bytes))
            .map(|(seq, _)| seq)
    }

    /// Spool file `id` was read back as `op`. The file stays, as the copy of the
    /// write now in memory, until the write is stored.
    pub(crate) fn loaded(&mut self, id: u64, op: StoreOp) {
        let Some(Entry::Spooled { bytes, .. }) = self.entries.get(&id) else {
            return;
        };
        self.spooled_ops -= 1;
        self.spooled_bytes -= bytes;
        self.memory_ops += 1;
        self.memory_bytes += size(&op);
        self.entries.insert(id, Entry::Memory { op, copied: true });
    }

    /// The next write to attempt at `now`, if one is due (and loaded).
    pub(crate) fn next(&self, now: Instant) -> Option<&StoreOp> {
        match self.next_attempt {
            Some(t) if now < t => None,
            _ => match self.entries.first_key_value() {
                Some((_, Entry::Memory { op, .. })) => Some(op),
                _ => None,
            },
        }
    }

    /// The write [`next`](Self::next) returned succeeded.
    pub(crate) fn succeeded(&mut self) {
        if let Some((&seq, Entry::Memory { .. })) = self.entries.first_key_value() {
            self.remove(seq);
        }
        self.next_attempt = None;
        self.backoff = Duration::ZERO;
        if self.entries.is_empty() {
            self.copying = false;
        }
    }

    /// The write [`next`](Self::next) returned failed at `now`: it stays first, and
    /// from now until the queue is empty every write in memory has a spool copy.
    pub(crate) fn failed(&mut self, now: Instant) {
        if !self.copying {
            self.copying = true;
            for (&id, e) in self.entries.iter_mut() {
                if let Entry::Memory { op, copied } = e {
                    if !*copied {
                        *copied = true;
                        self.actions.push(SpoolAction::Copy { id, op: op.clone() });
                    }
                }
            }
        }
        self.backoff = if self.backoff.is_zero() {
            INITIAL_RETRY
        } else {
            (self.backoff * 2).min(MAX_RETRY)
        };
        self.next_attempt = Some(now + self.backoff);
    }

    /// When the next attempt is due, while failing.
    pub(crate) fn retry_at(&self) -> Option<Instant> {
        self.next_attempt.filter(|_| !self.entries.is_empty())
    }

    /// Writes lost since the last call.
    pub(crate) fn take_dropped(&mut self) -> u64 {
        std::mem::take(&mut self.dropped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use amphi_hls::store::{ContentType, Object};
    use bytes::Bytes;

    fn put(key: &str, len: usize) -> StoreOp {
        StoreOp::Put {
            key: key.to_owned(),
            object: Object {
                data: Bytes::from(vec![0; len]),
                content_type: ContentType::for_key(key),
            },
        }
    }

    fn keys(q: &RetryQueue) -> Vec<String> {
        q.entries
            .values()
            .map(|e| match e {
                Entry::Memory { op, .. } => key(op).to_owned(),
                Entry::Spooled { key, .. } => format!("spool:{key}"),
            })
            .collect()
    }

    /// Plays the caller: a spool in a map, loads as memory allows, then writes what
    /// is due to `store` until it fails or the queue is empty.
    fn drive(
        q: &mut RetryQueue,
        spool: &mut HashMap<u64, StoreOp>,
        now: Instant,
        store: &mut Vec<String>,
        up: bool,
    ) {
        loop {
            for a in q.take_actions() {
                match a {
                    SpoolAction::Write { id, op } | SpoolAction::Copy { id, op } => {
                        spool.insert(id, op);
                    }
                    SpoolAction::Remove { id } => {
                        spool.remove(&id);
                    }
                }
            }
            if let Some(id) = q.wants_load() {
                let op = spool.get(&id).cloned().expect("spooled before loaded");
                q.loaded(id, op);
                continue;
            }
            let Some(op) = q.next(now) else { return };
            if !up {
                q.failed(now);
                return;
            }
            store.push(key(op).to_owned());
            q.succeeded();
        }
    }

    #[test]
    fn order_backoff_and_supersede() {
        let t0 = Instant::now();
        let mut q = RetryQueue::default();
        q.push(put("a/part1.0.m4s", 10));
        assert!(q.next(t0).is_some());
        q.failed(t0);
        assert!(q.next(t0).is_none(), "backing off");
        assert_eq!(q.retry_at(), Some(t0 + INITIAL_RETRY));
        q.push(put("a/index.m3u8", 5));
        q.push(put("a/part1.1.m4s", 10));
        q.push(put("a/index.m3u8", 6));
        q.push(StoreOp::Delete {
            key: "a/seg0.m4s".into(),
        });
        assert_eq!(
            keys(&q),
            vec![
                "a/part1.0.m4s",
                "a/part1.1.m4s",
                "a/index.m3u8",
                "a/seg0.m4s"
            ]
        );
        assert_eq!(q.memory_bytes, 26);
        let t1 = t0 + INITIAL_RETRY;
        assert_eq!(q.next(t1).map(key), Some("a/part1.0.m4s"));
        q.failed(t1);
        assert_eq!(q.retry_at(), Some(t1 + INITIAL_RETRY * 2));
        for _ in 0..10 {
            q.failed(t1);
        }
        assert_eq!(q.retry_at(), Some(t1 + MAX_RETRY));
        let t2 = t1 + MAX_RETRY;
        while q.next(t2).is_some() {
            q.succeeded();
        }
        assert!(q.is_empty());
        assert_eq!(q.memory_bytes, 0);
        assert_eq!(q.retry_at(), None);
        assert_eq!(q.take_dropped(), 0);
        // Memory sufficed: the spool held only copies, each removed once stored.
        let mut copies = std::collections::BTreeSet::new();
        for a in q.take_actions() {
            match a {
                SpoolAction::Copy { id, .. } => assert!(copies.insert(id)),
                SpoolAction::Remove { id } => assert!(copies.remove(&id), "{id}"),
                SpoolAction::Write { .. } => panic!("nothing spilled"),
            }
        }
        assert!(copies.is_empty(), "copies left: {copies:?}");
        // Healthy again: no copies.
        q.push(put("a/part2.0.m4s", 10));
        assert!(q.take_actions().is_empty());
    }

    #[test]
    fn a_kill_during_an_outage_leaves_every_unstored_write_on_disk() {
        let t0 = Instant::now();
        let mut q = RetryQueue::new(Limits {
            max_ops: 4,
            max_bytes: 1000,
        });
        let mut spool = HashMap::new();
        let mut stored = Vec::new();
        // Healthy: written at once, nothing on disk.
        q.push(put("a/part0.0.m4s", 40));
        drive(&mut q, &mut spool, t0, &mut stored, true);
        assert!(spool.is_empty());
        // Queued while healthy, then the store fails: those are copied too.
        q.push(put("a/part0.1.m4s", 40));
        q.push(put("a/index.m3u8", 5));
        drive(&mut q, &mut spool, t0, &mut stored, false);
        for i in 2..12 {
            q.push(put(&format!("a/part0.{i}.m4s"), 40));
            q.push(put("a/index.m3u8", 5));
            drive(&mut q, &mut spool, t0, &mut stored, false);
        }
        // The process dies here: what the next run finds on disk, in order, is every
        // write not stored (memory is gone).
        let mut on_disk: Vec<(u64, String)> = spool
            .iter()
            .map(|(id, op)| (*id, key(op).to_owned()))
            .collect();
        on_disk.sort();
        let on_disk: Vec<String> = on_disk.into_iter().map(|(_, k)| k).collect();
        let mut expected: Vec<String> = (1..12).map(|i| format!("a/part0.{i}.m4s")).collect();
        expected.push("a/index.m3u8".into());
        assert_eq!(on_disk, expected);
        assert_eq!(stored, ["a/part0.0.m4s"]);
        // Or the store returns: stored in order, the spool emptied, copying stops.
        drive(&mut q, &mut spool, t0 + MAX_RETRY, &mut stored, true);
        assert_eq!(stored.len(), 13);
        assert!(q.is_empty() && spool.is_empty());
        q.push(put("a/part1.0.m4s", 40));
        assert!(q.take_actions().is_empty());
    }

    #[test]
    fn past_the_memory_limits_the_tail_spills_and_drains_in_order() {
        let t0 = Instant::now();
        let mut q = RetryQueue::new(Limits {
            max_ops: 3,
            max_bytes: 100,
        });
        let mut spool = HashMap::new();
        let mut stored = Vec::new();
        let mut produced = Vec::new();
        // An outage: 20 parts of 40 bytes and a playlist after each.
        for i in 0..20 {
            let k = format!("a/part{i}.0.m4s");
            q.push(put(&k, 40));
            produced.push(k);
            q.push(put("a/index.m3u8", 5));
            drive(&mut q, &mut spool, t0, &mut stored, false);
        }
        assert!(stored.is_empty());
        // Memory holds at most the limits; the rest is on disk, not dropped.
        assert!(
            q.memory_bytes <= 100 && q.memory_ops <= 3,
            "{}",
            q.memory_bytes
        );
        let (ops, bytes) = q.spooled();
        assert_eq!(ops + q.memory_ops, 21, "20 parts and one playlist");
        // On disk: the spilled tail, and copies of what memory holds.
        assert_eq!(
            bytes + q.memory_bytes,
            spool.values().map(size).sum::<usize>()
        );
        assert_eq!(
            spool.len(),
            ops + q.memory_ops,
            "superseded playlists left the spool"
        );
        assert_eq!(q.take_dropped(), 0);
        assert!(keys(&q)[0].starts_with("a/part0"));
        assert!(keys(&q).last().is_some_and(|k| k == "spool:a/index.m3u8"));
        // The store returns: everything arrives, in the order it was produced, the
        // playlist last (after the parts it lists).
        drive(&mut q, &mut spool, t0 + MAX_RETRY, &mut stored, true);
        let mut expected = produced.clone();
        expected.push("a/index.m3u8".into());
        assert_eq!(stored, expected);
        assert!(q.is_empty() && spool.is_empty());
        assert_eq!(q.spooled(), (0, 0));
        // New writes go to memory again.
        q.push(put("a/part20.0.m4s", 40));
        assert!(q.take_actions().is_empty());
    }

    #[test]
    fn a_failed_spool_write_is_the_only_loss() {
        let mut q = RetryQueue::new(Limits {
            max_ops: 1,
            max_bytes: 10,
        });
        q.push(put("a/part0.0.m4s", 5));
        q.push(put("a/part1.0.m4s", 5));
        q.push(put("a/part2.0.m4s", 5));
        let actions = q.take_actions();
        assert_eq!(actions.len(), 2);
        let SpoolAction::Write { id, .. } = &actions[0] else {
            panic!("a spool write: {actions:?}");
        };
        q.spool_failed(*id);
        assert_eq!(q.take_dropped(), 1);
        assert_eq!(keys(&q), vec!["a/part0.0.m4s", "spool:a/part2.0.m4s"]);
        // A single write larger than the memory bound is still kept in memory.
        let mut q = RetryQueue::new(Limits {
            max_ops: 4,
            max_bytes: 10,
        });
        q.push(put("a/huge.m4s", 11));
        assert_eq!(keys(&q), vec!["a/huge.m4s"]);
        assert!(q.take_actions().is_empty());
    }
}
