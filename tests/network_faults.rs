//! The lecturer's network misbehaves and the students keep watching.
//!
//! The publisher runs in a network namespace of its own (`scripts/netns.sh`), joined to
//! the machine by one link whose faults the test switches on and off: 2 % loss with
//! 100 ms of jitter, a cut of 5 s (the link goes down, as Wi-Fi does), and a bandwidth
//! cap below the stream's bitrate. Amphi listens on the link's address; a viewer in the
//! root namespace follows the live playlist with blocking reloads (as hls.js does in
//! low-latency mode) and fetches every new part. For each fault the test reports the
//! viewer's stall (the longest time without a new part, from the fault until 10 s after
//! it is lifted) and how the lecture's lag behind real time changed, and asserts that
//! parts flow again within seconds of the network coming back.
//!
//! The RTMP publisher is ffmpeg with OBS's settings; like OBS it is started again when
//! it gives up. The WHIP publisher is aiortc (`tests/whip/publish.py`).
//! Needs root for the namespace (CI runs as root).

mod common;

use common::netns::{Netns, LINK_IP};
use common::*;
use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Time given, at most, to the lecture to come back after a fault is lifted.
const SETTLE: Duration = Duration::from_secs(10);
/// A fault is over once parts have flowed steadily this long after the network is back.
const STEADY_FOR: Duration = Duration::from_secs(4);
/// Parts must flow steadily again this soon after the network is back.
const RESUME_BOUND: Duration = Duration::from_secs(8);
/// A gap between parts longer than this is not steady flow (parts are 0.2 s).
const STEADY_GAP: Duration = Duration::from_millis(1500);

/// One namespace pair at a time: the tests of this file share the link's addresses.
static NET: Mutex<()> = Mutex::new(());

/// Amphi listening on the link's root-side address: the publisher reaches it through
/// the faulty link, the viewer (same namespace as Amphi) does not cross it.
fn start_amphi() -> Amphi {
    let any = format!("{LINK_IP}:0");
    Amphi::start_with(
        &[&format!("lecture:{KEY}")],
        &["--http", &any, "--rtmp", &any, "--webrtc-udp", &any],
    )
}

/// ffmpeg publishing like OBS from inside the namespace, started again (after 2 s,
/// as OBS's automatic reconnect does) whenever it exits, until dropped.
struct RtmpPublisher {
    stop: Arc<AtomicBool>,
    starts: Arc<AtomicU32>,
    child: Arc<Mutex<Option<Child>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RtmpPublisher {
    fn start(ns: &Netns, rtmp_base: &str) -> RtmpPublisher {
        let url = format!("{rtmp_base}/{KEY}");
        let stop = Arc::new(AtomicBool::new(false));
        let starts = Arc::new(AtomicU32::new(0));
        let child: Arc<Mutex<Option<Child>>> = Arc::new(Mutex::new(None));
        let (stop2, starts2, child2) = (stop.clone(), starts.clone(), child.clone());
        let mut template = ns.command("ffmpeg");
        template
            .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
            .args(["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30"])
            .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
            .args(["-t", "600", "-c:v", "libx264", "-preset", "veryfast"])
            .args(["-g", "60", "-keyint_min", "60", "-sc_threshold", "0"])
            .args(["-b:v", "2500k", "-maxrate", "2500k", "-bufsize", "5000k"])
            .args(["-x264-params", "nal-hrd=cbr", "-pix_fmt", "yuv420p"])
            .args(["-c:a", "aac", "-b:a", "128k", "-ar", "48000", "-ac", "2"])
            .args(["-f", "flv", &url]);
        let program = template.get_program().to_owned();
        let args: Vec<_> = template.get_args().map(|a| a.to_owned()).collect();
        let thread = std::thread::spawn(move || {
            while !stop2.load(Ordering::SeqCst) {
                let spawned = Command::new(&program)
                    .args(&args)
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .expect("spawn ffmpeg in the namespace");
                let n = starts2.fetch_add(1, Ordering::SeqCst) + 1;
                if n > 1 {
                    eprintln!("[publisher] ffmpeg started again (start #{n})");
                }
                *child2.lock().expect("child") = Some(spawned);
                loop {
                    std::thread::sleep(Duration::from_millis(100));
                    let mut guard = child2.lock().expect("child");
                    let Some(c) = guard.as_mut() else { return };
                    if let Ok(Some(status)) = c.try_wait() {
                        let mut err = String::new();
                        if let Some(mut e) = c.stderr.take() {
                            use std::io::Read;
                            let _ = e.read_to_string(&mut err);
                        }
                        eprintln!("[publisher] ffmpeg exited ({status}): {}", err.trim());
                        *guard = None;
                        break;
                    }
                }
                std::thread::sleep(Duration::from_secs(2));
            }
        });
        RtmpPublisher {
            stop,
            starts,
            child,
            thread: Some(thread),
        }
    }

    fn starts(&self) -> u32 {
        self.starts.load(Ordering::SeqCst)
    }
}

impl Drop for RtmpPublisher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(mut c) = self.child.lock().expect("child").take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// When a part reached the viewer, and how much media it carried.
#[derive(Clone, Copy, Debug)]
struct Arrival {
    at: Instant,
    seconds: f64,
}

/// A viewer following the live edge of one rendition with blocking playlist reloads,
/// fetching each new part as soon as the playlist lists it.
struct Viewer {
    arrivals: Arc<Mutex<Vec<Arrival>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Viewer {
    fn follow(playlist_url: String) -> Viewer {
        let arrivals = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (arrivals2, stop2) = (arrivals.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let c = client();
            let base = playlist_url.trim_end_matches("index.m3u8").to_owned();
            let mut seen: HashSet<String> = HashSet::new();
            let mut joined = false;
            let mut next: Option<(u64, u32)> = None;
            while !stop2.load(Ordering::SeqCst) {
                let url = match next {
                    Some((msn, part)) => format!("{playlist_url}?_HLS_msn={msn}&_HLS_part={part}"),
                    None => playlist_url.clone(),
                };
                let Some(text) = get_text(&c, &url) else {
                    // A blocking request that timed out (503) or a refused one: ask
                    // for the playlist as it is now.
                    next = None;
                    std::thread::sleep(Duration::from_millis(200));
                    continue;
                };
                for (uri, seconds) in listed_parts(&text) {
                    if !seen.insert(uri.clone()) || !joined {
                        continue;
                    }
                    if get_bytes(&c, &format!("{base}{uri}")).is_some() {
                        arrivals2.lock().expect("arrivals").push(Arrival {
                            at: Instant::now(),
                            seconds,
                        });
                    }
                }
                joined = true; // parts listed at join time are the past
                next = preload_hint(&text);
                if next.is_none() {
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        });
        Viewer {
            arrivals,
            stop,
            thread: Some(thread),
        }
    }

    fn arrivals(&self) -> Vec<Arrival> {
        self.arrivals.lock().expect("arrivals").clone()
    }

    fn wait_for_parts(&self, n: usize, timeout: Duration) {
        wait_for("parts reaching the viewer", timeout, || {
            (self.arrivals().len() >= n).then_some(())
        });
    }
}

impl Drop for Viewer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// `(uri, duration)` of every `EXT-X-PART` of a media playlist, in order.
fn listed_parts(playlist: &str) -> Vec<(String, f64)> {
    playlist
        .lines()
        .filter(|l| l.starts_with("#EXT-X-PART:"))
        .filter_map(|l| {
            let uri = attr(l, "URI")?.to_owned();
            let d = attr(l, "DURATION")?.parse().ok()?;
            Some((uri, d))
        })
        .collect()
}

/// The longest time in `[from, to]` without a new part (an ongoing stall counts up to `to`).
fn longest_gap(arrivals: &[Arrival], from: Instant, to: Instant) -> Duration {
    let mut last = from;
    let mut longest = Duration::ZERO;
    for a in arrivals.iter().filter(|a| a.at > from && a.at <= to) {
        longest = longest.max(a.at - last);
        last = a.at;
    }
    longest.max(to.saturating_duration_since(last))
}

/// How long after `restored` parts flowed steadily again (no gap over [`STEADY_GAP`]
/// from then until `to`), or `None` if they never did.
fn resumed_after(arrivals: &[Arrival], restored: Instant, to: Instant) -> Option<Duration> {
    let after: Vec<Instant> = arrivals
        .iter()
        .map(|a| a.at)
        .filter(|&t| t > restored && t <= to)
        .collect();
    if after.is_empty() || to - *after.last()? > STEADY_GAP {
        return None;
    }
    // The first arrival after which every gap is short.
    let mut start = after.len() - 1;
    while start > 0 && after[start] - after[start - 1] <= STEADY_GAP {
        start -= 1;
    }
    let first = if start == 0 && after[0] - restored <= STEADY_GAP {
        restored
    } else {
        after[start]
    };
    Some(first - restored)
}

/// How far the media received lags behind the wall clock at `t`, relative to `origin`
/// (0 when the lecture reached the viewer exactly in real time since `origin`).
fn lag_at(arrivals: &[Arrival], origin: Instant, t: Instant) -> f64 {
    let media: f64 = arrivals
        .iter()
        .filter(|a| a.at > origin && a.at <= t)
        .map(|a| a.seconds)
        .sum();
    (t - origin).as_secs_f64() - media
}

/// The most the lecture fell behind real time in `[from, to]`, relative to `from`: the
/// lag just before each new part arrived (and at `to`), less the lag at `from`.
fn max_lag(arrivals: &[Arrival], origin: Instant, from: Instant, to: Instant) -> f64 {
    let at_from = lag_at(arrivals, origin, from);
    arrivals
        .iter()
        .map(|a| a.at)
        .filter(|&t| t > from && t <= to)
        .chain(std::iter::once(to))
        .map(|t| {
            let before = t.checked_sub(Duration::from_nanos(1)).unwrap_or(t);
            lag_at(arrivals, origin, before) - at_from
        })
        .fold(0.0, f64::max)
}

/// What a fault did to the viewer.
struct FaultReport {
    name: String,
    stall: Duration,
    resumed: Option<Duration>,
    max_lag: f64,
    lag_growth: f64,
}

impl FaultReport {
    fn print(&self) {
        eprintln!(
            "FAULT {:<40} stall {:>5.2} s   behind real time up to {:>5.2} s, {:+.2} s at the end   steady {} after restore",
            self.name,
            self.stall.as_secs_f64(),
            self.max_lag,
            self.lag_growth,
            self.resumed
                .map(|d| format!("{:.2} s", d.as_secs_f64()))
                .unwrap_or_else(|| "never".into()),
        );
    }
}

/// Applies a fault for `hold`, lifts it, waits [`SETTLE`] and measures the viewer.
fn run_fault(
    ns: &Netns,
    viewer: &Viewer,
    name: &str,
    args: &[&str],
    hold: Duration,
) -> FaultReport {
    let origin = viewer
        .arrivals()
        .first()
        .map(|a| a.at)
        .expect("a part before the fault");
    let start = Instant::now();
    ns.fault(args);
    std::thread::sleep(hold);
    ns.clear();
    let restored = Instant::now();
    // Until parts have flowed steadily for STEADY_FOR, or SETTLE at most.
    let end = loop {
        std::thread::sleep(Duration::from_millis(250));
        let now = Instant::now();
        let steady = resumed_after(&viewer.arrivals(), restored, now)
            .is_some_and(|r| now.duration_since(restored + r) >= STEADY_FOR);
        if steady || now - restored >= SETTLE {
            break now;
        }
    };
    let a = viewer.arrivals();
    let report = FaultReport {
        name: name.to_owned(),
        stall: longest_gap(&a, start, end),
        resumed: resumed_after(&a, restored, end),
        max_lag: max_lag(&a, origin, start, end),
        lag_growth: lag_at(&a, origin, end) - lag_at(&a, origin, start),
    };
    report.print();
    report
}

fn assert_recovered(r: &FaultReport, log: impl Fn() -> String) {
    let resumed = r.resumed.unwrap_or_else(|| {
        panic!(
            "{}: parts never flowed again after the fault\n{}",
            r.name,
            log()
        )
    });
    assert!(
        resumed <= RESUME_BOUND,
        "{}: parts flowed steadily only {resumed:?} after the network came back",
        r.name
    );
}

fn first_rendition(c: &reqwest::blocking::Client, amphi: &Amphi) -> String {
    let master = wait_for("the multivariant playlist", Duration::from_secs(40), || {
        get_text(c, &amphi.url("/live/lecture/master.m3u8"))
    });
    let uri = segment_uris(&master)
        .into_iter()
        .next()
        .expect("a rendition");
    amphi.url(&format!("/live/lecture/{uri}"))
}

#[test]
fn rtmp_lecture_survives_loss_jitter_a_cut_and_a_bandwidth_cap() {
    let _one = NET.lock().unwrap_or_else(|e| e.into_inner());
    let ns = Netns::up();
    let amphi = start_amphi();
    let c = client();
    let publisher = RtmpPublisher::start(&ns, &amphi.rtmp);
    let viewer = Viewer::follow(first_rendition(&c, &amphi));
    viewer.wait_for_parts(12, Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(3)); // a clean baseline

    let reports = [
        run_fault(
            &ns,
            &viewer,
            "RTMP 2% loss, 100 ms jitter (12 s)",
            &["loss-jitter", "2", "50", "100"],
            Duration::from_secs(12),
        ),
        run_fault(
            &ns,
            &viewer,
            "RTMP link cut 5 s",
            &["cut"],
            Duration::from_secs(5),
        ),
        run_fault(
            &ns,
            &viewer,
            "RTMP cap 1500 kbit/s < 2.6 Mb/s (10 s)",
            &["cap", "1500"],
            Duration::from_secs(10),
        ),
    ];
    eprintln!("ffmpeg was started {} time(s)", publisher.starts());
    for r in &reports {
        assert_recovered(r, || amphi.log());
    }
    // A clean link shows what a viewer sees without faults, for comparison.
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(4));
    let clean = longest_gap(&viewer.arrivals(), t0, Instant::now());
    eprintln!(
        "FAULT {:<40} stall {:>5.2} s",
        "none (clean link, 4 s)",
        clean.as_secs_f64()
    );
    assert!(
        clean < STEADY_GAP,
        "parts flow steadily on a clean link: {clean:?}"
    );
}

/// The aiortc publisher run inside the namespace, killed on drop.
struct WhipPublisher {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl WhipPublisher {
    fn start(ns: &Netns, url: &str) -> WhipPublisher {
        let py = aiortc_python();
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/whip/publish.py");
        let mut child = ns
            .command(py.to_str().expect("utf-8 venv path"))
            .args([script, url, KEY, "--seconds", "300", "--size", "640x360"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the WHIP publisher in the namespace");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let stdout = child.stdout.take().expect("stdout piped");
        let l2 = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                eprintln!("[whip publisher] {line}");
                l2.lock().expect("lines").push(line);
            }
        });
        WhipPublisher { child, lines }
    }

    fn connected(&self) -> bool {
        self.lines
            .lock()
            .expect("lines")
            .iter()
            .any(|l| l.starts_with("WHIP_CONNECTED"))
    }
}

impl Drop for WhipPublisher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// After loss the browser's video has holes (frames skipped until the next keyframe);
/// a hole across a segment boundary once wedged the muxer for good. Parts must flow
/// again, and no stall warning may be logged.
#[test]
fn whip_lecture_survives_loss_and_jitter() {
    let _one = NET.lock().unwrap_or_else(|e| e.into_inner());
    let ns = Netns::up();
    let amphi = start_amphi();
    let c = client();
    let publisher = WhipPublisher::start(&ns, &amphi.url("/whip/lecture"));
    wait_for(
        "ICE and DTLS through the link",
        Duration::from_secs(20),
        || publisher.connected().then_some(()),
    );
    let viewer = Viewer::follow(first_rendition(&c, &amphi));
    viewer.wait_for_parts(12, Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(3));

    let report = run_fault(
        &ns,
        &viewer,
        "WHIP 2% loss, 100 ms jitter (12 s)",
        &["loss-jitter", "2", "50", "100"],
        Duration::from_secs(12),
    );
    assert_recovered(&report, || amphi.log());
    let log = amphi.log();
    assert!(
        !log.contains("ladder stalled"),
        "a rendition stalled during the fault:\n{log}"
    );
}

#[test]
fn gap_and_resume_measures() {
    let t = Instant::now();
    let at = |ms: u64| Arrival {
        at: t + Duration::from_millis(ms),
        seconds: 1.0 / 3.0,
    };
    // Parts every 333 ms, a 4 s hole from 1000 ms, steady again from 5000 ms.
    let mut a: Vec<Arrival> = (0..4).map(|i| at(i * 333)).collect();
    a.extend((0..10).map(|i| at(5000 + i * 333)));
    let end = t + Duration::from_millis(8000);
    let gap = longest_gap(&a, t + Duration::from_millis(500), end);
    assert_eq!(gap, Duration::from_millis(5000 - 999));
    // Restored at 2000 ms: steady from the first part after the hole, 3 s later.
    let resumed = resumed_after(&a, t + Duration::from_millis(2000), end);
    assert_eq!(resumed, Some(Duration::from_millis(3000)));
    // An ongoing stall at the end of the window is not a recovery.
    let resumed = resumed_after(
        &a,
        t + Duration::from_millis(2000),
        t + Duration::from_secs(20),
    );
    assert_eq!(resumed, None);
    // The hole made the media lag: 8 s of wall clock, 13 parts after the origin.
    let lag = lag_at(&a, t, end);
    assert!((lag - (8.0 - 13.0 / 3.0)).abs() < 1e-9, "{lag}");
    // The worst moment is just before the part that ended the hole.
    let worst = max_lag(&a, t, t + Duration::from_millis(999), end);
    let expected = (5.0 - 1.0) - (0.999 - 1.0);
    assert!((worst - expected).abs() < 1e-6, "{worst} vs {expected}");
}
