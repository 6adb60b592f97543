//! The origin's metrics registry (`prometheus-client`, no global registry): request
//! counters, the blocking-wait histogram, the viewer estimate and the gauges other
//! stages set, encoded in the Prometheus text format (version 0.0.4).

use super::classify::{status_class, RequestKind, STATUS_CLASSES};
use super::gauges::{GaugeError, Gauges};
use super::viewers::ViewerEstimate;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Upper bounds (seconds) of the blocking-wait histogram buckets; `+Inf` is implied.
pub const WAIT_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 1.0, 2.0, 4.0, 8.0,
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    kind: &'static str,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RenditionLabels {
    event: String,
    rendition: String,
}

/// The origin's metrics. One per router; share it (`Arc`) with whatever sets gauges.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    blocking_wait: Histogram,
    viewers: Family<RenditionLabels, Gauge<f64, AtomicU64>>,
    estimate: Mutex<ViewerEstimate>,
    gauges: Arc<Gauges>,
    /// One exposition at a time: the viewer gauges are refreshed for each.
    render: Mutex<()>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new(Instant::now())
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// Counters start at zero (every kind and status class is exported, zeros
    /// included); `epoch` anchors the per-second rate windows of the viewer estimate.
    pub fn new(epoch: Instant) -> Metrics {
        let requests = Family::<RequestLabels, Counter>::default();
        for kind in RequestKind::ALL {
            for status in STATUS_CLASSES {
                // Created at zero, so that every series is exported from the start.
                drop(requests.get_or_create(&RequestLabels {
                    kind: kind.label(),
                    status,
                }));
            }
        }
        let blocking_wait = Histogram::new(WAIT_BUCKETS);
        let viewers = Family::default();
        let gauges = Arc::new(Gauges::default());
        let mut registry = Registry::default();
        registry.register(
            "amphi_origin_requests",
            "HTTP requests by kind and status class",
            requests.clone(),
        );
        registry.register(
            "amphi_origin_blocking_wait_seconds",
            "Time blocking playlist reloads were held",
            blocking_wait.clone(),
        );
        registry.register(
            "amphi_origin_estimated_viewers",
            "Playlist requests per second times part duration (counts CDN edges, not people, behind a cache)",
            viewers.clone(),
        );
        registry.register_collector(Box::new(gauges.clone()));
        Metrics {
            registry,
            requests,
            blocking_wait,
            viewers,
            estimate: Mutex::new(ViewerEstimate::new(epoch)),
            gauges,
            render: Mutex::new(()),
        }
    }

    /// Counts one finished request.
    pub fn record_request(&self, kind: RequestKind, status: u16) {
        self.requests
            .get_or_create(&RequestLabels {
                kind: kind.label(),
                status: status_class(status),
            })
            .inc();
    }

    /// Total requests of `kind`, all statuses (for tests and benches).
    pub fn requests(&self, kind: RequestKind) -> u64 {
        STATUS_CLASSES
            .iter()
            .filter_map(|status| {
                self.requests
                    .get(&RequestLabels {
                        kind: kind.label(),
                        status,
                    })
                    .map(|c| c.get())
            })
            .sum()
    }

    /// Records how long a blocking playlist reload was held.
    pub fn observe_blocking_wait(&self, wait: Duration) {
        self.blocking_wait.observe(wait.as_secs_f64());
    }

    /// Counts a media playlist request of `event`/`rendition` at `now`.
    pub fn record_playlist(&self, event: &str, rendition: &str, now: Instant) {
        if let Ok(mut estimate) = self.estimate.lock() {
            estimate.record(event, rendition, now);
        }
    }

    /// The part duration of a rendition, as its playlist's `PART-TARGET` says.
    pub fn set_part_duration(&self, event: &str, rendition: &str, part: Duration) {
        if let Ok(mut estimate) = self.estimate.lock() {
            estimate.set_part_duration(event, rendition, part);
        }
    }

    /// Estimated viewers of each (event, rendition): see [`super::viewers`].
    pub fn estimated_viewers(&self, now: Instant) -> Vec<(String, String, f64)> {
        self.estimate
            .lock()
            .map(|e| e.estimates(now))
            .unwrap_or_default()
    }

    /// Sets (or replaces) a gauge series: the hook for stages outside the origin,
    /// e.g. `set_gauge("amphi_ingest_bitrate_bps", &[("event", "cs101")], 4.5e6)`.
    pub fn set_gauge(
        &self,
        name: &str,
        labels: &[(&str, &str)],
        value: f64,
    ) -> Result<(), GaugeError> {
        self.gauges.set(name, labels, value)
    }

    /// Removes a gauge series (e.g. when an event ends).
    pub fn remove_gauge(&self, name: &str, labels: &[(&str, &str)]) {
        self.gauges.remove(name, labels);
    }

    /// The whole exposition at `now`, as served at `/metrics`.
    pub fn render(&self, now: Instant) -> String {
        let _one_at_a_time = self.render.lock();
        self.viewers.clear();
        for (event, rendition, v) in self.estimated_viewers(now) {
            self.viewers
                .get_or_create(&RenditionLabels { event, rendition })
                .set(v);
        }
        let mut out = String::with_capacity(4096);
        if prometheus_client::encoding::prometheus_text::encode(&mut out, &self.registry).is_err() {
            tracing::warn!("metrics exposition could not be encoded");
        }
        out
    }
}
