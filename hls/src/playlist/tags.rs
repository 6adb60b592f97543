//! The header numbers every media playlist Amphi writes shares (the live LL-HLS
//! playlist, its VOD form and the subtitles playlist): one rule each for the target
//! duration, the part target as written and its hold-back, and the sequence tags.

use std::fmt::Write;
use std::time::Duration;

/// EXT-X-TARGETDURATION: the longest of `durations` and `nominal`, rounded to whole
/// seconds, at least 1.
pub(crate) fn target_duration(durations: impl Iterator<Item = Duration>, nominal: Duration) -> u64 {
    let longest = durations
        .chain(std::iter::once(nominal))
        .max()
        .unwrap_or(nominal);
    (longest.as_secs_f64().round() as u64).max(1)
}

/// PART-TARGET as written, in seconds: `part_target` rounded up to the millisecond (a
/// player must never see a part longer than the target it was told).
pub(crate) fn written_part_target(part_target: Duration) -> f64 {
    (part_target.as_secs_f64() * 1000.0 - 1e-6).ceil() / 1000.0
}

/// PART-HOLD-BACK, in seconds: three times PART-TARGET as written.
pub(crate) fn part_hold_back(part_target: Duration) -> f64 {
    3.0 * written_part_target(part_target)
}

/// `#EXT-X-MEDIA-SEQUENCE` and, once a discontinuity has left the listing,
/// `#EXT-X-DISCONTINUITY-SEQUENCE`.
pub(crate) fn write_sequences(out: &mut String, first_msn: u64, discontinuity_sequence: u64) {
    let _ = writeln!(out, "#EXT-X-MEDIA-SEQUENCE:{first_msn}");
    if discontinuity_sequence > 0 {
        let _ = writeln!(
            out,
            "#EXT-X-DISCONTINUITY-SEQUENCE:{discontinuity_sequence}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_duration_is_the_longest_rounded_and_at_least_one() {
        let ms = Duration::from_millis;
        assert_eq!(
            target_duration([ms(2000), ms(2600)].into_iter(), ms(2000)),
            3
        );
        assert_eq!(target_duration([ms(2400)].into_iter(), ms(2000)), 2);
        assert_eq!(target_duration(std::iter::empty(), ms(100)), 1);
    }

    #[test]
    fn part_target_is_rounded_up_to_the_millisecond() {
        assert_eq!(
            written_part_target(Duration::from_nanos(333_333_333)),
            0.334
        );
        assert_eq!(written_part_target(Duration::from_millis(500)), 0.5);
        assert_eq!(
            format!("{:.3}", part_hold_back(Duration::from_nanos(333_333_333))),
            "1.002"
        );
    }

    #[test]
    fn discontinuity_sequence_only_when_not_zero() {
        let mut out = String::new();
        write_sequences(&mut out, 7, 0);
        assert_eq!(out, "#EXT-X-MEDIA-SEQUENCE:7\n");
        out.clear();
        write_sequences(&mut out, 7, 2);
        assert_eq!(
            out,
            "#EXT-X-MEDIA-SEQUENCE:7\n#EXT-X-DISCONTINUITY-SEQUENCE:2\n"
        );
    }
}
