//! Gauges another stage sets by name (the packager's ingest bitrate, encoder real-time
//! factor, …), exported as given through a `prometheus-client` collector: their names
//! are only known at run time, so they cannot be registered up front.

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Custom gauge series kept at most.
pub const MAX_GAUGES: usize = 1024;

/// A label set: (name, value) pairs in the order given.
type Labels = Vec<(String, String)>;

/// Why [`Gauges::set`] refused a series.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GaugeError {
    #[error("metric and label names are [a-zA-Z_][a-zA-Z0-9_]*, got {0:?}")]
    BadName(String),
    #[error("at most {MAX_GAUGES} gauge series")]
    TooMany,
}

/// Whether `name` is a valid metric or label name (and not reserved, `__…`).
pub fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && name.len() <= 128
        && !name.starts_with("__")
}

fn owned(labels: &[(&str, &str)]) -> Labels {
    labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The series set by name, sorted by name then labels.
#[derive(Debug, Default)]
pub struct Gauges {
    series: Mutex<BTreeMap<(String, Labels), f64>>,
}

impl Gauges {
    /// Sets (or replaces) a series.
    pub fn set(&self, name: &str, labels: &[(&str, &str)], value: f64) -> Result<(), GaugeError> {
        if let Some(bad) = std::iter::once(name)
            .chain(labels.iter().map(|(k, _)| *k))
            .find(|n| !valid_name(n))
        {
            return Err(GaugeError::BadName(bad.chars().take(64).collect()));
        }
        let Ok(mut series) = self.series.lock() else {
            return Ok(());
        };
        let key = (name.to_owned(), owned(labels));
        if !series.contains_key(&key) && series.len() >= MAX_GAUGES {
            return Err(GaugeError::TooMany);
        }
        series.insert(key, value);
        Ok(())
    }

    /// Removes a series (e.g. when an event ends).
    pub fn remove(&self, name: &str, labels: &[(&str, &str)]) {
        if let Ok(mut series) = self.series.lock() {
            series.remove(&(name.to_owned(), owned(labels)));
        }
    }
}

impl Collector for Gauges {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Ok(series) = self.series.lock() else {
            return Ok(());
        };
        let mut iter = series.iter().peekable();
        while let Some(((name, _), _)) = iter.peek() {
            let name = name.clone();
            let mut family = encoder.encode_descriptor(
                &name,
                "Set by another stage",
                None,
                MetricType::Gauge,
            )?;
            while let Some(((_, labels), value)) = iter.next_if(|((n, _), _)| *n == name) {
                ConstGauge::new(*value).encode(family.encode_family(labels)?)?;
            }
        }
        Ok(())
    }
}
