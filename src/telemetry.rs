//! Feeds the figures of the ingest and packager stages into `/metrics` gauges every
//! [`INTERVAL`]:
//!
//! - `amphi_ingest_bitrate_bps{event}`: media bits per second received from the live
//!   publisher (payloads handed to the packager, all tracks);
//! - `amphi_encoder_realtime_factor{event,rendition}`: media seconds the ladder put out
//!   per wall-clock second (1.0 = keeping up with the lecturer);
//! - `amphi_encoder_lag_seconds{event,rendition}`: arrival at ingest → chunk out of the
//!   muxer.
//! - `amphi_renditions_shed{event}`: renditions stopped for want of CPU (graceful
//!   overload), and per rendition `amphi_rendition_shed{event,rendition}` (1 = shed)
//!   and `amphi_encoder_dropped_frames{event,rendition}` (frames its encoder's queue
//!   dropped in the current session).
//!
//! Series of events that stopped publishing are removed.
//!
//! The health sampler (`crate::health`) adds, per event, every second:
//! `amphi_ingest_frame_rate`, `amphi_ingest_keyframe_interval_seconds`,
//! `amphi_ingest_audio_present` (1/0), `amphi_ingest_audio_bitrate_bps`,
//! `amphi_ingest_audio_silent` (1/0), `amphi_ingest_audio_level_dbfs` and
//! `amphi_ingest_audio_peak_dbfs` (decoded audio), `amphi_ingest_av_drift_seconds`,
//! `amphi_cmcd_sessions`, `amphi_health_level` (0 green, 1 orange, 2 red) and per check
//! `amphi_health_check_level{event,check}` ([`HealthGauges`]).

use amphi_ingest::{EventId, Hub};
use amphi_origin::metrics::Metrics;
use amphi_packager::stats::PackagerStats;
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tracing::debug;

pub const INTERVAL: Duration = Duration::from_secs(1);

const BITRATE: &str = "amphi_ingest_bitrate_bps";
const RTF: &str = "amphi_encoder_realtime_factor";
const LAG: &str = "amphi_encoder_lag_seconds";
const SHED: &str = "amphi_renditions_shed";
const RENDITION_SHED: &str = "amphi_rendition_shed";
const DROPPED: &str = "amphi_encoder_dropped_frames";

/// Turns running byte counts into rates between two samples.
#[derive(Debug, Default)]
pub struct BitrateMeter {
    last: HashMap<EventId, (u64, Instant)>,
}

impl BitrateMeter {
    /// Bits per second of each event since its previous sample. An event seen for the
    /// first time, or whose count went back (a new publish session), has no rate yet.
    pub fn sample(&mut self, now: Instant, counts: Vec<(EventId, u64)>) -> Vec<(EventId, f64)> {
        let mut rates = Vec::new();
        let mut next = HashMap::with_capacity(counts.len());
        for (event, bytes) in counts {
            if let Some((before, at)) = self.last.get(&event) {
                let secs = now.duration_since(*at).as_secs_f64();
                if bytes >= *before && secs > 0.0 {
                    rates.push((event.clone(), (bytes - before) as f64 * 8.0 / secs));
                }
            }
            next.insert(event, (bytes, now));
        }
        self.last = next;
        rates
    }
}

type Series = Vec<(String, String)>;

/// The series of one gauge name set last time, so that the ones that disappear are removed.
#[derive(Debug)]
struct Family {
    name: &'static str,
    set: BTreeSet<Series>,
}

impl Family {
    fn new(name: &'static str) -> Family {
        Family {
            name,
            set: BTreeSet::new(),
        }
    }

    fn publish(&mut self, metrics: &Metrics, series: Vec<(Series, f64)>) {
        let mut now = BTreeSet::new();
        for (labels, value) in series {
            let borrowed: Vec<(&str, &str)> = labels
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            if let Err(e) = metrics.set_gauge(self.name, &borrowed, value) {
                debug!(gauge = self.name, reason = %e, "gauge not set");
                continue;
            }
            now.insert(labels);
        }
        for gone in self.set.difference(&now) {
            let borrowed: Vec<(&str, &str)> =
                gone.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            metrics.remove_gauge(self.name, &borrowed);
        }
        self.set = now;
    }
}

fn labels(pairs: &[(&str, &str)]) -> Series {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Reads one gauge's value from an event's health.
type HealthFigure = fn(&crate::health::EventHealth) -> Option<f64>;

/// The health figures of every event as gauges (series of gone events removed).
pub struct HealthGauges {
    families: Vec<(Family, HealthFigure)>,
    checks: Family,
}

impl Default for HealthGauges {
    fn default() -> Self {
        type Get = HealthFigure;
        let families: Vec<(&'static str, Get)> = vec![
            ("amphi_ingest_frame_rate", |h| h.ingest.as_ref()?.frame_rate),
            ("amphi_ingest_keyframe_interval_seconds", |h| {
                h.ingest.as_ref()?.keyframe_interval_secs
            }),
            ("amphi_ingest_audio_present", |h| {
                h.ingest
                    .as_ref()
                    .map(|i| if i.audio.present { 1.0 } else { 0.0 })
            }),
            ("amphi_ingest_audio_bitrate_bps", |h| {
                h.ingest.as_ref()?.audio.bitrate_bps
            }),
            ("amphi_ingest_audio_silent", |h| {
                h.ingest
                    .as_ref()?
                    .audio
                    .silent
                    .map(|s| if s { 1.0 } else { 0.0 })
            }),
            ("amphi_ingest_audio_level_dbfs", |h| {
                h.ingest.as_ref()?.audio.level_dbfs
            }),
            ("amphi_ingest_audio_peak_dbfs", |h| {
                h.ingest.as_ref()?.audio.peak_dbfs
            }),
            ("amphi_ingest_av_drift_seconds", |h| {
                h.ingest.as_ref()?.av_drift_ms.map(|ms| ms / 1000.0)
            }),
            ("amphi_cmcd_sessions", |h| {
                Some(h.viewers.cmcd.sessions as f64)
            }),
            ("amphi_health_level", |h| Some(h.overall.gauge())),
        ];
        HealthGauges {
            families: families
                .into_iter()
                .map(|(name, get)| (Family::new(name), get))
                .collect(),
            checks: Family::new("amphi_health_check_level"),
        }
    }
}

impl HealthGauges {
    pub fn publish(&mut self, metrics: &Metrics, reports: &[crate::health::EventHealth]) {
        for (family, get) in &mut self.families {
            let series = reports
                .iter()
                .filter_map(|h| Some((labels(&[("event", &h.event)]), get(h)?)))
                .collect();
            family.publish(metrics, series);
        }
        let checks = reports
            .iter()
            .flat_map(|h| {
                h.checks.iter().map(|c| {
                    (
                        labels(&[("event", &h.event), ("check", &c.id)]),
                        c.level.gauge(),
                    )
                })
            })
            .collect();
        self.checks.publish(metrics, checks);
    }
}

/// `GET /metrics` for a process without an origin (`--role packager`).
pub fn metrics_route(metrics: Arc<Metrics>) -> axum::routing::MethodRouter {
    axum::routing::get(move || {
        let metrics = metrics.clone();
        async move {
            (
                [(
                    axum::http::header::CONTENT_TYPE,
                    "text/plain; version=0.0.4; charset=utf-8",
                )],
                metrics.render(Instant::now()),
            )
        }
    })
}

/// Samples the hub and the packager every [`INTERVAL`] into `metrics`, until aborted.
pub fn spawn(hub: Hub, stats: PackagerStats, metrics: Arc<Metrics>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut meter = BitrateMeter::default();
        let (mut bitrate, mut rtf, mut lag) =
            (Family::new(BITRATE), Family::new(RTF), Family::new(LAG));
        let (mut shed, mut rendition_shed, mut dropped) = (
            Family::new(SHED),
            Family::new(RENDITION_SHED),
            Family::new(DROPPED),
        );
        let mut tick = tokio::time::interval(INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let now = Instant::now();
            let rates = meter.sample(now, hub.received_bytes());
            bitrate.publish(
                &metrics,
                rates
                    .into_iter()
                    .map(|(e, bps)| (labels(&[("event", e.as_str())]), bps))
                    .collect(),
            );
            let figures = stats.snapshot(now);
            rtf.publish(
                &metrics,
                figures
                    .iter()
                    .filter_map(|f| {
                        let l = labels(&[("event", &f.event), ("rendition", &f.rendition)]);
                        f.realtime_factor.map(|r| (l, r))
                    })
                    .collect(),
            );
            lag.publish(
                &metrics,
                figures
                    .iter()
                    .map(|f| {
                        let l = labels(&[("event", &f.event), ("rendition", &f.rendition)]);
                        (l, f.lag_secs)
                    })
                    .collect(),
            );
            let load = stats.load_snapshot(now);
            let mut per_event: std::collections::BTreeMap<&str, f64> = Default::default();
            for f in &load {
                *per_event.entry(f.event.as_str()).or_default() += if f.shed { 1.0 } else { 0.0 };
            }
            shed.publish(
                &metrics,
                per_event
                    .into_iter()
                    .map(|(e, n)| (labels(&[("event", e)]), n))
                    .collect(),
            );
            let per_rendition = |value: fn(&amphi_packager::stats::LoadFigures) -> f64| {
                load.iter()
                    .map(|f| {
                        let l = labels(&[("event", &f.event), ("rendition", &f.rendition)]);
                        (l, value(f))
                    })
                    .collect()
            };
            rendition_shed.publish(&metrics, per_rendition(|f| if f.shed { 1.0 } else { 0.0 }));
            dropped.publish(&metrics, per_rendition(|f| f.dropped_frames as f64));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(s: &str) -> EventId {
        EventId::parse(s).expect("valid id")
    }

    #[test]
    fn bitrate_from_two_samples_and_reset_on_a_new_session() {
        let mut m = BitrateMeter::default();
        let t0 = Instant::now();
        assert!(m.sample(t0, vec![(ev("a"), 1_000)]).is_empty());
        let r = m.sample(t0 + Duration::from_secs(2), vec![(ev("a"), 1_001_000)]);
        assert_eq!(r, vec![(ev("a"), 4_000_000.0)]);
        // The publisher reconnected: its count starts again.
        assert!(m
            .sample(t0 + Duration::from_secs(4), vec![(ev("a"), 500)])
            .is_empty());
        let r = m.sample(t0 + Duration::from_secs(6), vec![(ev("a"), 250_500)]);
        assert_eq!(r, vec![(ev("a"), 1_000_000.0)]);
    }

    #[test]
    fn families_remove_series_that_disappear() {
        let metrics = Metrics::new(Instant::now());
        let mut f = Family::new(BITRATE);
        f.publish(
            &metrics,
            vec![
                (labels(&[("event", "a")]), 1.0),
                (labels(&[("event", "b")]), 2.0),
            ],
        );
        let text = metrics.render(Instant::now());
        assert!(
            text.contains("amphi_ingest_bitrate_bps{event=\"a\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("amphi_ingest_bitrate_bps{event=\"b\"} 2"),
            "{text}"
        );
        f.publish(&metrics, vec![(labels(&[("event", "b")]), 3.0)]);
        let text = metrics.render(Instant::now());
        assert!(!text.contains("event=\"a\""), "{text}");
        assert!(
            text.contains("amphi_ingest_bitrate_bps{event=\"b\"} 3"),
            "{text}"
        );
    }
}
