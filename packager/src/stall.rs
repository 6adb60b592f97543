//! Notices a ladder that takes frames and gives nothing back (pure, time is an input).
//!
//! A muxer or encoder that stops producing chunks while the publisher's frames keep
//! arriving leaves the playlists frozen with nothing in the logs: the players just stop.
//! [`StallWatch`] sees both sides — every frame pushed into the ladder and every chunk
//! each rendition hands back — and reports, once per episode, a rendition that has had
//! no chunk for [`STALL_AFTER`] while frames were still being pushed, with what it knows
//! of the reason (how far the newest frame is ahead of the rendition's last chunk, how
//! many frames went in meanwhile). When the rendition produces again, the episode ends
//! and its length is reported.
//!
//! A quiet publisher is not a stall: without frames pushed since the last chunk nothing
//! is reported.

use std::time::{Duration, Instant};

/// How long a rendition may go without a chunk while frames keep arriving (about six
/// parts: longer than any segment a keyframe gap can stretch).
pub const STALL_AFTER: Duration = Duration::from_secs(4);

/// A rendition that stopped producing chunks.
#[derive(Debug, Clone, PartialEq)]
pub struct Stall {
    pub rendition: usize,
    /// Time since its last chunk (or since the session began).
    pub silent_for: Duration,
    /// Frames pushed into the ladder since then.
    pub frames_in: u64,
    /// Media time of the newest frame pushed.
    pub newest_frame: Duration,
    /// Media time at which its last chunk ended, if it produced any.
    pub last_chunk_end: Option<Duration>,
}

impl Stall {
    /// What the figures say about the cause, for the warning.
    pub fn reason(&self) -> &'static str {
        match self.last_chunk_end {
            None => "no chunk since the session began: the encoder or muxer never started",
            Some(end) if self.newest_frame > end + STALL_AFTER => {
                "frames go in but the muxer holds them: it waits for data it will not get \
                 (a gap in the media spanning a fragment boundary, or a stream that stopped)"
            }
            Some(_) => "frames go in but stay behind the last chunk (timestamps going backwards?)",
        }
    }
}

/// One rendition's output side.
#[derive(Debug, Clone, Default)]
struct Output {
    last_chunk_at: Option<Instant>,
    last_chunk_end: Option<Duration>,
    /// Frames pushed since its last chunk.
    frames_since: u64,
    /// Arrival of the first frame pushed since its last chunk.
    pending_since: Option<Instant>,
    /// A stall was reported and not yet over: when it began.
    stalled_since: Option<Instant>,
}

/// Per-session watch over every rendition of a ladder.
#[derive(Debug, Clone)]
pub struct StallWatch {
    started: Instant,
    after: Duration,
    newest_frame: Duration,
    outputs: Vec<Output>,
}

impl StallWatch {
    /// A watch over `renditions` outputs from `now` (the pipeline's start).
    pub fn new(renditions: usize, now: Instant, after: Duration) -> StallWatch {
        StallWatch {
            started: now,
            after,
            newest_frame: Duration::ZERO,
            outputs: vec![Output::default(); renditions],
        }
    }

    /// A video frame at media time `pts` went into the ladder at `now`. Returns each
    /// rendition that just crossed the stall bound (reported once per episode).
    pub fn on_frame(&mut self, now: Instant, pts: Duration) -> Vec<Stall> {
        self.newest_frame = self.newest_frame.max(pts);
        let mut stalls = Vec::new();
        for (rendition, o) in self.outputs.iter_mut().enumerate() {
            o.frames_since += 1;
            let pending_since = *o.pending_since.get_or_insert(now);
            if o.stalled_since.is_some() {
                continue;
            }
            // Frames have waited for a chunk this long (a publisher that paused does
            // not count: the wait starts with the first frame after the last chunk).
            if now.saturating_duration_since(pending_since) >= self.after {
                let since = o.last_chunk_at.unwrap_or(self.started);
                let silent_for = now.saturating_duration_since(since);
                o.stalled_since = Some(since);
                stalls.push(Stall {
                    rendition,
                    silent_for,
                    frames_in: o.frames_since,
                    newest_frame: self.newest_frame,
                    last_chunk_end: o.last_chunk_end,
                });
            }
        }
        stalls
    }

    /// Rendition `rendition` handed back a chunk ending at media time `end`. Returns how
    /// long it had been stalled if a stall had been reported.
    pub fn on_chunk(&mut self, rendition: usize, now: Instant, end: Duration) -> Option<Duration> {
        let o = self.outputs.get_mut(rendition)?;
        o.last_chunk_at = Some(now);
        o.last_chunk_end = Some(end);
        o.frames_since = 0;
        o.pending_since = None;
        o.stalled_since
            .take()
            .map(|since| now.saturating_duration_since(since))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PART: Duration = Duration::from_millis(333);

    /// Frames at 30 fps from `from` for `n` frames; returns the stalls reported.
    fn frames(w: &mut StallWatch, t0: Instant, from: u64, n: u64) -> Vec<Stall> {
        (from..from + n)
            .flat_map(|i| {
                let at = Duration::from_millis(i * 1000 / 30);
                w.on_frame(t0 + at, at)
            })
            .collect()
    }

    #[test]
    fn a_ladder_that_keeps_up_is_never_reported() {
        let t0 = Instant::now();
        let mut w = StallWatch::new(2, t0, STALL_AFTER);
        for part in 0..60u32 {
            let stalls = frames(&mut w, t0, part as u64 * 10, 10);
            assert!(stalls.is_empty(), "{stalls:?}");
            let end = PART * (part + 1);
            for r in 0..2 {
                assert_eq!(
                    w.on_chunk(r, t0 + end + Duration::from_millis(40), end),
                    None
                );
            }
        }
    }

    #[test]
    fn a_rendition_without_chunks_is_reported_once_then_its_recovery() {
        let t0 = Instant::now();
        let mut w = StallWatch::new(2, t0, STALL_AFTER);
        // Both produce for 2 s, then rendition 1 stops while frames keep coming.
        for part in 0..6u32 {
            frames(&mut w, t0, part as u64 * 10, 10);
            let end = PART * (part + 1);
            w.on_chunk(0, t0 + end, end);
            w.on_chunk(1, t0 + end, end);
        }
        let mut reported = Vec::new();
        for part in 6..30u32 {
            reported.extend(frames(&mut w, t0, part as u64 * 10, 10));
            let end = PART * (part + 1);
            assert_eq!(w.on_chunk(0, t0 + end, end), None);
        }
        assert_eq!(reported.len(), 1, "once per episode: {reported:?}");
        let s = &reported[0];
        assert_eq!(s.rendition, 1);
        assert!(s.silent_for >= STALL_AFTER && s.silent_for < STALL_AFTER + PART);
        assert_eq!(s.last_chunk_end, Some(PART * 6));
        assert!(s.newest_frame > PART * 6 + STALL_AFTER - PART);
        assert!(s.frames_in >= 120, "{}", s.frames_in);
        // Back: the episode's length is reported and a later stall is reported again.
        let back = w.on_chunk(1, t0 + Duration::from_secs(10), Duration::from_secs(10));
        assert_eq!(back, Some(Duration::from_secs(10) - PART * 6));
        let again = frames(&mut w, t0, 300, 200);
        assert_eq!(again.len(), 2, "both renditions now silent: {again:?}");
    }

    #[test]
    fn a_quiet_publisher_is_not_a_stall() {
        let t0 = Instant::now();
        let mut w = StallWatch::new(1, t0, STALL_AFTER);
        frames(&mut w, t0, 0, 10);
        w.on_chunk(0, t0 + PART, PART);
        // Nothing pushed for a minute, then frames again: no stall while chunks follow.
        let later = t0 + Duration::from_secs(60);
        for i in 0..10u64 {
            let at = Duration::from_millis(i * 33);
            assert!(w
                .on_frame(later + at, Duration::from_secs(60) + at)
                .is_empty());
        }
        let end = Duration::from_secs(60) + PART;
        assert_eq!(w.on_chunk(0, later + PART, end), None);
    }

    #[test]
    fn reasons_follow_the_figures() {
        let mut s = Stall {
            rendition: 0,
            silent_for: STALL_AFTER,
            frames_in: 150,
            newest_frame: Duration::from_secs(20),
            last_chunk_end: None,
        };
        assert!(s.reason().contains("never started"));
        s.last_chunk_end = Some(Duration::from_secs(14));
        assert!(s.reason().contains("fragment boundary"));
        s.last_chunk_end = Some(Duration::from_secs(19));
        assert!(s.reason().contains("backwards"));
    }
}
