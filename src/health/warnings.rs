//! Recent warnings of one event: a line each time a check turns orange or red, or
//! worse than it was (not every second it stays so), with the fix. Bounded.

use super::checks::{Check, Level};
use serde::Serialize;
use std::collections::{HashMap, VecDeque};

/// Warnings kept per event.
pub const MAX_WARNINGS: usize = 20;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Warning {
    /// When it was raised (RFC 3339).
    pub at: String,
    pub check: String,
    pub level: Level,
    /// "keyframe interval 10 s: set Keyframe Interval to 2 s in OBS (…)".
    pub text: String,
}

#[derive(Debug, Default)]
pub struct WarningLog {
    levels: HashMap<String, Level>,
    recent: VecDeque<Warning>,
}

impl WarningLog {
    pub fn update(&mut self, at: &str, checks: &[Check]) {
        let mut seen = HashMap::with_capacity(checks.len());
        for c in checks {
            let before = self.levels.get(&c.id).copied().unwrap_or(Level::Green);
            if c.level > before {
                self.recent.push_front(Warning {
                    at: at.to_owned(),
                    check: c.id.clone(),
                    level: c.level,
                    text: c.warning(),
                });
                self.recent.truncate(MAX_WARNINGS);
            }
            seen.insert(c.id.clone(), c.level);
        }
        self.levels = seen;
    }

    /// Most recent first.
    pub fn recent(&self) -> Vec<Warning> {
        self.recent.iter().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::health::checks::{evaluate, Figures};
    use crate::health::meter::IngestFigures;

    #[test]
    fn one_line_per_rise_and_bounded() {
        let mut log = WarningLog::default();
        let mut f = Figures {
            ingest: Some(IngestFigures {
                keyframe_interval_secs: Some(3.0),
                ..IngestFigures::default()
            }),
            ..Figures::default()
        };
        let count =
            |log: &WarningLog, id: &str| log.recent().iter().filter(|w| w.check == id).count();
        log.update("t0", &evaluate(&f));
        assert_eq!(count(&log, "keyframe_interval"), 1);
        log.update("t1", &evaluate(&f));
        assert_eq!(
            count(&log, "keyframe_interval"),
            1,
            "no repeat while it stays"
        );
        if let Some(i) = f.ingest.as_mut() {
            i.keyframe_interval_secs = Some(10.0);
        }
        log.update("t2", &evaluate(&f));
        let w = &log.recent()[0];
        assert_eq!(
            (w.check.as_str(), w.level, w.at.as_str()),
            ("keyframe_interval", Level::Red, "t2")
        );
        assert!(w.text.contains("Keyframe Interval to 2 s"));
        // Green again, then red again: a new line.
        if let Some(i) = f.ingest.as_mut() {
            i.keyframe_interval_secs = Some(2.0);
        }
        log.update("t3", &evaluate(&f));
        if let Some(i) = f.ingest.as_mut() {
            i.keyframe_interval_secs = Some(10.0);
        }
        log.update("t4", &evaluate(&f));
        assert_eq!(count(&log, "keyframe_interval"), 3);
        for i in 0..50 {
            log.update(&format!("x{i}"), &evaluate(&Figures::default()));
            log.update(&format!("y{i}"), &evaluate(&f));
        }
        assert_eq!(log.recent().len(), MAX_WARNINGS);
    }
}
