//! `GET /metrics`: the origin's metrics in the Prometheus text exposition format
//! (version 0.0.4), kept and encoded by `prometheus-client`. One job per module:
//! [`classify`] (what a request asked for), [`viewers`] (the viewer estimate),
//! [`gauges`] (series other stages set by name), [`registry`] (the registry and its
//! encoding), `http` (the middleware and the handler).
//!
//! What is exported:
//! - `amphi_origin_requests_total{kind, status}`: every HTTP request, by what it asked
//!   for ([`RequestKind`]) and status class (`2xx` … `5xx`, `other`).
//! - `amphi_origin_blocking_wait_seconds`: histogram of the time blocking playlist
//!   reloads (`_HLS_msn`) were held, from request to response.
//! - `amphi_origin_estimated_viewers{event, rendition}`: an estimate (counts CDN edges,
//!   not people, behind a cache), see [`viewers`].
//! - Gauges another stage sets through [`Metrics::set_gauge`] (the packager's ingest
//!   bitrate, encoder real-time factor, …), exported as given.
//!
//! Time is an input: the recording and rendering functions take an `Instant`, the
//! HTTP glue passes `Instant::now()`.

pub mod classify;
pub mod gauges;
mod http;
pub mod registry;
pub mod viewers;

pub use classify::{classify, RequestKind};
pub use gauges::GaugeError;
pub(crate) use http::{serve, track};
pub use registry::{Metrics, WAIT_BUCKETS};
pub use viewers::{DEFAULT_PART_SECS, RATE_WINDOW_SECS};

#[cfg(test)]
mod tests {
    use super::classify::STATUS_CLASSES;
    use super::gauges::valid_name;
    use super::*;
    use std::time::{Duration, Instant};

    /// The value of one sample line, `{series} {value}`.
    pub(super) fn line_value(text: &str, series: &str) -> Option<f64> {
        text.lines().find_map(|l| {
            let v = l.strip_prefix(series)?.strip_prefix(' ')?;
            match v {
                "+Inf" => Some(f64::INFINITY),
                "-Inf" => Some(f64::NEG_INFINITY),
                v => v.parse().ok(),
            }
        })
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
            v("amphi_origin_requests_total{kind=\"part\",status=\"2xx\"}"),
            Some(2.0)
        );
        assert_eq!(
            v("amphi_origin_requests_total{kind=\"playlist_blocking\",status=\"5xx\"}"),
            Some(1.0)
        );
        assert_eq!(
            v("amphi_origin_requests_total{kind=\"other\",status=\"other\"}"),
            Some(1.0)
        );
        assert_eq!(
            v("amphi_origin_requests_total{kind=\"master\",status=\"4xx\"}"),
            Some(0.0)
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
        let bucket = |le: &str| {
            v(&format!(
                "amphi_origin_blocking_wait_seconds_bucket{{le=\"{le}\"}}"
            ))
        };
        assert_eq!(bucket("0.005"), Some(1.0));
        assert_eq!(bucket("0.2"), Some(1.0));
        assert_eq!(bucket("0.35"), Some(2.0));
        assert_eq!(bucket("8"), Some(2.0));
        assert_eq!(bucket("+Inf"), Some(3.0));
        assert_eq!(v("amphi_origin_blocking_wait_seconds_count"), Some(3.0));
        let sum = v("amphi_origin_blocking_wait_seconds_sum").expect("sum");
        assert!((sum - 20.303).abs() < 1e-9, "{sum}");
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
    fn viewer_estimates_are_exported_per_rendition() {
        let t0 = Instant::now();
        let m = Metrics::new(t0);
        for _ in 0..30 {
            m.record_playlist("cs", "360p", t0);
        }
        m.set_part_duration("cs", "360p", Duration::from_millis(500));
        let now = t0 + Duration::from_secs(1);
        let text = m.render(now);
        let series = "amphi_origin_estimated_viewers{event=\"cs\",rendition=\"360p\"}";
        let v = line_value(&text, series).expect("estimate");
        assert!((v - 1.5).abs() < 1e-9, "{text}");
        // A minute later the estimate is zero, still exported.
        let later = m.render(now + Duration::from_secs(60));
        assert_eq!(line_value(&later, series), Some(0.0));
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
        for (name, labels) in [
            ("1bad", &[][..]),
            ("ok", &[("bad-label", "x")][..]),
            ("ok", &[("__name__", "x")][..]),
        ] {
            assert!(matches!(
                m.set_gauge(name, labels, 1.0),
                Err(GaugeError::BadName(_))
            ));
        }
        let text = m.render(Instant::now());
        assert!(
            text.contains("# TYPE amphi_ingest_bitrate_bps gauge\n"),
            "{text}"
        );
        assert_eq!(
            line_value(&text, "amphi_ingest_bitrate_bps{event=\"cs\\\"1\\\\\\n\"}"),
            Some(4.5e6),
            "{text}"
        );
        assert!(text.contains("# TYPE amphi_encoder_realtime_factor gauge\n"));
        assert_eq!(
            line_value(
                &text,
                "amphi_encoder_realtime_factor{event=\"cs\",rendition=\"720p\"}"
            ),
            Some(1.25)
        );
        assert_eq!(line_value(&text, "amphi_up"), Some(f64::INFINITY));
        m.remove_gauge("amphi_up", &[]);
        assert!(!m.render(Instant::now()).contains("amphi_up"));
    }

    #[test]
    fn every_sample_line_is_well_formed() {
        let m = Metrics::default();
        m.record_playlist("cs", "360p", Instant::now());
        m.observe_blocking_wait(Duration::from_millis(7));
        m.set_gauge("g", &[("a", "b")], -0.5).expect("valid");
        for line in m.render(Instant::now()).lines() {
            if line.starts_with('#') {
                assert!(
                    line.starts_with("# HELP ") || line.starts_with("# TYPE "),
                    "{line}"
                );
                // The encoder ends each help text with a full stop of its own.
                assert!(!line.ends_with(".."), "{line}");
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
