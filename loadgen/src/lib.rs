//! `amphi-loadgen`: N simulated LL-HLS viewers against an origin or a CDN.
//!
//! Playlists are read with `amphi_hls::playlist::read`, the reader the origin and the
//! tests use (`amphi-hls` without its S3 backend). This library holds the viewer's own
//! pure decisions, unit-tested: which rendition to watch, how far behind the live edge
//! a part arrived, percentiles. The binary (`src/main.rs`) holds the tokio/reqwest glue
//! and the viewer loop:
//!
//! 1. GET `master.m3u8`, pick a rendition (lowest bandwidth by default);
//! 2. GET the media playlist and its init segment, then the newest part;
//! 3. loop: blocking reload `index.m3u8?_HLS_msn=N&_HLS_part=M` for the part the
//!    preload hint names, then GET every part the answer lists beyond the last one
//!    fetched, as hls.js does in low-latency mode.
//!
//! Latency behind the live edge is measured when a part has been received:
//! wall clock now − `EXT-X-PROGRAM-DATE-TIME` of that part's first sample.

use amphi_hls::playlist::ListedVariant;
use std::time::SystemTime;

/// Which rendition a viewer watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pick {
    Lowest,
    Highest,
    /// The variant whose URI contains this text.
    Named(String),
}

impl std::str::FromStr for Pick {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "lowest" => Pick::Lowest,
            "highest" => Pick::Highest,
            other => Pick::Named(other.to_owned()),
        })
    }
}

pub fn pick<'a>(variants: &'a [ListedVariant], how: &Pick) -> Option<&'a ListedVariant> {
    match how {
        Pick::Lowest => variants.iter().min_by_key(|v| v.bandwidth),
        Pick::Highest => variants.iter().max_by_key(|v| v.bandwidth),
        Pick::Named(n) => variants.iter().find(|v| v.uri.contains(n.as_str())),
    }
}

/// Milliseconds from `pdt` (a part's program date time) to `now`; negative when the
/// viewer's clock is behind the packager's.
pub fn behind_ms(now: SystemTime, pdt: SystemTime) -> i64 {
    match now.duration_since(pdt) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_millis()).map_or(i64::MIN, |v| -v),
    }
}

/// The `p`-th percentile (0–100) of sorted values, nearest rank; `None` if empty.
pub fn percentile<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;
    use amphi_hls::playlist::read_multivariant;
    use std::time::Duration;

    const MASTER: &str = "#EXTM3U\n#EXT-X-VERSION:9\n#EXT-X-INDEPENDENT-SEGMENTS\n\
#EXT-X-STREAM-INF:BANDWIDTH=2800000,AVERAGE-BANDWIDTH=2500000,RESOLUTION=1280x720,CODECS=\"avc1.64001f,mp4a.40.2\",FRAME-RATE=30.000\n\
720p/index.m3u8\n\
#EXT-X-STREAM-INF:BANDWIDTH=700000,RESOLUTION=640x360,CODECS=\"avc1.4d401e,mp4a.40.2\"\n\
360p/index.m3u8\n";

    #[test]
    fn picks_a_variant() {
        let v = read_multivariant(MASTER);
        assert_eq!(
            pick(&v, &Pick::Lowest).map(|v| v.uri.as_str()),
            Some("360p/index.m3u8")
        );
        assert_eq!(
            pick(&v, &Pick::Highest).map(|v| v.uri.as_str()),
            Some("720p/index.m3u8")
        );
        assert_eq!(
            pick(&v, &"720p".parse().expect("infallible")).map(|v| v.bandwidth),
            Some(2_800_000)
        );
        assert_eq!(pick(&v, &Pick::Named("1080p".into())), None);
        assert_eq!(pick(&[], &Pick::Lowest), None);
    }

    #[test]
    fn behind_the_edge_either_way() {
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_000_000);
        assert_eq!(behind_ms(t + Duration::from_millis(1500), t), 1500);
        assert_eq!(behind_ms(t, t + Duration::from_millis(20)), -20);
    }

    #[test]
    fn percentiles_nearest_rank() {
        let v: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&v, 100.0), Some(100));
        assert_eq!(percentile(&v, 0.0), Some(1));
        assert_eq!(percentile::<u32>(&[], 50.0), None);
        assert_eq!(percentile(&[7], 99.9), Some(7));
    }
}
