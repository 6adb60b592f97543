//! The 90 kHz media clock of one publish session.

use std::ops::{Add, AddAssign, Neg, Sub, SubAssign};
use std::time::Duration;

/// Ticks per second of the media clock (the MPEG / RTP video rate).
pub const MEDIA_CLOCK_HZ: i64 = 90_000;

const NANOS_PER_SEC: i128 = 1_000_000_000;

/// Rescales `value` from `from_hz` to `to_hz`, rounding toward negative infinity;
/// `None` when `from_hz` is zero or the result leaves the `i64` range.
fn checked_rescale(value: i64, from_hz: i128, to_hz: i128) -> Option<i64> {
    if from_hz == 0 {
        return None;
    }
    i64::try_from((value as i128 * to_hz).div_euclid(from_hz)).ok()
}

/// [`checked_rescale`], saturating to the `i64` range (zero for a zero rate).
fn rescale(value: i64, from_hz: i128, to_hz: i128) -> i64 {
    checked_rescale(value, from_hz, to_hz).unwrap_or(match (from_hz == 0, value >= 0) {
        (true, _) => 0,
        (false, true) => i64::MAX,
        (false, false) => i64::MIN,
    })
}

/// A point on a publish session's 90 kHz media clock (ticks since the session's first
/// frame; negative before it, as a B-frame's decode time may be).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MediaTime(i64);

/// A signed span of the 90 kHz media clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct MediaDuration(i64);

impl MediaTime {
    /// The session's first frame.
    pub const ZERO: MediaTime = MediaTime(0);

    /// The time `ticks` 90 kHz ticks after zero.
    pub const fn from_ticks(ticks: i64) -> Self {
        MediaTime(ticks)
    }

    /// Ticks of the 90 kHz clock since zero.
    pub const fn ticks(self) -> i64 {
        self.0
    }

    /// The time `ms` milliseconds after zero (saturating).
    pub fn from_millis(ms: i64) -> Self {
        MediaTime(ms.saturating_mul(MEDIA_CLOCK_HZ / 1000))
    }

    /// Converts `ticks` of another clock rate (e.g. 48 kHz RTP audio, 1 kHz FLV),
    /// rounding toward negative infinity, saturating. A rate of zero gives zero.
    pub fn from_rate(ticks: i64, hz: u32) -> Self {
        MediaTime(rescale(ticks, hz as i128, MEDIA_CLOCK_HZ as i128))
    }

    /// [`MediaTime::from_rate`], or `None` for a zero rate or a time out of range.
    pub fn checked_from_rate(ticks: i64, hz: u32) -> Option<Self> {
        checked_rescale(ticks, hz as i128, MEDIA_CLOCK_HZ as i128).map(MediaTime)
    }

    /// The same instant on a clock of `hz` ticks per second, rounding down.
    pub fn to_rate(self, hz: u32) -> i64 {
        rescale(self.0, MEDIA_CLOCK_HZ as i128, hz as i128)
    }

    /// The span since zero.
    pub const fn since_zero(self) -> MediaDuration {
        MediaDuration(self.0)
    }

    /// Nanoseconds since zero, rounding down.
    pub fn as_nanos(self) -> i64 {
        self.since_zero().as_nanos()
    }

    /// Milliseconds since zero, rounding down.
    pub fn as_millis(self) -> i64 {
        self.since_zero().as_millis()
    }

    /// Seconds since zero.
    pub fn as_secs_f64(self) -> f64 {
        self.since_zero().as_secs_f64()
    }
}

impl MediaDuration {
    pub const ZERO: MediaDuration = MediaDuration(0);

    /// A span of `ticks` 90 kHz ticks.
    pub const fn from_ticks(ticks: i64) -> Self {
        MediaDuration(ticks)
    }

    /// Ticks of the 90 kHz clock.
    pub const fn ticks(self) -> i64 {
        self.0
    }

    /// A span of `ms` milliseconds (saturating).
    pub fn from_millis(ms: i64) -> Self {
        MediaDuration(ms.saturating_mul(MEDIA_CLOCK_HZ / 1000))
    }

    /// A span of `ticks` of another clock rate, rounding toward negative infinity,
    /// saturating. A rate of zero gives zero.
    pub fn from_rate(ticks: i64, hz: u32) -> Self {
        MediaDuration(rescale(ticks, hz as i128, MEDIA_CLOCK_HZ as i128))
    }

    /// The span of a [`Duration`], rounding down, saturating.
    pub fn from_std(d: Duration) -> Self {
        let ticks = d.as_nanos() * MEDIA_CLOCK_HZ as u128 / NANOS_PER_SEC as u128;
        MediaDuration(i64::try_from(ticks).unwrap_or(i64::MAX))
    }

    /// The span as a [`Duration`]; `None` when negative.
    pub fn to_std(self) -> Option<Duration> {
        u64::try_from(self.as_nanos())
            .ok()
            .map(Duration::from_nanos)
    }

    /// Nanoseconds, rounding down.
    pub fn as_nanos(self) -> i64 {
        rescale(self.0, MEDIA_CLOCK_HZ as i128, NANOS_PER_SEC)
    }

    /// Milliseconds, rounding down.
    pub fn as_millis(self) -> i64 {
        rescale(self.0, MEDIA_CLOCK_HZ as i128, 1000)
    }

    /// Seconds.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / MEDIA_CLOCK_HZ as f64
    }

    pub const fn is_negative(self) -> bool {
        self.0 < 0
    }
}

impl Sub for MediaTime {
    type Output = MediaDuration;
    fn sub(self, rhs: MediaTime) -> MediaDuration {
        MediaDuration(self.0.saturating_sub(rhs.0))
    }
}

impl Add<MediaDuration> for MediaTime {
    type Output = MediaTime;
    fn add(self, rhs: MediaDuration) -> MediaTime {
        MediaTime(self.0.saturating_add(rhs.0))
    }
}

impl Sub<MediaDuration> for MediaTime {
    type Output = MediaTime;
    fn sub(self, rhs: MediaDuration) -> MediaTime {
        MediaTime(self.0.saturating_sub(rhs.0))
    }
}

impl AddAssign<MediaDuration> for MediaTime {
    fn add_assign(&mut self, rhs: MediaDuration) {
        *self = *self + rhs;
    }
}

impl SubAssign<MediaDuration> for MediaTime {
    fn sub_assign(&mut self, rhs: MediaDuration) {
        *self = *self - rhs;
    }
}

impl Add for MediaDuration {
    type Output = MediaDuration;
    fn add(self, rhs: MediaDuration) -> MediaDuration {
        MediaDuration(self.0.saturating_add(rhs.0))
    }
}

impl Sub for MediaDuration {
    type Output = MediaDuration;
    fn sub(self, rhs: MediaDuration) -> MediaDuration {
        MediaDuration(self.0.saturating_sub(rhs.0))
    }
}

impl Neg for MediaDuration {
    type Output = MediaDuration;
    fn neg(self) -> MediaDuration {
        MediaDuration(self.0.saturating_neg())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_are_named_by_unit() {
        assert_eq!(MediaTime::from_millis(1000).ticks(), 90_000);
        assert_eq!(MediaTime::from_rate(48_000, 48_000).ticks(), 90_000);
        assert_eq!(MediaTime::from_rate(1, 1000).ticks(), 90);
        assert_eq!(MediaTime::from_ticks(90_000).as_nanos(), 1_000_000_000);
        assert_eq!(MediaTime::from_ticks(90_000).to_rate(48_000), 48_000);
        assert_eq!(MediaTime::from_ticks(135_000).as_millis(), 1500);
        assert!((MediaTime::from_ticks(45_000).as_secs_f64() - 0.5).abs() < 1e-9);
        assert_eq!(MediaTime::from_rate(5, 0), MediaTime::ZERO);
        assert_eq!(MediaTime::checked_from_rate(5, 0), None);
        assert_eq!(MediaTime::checked_from_rate(i64::MAX, 1), None);
        assert_eq!(MediaTime::from_rate(i64::MAX, 1).ticks(), i64::MAX);
        assert_eq!(MediaTime::from_rate(i64::MIN, 1).ticks(), i64::MIN);
        assert_eq!(
            MediaTime::checked_from_rate(480, 48_000),
            Some(MediaTime::from_millis(10))
        );
        assert_eq!(
            MediaDuration::from_rate(-960, 48_000),
            MediaDuration::from_millis(-20)
        );
    }

    #[test]
    fn rounding_is_down_also_before_zero() {
        // 1 tick at 48 kHz is 1.875 ticks at 90 kHz.
        assert_eq!(MediaTime::from_rate(1, 48_000).ticks(), 1);
        assert_eq!(MediaTime::from_rate(-1, 48_000).ticks(), -2);
        assert_eq!(MediaDuration::from_ticks(-1).as_millis(), -1);
    }

    #[test]
    fn time_minus_time_is_a_duration() {
        let a = MediaTime::from_millis(2500);
        let b = MediaTime::from_millis(500);
        let d = a - b;
        assert_eq!(d, MediaDuration::from_millis(2000));
        assert_eq!(b + d, a);
        assert_eq!(a - d, b);
        assert_eq!(b - a, -d);
        assert!((b - a).is_negative());
        assert_eq!((b - a).to_std(), None);
        assert_eq!(d.to_std(), Some(Duration::from_secs(2)));
        let mut t = b;
        t += d;
        assert_eq!(t, a);
        t -= d;
        assert_eq!(t, b);
        assert_eq!(d + d - d, d);
    }

    #[test]
    fn std_durations_round_down() {
        assert_eq!(
            MediaDuration::from_std(Duration::from_millis(1)).ticks(),
            90
        );
        assert_eq!(
            MediaDuration::from_std(Duration::from_nanos(11_112)).ticks(),
            1
        );
        assert_eq!(MediaDuration::from_std(Duration::MAX).ticks(), i64::MAX);
    }

    #[test]
    fn arithmetic_saturates() {
        let max = MediaTime::from_ticks(i64::MAX);
        assert_eq!(max + MediaDuration::from_ticks(1), max);
        let min = MediaTime::from_ticks(i64::MIN);
        assert_eq!(min - MediaDuration::from_ticks(1), min);
        assert_eq!((max - min).ticks(), i64::MAX);
        assert_eq!(MediaTime::from_millis(i64::MAX).ticks(), i64::MAX);
        assert_eq!(MediaTime::from_ticks(i64::MAX).as_nanos(), i64::MAX);
        assert_eq!(
            -MediaDuration::from_ticks(i64::MIN),
            MediaDuration::from_ticks(i64::MAX)
        );
    }
}
