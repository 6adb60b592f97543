//! The viewer estimate behind `amphi_origin_estimated_viewers{event, rendition}`.
//!
//! No per-viewer id exists (by design: it would defeat the CDN), so viewers are
//! estimated from playlist traffic: an LL-HLS player issues one playlist request (a
//! blocking reload) per part, so for a rendition
//! `viewers ≈ playlist requests per second × part duration`, the rate averaged over
//! the last [`RATE_WINDOW_SECS`] full seconds and the part duration read from the
//! playlist's `PART-TARGET` ([`DEFAULT_PART_SECS`] until one was seen). Behind a CDN
//! the origin sees one request per edge and part, so this counts *edges*, not people:
//! the true audience comes from player beacons or the CDN's own logs.
//!
//! Sans-IO: every call takes the time (`Instant`), nothing here reads a clock.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Seconds over which playlist request rates are averaged for the viewer estimate.
pub const RATE_WINDOW_SECS: u64 = 10;
/// Part duration assumed before a rendition's `PART-TARGET` was seen.
pub const DEFAULT_PART_SECS: f64 = 0.2;
/// Renditions tracked (bounds memory against junk names).
const MAX_RENDITIONS: usize = 256;

/// Requests per whole second over the last `RATE_WINDOW_SECS + 1` seconds.
#[derive(Debug, Default)]
struct RateWindow {
    /// (second number since the epoch, requests in it), oldest first.
    seconds: Vec<(u64, u64)>,
    part_secs: Option<f64>,
}

impl RateWindow {
    fn add(&mut self, second: u64) {
        match self.seconds.last_mut() {
            Some((s, n)) if *s == second => *n += 1,
            _ => self.seconds.push((second, 1)),
        }
        let oldest = second.saturating_sub(RATE_WINDOW_SECS);
        self.seconds.retain(|(s, _)| *s >= oldest);
    }

    /// Mean requests per second over the last `RATE_WINDOW_SECS` *complete* seconds.
    fn rate(&self, now_second: u64) -> f64 {
        let from = now_second.saturating_sub(RATE_WINDOW_SECS);
        let n: u64 = self
            .seconds
            .iter()
            .filter(|(s, _)| *s >= from && *s < now_second)
            .map(|(_, n)| n)
            .sum();
        n as f64 / RATE_WINDOW_SECS as f64
    }
}

/// Playlist request rates per (event, rendition).
#[derive(Debug)]
pub struct ViewerEstimate {
    epoch: Instant,
    windows: HashMap<(String, String), RateWindow>,
}

impl ViewerEstimate {
    /// `epoch` anchors the per-second windows.
    pub fn new(epoch: Instant) -> ViewerEstimate {
        ViewerEstimate {
            epoch,
            windows: HashMap::new(),
        }
    }

    fn second(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_secs()
    }

    /// Counts a media playlist request of `event`/`rendition` at `now`.
    pub fn record(&mut self, event: &str, rendition: &str, now: Instant) {
        let second = self.second(now);
        let key = (event.to_owned(), rendition.to_owned());
        if !self.windows.contains_key(&key) && self.windows.len() >= MAX_RENDITIONS {
            // Forget renditions nobody asked for during the window, then give up.
            let oldest = second.saturating_sub(RATE_WINDOW_SECS);
            self.windows
                .retain(|_, w| w.seconds.last().is_some_and(|(s, _)| *s >= oldest));
            if self.windows.len() >= MAX_RENDITIONS {
                return;
            }
        }
        self.windows.entry(key).or_default().add(second);
    }

    /// The part duration of a rendition, as its playlist's `PART-TARGET` says.
    pub fn set_part_duration(&mut self, event: &str, rendition: &str, part: Duration) {
        if let Some(w) = self
            .windows
            .get_mut(&(event.to_owned(), rendition.to_owned()))
        {
            w.part_secs = Some(part.as_secs_f64());
        }
    }

    /// Estimated viewers of each (event, rendition) at `now`, sorted.
    pub fn estimates(&self, now: Instant) -> Vec<(String, String, f64)> {
        let second = self.second(now);
        let mut out: Vec<_> = self
            .windows
            .iter()
            .map(|((e, r), w)| {
                let part = w.part_secs.unwrap_or(DEFAULT_PART_SECS);
                (e.clone(), r.clone(), w.rate(second) * part)
            })
            .collect();
        out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viewer_estimate_is_rate_times_part_duration() {
        let t0 = Instant::now();
        let mut m = ViewerEstimate::new(t0);
        // 30 viewers at 3 reloads per second for 10 s, then the rate is read at 10 s.
        for s in 0..RATE_WINDOW_SECS {
            for _ in 0..90 {
                m.record("cs", "360p", t0 + Duration::from_secs(s));
            }
        }
        m.set_part_duration("cs", "360p", Duration::from_millis(333));
        let now = t0 + Duration::from_secs(RATE_WINDOW_SECS);
        let est = m.estimates(now);
        assert_eq!(est.len(), 1);
        assert!((est[0].2 - 29.97).abs() < 1e-9, "{est:?}");
        // Unknown part duration: the default applies.
        m.record("cs", "720p", now);
        let later = now + Duration::from_secs(1);
        let est = m.estimates(later);
        assert!(
            (est[1].2 - DEFAULT_PART_SECS / RATE_WINDOW_SECS as f64).abs() < 1e-9,
            "{est:?}"
        );
        // Nobody asks for a minute: the estimate falls to zero.
        let est = m.estimates(now + Duration::from_secs(60));
        assert!(est.iter().all(|e| e.2 == 0.0), "{est:?}");
    }

    #[test]
    fn renditions_are_bounded() {
        let t0 = Instant::now();
        let mut m = ViewerEstimate::new(t0);
        for n in 0..MAX_RENDITIONS + 10 {
            m.record("cs", &format!("r{n}"), t0);
        }
        assert_eq!(m.estimates(t0).len(), MAX_RENDITIONS);
        // Once the old ones are idle for a window, new names get in again.
        let later = t0 + Duration::from_secs(RATE_WINDOW_SECS + 2);
        m.record("cs", "fresh", later);
        let est = m.estimates(later);
        assert_eq!(est.len(), 1);
        assert_eq!(est[0].1, "fresh");
    }
}
