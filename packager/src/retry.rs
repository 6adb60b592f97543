//! Bounded retry of store writes, without I/O: the event task asks what to write next
//! and reports how it went.
//!
//! Writes keep their order (a playlist never names a part the store has not got before
//! it). While the store fails, new writes queue behind the failed one and one attempt
//! is made per backoff period (200 ms doubling to 2 s), so the live edge is held by at
//! most one failing store call at a time. A newer put of a key replaces a queued older
//! one (playlists), so an outage queues media, not playlist versions. The queue is
//! bounded: past [`MAX_PENDING_OPS`] or [`MAX_PENDING_BYTES`], the oldest writes are
//! dropped (and counted).

use crate::segmenter::StoreOp;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

pub const INITIAL_RETRY: Duration = Duration::from_millis(200);
pub const MAX_RETRY: Duration = Duration::from_secs(2);
pub const MAX_PENDING_OPS: usize = 4096;
/// About a minute of a full 1080p ladder.
pub const MAX_PENDING_BYTES: usize = 128 << 20;

#[derive(Default)]
pub(crate) struct RetryQueue {
    pending: VecDeque<StoreOp>,
    bytes: usize,
    /// Set while failing: no attempt before this instant.
    next_attempt: Option<Instant>,
    backoff: Duration,
    /// Writes dropped since the last report.
    dropped: u64,
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
    pub(crate) fn len(&self) -> usize {
        self.pending.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Queues a write behind the pending ones.
    pub(crate) fn push(&mut self, op: StoreOp) {
        if !self.pending.is_empty() {
            // A queued put of the same key is superseded (playlists are rewritten).
            let k = key(&op);
            if let Some(i) = self
                .pending
                .iter()
                .position(|p| matches!(p, StoreOp::Put { .. }) && key(p) == k)
            {
                if let Some(old) = self.pending.remove(i) {
                    self.bytes -= size(&old);
                }
            }
        }
        self.bytes += size(&op);
        self.pending.push_back(op);
        while self.pending.len() > MAX_PENDING_OPS
            || (self.bytes > MAX_PENDING_BYTES && self.pending.len() > 1)
        {
            match self.pending.pop_front() {
                Some(old) => {
                    self.bytes -= size(&old);
                    self.dropped += 1;
                }
                None => break,
            }
        }
    }

    /// The next write to attempt at `now`, if one is due.
    pub(crate) fn next(&self, now: Instant) -> Option<&StoreOp> {
        match self.next_attempt {
            Some(t) if now < t => None,
            _ => self.pending.front(),
        }
    }

    /// The write [`next`](Self::next) returned succeeded.
    pub(crate) fn succeeded(&mut self) {
        if let Some(op) = self.pending.pop_front() {
            self.bytes -= size(&op);
        }
        self.next_attempt = None;
        self.backoff = Duration::ZERO;
    }

    /// The write [`next`](Self::next) returned failed at `now`: it stays first.
    pub(crate) fn failed(&mut self, now: Instant) {
        self.backoff = if self.backoff.is_zero() {
            INITIAL_RETRY
        } else {
            (self.backoff * 2).min(MAX_RETRY)
        };
        self.next_attempt = Some(now + self.backoff);
    }

    /// When the next attempt is due, while failing.
    pub(crate) fn retry_at(&self) -> Option<Instant> {
        self.next_attempt.filter(|_| !self.pending.is_empty())
    }

    /// Writes dropped since the last call.
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

    fn keys(q: &RetryQueue) -> Vec<&str> {
        q.pending.iter().map(key).collect()
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
        assert_eq!(q.bytes, 26);
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
        assert_eq!(q.bytes, 0);
        assert_eq!(q.retry_at(), None);
        assert_eq!(q.take_dropped(), 0);
    }

    #[test]
    fn bounded_by_count_and_bytes() {
        let mut q = RetryQueue::default();
        for i in 0..MAX_PENDING_OPS + 10 {
            q.push(put(&format!("a/part{i}.0.m4s"), 1));
        }
        assert_eq!(q.len(), MAX_PENDING_OPS);
        assert_eq!(q.take_dropped(), 10);
        assert_eq!(keys(&q)[0], "a/part10.0.m4s");
        let mut q = RetryQueue::default();
        for i in 0..5 {
            q.push(put(&format!("a/seg{i}.m4s"), MAX_PENDING_BYTES / 2));
        }
        assert_eq!(q.len(), 2);
        assert_eq!(q.take_dropped(), 3);
        // A single write larger than the bound is still kept.
        q.push(put("a/huge.m4s", MAX_PENDING_BYTES + 1));
        assert_eq!(keys(&q), vec!["a/huge.m4s"]);
    }
}
