//! What a shed rendition's encoder still gets (pure, unit-tested against a model of
//! the muxer's chunking).

use std::time::Duration;

/// What a shed rendition's encoder is fed (pure): every frame that opens one of its
/// muxer's chunks and the frame after it, keyframes, and nothing else — about six
/// frames a second at 30 fps, a fifth of the rendition's work.
///
/// It follows the muxer's own chunk grid, not a grid counted from the keyframe:
/// isofmp4mux starts each chunk at the first frame at or after the previous chunk's
/// nominal end (start + chunk duration), so once frames are missing (the encoder's
/// leaky queue drops under load) its chunks drift off any fixed grid. It closes a chunk
/// when a frame later than that end arrives, and takes every frame before the end into
/// it. If no frame falls between a chunk's end and the next keyframe, the chunk runs up
/// to the keyframe; when that keyframe opens the next fragment, the muxer has passed the
/// fragment end inside an ordinary chunk and never closes the fragment: the rendition
/// stops for good. Feeding the frame that opens each chunk of the muxer's own grid (and
/// the one after it, which closes the previous chunk) keeps a frame between every chunk
/// end and the next keyframe whenever a full-rate rendition would have one.
///
/// The feed sees every frame the encoder gets (while the rendition runs at full rate
/// too), so its copy of the muxer's grid stays exact across a shed and a restore.
#[derive(Debug, Clone)]
pub struct ShedFeed {
    fragment: Duration,
    chunk: Duration,
    /// The muxer's current chunk start and fragment end (media time), once a keyframe
    /// opened a fragment.
    chunk_start: Option<Duration>,
    fragment_end: Duration,
    /// The next frame passes too: it closes the chunk its predecessor opened.
    pass_next: bool,
}

impl ShedFeed {
    /// `fragment` and `chunk`: the muxer's fragment and chunk durations.
    pub fn new(fragment: Duration, chunk: Duration) -> ShedFeed {
        let chunk = chunk.max(Duration::from_millis(1));
        ShedFeed {
            fragment: fragment.max(chunk),
            chunk,
            chunk_start: None,
            fragment_end: Duration::ZERO,
            pass_next: false,
        }
    }

    /// Where repeats of the last picture must go before a keyframe forced `at` this
    /// time (call before the keyframe itself, then [`ShedFeed::frame`] for each repeat).
    ///
    /// When frames were lost from a chunk's end up to a keyframe that opens the next
    /// fragment, the muxer would run that chunk up to the keyframe, past the fragment end,
    /// and stop for good (a rendition at full rate as much as a shed one). A repeat on
    /// each missing chunk start closes the fragment's chunks where the muxer expects
    /// them: the picture holds still over the hole, as a player would show it.
    pub fn repeats_before(&self, at: Duration) -> Vec<Duration> {
        if at < self.fragment_end {
            return Vec::new();
        }
        self.chunk_starts_while(|t| t < at)
    }

    /// Chunk starts a frame at `at` would leave without a frame, inside the current
    /// fragment, when no cut is due: the frame on a chunk's nominal end was lost (a
    /// leaky queue dropped it), so the muxer would run that chunk on to `at`, longer
    /// than the part target every playlist announces (and the announced target, its
    /// hold-back and every player's latency grow with it). A repeat of the last
    /// picture on each of them keeps every part exactly one chunk long. `slack`: how
    /// far past a chunk end the next frame may fall without a loss (half a frame
    /// interval: a frame rate that does not divide the chunk overruns it by less).
    pub fn missed_chunk_starts(&self, at: Duration, slack: Duration) -> Vec<Duration> {
        self.chunk_starts_while(|t| t + slack <= at)
    }

    /// The muxer's nominal chunk starts after the open chunk's, inside the current
    /// fragment, for as long as `before(start)` holds (none before a fragment opened).
    fn chunk_starts_while(&self, before: impl Fn(Duration) -> bool) -> Vec<Duration> {
        let Some(start) = self.chunk_start else {
            return Vec::new();
        };
        let mut starts = Vec::new();
        let mut t = start + self.chunk;
        while t < self.fragment_end && before(t) {
            starts.push(t);
            t += self.chunk;
        }
        starts
    }

    /// One frame at `pts`, in the order the encoder gets them; `keyframe` when a
    /// keyframe is forced on it. Whether a shed rendition's encoder gets it.
    pub fn frame(&mut self, pts: Duration, keyframe: bool) -> bool {
        let opens_fragment = keyframe && self.chunk_start.is_none_or(|_| pts >= self.fragment_end);
        if opens_fragment {
            self.chunk_start = Some(pts);
            self.fragment_end = pts + self.fragment;
            self.pass_next = true;
            return true;
        }
        let Some(start) = self.chunk_start else {
            return false;
        };
        if pts >= start + self.chunk {
            self.chunk_start = Some(pts);
            self.pass_next = true;
            return true;
        }
        // A keyframe inside a fragment (a source with shorter GOPs) passes but leaves
        // the muxer's chunk grid as it is.
        std::mem::take(&mut self.pass_next) || keyframe
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRAGMENT: u64 = 1_999_999_998;
    const CHUNK: u64 = 333_333_333;

    /// isofmp4mux 0.14's chunking of one video stream, as its sources describe it (the
    /// oracle): a chunk starts at its first frame and ends nominally a chunk duration
    /// later; a frame later than that end closes it, taking every frame before the end;
    /// the next chunk starts at the first frame kept. A keyframe at or after the
    /// fragment end opens the next fragment. It wedges when that keyframe finds the open
    /// chunk ending before the fragment end with no frame at or after its end: that
    /// chunk would run up to the keyframe, past the fragment end, and the fragment
    /// would never close.
    #[derive(Default)]
    struct Muxer {
        start: Option<u64>,
        fragment_end: u64,
        queued: Vec<u64>,
        /// (start, end) of each closed chunk.
        chunks: Vec<(u64, u64)>,
        wedged_at: Option<u64>,
    }

    impl Muxer {
        fn push(&mut self, pts: u64, keyframe: bool) {
            let Some(start) = self.start else {
                if keyframe {
                    self.start = Some(pts);
                    self.fragment_end = pts + FRAGMENT;
                    self.queued = vec![pts];
                }
                return;
            };
            if keyframe && pts >= self.fragment_end {
                let end = start + CHUNK;
                if end < self.fragment_end && !self.queued.iter().any(|&q| q >= end) {
                    self.wedged_at.get_or_insert(pts);
                }
                self.chunks.push((start, pts));
                self.start = Some(pts);
                self.fragment_end = pts + FRAGMENT;
                self.queued = vec![pts];
                return;
            }
            self.queued.push(pts);
            let mut start = start;
            while pts > start + CHUNK {
                let end = start + CHUNK;
                let next = self
                    .queued
                    .iter()
                    .copied()
                    .find(|&q| q >= end)
                    .unwrap_or(pts);
                self.chunks.push((start, next));
                self.queued.retain(|&q| q >= next);
                start = next;
            }
            self.start = Some(start);
        }
    }

    /// A small deterministic generator for the leaky queue's drops.
    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            self.0 >> 33
        }
    }

    /// 30 fps from 21 ms (timestamps snapped to the frame grid, in ns) for `secs`,
    /// keyframes forced every 2 s; frames lost in front of the encoder in bursts of up
    /// to `burst` (one burst in `every` frames on average, 0: none), the keyframe's
    /// event kept; shed from frame `shed_from`. Returns the muxer fed with the frames the
    /// encoder got, how many it got while shed, and the longest gap between the frames
    /// the queue kept (ns).
    fn run(secs: u64, burst: u64, every: u64, shed_from: u64, seed: u64) -> (Muxer, u64, u64) {
        let mut feed = ShedFeed::new(Duration::from_nanos(FRAGMENT), Duration::from_nanos(CHUNK));
        let mut mux = Muxer::default();
        let mut rng = Lcg(seed);
        let mut lost = 0;
        let mut key_pending = false;
        let mut shed_frames = 0;
        let (mut gap, mut previous) = (0, None);
        for n in 0..secs * 30 {
            let pts = 21_000_000 + (n as f64 * 1e9 / 30.0).round() as u64;
            if n.is_multiple_of(60) {
                // The keyframe's event reaches the encoder even when its frame is lost;
                // the repeats go ahead of it.
                key_pending = true;
                for t in feed.repeats_before(Duration::from_nanos(pts)) {
                    feed.frame(t, false);
                    mux.push(t.as_nanos() as u64, false);
                }
            }
            if lost == 0 && every > 0 && rng.next().is_multiple_of(every) {
                lost = 1 + rng.next() % burst.max(1);
            }
            if lost > 0 {
                lost -= 1;
                continue;
            }
            gap = previous.map_or(gap, |p: u64| gap.max(pts - p));
            previous = Some(pts);
            let keyframe = std::mem::take(&mut key_pending);
            let pass = feed.frame(Duration::from_nanos(pts), keyframe);
            if n < shed_from || pass {
                mux.push(pts, keyframe);
                if n >= shed_from {
                    shed_frames += 1;
                }
            }
        }
        (mux, shed_frames, gap)
    }

    #[test]
    fn a_shed_rendition_is_a_slide_show_at_six_frames_a_second() {
        for shed_from in [0, 37, 65, 301] {
            let (mux, frames, _) = run(20, 0, 0, shed_from, 1);
            let secs = 20.0 - shed_from as f64 / 30.0;
            let rate = frames as f64 / secs;
            assert!(
                (5.5..=7.0).contains(&rate),
                "{rate} frames/s (shed from {shed_from})"
            );
            assert_eq!(mux.wedged_at, None);
            // Every chunk lasts a part (the last of a fragment may be a frame short).
            for &(s, e) in mux
                .chunks
                .iter()
                .filter(|c| c.0 >= 21_000_000 + shed_from * 33_333_334)
            {
                let d = e - s;
                assert!(
                    (CHUNK - 34_000_000..=CHUNK + 34_000_000).contains(&d),
                    "chunk {s}..{e} lasts {d} ns (shed from {shed_from})"
                );
            }
        }
    }

    #[test]
    fn frames_lost_in_front_of_an_encoder_never_wedge_its_muxer() {
        // The leaky queue drops bursts of frames: the muxer's chunks drift off any grid
        // counted from the keyframe, and a burst can take every frame between a chunk
        // end and the keyframe. Shed or at full rate, with the repeats no fragment end is
        // passed inside an ordinary chunk (the shed feed wedges no run the full-rate
        // rendition gets through), and chunks end as soon as the frames allow.
        let mut wedged_at_full_rate = 0;
        for seed in 1..200u64 {
            for (burst, every) in [(3, 10), (8, 20), (12, 40), (30, 60)] {
                let shed_from = seed % 90;
                let (shed, _, gap) = run(12, burst, every, shed_from, seed);
                let (full, _, _) = run(12, burst, every, u64::MAX, seed);
                if full.wedged_at.is_some() {
                    wedged_at_full_rate += 1;
                    continue;
                }
                assert_eq!(
                    shed.wedged_at, None,
                    "wedged (seed {seed}, bursts of {burst} in {every}, shed from {shed_from})"
                );
                let longest = shed.chunks.iter().map(|c| c.1 - c.0).max().unwrap_or(0);
                // A chunk ends at the first frame kept at or after its nominal end.
                assert!(
                    longest <= CHUNK + gap,
                    "a chunk of {longest} ns (seed {seed})"
                );
            }
        }
        eprintln!("runs where the rendition at full rate wedged despite the repeats: {wedged_at_full_rate} of 796");
        // Without the repeats, the same drops wedge a rendition at full rate.
        let mut wedged = 0;
        for seed in 1..50u64 {
            let mut mux = Muxer::default();
            let mut rng = Lcg(seed);
            let mut lost = 0;
            for n in 0..12 * 30u64 {
                if lost == 0 && rng.next().is_multiple_of(20) {
                    lost = 1 + rng.next() % 8;
                }
                if lost > 0 && !n.is_multiple_of(60) {
                    lost -= 1;
                    continue;
                }
                let pts = 21_000_000 + (n as f64 * 1e9 / 30.0).round() as u64;
                mux.push(pts, n.is_multiple_of(60));
            }
            wedged += usize::from(mux.wedged_at.is_some());
        }
        assert!(wedged > 0, "the oracle never saw a wedge");
    }

    #[test]
    fn the_oracle_sees_the_wedge_of_a_grid_counted_from_the_keyframe() {
        // What the feed did before: pass the frames on the part boundaries counted from
        // the keyframe (and the frame after). Frames 10 to 12 lost: the muxer's chunks
        // start at frame 13, 23, ... ; frame 51 lost: the frames passed at the last part
        // boundary (50 and 52) fall inside a chunk that ends at frame 53, before the
        // fragment end, and the keyframe finds nothing after that end.
        let frame = |n: u64| 21_000_000 + (n as f64 * 1e9 / 30.0).round() as u64;
        let lost = |n: u64| (10..=12).contains(&n) || n == 51;
        let mut mux = Muxer::default();
        for n in [0, 1, 13, 14, 23, 24, 33, 34, 43, 44, 50, 52, 60] {
            mux.push(frame(n), n.is_multiple_of(60));
        }
        assert!(mux.wedged_at.is_some());
        // The feed, given the frames the queue kept, follows the muxer's chunks.
        let mut feed = ShedFeed::new(Duration::from_nanos(FRAGMENT), Duration::from_nanos(CHUNK));
        let mut mux = Muxer::default();
        let mut passed = Vec::new();
        for n in (0..=60).filter(|&n| !lost(n)) {
            if feed.frame(Duration::from_nanos(frame(n)), n.is_multiple_of(60)) {
                mux.push(frame(n), n.is_multiple_of(60));
                passed.push(n);
            }
        }
        assert_eq!(mux.wedged_at, None, "{passed:?}");
    }

    #[test]
    fn nothing_reaches_a_shed_encoder_before_its_first_keyframe() {
        let ms = Duration::from_millis;
        let mut f = ShedFeed::new(ms(2000), ms(333));
        assert!(!f.frame(ms(500), false));
        assert!(f.frame(ms(900), true));
        assert!(f.frame(ms(933), false), "the frame after the keyframe");
        assert!(!f.frame(ms(966), false));
        // A frame lost on the chunk end: the next one opens the chunk.
        assert!(f.frame(ms(1266), false));
        assert!(f.frame(ms(1300), false));
        assert!(!f.frame(ms(1333), false));
        // A keyframe inside the fragment (a source with 1 s GOPs) passes without moving
        // the chunk grid.
        assert!(f.frame(ms(1566), true));
        assert!(!f.frame(ms(1583), false));
        // The chunk opened at 1266 ms ends at 1599 ms.
        assert!(f.frame(ms(1600), false) && f.frame(ms(1633), false));
        assert!(!f.frame(ms(1666), false));
    }
}
