//! The encoder's input ([`input::install`]) in front of the real x264enc and
//! isofmp4mux: whatever frames a leaky queue loses, shed or not, every fragment starts
//! on its cut and the muxer keeps going.

use super::*;

/// Which frames are lost before the encoder's input.
type Lost = fn(u64) -> bool;

/// What the real encoder and muxer put out in [`through_the_muxer`].
struct Muxed {
    /// End (ms) of the last chunk out before the end of the stream.
    end: u64,
    chunks: usize,
    /// Start (ns, media time) of every fragment.
    fragments: Vec<u64>,
    /// Duration (ns) of every chunk, in order.
    durations: Vec<u64>,
}

/// Raw 160x90 frames at 30 fps for `secs` through the encoder's input
/// ([`input::install`]), x264enc and the real isofmp4mux (2 s fragments of 0.33 s
/// chunks, a cut every 2 s on the schedule, told to the muxer, as the ladder does),
/// shed from frame `shed_from`, without the frames `lost` (what a leaky queue drops,
/// keyframe requests and all).
fn through_the_muxer(secs: u64, shed_from: u64, lost: impl Fn(u64) -> bool) -> Muxed {
    through_the_muxer_stamped(secs, shed_from, lost, exact_stamp, false)
}

/// Frame `n`'s time at 30 fps (ns).
fn exact_stamp(n: u64) -> u64 {
    (n as f64 * 1e9 / 30.0).round() as u64
}

/// Frame `n`'s time rounded to the millisecond, as RTMP (FLV) carries it when the
/// ladder cannot snap it back onto the frame grid (a publisher's timestamps jumped
/// off the grid through the first frame): a frame's end, at its time plus a frame
/// duration, then falls up to a millisecond past the next frame's start.
fn ms_stamp(n: u64) -> u64 {
    exact_stamp(n).div_ceil(1_000_000) * 1_000_000
}

/// [`through_the_muxer`] with frame `n` at `stamp(n)` ns; `live`: before each cut's
/// frame, the muxer gets the time to close the fragment without it (up to 300 ms),
/// as it does when frames arrive in real time.
fn through_the_muxer_stamped(
    secs: u64,
    shed_from: u64,
    lost: impl Fn(u64) -> bool,
    stamp: fn(u64) -> u64,
    live: bool,
) -> Muxed {
    use gstreamer_app as gst_app;
    crate::init().expect("GStreamer");
    let pipeline = gst::parse::launch(
        "appsrc name=src format=time caps=video/x-raw,format=I420,width=160,height=90,framerate=30/1 ! \
         x264enc name=enc tune=zerolatency speed-preset=ultrafast key-int-max=1200 bframes=0 option-string=scenecut=0 ! \
         h264parse ! isofmp4mux name=mux fragment-duration=1999999998 chunk-duration=333333333 send-force-keyunit=false ! \
         appsink name=sink sync=false",
    )
    .expect("test pipeline")
    .downcast::<gst::Pipeline>()
    .expect("a pipeline");
    let src = pipeline
        .by_name("src")
        .and_then(|e| e.downcast::<gst_app::AppSrc>().ok())
        .expect("appsrc");
    let flags = Arc::new(Flags::default());
    let schedule = Arc::new(CutSchedule::new(Duration::from_nanos(1_999_999_998)));
    schedule.tell_muxers(pipeline.by_name("mux").into_iter().collect());
    let enc = pipeline
        .by_name("enc")
        .and_then(|e| e.static_pad("sink"))
        .expect("encoder");
    input::install(
        &enc,
        flags.clone(),
        schedule.clone(),
        Duration::from_nanos(1_999_999_998),
        Duration::from_nanos(333_333_333),
    );
    let out = Arc::new(Mutex::new((
        Vec::<u64>::new(),
        Vec::<u64>::new(),
        Vec::<u64>::new(),
    )));
    let sink = pipeline
        .by_name("sink")
        .and_then(|e| e.downcast::<gst_app::AppSink>().ok())
        .expect("appsink");
    let out2 = out.clone();
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let segment = sample
                    .segment()
                    .and_then(|s| s.downcast_ref::<gst::ClockTime>());
                if let (Some(b), Some(segment)) = (sample.buffer(), segment) {
                    let f = b.flags();
                    if f.contains(gst::BufferFlags::HEADER)
                        && !f.contains(gst::BufferFlags::DISCONT)
                    {
                        // On the running-time clock, which is the frames' media time.
                        let start = b.pts().and_then(|p| segment.to_running_time(p));
                        let end = start
                            .zip(b.duration())
                            .map_or(0, |(p, d)| (p + d).mseconds());
                        let mut o = out2.lock().expect("chunks");
                        o.0.push(end);
                        o.2.push(b.duration().map_or(0, |d| d.nseconds()));
                        if let (false, Some(start)) =
                            (f.contains(gst::BufferFlags::DELTA_UNIT), start)
                        {
                            o.1.push(start.nseconds());
                        }
                    }
                }
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    pipeline.set_state(gst::State::Playing).expect("playing");
    for n in 0..secs * 30 {
        flags.shed.store(n >= shed_from, Ordering::Release);
        let pts = stamp(n);
        // Each cut is recorded before its frame reaches any queue.
        if n.is_multiple_of(60) {
            schedule.push(Duration::from_nanos(pts));
        }
        if lost(n) {
            continue;
        }
        if live && n.is_multiple_of(60) && n > 0 {
            let until = std::time::Instant::now() + Duration::from_millis(300);
            while std::time::Instant::now() < until
                && out
                    .lock()
                    .expect("chunks")
                    .0
                    .iter()
                    .all(|e| *e < pts / 1_000_000)
            {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        let mut b = gst::Buffer::from_mut_slice(vec![(n % 200) as u8; 160 * 90 * 3 / 2]);
        {
            let b = b.get_mut().expect("new buffer");
            b.set_pts(gst::ClockTime::from_nseconds(pts));
            b.set_duration(gst::ClockTime::from_nseconds(33_333_333));
        }
        src.push_buffer(b).expect("push");
    }
    // Wait for the muxer to catch up, without EOS (which would drain a wedged one).
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let want = secs * 1000 - 700;
    loop {
        let o = out.lock().expect("chunks");
        let end = o.0.iter().copied().max().unwrap_or(0);
        if end >= want || std::time::Instant::now() >= deadline {
            let muxed = Muxed {
                end,
                chunks: o.0.len(),
                fragments: o.1.clone(),
                durations: o.2.clone(),
            };
            drop(o);
            let _ = pipeline.set_state(gst::State::Null);
            return muxed;
        }
        drop(o);
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_shed_rendition_keeps_its_real_muxer_going_through_lost_frames() {
    // The real encoder and muxer behind the encoder's input: lost frames drift the
    // muxer's chunks (frames 10 to 15 of each segment lost at full rate start them
    // six frames late), then the rendition is shed in the middle of a fragment with
    // two frames lost just before the last chunk end. Pushed faster than real time,
    // the muxer does not reproduce every wedge seen live (the feed's own tests do,
    // against a model of its chunking); this checks the feed keeps the real one
    // putting out parts to the end, about three a second.
    let lost = |n: u64| matches!(n % 60, 10..=15 | 51 | 52) && n > 60;
    let m = through_the_muxer(12, 107, lost);
    eprintln!(
        "shed with lost frames: {} chunks, the last ending at {} ms",
        m.chunks, m.end
    );
    assert!(
        m.end >= 11_300,
        "the muxer stopped at {} ms ({} chunks)",
        m.end,
        m.chunks
    );
    // Shed, not lost: parts still about a third of a second.
    assert!(m.chunks >= 30, "{} chunks in 12 s", m.chunks);
    let m = through_the_muxer(8, 0, |_| false);
    assert!(
        m.end >= 7_300,
        "shed from the start: stopped at {} ms ({} chunks)",
        m.end,
        m.chunks
    );
}

#[test]
fn frames_lost_up_to_a_segment_start_do_not_stop_the_muxer() {
    // Every frame from 2.5 s up to the keyframe at 4 s lost (a leaky queue behind a
    // stalled encoder, or source frames dropped until a keyframe), at full rate and
    // shed: without repeats the muxer ran its chunk up to the keyframe, past the
    // segment end, and put out nothing after 4 s.
    for shed_from in [u64::MAX, 30] {
        for (a, b) in [(75u64, 119u64), (110, 119), (85, 179)] {
            let m = through_the_muxer(8, shed_from, |n| (a..=b).contains(&n));
            assert!(
                m.end >= 7_300,
                "frames {a} to {b} lost (shed from {shed_from}): stopped at {} ms ({} chunks)",
                m.end,
                m.chunks
            );
        }
    }
}

#[test]
fn every_fragment_starts_on_its_cut_whatever_the_encoder_lost() {
    // The real encoder and muxer: whatever an encoder's leaky queue takes (the cut's
    // own frame, a burst around it with its keyframe request, a whole segment, the
    // first frames), shed or not, fragment n starts at cut n, as the passthrough's
    // does. A keyframe a frame late used to make the next fragment two segments
    // long, and the rendition's media sequence numbers trailed from there.
    let cuts: Vec<u64> = (0..4).map(|k| k * 2_000_000_000).collect();
    let cases: [(&str, Lost); 5] = [
        ("nothing", |_| false),
        ("the cuts' frames", |n| n.is_multiple_of(60) && n > 0),
        ("bursts around cuts", |n| {
            matches!(n % 60, 56..=59 | 0..=3) && n > 30
        }),
        ("a whole segment", |n| (50..=130).contains(&n)),
        ("the first frames", |n| n < 5),
    ];
    for (what, lost) in cases {
        for shed_from in [u64::MAX, 40] {
            let m = through_the_muxer(8, shed_from, lost);
            assert_eq!(
                m.fragments, cuts,
                "{what} lost (shed from {shed_from}): fragments start at {:?} ns, {} chunks to {} ms",
                m.fragments, m.chunks, m.end
            );
        }
    }
}

#[test]
fn millisecond_stamps_do_not_push_a_fragment_past_its_cut() {
    // Frames stamped to the millisecond off the frame grid, arriving in real time:
    // the last frame before the cut at 2 s ends a third of a millisecond past it, and
    // the muxer closes the fragment there without waiting for the keyframe and
    // starts the next one at that end. The last frame before the cut at 4 s is lost:
    // the one before it ends short of the cut, the fragment's end measured from
    // 2.000333 s is not reached, and the keyframe at 4 s passed inside the fragment
    // (a segment of two targets). Told the cuts, the muxer ends each fragment on its
    // cut.
    let cuts: Vec<u64> = (0..4).map(|k| ms_stamp(60 * k)).collect();
    for shed_from in [u64::MAX, 40] {
        let m = through_the_muxer_stamped(8, shed_from, |n| n == 119, ms_stamp, true);
        assert_eq!(
            m.fragments, cuts,
            "shed from {shed_from}: fragments start at {:?} ns, {} chunks to {} ms",
            m.fragments, m.chunks, m.end
        );
    }
}

#[test]
fn frames_lost_on_chunk_ends_never_make_a_part_longer_than_the_target() {
    // A leaky queue drops the frame on a chunk's end (every 10th frame at 30 fps with
    // 1/3 s chunks, cuts aside): the muxer ran that chunk on to the next frame, a part
    // a frame longer than the target, and every playlist's PART-TARGET and hold-back
    // (and so every player's latency) grew with it. With a repeat of the last picture
    // on the chunk end, each part is one chunk long, at full rate and shed.
    let chunk = 333_333_333u64;
    for shed_from in [u64::MAX, 40] {
        let m = through_the_muxer(8, shed_from, |n| n % 10 == 0 && n % 60 != 0);
        let closed = &m.durations[..m.durations.len().saturating_sub(1)];
        assert!(
            m.end >= 7_300,
            "shed from {shed_from}: stopped at {} ms",
            m.end
        );
        assert!(closed.len() >= 20, "{} chunks", closed.len());
        let longest = closed.iter().copied().max().unwrap_or(0);
        assert!(
            longest <= chunk + 1_000_000,
            "shed from {shed_from}: a chunk of {longest} ns (durations {closed:?})"
        );
    }
}
