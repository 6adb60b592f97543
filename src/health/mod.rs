//! Live health per event, every second: the publisher's stream as it arrives (bitrate,
//! frame rate, keyframe interval, audio, A/V drift: [`meter`]), the ladder's encoders
//! (real-time factor, lag, dropped frames: the packager's stats), the audience (the
//! origin's estimate from playlist requests, and distinct CMCD sessions:
//! [`amphi_origin::cmcd`]), the
//! verdicts with the OBS setting to change ([`checks`]) and the recent warnings.
//!
//! Served as `GET /api/events/{event}/health` to the event's moderators ([`http`]), with
//! the green room's Go live, and exported as `/metrics` gauges.

pub mod checks;
pub mod http;
pub mod meter;
pub mod tap;
mod warnings;

use amphi_origin::cmcd::{self, CmcdSessions, CmcdSummary};
use amphi_time::sync::lock;
use checks::{Check, Level, RenditionFigures};
use meter::{IngestFigures, IngestMeter};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use warnings::{Warning, WarningLog};

/// How often the figures are sampled.
pub const INTERVAL: Duration = Duration::from_secs(1);

/// The audience of an event, as far as this process can tell.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Viewers {
    /// From playlist requests at this origin (behind a CDN: edges, not people).
    pub origin_estimate: f64,
    /// Distinct CMCD sessions of players that send it.
    pub cmcd: CmcdSummary,
}

/// One event's health, as the API serves it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventHealth {
    pub event: String,
    /// When these figures were sampled (RFC 3339).
    pub sampled_at: String,
    pub overall: Level,
    pub publishing: bool,
    pub ingest: Option<IngestFigures>,
    pub renditions: Vec<RenditionFigures>,
    pub viewers: Viewers,
    pub checks: Vec<Check>,
    /// Most recent first.
    pub warnings: Vec<Warning>,
}

#[derive(Default)]
struct Inner {
    next_session: u64,
    /// The current publish session's meter per event.
    meters: HashMap<String, (u64, Arc<Mutex<IngestMeter>>)>,
    cmcd: CmcdSessions,
    reports: HashMap<String, EventHealth>,
    warnings: HashMap<String, WarningLog>,
}

/// Shared by the session tap, the CMCD tap, the sampler and the API.
#[derive(Clone, Default)]
pub struct HealthBoard {
    inner: Arc<Mutex<Inner>>,
}

impl HealthBoard {
    /// A new publish session of `event`; returns its id for [`HealthBoard::end_session`].
    pub fn begin_session(&self, event: &str, meter: Arc<Mutex<IngestMeter>>) -> u64 {
        let mut inner = lock(&self.inner);
        inner.next_session += 1;
        let id = inner.next_session;
        inner.meters.insert(event.to_owned(), (id, meter));
        id
    }

    /// Session `id` of `event` ended (a later session of the event stays).
    pub fn end_session(&self, event: &str, id: u64) {
        let mut inner = lock(&self.inner);
        if inner.meters.get(event).is_some_and(|(i, _)| *i == id) {
            inner.meters.remove(event);
        }
    }

    /// A player's CMCD on a request for `event`'s media.
    pub fn record_cmcd(&self, event: &str, cmcd: cmcd::Cmcd, now: Instant) {
        lock(&self.inner).cmcd.record(event, cmcd, now);
    }

    /// The last sampled health of `event`.
    pub fn report(&self, event: &str) -> Option<EventHealth> {
        lock(&self.inner).reports.get(event).cloned()
    }

    /// Samples every event in `events` at `now` (`wall`: the same instant, RFC 3339)
    /// and keeps the reports; returns them.
    pub fn sample(
        &self,
        events: &[String],
        sources: &Sources<'_>,
        now: Instant,
        wall: &str,
    ) -> Vec<EventHealth> {
        let meters: Vec<(String, Arc<Mutex<IngestMeter>>)> = {
            let inner = lock(&self.inner);
            inner
                .meters
                .iter()
                .map(|(e, (_, m))| (e.clone(), m.clone()))
                .collect()
        };
        let mut reports = Vec::with_capacity(events.len());
        let mut guard = lock(&self.inner);
        let inner = &mut *guard;
        inner.cmcd.expire(now);
        for event in events {
            let ingest = meters
                .iter()
                .find(|(e, _)| e == event)
                .map(|(_, m)| lock(m).figures(now));
            let renditions = sources.renditions(event);
            let figures = checks::Figures {
                ingest: ingest.clone(),
                renditions: renditions.clone(),
            };
            let checks = checks::evaluate(&figures);
            let log = inner.warnings.entry(event.clone()).or_default();
            log.update(wall, &checks);
            let report = EventHealth {
                event: event.clone(),
                sampled_at: wall.to_owned(),
                overall: checks::overall(&checks),
                publishing: ingest.is_some(),
                ingest,
                renditions,
                viewers: Viewers {
                    origin_estimate: sources.viewers(event),
                    cmcd: inner.cmcd.summary(event, now),
                },
                checks,
                warnings: log.recent(),
            };
            inner.reports.insert(event.clone(), report.clone());
            reports.push(report);
        }
        inner.reports.retain(|e, _| events.contains(e));
        inner.warnings.retain(|e, _| events.contains(e));
        reports
    }
}

/// The encoder figures and viewer estimates of one sampling round.
#[derive(Debug, Default)]
pub struct Sources<'a> {
    pub encoders: &'a [amphi_packager::stats::EncoderFigures],
    pub load: &'a [amphi_packager::stats::LoadFigures],
    /// (event, rendition, estimated viewers).
    pub viewers: &'a [(String, String, f64)],
}

impl Sources<'_> {
    fn renditions(&self, event: &str) -> Vec<RenditionFigures> {
        let mut out: Vec<RenditionFigures> = Vec::new();
        for f in self.encoders.iter().filter(|f| f.event == event) {
            out.push(RenditionFigures {
                name: f.rendition.clone(),
                realtime_factor: f.realtime_factor,
                lag_secs: Some(f.lag_secs),
                dropped_frames: 0,
                shed: false,
            });
        }
        for l in self.load.iter().filter(|l| l.event == event) {
            match out.iter_mut().find(|r| r.name == l.rendition) {
                Some(r) => {
                    r.dropped_frames = l.dropped_frames;
                    r.shed = l.shed;
                }
                None => out.push(RenditionFigures {
                    name: l.rendition.clone(),
                    realtime_factor: None,
                    lag_secs: None,
                    dropped_frames: l.dropped_frames,
                    shed: l.shed,
                }),
            }
        }
        out
    }

    fn viewers(&self, event: &str) -> f64 {
        self.viewers
            .iter()
            .filter(|(e, _, _)| e == event)
            .map(|(_, _, v)| v)
            .sum()
    }
}

/// RFC 3339 with milliseconds, UTC.
pub fn rfc3339(t: std::time::SystemTime) -> String {
    let t = time::OffsetDateTime::from(t);
    let t = t
        .replace_nanosecond(t.millisecond() as u32 * 1_000_000)
        .unwrap_or(t);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Samples every [`INTERVAL`] into the board and into `/metrics`, until aborted.
pub fn spawn_sampler(
    board: HealthBoard,
    directory: Arc<crate::events::Directory>,
    stats: Option<amphi_packager::stats::PackagerStats>,
    metrics: Arc<amphi_origin::metrics::Metrics>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut gauges = crate::telemetry::HealthGauges::default();
        let mut tick = tokio::time::interval(INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = Instant::now();
            let wall = rfc3339(std::time::SystemTime::now());
            let events: Vec<String> = directory.list().into_iter().map(|e| e.id).collect();
            let (encoders, load) = match &stats {
                Some(s) => (s.snapshot(now), s.load_snapshot(now)),
                None => (Vec::new(), Vec::new()),
            };
            let viewers = metrics.estimated_viewers(now);
            let sources = Sources {
                encoders: &encoders,
                load: &load,
                viewers: &viewers,
            };
            let reports = board.sample(&events, &sources, now, &wall);
            gauges.publish(&metrics, &reports);
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use amphi_ingest::frame::{EncodedFrame, FrameKind, MediaTime};

    #[test]
    fn sessions_reports_and_warnings() {
        let board = HealthBoard::default();
        let t0 = Instant::now();
        let events = vec!["ev".to_owned()];
        let meter = Arc::new(Mutex::new(IngestMeter::new()));
        let id = board.begin_session("ev", meter.clone());
        // 6 s of 30 fps video with a single keyframe: red keyframe interval.
        for i in 0..180u64 {
            let f = EncodedFrame {
                kind: FrameKind::Video { keyframe: i == 0 },
                dts: MediaTime::from_millis((i * 1000 / 30) as i64),
                pts: MediaTime::from_millis((i * 1000 / 30) as i64),
                data: bytes::Bytes::from_static(&[0; 100]),
            };
            lock(&meter).on_frame(t0 + Duration::from_millis(i * 1000 / 30), &f);
        }
        let encoders = vec![amphi_packager::stats::EncoderFigures {
            event: "ev".into(),
            rendition: "360p".into(),
            realtime_factor: Some(1.0),
            lag_secs: 0.3,
        }];
        let viewers = vec![("ev".to_owned(), "360p".to_owned(), 3.0)];
        let sources = Sources {
            encoders: &encoders,
            viewers: &viewers,
            ..Sources::default()
        };
        board.record_cmcd(
            "ev",
            cmcd::parse(r#"sid="viewer-1",br=600"#),
            t0 + Duration::from_secs(5),
        );
        let r = board.sample(&events, &sources, t0 + Duration::from_secs(6), "t1");
        let r = &r[0];
        assert!(r.publishing);
        assert_eq!(r.overall, Level::Red);
        assert_eq!(r.viewers.origin_estimate, 3.0);
        assert_eq!(r.viewers.cmcd.sessions, 1);
        assert_eq!(r.renditions.len(), 1);
        let keyframe = r.warnings.iter().find(|w| w.check == "keyframe_interval");
        assert!(
            keyframe.is_some_and(|w| w.text.starts_with("keyframe interval 6 s")),
            "{:?}",
            r.warnings
        );
        assert_eq!(board.report("ev").map(|r| r.sampled_at), Some("t1".into()));
        board.end_session("ev", id);
        let r = board.sample(
            &events,
            &Sources::default(),
            t0 + Duration::from_secs(7),
            "t2",
        );
        assert!(!r[0].publishing);
        // The earlier warning is still listed, after the new one.
        assert!(r[0].warnings.len() >= 2, "{:?}", r[0].warnings);
        // A deleted event's report goes.
        board.sample(&[], &Sources::default(), t0 + Duration::from_secs(8), "t3");
        assert!(board.report("ev").is_none());
    }
}
