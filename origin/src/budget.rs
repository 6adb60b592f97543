//! The HTTP connection budget, as plain state with time passed in: what each connection
//! is doing ([`Activity`]), when it must be closed, which connections the listener
//! admits ([`ConnTable`]) and how many blocking requests may be held ([`HeldBudget`]).
//! The sockets live in [`crate::listener`] and the waits in `live.rs`.
//!
//! Invariants:
//! - A connection is never idle for free: a new connection has `header_timeout` to send
//!   a complete request head, a keep-alive connection `idle_timeout` to start its next
//!   one, and once it sends a byte, `header_timeout` again to finish that head (so a
//!   head trickled one byte per second is cut off, whatever the idle timeout).
//! - Connections serving a request (`Busy`) or upgraded are never evicted nor timed
//!   out here; held blocking requests are bounded by [`HeldBudget`] instead.
//! - At the connection cap (per process, or per client address for clients that are
//!   not trusted proxies) a new connection takes the place of the connection that has
//!   waited longest without a request in progress; only when every connection is busy
//!   is it refused. A flood of silent connections therefore cannot lock viewers out.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A new connection's time to send its first request head, and any request's time to
/// finish its head once its first byte arrived.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a keep-alive connection may wait for its next request (above the 60 s a
/// Varnish keeps idle backend connections, so the proxy closes first).
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(75);
/// Concurrent HTTP connections per process (further bounded by the open-file limit).
pub const DEFAULT_MAX_CONNECTIONS: usize = 16_384;
/// Concurrent HTTP connections per client address (trusted proxies are exempt).
pub const DEFAULT_MAX_CONNECTIONS_PER_CLIENT: usize = 256;
/// Blocking playlist and preload-hint requests held at once, per process.
pub const DEFAULT_MAX_HELD_REQUESTS: usize = 8_192;
/// Blocking requests held at once per client address.
pub const DEFAULT_MAX_HELD_REQUESTS_PER_CLIENT: usize = 128;
/// `Retry-After` (seconds) of a request refused by the budget.
pub const BUDGET_RETRY_AFTER_SECS: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for (the rest of) a request head, since the connection opened or since
    /// the first byte of this head.
    AwaitingHead { since: Instant },
    /// Requests in progress (a response is being computed or sent).
    Busy { requests: u32 },
    /// Between requests of a keep-alive connection, since the last response ended.
    Idle { since: Instant },
    /// Handed over to another protocol (WebSocket): no HTTP deadline applies.
    Upgraded,
}

/// What one connection is doing; shared by its socket, its requests and the table.
#[derive(Debug)]
pub struct Activity(Mutex<Phase>);

impl Activity {
    pub fn new(now: Instant) -> Activity {
        Activity(Mutex::new(Phase::AwaitingHead { since: now }))
    }

    fn lock(&self) -> MutexGuard<'_, Phase> {
        // The phase is a plain value: a panic elsewhere cannot leave it half-written.
        amphi_time::sync::lock(&self.0)
    }

    pub fn phase(&self) -> Phase {
        *self.lock()
    }

    /// Bytes arrived from the client.
    pub fn bytes_read(&self, now: Instant) {
        let mut p = self.lock();
        if let Phase::Idle { .. } = *p {
            *p = Phase::AwaitingHead { since: now };
        }
    }

    /// A complete request head was read: its handler starts.
    pub fn request_started(&self) {
        let mut p = self.lock();
        *p = match *p {
            Phase::Busy { requests } => Phase::Busy {
                requests: requests.saturating_add(1),
            },
            Phase::Upgraded => Phase::Upgraded,
            _ => Phase::Busy { requests: 1 },
        };
    }

    /// A response was sent (or abandoned).
    pub fn request_ended(&self, now: Instant) {
        let mut p = self.lock();
        if let Phase::Busy { requests } = *p {
            *p = if requests > 1 {
                Phase::Busy {
                    requests: requests - 1,
                }
            } else {
                Phase::Idle { since: now }
            };
        }
    }

    pub fn upgraded(&self) {
        *self.lock() = Phase::Upgraded;
    }

    /// When the connection must be closed if nothing changes (`None`: not while busy).
    pub fn deadline(&self, timeouts: &Timeouts) -> Option<Instant> {
        match self.phase() {
            Phase::AwaitingHead { since } => Some(since + timeouts.header),
            Phase::Idle { since } => Some(since + timeouts.idle),
            Phase::Busy { .. } | Phase::Upgraded => None,
        }
    }

    /// Since when the connection has been without a request in progress, if it is.
    fn evictable_since(&self) -> Option<Instant> {
        match self.phase() {
            Phase::AwaitingHead { since } | Phase::Idle { since } => Some(since),
            Phase::Busy { .. } | Phase::Upgraded => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub header: Duration,
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            header: DEFAULT_HEADER_TIMEOUT,
            idle: DEFAULT_IDLE_TIMEOUT,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    pub max_total: usize,
    pub max_per_client: usize,
}

pub type ConnId = u64;

/// The listener's decision for a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Serve it; close `evicted` first (it left the table already).
    Admitted { id: ConnId, evicted: Option<ConnId> },
    /// Every connection that counts against the exceeded cap is busy.
    Refused,
}

#[derive(Debug)]
struct Entry {
    client: IpAddr,
    /// A trusted proxy: counted in the total only.
    exempt: bool,
    activity: Arc<Activity>,
}

/// The open HTTP connections, by id.
#[derive(Debug)]
pub struct ConnTable {
    limits: ConnLimits,
    entries: HashMap<ConnId, Entry>,
    per_client: HashMap<IpAddr, usize>,
    next_id: ConnId,
}

impl ConnTable {
    pub fn new(limits: ConnLimits) -> ConnTable {
        ConnTable {
            limits,
            entries: HashMap::new(),
            per_client: HashMap::new(),
            next_id: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn client_count(&self, client: IpAddr) -> usize {
        self.per_client.get(&client).copied().unwrap_or(0)
    }

    /// Admits a connection from `client`, evicting the longest-waiting connection
    /// without a request in progress when a cap is reached.
    pub fn admit(&mut self, client: IpAddr, exempt: bool, activity: Arc<Activity>) -> Admission {
        let mut evicted = None;
        if !exempt && self.client_count(client) >= self.limits.max_per_client.max(1) {
            match self.oldest_evictable(Some(client)) {
                Some(victim) => {
                    self.remove(victim);
                    evicted = Some(victim);
                }
                None => return Admission::Refused,
            }
        }
        if evicted.is_none() && self.entries.len() >= self.limits.max_total.max(1) {
            match self.oldest_evictable(None) {
                Some(victim) => {
                    self.remove(victim);
                    evicted = Some(victim);
                }
                None => return Admission::Refused,
            }
        }
        let id = self.next_id;
        self.next_id += 1;
        self.entries.insert(
            id,
            Entry {
                client,
                exempt,
                activity,
            },
        );
        if !exempt {
            *self.per_client.entry(client).or_insert(0) += 1;
        }
        Admission::Admitted { id, evicted }
    }

    /// Evicts the longest-waiting connection without a request in progress (to free a
    /// file descriptor when accepting fails for want of one).
    pub fn evict_one(&mut self) -> Option<ConnId> {
        let victim = self.oldest_evictable(None)?;
        self.remove(victim);
        Some(victim)
    }

    /// Forgets a connection (closed, or evicted); `false` if it was not there.
    pub fn remove(&mut self, id: ConnId) -> bool {
        let Some(e) = self.entries.remove(&id) else {
            return false;
        };
        if !e.exempt {
            if let Some(n) = self.per_client.get_mut(&e.client) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.per_client.remove(&e.client);
                }
            }
        }
        true
    }

    fn oldest_evictable(&self, client: Option<IpAddr>) -> Option<ConnId> {
        self.entries
            .iter()
            .filter(|(_, e)| client.is_none_or(|c| !e.exempt && e.client == c))
            .filter_map(|(id, e)| e.activity.evictable_since().map(|since| (since, *id)))
            .min()
            .map(|(_, id)| id)
    }
}

/// Held blocking requests, per process and per client address.
#[derive(Debug)]
pub struct HeldBudget {
    max_total: usize,
    max_per_client: usize,
    state: Mutex<HeldState>,
}

#[derive(Debug, Default)]
struct HeldState {
    total: usize,
    per_client: HashMap<IpAddr, usize>,
}

/// Which cap refused a blocking request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeldRefusal {
    Process,
    Client,
}

impl HeldBudget {
    pub fn new(max_total: usize, max_per_client: usize) -> HeldBudget {
        HeldBudget {
            max_total,
            max_per_client,
            state: Mutex::new(HeldState::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HeldState> {
        amphi_time::sync::lock(&self.state)
    }

    /// A place for one more held request from `client` (`None`: unknown, counted in
    /// the total only), released when the permit is dropped.
    pub fn try_hold(self: &Arc<Self>, client: Option<IpAddr>) -> Result<HeldPermit, HeldRefusal> {
        let mut s = self.lock();
        if s.total >= self.max_total {
            return Err(HeldRefusal::Process);
        }
        if let Some(c) = client {
            let n = s.per_client.entry(c).or_insert(0);
            if *n >= self.max_per_client {
                return Err(HeldRefusal::Client);
            }
            *n += 1;
        }
        s.total += 1;
        Ok(HeldPermit {
            budget: Arc::clone(self),
            client,
        })
    }

    pub fn held(&self) -> usize {
        self.lock().total
    }
}

/// One held blocking request; dropping it frees its place.
#[derive(Debug)]
pub struct HeldPermit {
    budget: Arc<HeldBudget>,
    client: Option<IpAddr>,
}

impl Drop for HeldPermit {
    fn drop(&mut self) {
        let mut s = self.budget.lock();
        s.total = s.total.saturating_sub(1);
        if let Some(c) = self.client {
            if let Some(n) = s.per_client.get_mut(&c) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    s.per_client.remove(&c);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    const T: Timeouts = Timeouts {
        header: Duration::from_secs(10),
        idle: Duration::from_secs(75),
    };

    #[test]
    fn deadlines_follow_the_phase() {
        let t0 = Instant::now();
        let a = Activity::new(t0);
        assert_eq!(a.deadline(&T), Some(t0 + T.header));
        // Trickled bytes of the first head do not extend it.
        a.bytes_read(t0 + Duration::from_secs(5));
        assert_eq!(a.deadline(&T), Some(t0 + T.header));
        a.request_started();
        assert_eq!(a.deadline(&T), None);
        let t1 = t0 + Duration::from_secs(6);
        a.request_ended(t1);
        assert_eq!(a.deadline(&T), Some(t1 + T.idle));
        // The next head's first byte: `header` from there.
        let t2 = t1 + Duration::from_secs(30);
        a.bytes_read(t2);
        assert_eq!(a.deadline(&T), Some(t2 + T.header));
        a.bytes_read(t2 + Duration::from_secs(9));
        assert_eq!(a.deadline(&T), Some(t2 + T.header));
        // Pipelined requests: busy until the last ends.
        a.request_started();
        a.request_started();
        a.request_ended(t2);
        assert_eq!(a.deadline(&T), None);
        a.request_ended(t2);
        assert_eq!(a.deadline(&T), Some(t2 + T.idle));
        a.upgraded();
        a.bytes_read(t2);
        a.request_ended(t2);
        assert_eq!(a.deadline(&T), None);
    }

    fn table(max_total: usize, max_per_client: usize) -> ConnTable {
        ConnTable::new(ConnLimits {
            max_total,
            max_per_client,
        })
    }

    #[test]
    fn per_client_cap_evicts_that_clients_oldest_waiting_connection() {
        let t0 = Instant::now();
        let mut t = table(100, 2);
        let flood = ip("192.0.2.1");
        let a = Arc::new(Activity::new(t0));
        let b = Arc::new(Activity::new(t0 + Duration::from_secs(1)));
        let Admission::Admitted { id: id_a, .. } = t.admit(flood, false, a.clone()) else {
            panic!("first connection refused");
        };
        assert!(matches!(
            t.admit(flood, false, b.clone()),
            Admission::Admitted { evicted: None, .. }
        ));
        // Another client is not affected.
        assert!(matches!(
            t.admit(ip("192.0.2.2"), false, Arc::new(Activity::new(t0))),
            Admission::Admitted { evicted: None, .. }
        ));
        // The third from the flood replaces the oldest waiting one.
        let c = Arc::new(Activity::new(t0 + Duration::from_secs(2)));
        assert_eq!(
            t.admit(flood, false, c.clone()),
            Admission::Admitted {
                id: 3,
                evicted: Some(id_a)
            }
        );
        assert_eq!(t.client_count(flood), 2);
        // When all of them are busy, the next is refused.
        b.request_started();
        c.request_started();
        assert_eq!(
            t.admit(flood, false, Arc::new(Activity::new(t0))),
            Admission::Refused
        );
        assert!(!t.remove(id_a), "already evicted");
        // Trusted proxies are not capped per address.
        for _ in 0..5 {
            assert!(matches!(
                t.admit(flood, true, Arc::new(Activity::new(t0))),
                Admission::Admitted { evicted: None, .. }
            ));
        }
        assert_eq!(t.client_count(flood), 2);
        assert_eq!(t.len(), 8);
    }

    #[test]
    fn total_cap_evicts_the_longest_waiting_connection_of_anyone() {
        let t0 = Instant::now();
        let mut t = table(3, 10);
        let busy = Arc::new(Activity::new(t0));
        busy.request_started();
        let idle = Arc::new(Activity::new(t0));
        idle.request_started();
        idle.request_ended(t0 + Duration::from_secs(1));
        let fresh = Arc::new(Activity::new(t0 + Duration::from_secs(3)));
        let mut ids = Vec::new();
        for (n, a) in [&busy, &idle, &fresh].into_iter().enumerate() {
            match t.admit(ip(&format!("198.51.100.{n}")), false, a.clone()) {
                Admission::Admitted { id, evicted: None } => ids.push(id),
                other => panic!("{other:?}"),
            }
        }
        let next = Arc::new(Activity::new(t0 + Duration::from_secs(4)));
        assert_eq!(
            t.admit(ip("203.0.113.9"), false, next),
            Admission::Admitted {
                id: 3,
                evicted: Some(ids[1])
            }
        );
        assert_eq!(t.evict_one(), Some(ids[2]));
        assert_eq!(t.evict_one(), Some(3));
        assert_eq!(t.evict_one(), None, "the busy one stays");
        assert!(t.remove(ids[0]));
        assert!(t.is_empty());
    }

    #[test]
    fn held_budget_caps_process_and_client() {
        let b = Arc::new(HeldBudget::new(3, 2));
        let c1 = Some(ip("192.0.2.1"));
        let p1 = b.try_hold(c1).expect("first");
        let p2 = b.try_hold(c1).expect("second");
        assert_eq!(b.try_hold(c1).err(), Some(HeldRefusal::Client));
        let p3 = b.try_hold(None).expect("unknown client");
        assert_eq!(
            b.try_hold(Some(ip("192.0.2.2"))).err(),
            Some(HeldRefusal::Process)
        );
        drop(p1);
        let p4 = b.try_hold(c1).expect("a place was freed");
        assert_eq!(b.held(), 3);
        drop((p2, p3, p4));
        assert_eq!(b.held(), 0);
        assert!(b.lock().per_client.is_empty(), "no entry left behind");
    }
}
