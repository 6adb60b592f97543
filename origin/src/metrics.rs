//! `GET /metrics`: the origin's counters in the Prometheus text exposition format
//! (version 0.0.4), written by hand from atomics: no metrics crate, no registry.
//!
//! What is exported:
//! - `amphi_origin_requests_total{kind, status}`: every HTTP request, by what it asked
//!   for ([`RequestKind`]) and status class (`2xx` … `5xx`, `other`).
//! - `amphi_origin_blocking_wait_seconds`: histogram of the time blocking playlist
//!   reloads (`_HLS_msn`) were held, from request to response.
//! - `amphi_origin_estimated_viewers{event, rendition}`: an estimate, see below.
//! - Gauges another stage sets through [`Metrics::set_gauge`] (the packager's ingest
//!   bitrate, encoder real-time factor, …), exported as given.
//!
//! **Viewer estimate.** No per-viewer id exists (by design: it would defeat the CDN),
//! so viewers are estimated from playlist traffic: an LL-HLS player issues one
//! playlist request (a blocking reload) per part, so for a rendition
//! `viewers ≈ playlist requests per second × part duration`, the rate averaged over
//! the last [`RATE_WINDOW_SECS`] full seconds and the part duration read from the
//! playlist's `PART-TARGET` ([`DEFAULT_PART_SECS`] until one was seen). Behind a CDN
//! the origin sees one request per edge and part, so this counts *edges*, not people:
//! the true audience comes from player beacons or the CDN's own logs.
//!
//! Time is an input: the recording and rendering functions take an `Instant`, the
//! HTTP glue passes `Instant::now()`.

use crate::live::{parse_target, Target};
use crate::AppState;
use amphi_hls::names::{self, MediaName};
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Seconds over which playlist request rates are averaged for the viewer estimate.
pub const RATE_WINDOW_SECS: u64 = 10;
/// Part duration assumed before a rendition's `PART-TARGET` was seen.
pub const DEFAULT_PART_SECS: f64 = 0.334;
/// Upper bounds (seconds) of the blocking-wait histogram buckets; `+Inf` is implied.
pub const WAIT_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 1.0, 2.0, 4.0, 8.0,
];
/// Renditions tracked for the viewer estimate (bounds memory against junk names).
const MAX_RENDITIONS: usize = 256;
/// Custom gauge series kept at most.
const MAX_GAUGES: usize = 1024;

/// What a request asked for, as counted in `amphi_origin_requests_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    /// A media playlist without `_HLS_msn`.
    PlaylistPlain,
    /// A media playlist with `_HLS_msn` (held until the part exists).
    PlaylistBlocking,
    Part,
    Segment,
    Init,
    Master,
    Other,
}

impl RequestKind {
    pub const ALL: [RequestKind; 7] = [
        RequestKind::PlaylistPlain,
        RequestKind::PlaylistBlocking,
        RequestKind::Part,
        RequestKind::Segment,
        RequestKind::Init,
        RequestKind::Master,
        RequestKind::Other,
    ];

    pub fn label(self) -> &'static str {
        match self {
            RequestKind::PlaylistPlain => "playlist_plain",
            RequestKind::PlaylistBlocking => "playlist_blocking",
            RequestKind::Part => "part",
            RequestKind::Segment => "segment",
            RequestKind::Init => "init",
            RequestKind::Master => "master",
            RequestKind::Other => "other",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

const STATUS_CLASSES: [&str; 5] = ["2xx", "3xx", "4xx", "5xx", "other"];

fn status_index(status: u16) -> usize {
    match status {
        200..=299 => 0,
        300..=399 => 1,
        400..=499 => 2,
        500..=599 => 3,
        _ => 4,
    }
}

/// Classifies a request path and query; for live media playlists also returns the
/// event and rendition (for the viewer estimate).
pub fn classify<'a>(
    path: &'a str,
    query: Option<&str>,
) -> (RequestKind, Option<(&'a str, &'a str)>) {
    let Some(rest) = path.strip_prefix("/live/") else {
        return (RequestKind::Other, None);
    };
    let Some((event, rest)) = rest.split_once('/') else {
        return (RequestKind::Other, None);
    };
    // A viewer token (`t/{token}/…`) is one path segment before the name.
    let rest = match rest.strip_prefix("t/").and_then(|r| r.split_once('/')) {
        Some((_, name)) => name,
        None => rest,
    };
    match parse_target(rest) {
        Some(Target::Master) => (RequestKind::Master, None),
        Some(Target::Media {
            rendition, name, ..
        }) => match name {
            MediaName::Playlist | MediaName::DeltaPlaylist => {
                let blocking = query
                    .unwrap_or("")
                    .split('&')
                    .any(|kv| kv.split('=').next() == Some("_HLS_msn"));
                let kind = if blocking {
                    RequestKind::PlaylistBlocking
                } else {
                    RequestKind::PlaylistPlain
                };
                (kind, Some((event, rendition)))
            }
            MediaName::Init { .. } => (RequestKind::Init, None),
            MediaName::Segment { .. } => (RequestKind::Segment, None),
            MediaName::Part { .. } => (RequestKind::Part, None),
        },
        None => (RequestKind::Other, None),
    }
}

/// Requests per whole second over the last `RATE_WINDOW_SECS + 1` seconds.
#[derive(Debug, Default)]
struct RateWindow {
    /// (second number since `Metrics::epoch`, requests in it), oldest first.
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

/// A label set: (name, value) pairs in the order given.
type Labels = Vec<(String, String)>;

/// The origin's counters. One per router; share it (`Arc`) with whatever sets gauges.
pub struct Metrics {
    epoch: Instant,
    requests: [[AtomicU64; STATUS_CLASSES.len()]; RequestKind::ALL.len()],
    wait_buckets: [AtomicU64; WAIT_BUCKETS.len()],
    wait_count: AtomicU64,
    wait_sum_micros: AtomicU64,
    playlists: Mutex<HashMap<(String, String), RateWindow>>,
    gauges: Mutex<BTreeMap<(String, Labels), f64>>,
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

/// Why [`Metrics::set_gauge`] refused a series.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GaugeError {
    #[error("metric and label names are [a-zA-Z_][a-zA-Z0-9_]*, got {0:?}")]
    BadName(String),
    #[error("at most {MAX_GAUGES} gauge series")]
    TooMany,
}

fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && name.len() <= 128
}

/// Escapes a label value (backslash, double quote, newline).
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

fn write_labels(out: &mut String, labels: &[(String, String)]) {
    if labels.is_empty() {
        return;
    }
    out.push('{');
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let _ = write!(out, "{k}=\"{}\"", escape(v));
    }
    out.push('}');
}

/// Prometheus float: `+Inf`, `-Inf`, `NaN`, else Rust's shortest round-trip form.
fn float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

impl Metrics {
    /// Counters start at zero; `epoch` anchors the per-second rate windows.
    pub fn new(epoch: Instant) -> Metrics {
        Metrics {
            epoch,
            requests: Default::default(),
            wait_buckets: Default::default(),
            wait_count: AtomicU64::new(0),
            wait_sum_micros: AtomicU64::new(0),
            playlists: Mutex::new(HashMap::new()),
            gauges: Mutex::new(BTreeMap::new()),
        }
    }

    fn second(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.epoch).as_secs()
    }

    /// Counts one finished request.
    pub fn record_request(&self, kind: RequestKind, status: u16) {
        self.requests[kind.index()][status_index(status)].fetch_add(1, Ordering::Relaxed);
    }

    /// Total requests of `kind`, all statuses (for tests and benches).
    pub fn requests(&self, kind: RequestKind) -> u64 {
        self.requests[kind.index()]
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }

    /// Records how long a blocking playlist reload was held.
    pub fn observe_blocking_wait(&self, wait: Duration) {
        let secs = wait.as_secs_f64();
        for (bound, counter) in WAIT_BUCKETS.iter().zip(&self.wait_buckets) {
            if secs <= *bound {
                counter.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.wait_count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(wait.as_micros()).unwrap_or(u64::MAX);
        self.wait_sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Counts a media playlist request of `event`/`rendition` at `now`.
    pub fn record_playlist(&self, event: &str, rendition: &str, now: Instant) {
        let second = self.second(now);
        let Ok(mut map) = self.playlists.lock() else {
            return;
        };
        let key = (event.to_owned(), rendition.to_owned());
        if !map.contains_key(&key) && map.len() >= MAX_RENDITIONS {
            // Forget renditions nobody asked for during the window, then give up.
            let oldest = second.saturating_sub(RATE_WINDOW_SECS);
            map.retain(|_, w| w.seconds.last().is_some_and(|(s, _)| *s >= oldest));
            if map.len() >= MAX_RENDITIONS {
                return;
            }
        }
        map.entry(key).or_default().add(second);
    }

    /// The part duration of a rendition, as its playlist's `PART-TARGET` says.
    pub fn set_part_duration(&self, event: &str, rendition: &str, part: Duration) {
        let Ok(mut map) = self.playlists.lock() else {
            return;
        };
        if let Some(w) = map.get_mut(&(event.to_owned(), rendition.to_owned())) {
            w.part_secs = Some(part.as_secs_f64());
        }
    }

    /// Estimated viewers of each (event, rendition): see the module documentation.
    pub fn estimated_viewers(&self, now: Instant) -> Vec<(String, String, f64)> {
        let second = self.second(now);
        let Ok(map) = self.playlists.lock() else {
            return Vec::new();
        };
        let mut out: Vec<_> = map
            .iter()
            .map(|((e, r), w)| {
                let part = w.part_secs.unwrap_or(DEFAULT_PART_SECS);
                (e.clone(), r.clone(), w.rate(second) * part)
            })
            .collect();
        out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        out
    }

    /// Sets (or replaces) a gauge series: the hook for stages outside the origin,
    /// e.g. `set_gauge("amphi_ingest_bitrate_bps", &[("event", "cs101")], 4.5e6)`.
    pub fn set_gauge(
        &self,
        name: &str,
        labels: &[(&str, &str)],
        value: f64,
    ) -> Result<(), GaugeError> {
        if !valid_name(name) || name.starts_with("__") {
            return Err(GaugeError::BadName(name.chars().take(64).collect()));
        }
        if let Some((bad, _)) = labels
            .iter()
            .find(|(k, _)| !valid_name(k) || k.starts_with("__"))
        {
            return Err(GaugeError::BadName(bad.chars().take(64).collect()));
        }
        let labels: Labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let Ok(mut gauges) = self.gauges.lock() else {
            return Ok(());
        };
        let key = (name.to_owned(), labels);
        if !gauges.contains_key(&key) && gauges.len() >= MAX_GAUGES {
            return Err(GaugeError::TooMany);
        }
        gauges.insert(key, value);
        Ok(())
    }

    /// Removes a gauge series (e.g. when an event ends).
    pub fn remove_gauge(&self, name: &str, labels: &[(&str, &str)]) {
        let labels: Labels = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        if let Ok(mut gauges) = self.gauges.lock() {
            gauges.remove(&(name.to_owned(), labels));
        }
    }

    /// The whole exposition, as served at `/metrics`.
    pub fn render(&self, now: Instant) -> String {
        let mut out = String::with_capacity(4096);
        out.push_str(
            "# HELP amphi_origin_requests_total HTTP requests by kind and status class.\n",
        );
        out.push_str("# TYPE amphi_origin_requests_total counter\n");
        for kind in RequestKind::ALL {
            for (i, class) in STATUS_CLASSES.iter().enumerate() {
                let n = self.requests[kind.index()][i].load(Ordering::Relaxed);
                let _ = writeln!(
                    out,
                    "amphi_origin_requests_total{{kind=\"{}\",status=\"{class}\"}} {n}",
                    kind.label()
                );
            }
        }

        out.push_str(
            "# HELP amphi_origin_blocking_wait_seconds Time blocking playlist reloads were held.\n",
        );
        out.push_str("# TYPE amphi_origin_blocking_wait_seconds histogram\n");
        for (bound, counter) in WAIT_BUCKETS.iter().zip(&self.wait_buckets) {
            let _ = writeln!(
                out,
                "amphi_origin_blocking_wait_seconds_bucket{{le=\"{}\"}} {}",
                float(*bound),
                counter.load(Ordering::Relaxed)
            );
        }
        let count = self.wait_count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "amphi_origin_blocking_wait_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let sum = self.wait_sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "amphi_origin_blocking_wait_seconds_sum {}", float(sum));
        let _ = writeln!(out, "amphi_origin_blocking_wait_seconds_count {count}");

        out.push_str("# HELP amphi_origin_estimated_viewers Playlist requests per second times part duration (counts CDN edges, not people, behind a cache).\n");
        out.push_str("# TYPE amphi_origin_estimated_viewers gauge\n");
        for (event, rendition, v) in self.estimated_viewers(now) {
            let _ = writeln!(
                out,
                "amphi_origin_estimated_viewers{{event=\"{}\",rendition=\"{}\"}} {}",
                escape(&event),
                escape(&rendition),
                float(v)
            );
        }

        if let Ok(gauges) = self.gauges.lock() {
            let mut last: Option<&str> = None;
            for ((name, labels), value) in gauges.iter() {
                if last != Some(name.as_str()) {
                    let _ = writeln!(out, "# TYPE {name} gauge");
                    last = Some(name);
                }
                out.push_str(name);
                write_labels(&mut out, labels);
                let _ = writeln!(out, " {}", float(*value));
            }
        }
        out
    }
}

/// Middleware: classifies, times and counts every request.
pub(crate) async fn track(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    let start = Instant::now();
    let (kind, rendition) = classify(req.uri().path(), req.uri().query());
    let rendition = rendition.map(|(e, r)| (e.to_owned(), r.to_owned()));
    let res = next.run(req).await;
    let metrics = &state.metrics;
    metrics.record_request(kind, res.status().as_u16());
    if kind == RequestKind::PlaylistBlocking {
        metrics.observe_blocking_wait(start.elapsed());
    }
    if let Some((event, rendition)) = rendition {
        if res.status().is_success() {
            metrics.record_playlist(&event, &rendition, start);
        }
    }
    res
}

/// `GET /metrics`. Part durations for the viewer estimate are read from the playlists
/// in the store here, so the request path stays free of parsing.
pub(crate) async fn serve(State(state): State<Arc<AppState>>) -> Response {
    let now = Instant::now();
    for (event, rendition, _) in state.metrics.estimated_viewers(now) {
        let key = names::playlist_key(&event, &rendition);
        if let Ok(Some(obj)) = state.store.get(&key).await {
            let edge = std::str::from_utf8(&obj.data)
                .ok()
                .and_then(crate::edge::parse_edge);
            if let Some(edge) = edge {
                state
                    .metrics
                    .set_part_duration(&event, &rendition, edge.part_target);
            }
        }
    }
    (
        [
            (
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
        state.metrics.render(now),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line_value(text: &str, series: &str) -> Option<String> {
        text.lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ').map(str::to_owned))
    }

    #[test]
    fn classifies_requests() {
        use RequestKind::*;
        let c = |p, q| classify(p, q).0;
        assert_eq!(c("/live/cs/master.m3u8", None), Master);
        assert_eq!(c("/live/cs/720p/index.m3u8", None), PlaylistPlain);
        assert_eq!(
            c("/live/cs/720p/index.m3u8", Some("_HLS_skip=YES")),
            PlaylistPlain
        );
        assert_eq!(
            c("/live/cs/720p/index.m3u8", Some("_HLS_msn=3&_HLS_part=1")),
            PlaylistBlocking
        );
        assert_eq!(c("/live/cs/720p/part3.1.m4s", None), Part);
        assert_eq!(c("/live/cs/t/abc.def/720p/part3.1.m4s", None), Part);
        assert_eq!(c("/live/cs/720p/seg3.m4s", None), Segment);
        assert_eq!(c("/live/cs/720p/init.mp4", None), Init);
        for other in [
            "/",
            "/healthz",
            "/live/cs",
            "/live/cs/720p/x.m4s",
            "/api/events",
        ] {
            assert_eq!(c(other, None), Other, "{other}");
        }
        assert_eq!(
            classify("/live/cs/720p/index.m3u8", None).1,
            Some(("cs", "720p"))
        );
    }

    #[test]
    fn request_counters_render_every_kind_and_class() {
        let t0 = Instant::now();
        let m = Metrics::new(t0);
        m.record_request(RequestKind::Part, 200);
        m.record_request(RequestKind::Part, 200);
        m.record_request(RequestKind::PlaylistBlocking, 503);
        m.record_request(RequestKind::Other, 101);
        let text = m.render(t0);
        assert!(text.contains("# TYPE amphi_origin_requests_total counter\n"));
        let v = |s| line_value(&text, s);
        assert_eq!(
            v("amphi_origin_requests_total{kind=\"part\",status=\"2xx\"}").as_deref(),
            Some("2")
        );
        assert_eq!(
            v("amphi_origin_requests_total{kind=\"playlist_blocking\",status=\"5xx\"}").as_deref(),
            Some("1")
        );
        assert_eq!(
            v("amphi_origin_requests_total{kind=\"other\",status=\"other\"}").as_deref(),
            Some("1")
        );
        assert_eq!(
            v("amphi_origin_requests_total{kind=\"master\",status=\"4xx\"}").as_deref(),
            Some("0")
        );
        assert_eq!(
            text.lines()
                .filter(|l| l.starts_with("amphi_origin_requests_total{"))
                .count(),
            RequestKind::ALL.len() * STATUS_CLASSES.len()
        );
        assert_eq!(m.requests(RequestKind::Part), 2);
    }

    #[test]
    fn histogram_is_cumulative_with_sum_and_count() {
        let m = Metrics::default();
        m.observe_blocking_wait(Duration::from_millis(3));
        m.observe_blocking_wait(Duration::from_millis(300));
        m.observe_blocking_wait(Duration::from_secs(20));
        let text = m.render(Instant::now());
        let v = |s: &str| line_value(&text, s);
        assert!(text.contains("# TYPE amphi_origin_blocking_wait_seconds histogram\n"));
        assert_eq!(
            v("amphi_origin_blocking_wait_seconds_bucket{le=\"0.005\"}").as_deref(),
            Some("1")
        );
        assert_eq!(
            v("amphi_origin_blocking_wait_seconds_bucket{le=\"0.2\"}").as_deref(),
            Some("1")
        );
        assert_eq!(
            v("amphi_origin_blocking_wait_seconds_bucket{le=\"0.35\"}").as_deref(),
            Some("2")
        );
        assert_eq!(
            v("amphi_origin_blocking_wait_seconds_bucket{le=\"8\"}").as_deref(),
            Some("2")
        );
        assert_eq!(
            v("amphi_origin_blocking_wait_seconds_bucket{le=\"+Inf\"}").as_deref(),
            Some("3")
        );
        assert_eq!(
            v("amphi_origin_blocking_wait_seconds_count").as_deref(),
            Some("3")
        );
        assert_eq!(
            v("amphi_origin_blocking_wait_seconds_sum").as_deref(),
            Some("20.303")
        );
        // Buckets are non-decreasing, in increasing `le` order.
        let counts: Vec<u64> = text
            .lines()
            .filter(|l| l.starts_with("amphi_origin_blocking_wait_seconds_bucket"))
            .filter_map(|l| l.rsplit(' ').next()?.parse().ok())
            .collect();
        assert_eq!(counts.len(), WAIT_BUCKETS.len() + 1);
        assert!(counts.windows(2).all(|w| w[0] <= w[1]));
    }

    #[test]
    fn viewer_estimate_is_rate_times_part_duration() {
        let t0 = Instant::now();
        let m = Metrics::new(t0);
        // 30 viewers at 3 reloads per second for 10 s, then the rate is read at 10 s.
        for s in 0..RATE_WINDOW_SECS {
            for _ in 0..90 {
                m.record_playlist("cs", "360p", t0 + Duration::from_secs(s));
            }
        }
        m.set_part_duration("cs", "360p", Duration::from_millis(333));
        let now = t0 + Duration::from_secs(RATE_WINDOW_SECS);
        let est = m.estimated_viewers(now);
        assert_eq!(est.len(), 1);
        assert!((est[0].2 - 29.97).abs() < 1e-9, "{est:?}");
        // Unknown part duration: the default applies.
        m.record_playlist("cs", "720p", now);
        let later = now + Duration::from_secs(1);
        let est = m.estimated_viewers(later);
        assert!(
            (est[1].2 - DEFAULT_PART_SECS / RATE_WINDOW_SECS as f64).abs() < 1e-9,
            "{est:?}"
        );
        let text = m.render(later);
        assert!(text.contains("amphi_origin_estimated_viewers{event=\"cs\",rendition=\"360p\"} "));
        // Nobody asks for a minute: the estimate falls to zero.
        let est = m.estimated_viewers(now + Duration::from_secs(60));
        assert!(est.iter().all(|e| e.2 == 0.0), "{est:?}");
    }

    #[test]
    fn gauges_are_set_replaced_escaped_and_validated() {
        let m = Metrics::default();
        m.set_gauge("amphi_ingest_bitrate_bps", &[("event", "cs\"1\\\n")], 4.5e6)
            .expect("valid");
        m.set_gauge(
            "amphi_encoder_realtime_factor",
            &[("event", "cs"), ("rendition", "720p")],
            1.5,
        )
        .expect("valid");
        m.set_gauge(
            "amphi_encoder_realtime_factor",
            &[("event", "cs"), ("rendition", "720p")],
            1.25,
        )
        .expect("valid");
        m.set_gauge("amphi_up", &[], f64::INFINITY).expect("valid");
        assert!(matches!(
            m.set_gauge("1bad", &[], 1.0),
            Err(GaugeError::BadName(_))
        ));
        assert!(matches!(
            m.set_gauge("ok", &[("bad-label", "x")], 1.0),
            Err(GaugeError::BadName(_))
        ));
        assert!(matches!(
            m.set_gauge("ok", &[("__name__", "x")], 1.0),
            Err(GaugeError::BadName(_))
        ));
        let text = m.render(Instant::now());
        assert!(text.contains("# TYPE amphi_ingest_bitrate_bps gauge\namphi_ingest_bitrate_bps{event=\"cs\\\"1\\\\\\n\"} 4500000\n"), "{text}");
        assert!(text.contains(
            "# TYPE amphi_encoder_realtime_factor gauge\namphi_encoder_realtime_factor{event=\"cs\",rendition=\"720p\"} 1.25\n"
        ));
        assert!(text.contains("amphi_up +Inf\n"));
        m.remove_gauge("amphi_up", &[]);
        assert!(!m.render(Instant::now()).contains("amphi_up"));
    }

    #[tokio::test]
    async fn the_router_counts_requests_and_serves_the_exposition() {
        use crate::test_support::{body_string, request, router_with};
        let app = router_with(&[]);
        request(&app, "GET", "/healthz").await;
        request(&app, "GET", "/live/cs/master.m3u8").await;
        request(
            &app,
            "GET",
            "/live/cs/360p/index.m3u8?_HLS_msn=1&_HLS_part=0",
        )
        .await;
        let res = request(&app, "GET", "/metrics").await;
        assert_eq!(res.status(), 200);
        assert_eq!(
            res.headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            Some("text/plain; version=0.0.4; charset=utf-8")
        );
        let text = body_string(res).await;
        let v = |s: &str| line_value(&text, s);
        assert_eq!(
            v("amphi_origin_requests_total{kind=\"other\",status=\"2xx\"}").as_deref(),
            Some("1")
        );
        assert_eq!(
            v("amphi_origin_requests_total{kind=\"master\",status=\"4xx\"}").as_deref(),
            Some("1")
        );
        assert_eq!(
            v("amphi_origin_requests_total{kind=\"playlist_blocking\",status=\"4xx\"}").as_deref(),
            Some("1")
        );
        assert_eq!(
            v("amphi_origin_blocking_wait_seconds_count").as_deref(),
            Some("1")
        );
    }

    #[test]
    fn every_sample_line_is_well_formed() {
        let m = Metrics::default();
        m.record_playlist("cs", "360p", Instant::now());
        m.set_gauge("g", &[("a", "b")], -0.5).expect("valid");
        for line in m.render(Instant::now()).lines() {
            if line.starts_with('#') {
                assert!(
                    line.starts_with("# HELP ") || line.starts_with("# TYPE "),
                    "{line}"
                );
                continue;
            }
            let (series, value) = line.rsplit_once(' ').expect("name value");
            let name = series.split('{').next().expect("name");
            assert!(valid_name(name), "{line}");
            assert!(
                value.parse::<f64>().is_ok() || value == "+Inf" || value == "NaN",
                "{line}"
            );
        }
    }
}
