//! Graceful overload: which encoded renditions of one session run (pure, injected time).
//!
//! The ladder bounds its own lag first: every encoder reads from a leaky queue one part
//! long, so an encoder that cannot keep up drops frames instead of falling behind
//! (`pipeline`). This module decides the second step from what those queues report:
//! when an encoder drops more than [`SHED_DROP_RATIO`] of its frames over
//! [`WINDOW`], or a rendition's output lags arrival by more than [`SHED_LAG`], the
//! costliest running encoded rendition is stopped (and leaves the multivariant
//! playlist); after [`SETTLE`] the figures are judged again, so one rendition at a
//! time is shed. Once every running encoder has kept up (drops under
//! [`OK_DROP_RATIO`], lag under [`OK_LAG`]) for the restore hold time, the rendition
//! shed last comes back. A rendition that is shed again soon after it came back
//! doubles the hold time (from [`RESTORE_HOLD`] up to [`MAX_RESTORE_HOLD`]), so a
//! machine on the edge settles instead of flapping; the hold time is reset after
//! [`FORGIVE_AFTER`] without shedding.
//!
//! The passthrough rendition costs no encoding and is never shed, and neither is the
//! last encoded rendition (the passthrough may be HEVC, which many browsers cannot
//! play); at least one rendition always runs.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Span over which drop ratios are measured.
pub const WINDOW: Duration = Duration::from_secs(2);
/// Dropped share of an encoder's input frames over [`WINDOW`] that sheds a rendition.
pub const SHED_DROP_RATIO: f64 = 0.2;
/// Output lag (arrival → chunk out) that sheds a rendition.
pub const SHED_LAG: Duration = Duration::from_millis(1500);
/// Dropped share under which an encoder counts as keeping up.
pub const OK_DROP_RATIO: f64 = 0.02;
/// Lag under which a rendition counts as keeping up.
pub const OK_LAG: Duration = Duration::from_millis(900);
/// Time after a change before the figures are judged again.
pub const SETTLE: Duration = Duration::from_secs(3);
/// First hold time of good figures before a shed rendition comes back.
pub const RESTORE_HOLD: Duration = Duration::from_secs(10);
/// Longest hold time.
pub const MAX_RESTORE_HOLD: Duration = Duration::from_secs(160);
/// A rendition shed again within this time after it came back doubles the hold time.
pub const FLAP_WITHIN: Duration = Duration::from_secs(30);
/// The hold time returns to [`RESTORE_HOLD`] after this long without shedding.
pub const FORGIVE_AFTER: Duration = Duration::from_secs(300);

/// What the governor knows of one rendition.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RenditionCost {
    /// Encoded (sheddable) or passthrough.
    pub encoded: bool,
    /// Relative cost (pixels per second); the costliest is shed first.
    pub cost: f64,
}

/// One reading of one rendition's figures: running totals since the session started.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Reading {
    /// Frames that reached the encoder's input queue.
    pub frames_in: u64,
    /// Frames the queue dropped.
    pub frames_dropped: u64,
    /// Latest arrival → chunk-out lag, if a chunk came out.
    pub lag: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Stop rendition `i` now.
    Shed(usize),
    /// Run rendition `i` again (from its next keyframe).
    Restore(usize),
}

#[derive(Debug, Clone)]
struct Track {
    cost: RenditionCost,
    running: bool,
    /// (time, frames_in, frames_dropped) readings within the window.
    history: VecDeque<(Instant, u64, u64)>,
    lag: Option<Duration>,
    restored_at: Option<Instant>,
}

impl Track {
    /// Dropped share over the window, `None` without two readings a window apart
    /// (or without frames in between).
    fn drop_ratio(&self) -> Option<f64> {
        let (t0, in0, drop0) = *self.history.front()?;
        let (t1, in1, drop1) = *self.history.back()?;
        if t1.duration_since(t0) < WINDOW / 2 || in1 <= in0 {
            return None;
        }
        Some(drop1.saturating_sub(drop0) as f64 / (in1 - in0) as f64)
    }
}

/// The per-session decision state.
#[derive(Debug, Clone)]
pub struct Governor {
    tracks: Vec<Track>,
    /// Shed renditions, most recent last.
    shed: Vec<usize>,
    last_change: Option<Instant>,
    /// Since when every running rendition keeps up.
    good_since: Option<Instant>,
    hold: Duration,
    last_shed: Option<Instant>,
}

impl Governor {
    pub fn new(renditions: &[RenditionCost]) -> Governor {
        Governor {
            tracks: renditions
                .iter()
                .map(|&cost| Track {
                    cost,
                    running: true,
                    history: VecDeque::new(),
                    lag: None,
                    restored_at: None,
                })
                .collect(),
            shed: Vec::new(),
            last_change: None,
            good_since: None,
            hold: RESTORE_HOLD,
            last_shed: None,
        }
    }

    /// Whether rendition `i` runs.
    pub fn running(&self, i: usize) -> bool {
        self.tracks.get(i).is_some_and(|t| t.running)
    }

    /// Renditions shed now, most recent last.
    pub fn shed(&self) -> &[usize] {
        &self.shed
    }

    /// Current hold time of good figures before a restore.
    pub fn restore_hold(&self) -> Duration {
        self.hold
    }

    /// Takes one reading per rendition (same order as at construction; missing ones
    /// are left as they were) and returns what to change, at most one action.
    pub fn tick(&mut self, now: Instant, readings: &[Reading]) -> Option<Action> {
        for (t, r) in self.tracks.iter_mut().zip(readings) {
            t.lag = r.lag;
            if !t.running {
                t.history.clear();
                continue;
            }
            if t.history.back().is_some_and(|&(_, i, _)| r.frames_in < i) {
                t.history.clear(); // counters restarted
            }
            t.history.push_back((now, r.frames_in, r.frames_dropped));
            while t
                .history
                .front()
                .is_some_and(|&(at, _, _)| now.duration_since(at) > WINDOW)
            {
                t.history.pop_front();
            }
        }
        if self
            .last_shed
            .is_some_and(|at| now.duration_since(at) >= FORGIVE_AFTER)
        {
            self.hold = RESTORE_HOLD;
        }
        if self
            .last_change
            .is_some_and(|at| now.duration_since(at) < SETTLE)
        {
            self.good_since = None;
            return None;
        }
        let running = || self.tracks.iter().filter(|t| t.running);
        let behind = running().any(|t| {
            t.drop_ratio().is_some_and(|r| r > SHED_DROP_RATIO)
                || t.lag.is_some_and(|l| l > SHED_LAG)
        });
        if behind {
            self.good_since = None;
            return self.shed_one(now);
        }
        let keeping_up = running().all(|t| {
            t.drop_ratio()
                .map_or(!t.cost.encoded, |r| r < OK_DROP_RATIO)
                && t.lag.is_none_or(|l| l < OK_LAG)
        });
        if !keeping_up || self.shed.is_empty() {
            self.good_since = None;
            return None;
        }
        let since = *self.good_since.get_or_insert(now);
        if now.duration_since(since) < self.hold {
            return None;
        }
        let i = self.shed.pop()?;
        let t = &mut self.tracks[i];
        t.running = true;
        t.restored_at = Some(now);
        t.history.clear();
        self.last_change = Some(now);
        self.good_since = None;
        Some(Action::Restore(i))
    }

    fn shed_one(&mut self, now: Instant) -> Option<Action> {
        let running = self.tracks.iter().filter(|t| t.running).count();
        let encoded = self
            .tracks
            .iter()
            .filter(|t| t.running && t.cost.encoded)
            .count();
        // The last encoded rendition stays: the passthrough may be a codec a browser
        // cannot play (an HEVC source), and it is the one a slow link can take.
        if running <= 1 || encoded <= 1 {
            return None;
        }
        let (i, _) = self
            .tracks
            .iter()
            .enumerate()
            .filter(|(_, t)| t.running && t.cost.encoded)
            .max_by(|a, b| a.1.cost.cost.total_cmp(&b.1.cost.cost))?;
        let t = &mut self.tracks[i];
        if t.restored_at
            .is_some_and(|at| now.duration_since(at) < FLAP_WITHIN)
        {
            self.hold = (self.hold * 2).min(MAX_RESTORE_HOLD);
        }
        t.running = false;
        t.history.clear();
        t.lag = None;
        self.shed.push(i);
        self.last_change = Some(now);
        self.last_shed = Some(now);
        Some(Action::Shed(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 1080p passthrough, 720p, 480p, 360p encoded.
    fn ladder() -> Vec<RenditionCost> {
        let enc = |w: f64, h: f64| RenditionCost {
            encoded: true,
            cost: w * h * 30.0,
        };
        vec![
            RenditionCost {
                encoded: false,
                cost: 0.0,
            },
            enc(1280.0, 720.0),
            enc(854.0, 480.0),
            enc(640.0, 360.0),
        ]
    }

    /// Drives a governor with 30 fps per rendition every 500 ms; `drop` gives the share
    /// of frames each running rendition drops at a time. Returns the actions with
    /// their times (ms).
    struct Sim {
        g: Governor,
        t0: Instant,
        ms: u64,
        totals: Vec<(u64, u64)>,
    }

    impl Sim {
        fn new() -> Sim {
            let g = Governor::new(&ladder());
            Sim {
                totals: vec![(0, 0); 4],
                g,
                t0: Instant::now(),
                ms: 0,
            }
        }

        fn run(&mut self, secs: u64, drop: impl Fn(usize, &Governor) -> f64) -> Vec<(u64, Action)> {
            let mut out = Vec::new();
            for _ in 0..secs * 2 {
                self.ms += 500;
                let readings: Vec<Reading> = (0..4)
                    .map(|i| {
                        if self.g.running(i) && i > 0 {
                            let d = (15.0 * drop(i, &self.g)).round() as u64;
                            self.totals[i].0 += 15;
                            self.totals[i].1 += d;
                        }
                        Reading {
                            frames_in: self.totals[i].0,
                            frames_dropped: self.totals[i].1,
                            lag: Some(Duration::from_millis(300)),
                        }
                    })
                    .collect();
                let now = self.t0 + Duration::from_millis(self.ms);
                if let Some(a) = self.g.tick(now, &readings) {
                    out.push((self.ms, a));
                }
            }
            out
        }
    }

    #[test]
    fn keeping_up_changes_nothing() {
        let mut s = Sim::new();
        assert_eq!(s.run(60, |_, _| 0.0), []);
        assert!(s.g.shed().is_empty());
    }

    #[test]
    fn sheds_the_costliest_first_one_at_a_time_and_restores_last_shed_first() {
        let mut s = Sim::new();
        // Too little CPU for three encoders: each drops 40 % while 720p runs, 25 %
        // with two encoders left, nothing with one.
        let load = |_: usize, g: &Governor| match (1..4).filter(|&i| g.running(i)).count() {
            3 => 0.4,
            2 => 0.25,
            _ => 0.0,
        };
        let actions = s.run(10, load);
        let shed: Vec<Action> = actions.iter().map(|&(_, a)| a).collect();
        assert_eq!(shed, [Action::Shed(1), Action::Shed(2)]);
        // Not in the same instant: the second waited for the first to settle.
        assert!(actions[1].0 - actions[0].0 >= SETTLE.as_millis() as u64);
        assert!(s.g.running(0) && s.g.running(3));
        // CPU comes back: after the hold time, 480p returns, then 720p.
        let actions = s.run(40, |_, _| 0.0);
        let back: Vec<Action> = actions.iter().map(|&(_, a)| a).collect();
        assert_eq!(back, [Action::Restore(2), Action::Restore(1)]);
        assert!(actions[1].0 - actions[0].0 >= RESTORE_HOLD.as_millis() as u64);
        assert!(s.g.shed().is_empty());
    }

    #[test]
    fn a_rendition_that_brings_the_overload_back_waits_longer_each_time() {
        let mut s = Sim::new();
        // Enough CPU for two encoders, never three.
        let load = |_: usize, g: &Governor| {
            if (1..4).filter(|&i| g.running(i)).count() == 3 {
                0.5
            } else {
                0.0
            }
        };
        let actions = s.run(300, load);
        let restores: Vec<u64> = actions
            .iter()
            .filter(|(_, a)| matches!(a, Action::Restore(_)))
            .map(|&(ms, _)| ms)
            .collect();
        assert!(restores.len() >= 3, "{actions:?}");
        let gaps: Vec<u64> = restores.windows(2).map(|w| w[1] - w[0]).collect();
        assert!(gaps.windows(2).all(|w| w[1] > w[0]), "gaps grow: {gaps:?}");
        assert!(s.g.restore_hold() > RESTORE_HOLD);
        // Every shed is the 720p rendition, and it never takes a second one down.
        assert!(actions
            .iter()
            .all(|(_, a)| matches!(a, Action::Shed(1) | Action::Restore(1))));
    }

    #[test]
    fn never_sheds_passthrough_or_the_last_rendition() {
        // Everything overloaded: two of the three encoded go, passthrough and the
        // cheapest encoded rendition stay.
        let mut s = Sim::new();
        let actions = s.run(12, |_, _| 0.9);
        let shed: Vec<Action> = actions.iter().map(|&(_, a)| a).collect();
        assert_eq!(shed, [Action::Shed(1), Action::Shed(2)]);
        assert!(s.g.running(0) && s.g.running(3));
        // An all-encoded ladder (a browser's session) keeps its cheapest rendition.
        let enc = |c: f64| RenditionCost {
            encoded: true,
            cost: c,
        };
        let mut g = Governor::new(&[enc(3.0), enc(1.0)]);
        let t0 = Instant::now();
        let mut actions = Vec::new();
        for k in 1..60u64 {
            let r = Reading {
                frames_in: 15 * k,
                frames_dropped: 12 * k,
                lag: None,
            };
            if let Some(a) = g.tick(t0 + Duration::from_millis(500 * k), &[r, r]) {
                actions.push(a);
            }
        }
        assert_eq!(actions, [Action::Shed(0)]);
        assert!(g.running(1));
    }

    #[test]
    fn a_growing_lag_sheds_even_without_drops() {
        // The decoder, not an encoder, falls behind: no queue drops, but chunks leave
        // later and later.
        let mut g = Governor::new(&ladder());
        let t0 = Instant::now();
        let mut first = None;
        for k in 1..20u64 {
            let lag = Duration::from_millis(300 + 200 * k);
            let r = Reading {
                frames_in: 15 * k,
                frames_dropped: 0,
                lag: Some(lag),
            };
            if let Some(a) = g.tick(t0 + Duration::from_millis(500 * k), &[r; 4]) {
                first.get_or_insert((lag, a));
            }
        }
        let (lag, action) = first.expect("shed");
        assert_eq!(action, Action::Shed(1));
        assert!(lag > SHED_LAG && lag <= SHED_LAG + Duration::from_millis(200));
    }
}
