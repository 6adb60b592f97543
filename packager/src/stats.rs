//! Live figures of the ladder for `/metrics`, per event and rendition:
//!
//! - the encoder's real-time factor: media seconds the ladder put out per wall-clock
//!   second, over windows of [`RTF_WINDOW`]. A live ladder that keeps up sits at 1.0;
//!   below 1.0 it falls behind the lecturer (the machine is short of CPU).
//! - its lag: how long after the frame arrived at ingest its chunk left the muxer
//!   (wall clock now − the session's epoch − the chunk's end on the media clock).
//!
//! - graceful overload: whether each rendition is shed (stopped and out of the
//!   multivariant playlist), and how many frames its encoder's queue dropped.
//!
//! Entries not updated for [`STALE_AFTER`] (the event's publisher left) are dropped.

use amphi_ingest::frame::{SessionEpoch, WallTime};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Window over which the real-time factor is measured.
pub const RTF_WINDOW: Duration = Duration::from_secs(4);
/// Figures older than this are no longer reported.
pub const STALE_AFTER: Duration = Duration::from_secs(10);

/// The figures of one rendition of one event.
#[derive(Debug, Clone, PartialEq)]
pub struct EncoderFigures {
    pub event: String,
    pub rendition: String,
    /// `None` until one window has passed.
    pub realtime_factor: Option<f64>,
    /// Seconds; negative when the publisher's clock runs ahead of its arrival (a burst
    /// of frames buffered by the encoder).
    pub lag_secs: f64,
}

#[derive(Debug, Clone)]
struct Entry {
    window_start: (Instant, Duration),
    realtime_factor: Option<f64>,
    lag_secs: f64,
    updated: Instant,
}

/// The shedding state of one rendition of one event.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadFigures {
    pub event: String,
    pub rendition: String,
    pub shed: bool,
    /// Frames the encoder's input queue dropped in the current session.
    pub dropped_frames: u64,
}

/// Shared between the packager (which records) and whoever exports the figures.
#[derive(Debug, Clone, Default)]
pub struct PackagerStats {
    inner: Arc<Mutex<BTreeMap<(String, String), Entry>>>,
    load: Arc<Mutex<LoadMap>>,
}

/// Shedding state per (event, rendition), with the time it was reported.
type LoadMap = BTreeMap<(String, String), (LoadFigures, Instant)>;

impl PackagerStats {
    /// Records a chunk that ends at `media_end` on the session's media clock, whose
    /// zero was at `epoch`, coming out of the muxer now (`now` / `wall`).
    pub fn record_chunk(
        &self,
        event: &str,
        rendition: &str,
        epoch: SessionEpoch,
        media_end: Duration,
        now: Instant,
        wall: WallTime,
    ) {
        let produced = epoch.program_time(media_end).wall_clock();
        let lag_secs = (wall - produced).as_secs_f64();
        let Ok(mut map) = self.inner.lock() else {
            return;
        };
        let key = (event.to_owned(), rendition.to_owned());
        match map.get_mut(&key) {
            Some(e) => {
                e.lag_secs = lag_secs;
                e.updated = now;
                let (t0, m0) = e.window_start;
                if media_end < m0 {
                    // A new session: its media clock starts again at zero.
                    e.window_start = (now, media_end);
                } else if now.duration_since(t0) >= RTF_WINDOW {
                    let wall_secs = now.duration_since(t0).as_secs_f64();
                    e.realtime_factor = Some((media_end - m0).as_secs_f64() / wall_secs);
                    e.window_start = (now, media_end);
                }
            }
            None => {
                map.insert(
                    key,
                    Entry {
                        window_start: (now, media_end),
                        realtime_factor: None,
                        lag_secs,
                        updated: now,
                    },
                );
            }
        }
    }

    /// Records the ladder's load report (renditions named by `names`, in plan order).
    pub fn record_load(
        &self,
        event: &str,
        names: &[String],
        load: &crate::shedding::LadderLoad,
        now: Instant,
    ) {
        let Ok(mut map) = self.load.lock() else {
            return;
        };
        for (i, name) in names.iter().enumerate() {
            let figures = LoadFigures {
                event: event.to_owned(),
                rendition: name.clone(),
                shed: !load.running.get(i).copied().unwrap_or(true),
                dropped_frames: load.dropped_frames.get(i).copied().unwrap_or(0),
            };
            map.insert((event.to_owned(), name.clone()), (figures, now));
        }
    }

    /// Current shedding state (stale entries are dropped).
    pub fn load_snapshot(&self, now: Instant) -> Vec<LoadFigures> {
        let Ok(mut map) = self.load.lock() else {
            return Vec::new();
        };
        map.retain(|_, (_, at)| now.duration_since(*at) < STALE_AFTER);
        map.values().map(|(f, _)| f.clone()).collect()
    }

    /// Current figures (stale entries are dropped).
    pub fn snapshot(&self, now: Instant) -> Vec<EncoderFigures> {
        let Ok(mut map) = self.inner.lock() else {
            return Vec::new();
        };
        map.retain(|_, e| now.duration_since(e.updated) < STALE_AFTER);
        map.iter()
            .map(|((event, rendition), e)| EncoderFigures {
                event: event.clone(),
                rendition: rendition.clone(),
                realtime_factor: e.realtime_factor,
                lag_secs: e.lag_secs,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use amphi_ingest::frame::ProgramTime;

    /// The wall clock when media `offset` after the epoch was captured.
    fn wall(epoch: SessionEpoch, offset: Duration) -> WallTime {
        epoch.program_time(offset).wall_clock()
    }

    fn at(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn keeping_up_is_one_and_falling_behind_is_less() {
        let stats = PackagerStats::default();
        let t0 = Instant::now();
        let epoch = SessionEpoch::new(ProgramTime::from_unix_secs(1_000_000));
        // Chunks of 1/3 s leave 200 ms after their media end, in real time.
        for i in 0..=12u64 {
            let media = at(i * 1000 / 3);
            stats.record_chunk(
                "ev",
                "720p",
                epoch,
                media,
                t0 + media,
                wall(epoch, media + at(200)),
            );
        }
        let f = stats.snapshot(t0 + at(4000));
        assert_eq!(f.len(), 1);
        assert!((f[0].lag_secs - 0.2).abs() < 1e-9);
        let rtf = f[0].realtime_factor.expect("one window passed");
        assert!((rtf - 1.0).abs() < 0.01, "{rtf}");

        // Now 4 s of wall clock produce only 2 s of media: 0.5, and the lag grows.
        let start = t0 + at(4000);
        for i in 1..=4u64 {
            let media = at(4000 + i * 500);
            let now = start + at(i * 1000);
            let wall = wall(epoch, at(4000 + i * 1000) + at(200));
            stats.record_chunk("ev", "720p", epoch, media, now, wall);
        }
        let f = stats.snapshot(start + at(4000));
        let rtf = f[0].realtime_factor.expect("window");
        assert!((rtf - 0.5).abs() < 0.01, "{rtf}");
        assert!((f[0].lag_secs - 2.2).abs() < 1e-9);
    }

    #[test]
    fn new_session_restarts_the_window_and_stale_entries_go() {
        let stats = PackagerStats::default();
        let t0 = Instant::now();
        let epoch = SessionEpoch::new(ProgramTime::UNIX_EPOCH);
        stats.record_chunk("ev", "360p", epoch, at(60_000), t0, wall(epoch, at(60_000)));
        // The media clock went back to zero: no nonsense factor.
        stats.record_chunk(
            "ev",
            "360p",
            epoch,
            at(300),
            t0 + at(5000),
            wall(epoch, at(300)),
        );
        let f = stats.snapshot(t0 + at(5000));
        assert_eq!(f[0].realtime_factor, None);
        assert!(stats.snapshot(t0 + at(5000) + STALE_AFTER).is_empty());
    }

    #[test]
    fn load_reports_name_the_shed_renditions() {
        let stats = PackagerStats::default();
        let t0 = Instant::now();
        let names: Vec<String> = ["1080p", "720p", "360p"].map(String::from).to_vec();
        let load = crate::shedding::LadderLoad {
            running: vec![true, false, true],
            dropped_frames: vec![0, 40, 3],
            changed: Some(1),
        };
        stats.record_load("ev", &names, &load, t0);
        let f = stats.load_snapshot(t0);
        let shed: Vec<(&str, bool, u64)> = f
            .iter()
            .map(|f| (f.rendition.as_str(), f.shed, f.dropped_frames))
            .collect();
        assert_eq!(
            shed,
            [("1080p", false, 0), ("360p", false, 3), ("720p", true, 40)]
        );
        assert!(stats.load_snapshot(t0 + STALE_AFTER).is_empty());
    }

    #[test]
    fn a_chunk_ahead_of_the_clock_has_a_negative_lag() {
        let stats = PackagerStats::default();
        let t0 = Instant::now();
        let epoch = SessionEpoch::new(ProgramTime::from_unix_secs(10));
        stats.record_chunk("ev", "src", epoch, at(2000), t0, wall(epoch, at(1000)));
        assert!((stats.snapshot(t0)[0].lag_secs + 1.0).abs() < 1e-9);
    }
}
