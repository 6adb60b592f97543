//! Wall-clock instants and program date-times, as nanoseconds since the Unix epoch.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::ops::{Add, Neg, Sub};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const NANOS_PER_MILLI: i64 = 1_000_000;
const NANOS_PER_SEC: i64 = 1_000_000_000;

fn saturating_nanos(d: Duration) -> i64 {
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// Nanoseconds since the Unix epoch of a [`SystemTime`], saturating.
fn nanos_of_system(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(after) => saturating_nanos(after),
        Err(before) => saturating_nanos(before.duration()).saturating_neg(),
    }
}

fn system_of_nanos(nanos: i64) -> SystemTime {
    let magnitude = Duration::from_nanos(nanos.unsigned_abs());
    if nanos >= 0 {
        UNIX_EPOCH + magnitude
    } else {
        UNIX_EPOCH - magnitude
    }
}

/// The signed difference of two program times or two wall-clock times, in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct TimeDelta(i64);

impl TimeDelta {
    pub const ZERO: TimeDelta = TimeDelta(0);

    pub const fn from_nanos(nanos: i64) -> Self {
        TimeDelta(nanos)
    }

    /// `ms` milliseconds (saturating).
    pub const fn from_millis(ms: i64) -> Self {
        TimeDelta(ms.saturating_mul(NANOS_PER_MILLI))
    }

    /// The span of a [`Duration`], saturating.
    pub fn from_std(d: Duration) -> Self {
        TimeDelta(saturating_nanos(d))
    }

    /// The span as a [`Duration`]; `None` when negative.
    pub fn to_std(self) -> Option<Duration> {
        u64::try_from(self.0).ok().map(Duration::from_nanos)
    }

    pub const fn as_nanos(self) -> i64 {
        self.0
    }

    /// Whole milliseconds, truncated toward zero.
    pub const fn as_millis(self) -> i64 {
        self.0 / NANOS_PER_MILLI
    }

    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / NANOS_PER_SEC as f64
    }

    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }
}

impl Neg for TimeDelta {
    type Output = TimeDelta;
    fn neg(self) -> TimeDelta {
        TimeDelta(self.0.saturating_neg())
    }
}

impl Add for TimeDelta {
    type Output = TimeDelta;
    fn add(self, rhs: TimeDelta) -> TimeDelta {
        TimeDelta(self.0.saturating_add(rhs.0))
    }
}

impl Sub for TimeDelta {
    type Output = TimeDelta;
    fn sub(self, rhs: TimeDelta) -> TimeDelta {
        TimeDelta(self.0.saturating_sub(rhs.0))
    }
}

/// The conversions and arithmetic the two Unix-epoch clocks share; each stays its own
/// type, so a program time is never compared with a wall-clock time unawares.
macro_rules! unix_instant {
    ($name:ident) => {
        impl $name {
            /// 1970-01-01T00:00:00Z.
            pub const UNIX_EPOCH: $name = $name(0);

            /// `ms` milliseconds after the Unix epoch (saturating).
            pub const fn from_unix_millis(ms: i64) -> Self {
                $name(ms.saturating_mul(NANOS_PER_MILLI))
            }

            /// `secs` seconds after the Unix epoch (saturating).
            pub fn from_unix_secs(secs: u64) -> Self {
                $name(
                    i64::try_from(secs)
                        .unwrap_or(i64::MAX)
                        .saturating_mul(NANOS_PER_SEC),
                )
            }

            /// Milliseconds since the Unix epoch, rounding down.
            pub const fn unix_millis(self) -> i64 {
                self.0.div_euclid(NANOS_PER_MILLI)
            }

            /// Whole seconds since the Unix epoch, rounding down.
            pub const fn unix_secs(self) -> i64 {
                self.0.div_euclid(NANOS_PER_SEC)
            }

            /// Nanoseconds since the Unix epoch.
            pub const fn unix_nanos(self) -> i64 {
                self.0
            }

            /// The same instant as a [`SystemTime`].
            pub fn to_system(self) -> SystemTime {
                system_of_nanos(self.0)
            }

            /// The instant of a [`SystemTime`] (saturating outside about 1678–2262).
            pub fn from_system(t: SystemTime) -> Self {
                $name(nanos_of_system(t))
            }

            /// `self + d`, or `None` past the end of the range.
            pub fn checked_add(self, d: Duration) -> Option<Self> {
                i64::try_from(d.as_nanos())
                    .ok()
                    .and_then(|n| self.0.checked_add(n))
                    .map($name)
            }

            /// `self − earlier`, or zero when `earlier` is later.
            pub fn saturating_duration_since(self, earlier: $name) -> Duration {
                (self - earlier).to_std().unwrap_or(Duration::ZERO)
            }
        }

        impl From<SystemTime> for $name {
            fn from(t: SystemTime) -> Self {
                $name::from_system(t)
            }
        }

        impl From<$name> for SystemTime {
            fn from(t: $name) -> SystemTime {
                t.to_system()
            }
        }

        impl Sub for $name {
            type Output = TimeDelta;
            fn sub(self, rhs: $name) -> TimeDelta {
                TimeDelta(self.0.saturating_sub(rhs.0))
            }
        }

        impl Add<Duration> for $name {
            type Output = $name;
            fn add(self, rhs: Duration) -> $name {
                $name(self.0.saturating_add(saturating_nanos(rhs)))
            }
        }

        impl Sub<Duration> for $name {
            type Output = $name;
            fn sub(self, rhs: Duration) -> $name {
                $name(self.0.saturating_sub(saturating_nanos(rhs)))
            }
        }

        impl Add<TimeDelta> for $name {
            type Output = $name;
            fn add(self, rhs: TimeDelta) -> $name {
                $name(self.0.saturating_add(rhs.0))
            }
        }

        impl Sub<TimeDelta> for $name {
            type Output = $name;
            fn sub(self, rhs: TimeDelta) -> $name {
                $name(self.0.saturating_sub(rhs.0))
            }
        }
    };
}

/// A wall-clock instant on this machine: now, an expiry, a creation date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct WallTime(i64);

/// The stream's program date-time (`EXT-X-PROGRAM-DATE-TIME`): the wall-clock instant
/// at which the media was captured. Serialized as integer milliseconds since the Unix
/// epoch, as the Q&A API and its stores carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ProgramTime(i64);

unix_instant!(WallTime);
unix_instant!(ProgramTime);

impl WallTime {
    /// Reads whole Unix seconds written the one way signed tokens carry them: ASCII
    /// digits, no sign, no leading zero (`"0012"` would sign the same instant as other
    /// text). `None` for any other text; a number past the type's range saturates.
    pub fn parse_unix_secs(text: &str) -> Option<WallTime> {
        if text.is_empty() || text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let secs: u64 = text.parse().ok()?;
        (text == secs.to_string()).then(|| WallTime::from_unix_secs(secs))
    }

    /// Whole seconds since the Unix epoch as signed tokens write them, rounding down;
    /// zero for an instant before 1970.
    pub fn unix_secs_unsigned(self) -> u64 {
        u64::try_from(self.unix_secs()).unwrap_or(0)
    }
}

impl ProgramTime {
    /// The program time of media captured at wall-clock instant `t`.
    pub const fn captured_at(t: WallTime) -> Self {
        ProgramTime(t.0)
    }

    /// The wall-clock instant this media was captured at.
    pub const fn wall_clock(self) -> WallTime {
        WallTime(self.0)
    }
}

impl Serialize for ProgramTime {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(self.unix_millis())
    }
}

impl<'de> Deserialize<'de> for ProgramTime {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        i64::deserialize(d).map(ProgramTime::from_unix_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_minus_time_is_a_delta() {
        let a = ProgramTime::from_unix_millis(1_700_000_002_500);
        let b = ProgramTime::from_unix_millis(1_700_000_000_000);
        assert_eq!((a - b).as_millis(), 2500);
        assert_eq!((b - a).as_millis(), -2500);
        assert_eq!(b + Duration::from_millis(2500), a);
        assert_eq!(a - Duration::from_millis(2500), b);
        assert_eq!(b + (a - b), a);
        assert_eq!(a - (a - b), b);
        assert_eq!((a - b).to_std(), Some(Duration::from_millis(2500)));
        assert_eq!((b - a).to_std(), None);
        assert_eq!(b.saturating_duration_since(a), Duration::ZERO);
        assert_eq!(-(a - b), b - a);
        assert!((a - b).as_secs_f64() > 2.49);
    }

    #[test]
    fn system_time_round_trips_to_the_nanosecond() {
        let t = UNIX_EPOCH + Duration::new(1_764_000_000, 123_456_789);
        let p = ProgramTime::from(t);
        assert_eq!(p.unix_nanos(), 1_764_000_000_123_456_789);
        assert_eq!(SystemTime::from(p), t);
        assert_eq!(p.unix_millis(), 1_764_000_000_123);
        assert_eq!(p.unix_secs(), 1_764_000_000);
        let before = UNIX_EPOCH - Duration::from_millis(1500);
        let w = WallTime::from(before);
        assert_eq!(w.unix_millis(), -1500);
        assert_eq!(w.unix_secs(), -2, "rounds down before 1970");
        assert_eq!(w.to_system(), before);
    }

    #[test]
    fn conversions_saturate_at_the_ends() {
        let far = UNIX_EPOCH + Duration::from_secs(400 * 365 * 86_400);
        assert_eq!(WallTime::from(far).unix_nanos(), i64::MAX);
        assert_eq!(WallTime::from_unix_secs(u64::MAX).unix_nanos(), i64::MAX);
        assert_eq!(WallTime::from_unix_secs(10).unix_secs(), 10);
        assert_eq!(
            ProgramTime::from_unix_millis(i64::MAX).unix_nanos(),
            i64::MAX
        );
        let end = WallTime::from_unix_secs(u64::MAX);
        assert_eq!(end + Duration::from_secs(1), end);
        assert_eq!(end.checked_add(Duration::from_nanos(1)), None);
        assert_eq!(
            WallTime::UNIX_EPOCH.checked_add(Duration::from_secs(1)),
            Some(WallTime::from_unix_secs(1))
        );
        assert_eq!(TimeDelta::from_std(Duration::MAX).as_nanos(), i64::MAX);
    }

    #[test]
    fn token_seconds_have_one_text() {
        let t = WallTime::parse_unix_secs("1800000000");
        assert_eq!(t, Some(WallTime::from_unix_secs(1_800_000_000)));
        assert_eq!(t.map(WallTime::unix_secs_unsigned), Some(1_800_000_000));
        assert_eq!(WallTime::parse_unix_secs("0"), Some(WallTime::UNIX_EPOCH));
        for bad in [
            "",
            "012",
            "+1",
            "-1",
            "1.5",
            " 1",
            "١",
            "18446744073709551616",
        ] {
            assert_eq!(WallTime::parse_unix_secs(bad), None, "{bad:?}");
        }
        let far = WallTime::parse_unix_secs("99999999999999999999");
        assert_eq!(far, None, "past u64");
        let end = WallTime::parse_unix_secs("18446744073709551615");
        assert_eq!(end.map(WallTime::unix_nanos), Some(i64::MAX), "saturates");
        assert_eq!(WallTime::from_unix_millis(-1500).unix_secs_unsigned(), 0);
    }

    #[test]
    fn program_and_wall_time_convert_by_name() {
        let w = WallTime::from_unix_millis(1_000);
        let p = ProgramTime::captured_at(w);
        assert_eq!(p.unix_millis(), 1_000);
        assert_eq!(p.wall_clock(), w);
    }

    #[test]
    fn program_time_is_milliseconds_in_json() {
        let p = ProgramTime::from_unix_millis(1_700_000_000_123);
        assert_eq!(
            serde_json::to_string(&p).unwrap_or_default(),
            "1700000000123"
        );
        let back: Option<ProgramTime> = serde_json::from_str("1700000000123").ok();
        assert_eq!(back, Some(p));
        assert!(serde_json::from_str::<ProgramTime>("\"soon\"").is_err());
    }
}
