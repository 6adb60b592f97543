//! Graceful overload: amphi starved of CPU (a cgroup CPU quota of half a core, or, where
//! cgroups cannot be written, SIGSTOP/SIGCONT duty cycling to the same share) while a
//! 1080p lecture (passthrough + 720p/480p/360p encoded) and a second, 360p event
//! publish. The ladder must shed work instead of falling behind: every rendition still
//! listed stays within a bounded distance of real time, the shedding shows in
//! `/metrics`, the second event stays live, a shed rendition's own playlist keeps
//! going as a slide show (no muxer stops, no stall), and when the CPU comes back the
//! rendition shed last returns to the multivariant playlist.
//!
//! The publishers send pre-encoded files in real time (`-re -c copy`), so their own
//! encoding takes no CPU from amphi during the test.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// CPU share amphi gets while starved (the full ladder needs ~1.2 cores).
const STARVED_CORES: f64 = 0.5;
/// How far behind real time a listed rendition's newest part may be while starved:
/// a part and its encoding, plus the throttling's own stop-and-go and the playlist
/// request served by the same starved process.
const MAX_EDGE_LAG: Duration = Duration::from_millis(2500);
/// How far the decoded renditions (encoded rungs, shed or not) may trail: the
/// decoder's input queue holds up to 5 s when the decoder itself is short of CPU (a
/// machine busier than the quota alone), plus a part.
const MAX_DECODED_LAG: Duration = Duration::from_secs(6);
/// How long amphi is starved.
const STARVED_FOR: Duration = Duration::from_secs(16);
/// From when, in the starved spell, the lag must be bounded (the governor has shed).
const SETTLED_AFTER: Duration = Duration::from_secs(10);

/// Limits a process's CPU: a cgroup v1/v2 CPU quota, or a duty cycle of SIGSTOP and
/// SIGCONT. Lifted on drop.
enum Starver {
    Cgroup(PathBuf),
    DutyCycle(Arc<AtomicBool>, Option<std::thread::JoinHandle<()>>, u32),
}

impl Starver {
    fn start(pid: u32, cores: f64) -> Starver {
        let name = format!("amphi-overload-{}", std::process::id());
        let period = 100_000u64;
        let quota = (cores * period as f64) as u64;
        let v1 = Path::new("/sys/fs/cgroup/cpu").join(&name);
        let v2 = Path::new("/sys/fs/cgroup").join(&name);
        let tries: [(&Path, Vec<(&str, String)>); 2] = [
            (
                &v1,
                vec![
                    ("cpu.cfs_period_us", period.to_string()),
                    ("cpu.cfs_quota_us", quota.to_string()),
                ],
            ),
            (&v2, vec![("cpu.max", format!("{quota} {period}"))]),
        ];
        for (dir, files) in tries {
            if std::fs::create_dir(dir).is_err() {
                continue;
            }
            let ok = files
                .iter()
                .all(|(f, v)| std::fs::write(dir.join(f), v).is_ok())
                && std::fs::write(dir.join("cgroup.procs"), pid.to_string()).is_ok();
            if ok {
                eprintln!("starving amphi with a cgroup CPU quota of {cores} core ({dir:?})");
                return Starver::Cgroup(dir.to_path_buf());
            }
            let _ = std::fs::remove_dir(dir);
        }
        // Duty cycle on 100 ms: stopped for the share of a 2-core machine it must lose.
        let run_ms = ((cores / 2.0) * 100.0).clamp(5.0, 95.0) as u64;
        eprintln!("starving amphi by SIGSTOP/SIGCONT, running {run_ms} ms of every 100 ms");
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = stop.clone();
        let thread = std::thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                signal(pid, "STOP");
                std::thread::sleep(Duration::from_millis(100 - run_ms));
                signal(pid, "CONT");
                std::thread::sleep(Duration::from_millis(run_ms));
            }
        });
        Starver::DutyCycle(stop, Some(thread), pid)
    }
}

fn signal(pid: u32, sig: &str) {
    let _ = Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status();
}

impl Drop for Starver {
    fn drop(&mut self) {
        match self {
            Starver::Cgroup(dir) => {
                // Lift the quota, move the tasks back to the root, remove the group.
                for (f, v) in [("cpu.cfs_quota_us", "-1"), ("cpu.max", "max 100000")] {
                    let _ = std::fs::write(dir.join(f), v);
                }
                let root = dir.parent().map(|p| p.join("cgroup.procs"));
                if let (Ok(procs), Some(root)) =
                    (std::fs::read_to_string(dir.join("cgroup.procs")), root)
                {
                    for pid in procs.lines() {
                        let _ = std::fs::write(&root, pid);
                    }
                }
                let _ = std::fs::remove_dir(&*dir);
            }
            Starver::DutyCycle(stop, thread, pid) => {
                stop.store(true, Ordering::Relaxed);
                if let Some(t) = thread.take() {
                    let _ = t.join();
                }
                signal(*pid, "CONT");
            }
        }
    }
}

struct Paced(Child);

impl Drop for Paced {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Encodes `seconds` of a lecture-like test pattern once (OBS settings: 2 s GOP, AAC).
fn encode_source(dir: &Path, width: u32, height: u32, kbps: u32) -> PathBuf {
    let out = dir.join(format!("source-{height}p.mp4"));
    let status = Lecture::new(width, height, kbps, 10)
        .ffmpeg(&[], false)
        .arg("-y")
        .arg(&out)
        .status()
        .expect("run ffmpeg");
    assert!(status.success(), "encoding the source failed");
    out
}

/// Sends `file` in a loop, in real time, without re-encoding.
fn publish_paced(file: &Path, url: &str) -> Paced {
    let child = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-re"])
        .args(["-stream_loop", "-1", "-i"])
        .arg(file)
        .args(["-c", "copy", "-f", "flv", url])
        .stdout(Stdio::null())
        .spawn()
        .expect("spawn ffmpeg");
    Paced(child)
}

/// Renditions the multivariant playlist lists (their folder names).
fn listed(c: &reqwest::blocking::Client, amphi: &Amphi, event: &str) -> Vec<String> {
    get_text(c, &amphi.url(&format!("/live/{event}/master.m3u8")))
        .map(|m| {
            segment_uris(&m)
                .into_iter()
                .filter_map(|u| u.split('/').next().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// How far the newest listed part of a media playlist trails the wall clock (its end on
/// the program-date-time clock, which counts from the arrival of the first frame).
fn edge_lag(
    c: &reqwest::blocking::Client,
    amphi: &Amphi,
    event: &str,
    rendition: &str,
) -> Option<Duration> {
    let text = get_text(
        c,
        &amphi.url(&format!("/live/{event}/{rendition}/index.m3u8")),
    )?;
    let listing = amphi_hls::playlist::read_media(&text).ok()?;
    let last = listing.parts.last()?;
    let end = last.program_date_time? + last.duration;
    Some(
        SystemTime::now()
            .duration_since(end)
            .unwrap_or(Duration::ZERO),
    )
}

/// A gauge's value for the given label text, e.g. `event="lecture"`.
fn gauge(c: &reqwest::blocking::Client, amphi: &Amphi, name: &str, labels: &str) -> Option<f64> {
    let text = get_text(c, &amphi.url("/metrics"))?;
    let prefix = format!("{name}{{{labels}}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
}

/// CPU time a process used so far (user + system, all threads), from `/proc`.
fn cpu_time(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on Linux.
    Some(Duration::from_millis(ticks * 10))
}

#[test]
fn starved_ladder_sheds_renditions_stays_live_and_recovers() {
    let t0 = Instant::now();
    let scratch = common::tempdir::TempDir::new("overload");
    let lecture = encode_source(scratch.path(), 1920, 1080, 4500);
    let small = encode_source(scratch.path(), 640, 360, 600);
    // Shedding is on by default.
    let amphi = Amphi::start(&[&format!("lecture:{KEY}"), &format!("other:{KEY}-other")]);
    let _p1 = publish_paced(&lecture, &format!("{}/{KEY}", amphi.rtmp));
    let _p2 = publish_paced(&small, &format!("{}/{KEY}-other", amphi.rtmp));
    let c = client();
    let all = wait_for("four renditions listed", Duration::from_secs(40), || {
        let l = listed(&c, &amphi, "lecture");
        (l.len() == 4).then_some(l)
    });
    wait_for("the second event live", Duration::from_secs(30), || {
        (!listed(&c, &amphi, "other").is_empty()).then_some(())
    });
    wait_for("parts on every rendition", Duration::from_secs(10), || {
        all.iter()
            .all(|r| edge_lag(&c, &amphi, "lecture", r).is_some())
            .then_some(())
    });
    let before: Vec<Duration> = all
        .iter()
        .filter_map(|r| edge_lag(&c, &amphi, "lecture", r))
        .collect();
    eprintln!(
        "ready after {:.1} s; edge lag before starving: {before:?}",
        t0.elapsed().as_secs_f64()
    );

    // Starved: sample every listed rendition of both events, and every rendition of the
    // lecture that was shed (its playlist must keep going).
    let starver = Starver::start(amphi.pid(), STARVED_CORES);
    let cpu_start = cpu_time(amphi.pid());
    let start = Instant::now();
    let mut samples: Vec<(Duration, String, Duration)> = Vec::new();
    let mut shed_samples: Vec<(Duration, String, Duration)> = Vec::new();
    let mut max_shed = 0.0f64;
    let mut shed_at: Vec<(Duration, String)> = Vec::new();
    while start.elapsed() < STARVED_FOR {
        let now_listed = listed(&c, &amphi, "lecture");
        for r in all.iter().filter(|r| !now_listed.contains(r)) {
            if !shed_at.iter().any(|(_, s)| s == r) {
                shed_at.push((start.elapsed(), r.clone()));
            }
            if let Some(lag) = edge_lag(&c, &amphi, "lecture", r) {
                shed_samples.push((start.elapsed(), format!("lecture/{r}"), lag));
            }
        }
        for r in &now_listed {
            if let Some(lag) = edge_lag(&c, &amphi, "lecture", r) {
                samples.push((start.elapsed(), format!("lecture/{r}"), lag));
            }
        }
        for r in listed(&c, &amphi, "other") {
            if let Some(lag) = edge_lag(&c, &amphi, "other", &r) {
                samples.push((start.elapsed(), format!("other/{r}"), lag));
            }
        }
        if let Some(n) = gauge(&c, &amphi, "amphi_renditions_shed", "event=\"lecture\"") {
            max_shed = max_shed.max(n);
        }
        std::thread::sleep(Duration::from_millis(400));
    }
    let starved_for = start.elapsed();
    let cpu = cpu_start
        .zip(cpu_time(amphi.pid()))
        .map(|(a, b)| b.saturating_sub(a).as_secs_f64() / starved_for.as_secs_f64());
    let listed_starved = listed(&c, &amphi, "lecture");
    drop(starver);
    let late: Vec<&(Duration, String, Duration)> = samples
        .iter()
        .filter(|(t, _, _)| *t >= SETTLED_AFTER)
        .collect();
    let worst = late.iter().map(|s| s.2).max().unwrap_or_default();
    let worst_of = |prefix: &str| {
        late.iter()
            .filter(|s| s.1.starts_with(prefix))
            .map(|s| s.2)
            .max()
            .unwrap_or_default()
    };
    let worst_shed = shed_samples
        .iter()
        .filter(|(t, _, _)| *t >= SETTLED_AFTER)
        .map(|s| s.2)
        .max();
    eprintln!(
        "starved {:.1} s: CPU {} s per s; shed {shed_at:?}; worst edge lag after {SETTLED_AFTER:?}: listed {worst:?} (lecture {:?}, other event {:?}), shed renditions' own playlists {worst_shed:?}; listed at the end {listed_starved:?}",
        starved_for.as_secs_f64(),
        cpu.map_or("?".into(), |c| format!("{c:.2}")),
        worst_of("lecture/"),
        worst_of("other/"),
    );
    for (t, r, lag) in samples
        .iter()
        .chain(&shed_samples)
        .filter(|s| s.0 >= SETTLED_AFTER)
        .step_by(3)
    {
        eprintln!(
            "  t={:5.1}s {r:16} {:.2}s",
            t.as_secs_f64(),
            lag.as_secs_f64()
        );
    }
    assert!(
        max_shed >= 1.0 && amphi.log_contains("rendition shed"),
        "nothing was shed while starved (amphi_renditions_shed max {max_shed})"
    );
    assert!(
        listed_starved.len() < 4 && listed_starved.contains(&all[0]),
        "the costliest encoded rendition leaves the listing, passthrough stays: {listed_starved:?}"
    );
    assert!(
        late.iter().any(|s| s.1.starts_with("other/"))
            && late.iter().any(|s| s.1.starts_with("lecture/")),
        "both events kept publishing parts while starved"
    );
    // What does not go through the decoder (the passthrough, the other event) stays
    // near real time; the decoded renditions stay bounded.
    let undecoded = late
        .iter()
        .filter(|s| s.1.starts_with("other/") || s.1 == format!("lecture/{}", all[0]))
        .map(|s| s.2)
        .max()
        .unwrap_or_default();
    assert!(
        undecoded <= MAX_EDGE_LAG,
        "the passthrough or the other event fell {undecoded:?} behind real time while starved (bound {MAX_EDGE_LAG:?})"
    );
    assert!(
        worst <= MAX_DECODED_LAG,
        "a listed rendition fell {worst:?} behind real time while starved (bound {MAX_DECODED_LAG:?})"
    );
    // A shed rendition is a slide show, not a dead end: its playlist keeps going (its
    // lag is the decoder's, bounded by the decoder's queue once the CPU is back).
    worst_shed.expect("a shed rendition's playlist sampled while starved");
    for r in &all {
        let own: Vec<&(Duration, String, Duration)> = shed_samples
            .iter()
            .filter(|s| s.0 >= SETTLED_AFTER && s.1 == format!("lecture/{r}"))
            .collect();
        if let (Some(first), Some(last)) = (own.first(), own.last()) {
            let advanced =
                (last.0.saturating_sub(last.2)).saturating_sub(first.0.saturating_sub(first.2));
            let spell = last.0 - first.0;
            eprintln!("shed {r}: its playlist advanced {advanced:?} of media in {spell:?}");
            assert!(
                spell < Duration::from_secs(2) || advanced >= spell / 4,
                "shed {r}: its playlist advanced {advanced:?} in {spell:?} (stopped?)"
            );
        }
    }
    let dropped: f64 = all
        .iter()
        .filter_map(|r| {
            gauge(
                &c,
                &amphi,
                "amphi_encoder_dropped_frames",
                &format!("event=\"lecture\",rendition=\"{r}\""),
            )
        })
        .sum();
    eprintln!("frames dropped at the encoders' queues: {dropped}");

    // CPU back: the rendition shed last returns (the others follow one hold time
    // apart), and every rendition, shed or not, is near real time again.
    let back = Instant::now();
    let returned = wait_for(
        "a shed rendition listed again",
        Duration::from_secs(25),
        || {
            let now = listed(&c, &amphi, "lecture");
            (now.len() > listed_starved.len()).then_some(now)
        },
    );
    eprintln!(
        "a rendition back {:.1} s after the CPU returned: listed {returned:?}",
        back.elapsed().as_secs_f64()
    );
    assert!(amphi.logged("rendition restored"));
    let mut after = Vec::new();
    for r in &all {
        let lag = wait_for("a media playlist", Duration::from_secs(10), || {
            edge_lag(&c, &amphi, "lecture", r)
        });
        after.push(lag);
        assert!(
            lag < Duration::from_millis(1500),
            "{r} trails by {lag:?} after recovery"
        );
    }
    eprintln!("edge lag after recovery: {after:?}");
    // No muxer ever stopped, and the GStreamer bindings never complained.
    assert!(
        !amphi.log_contains("ladder stalled"),
        "a rendition stopped producing parts"
    );
    assert!(
        !amphi.log_contains("CRITICAL"),
        "GStreamer-CRITICAL in the log"
    );
    assert!(
        !amphi.log_contains("segment timelines differ"),
        "the packager saw a rendition's segments start off the others'"
    );
    // No timeline has a hole or a discontinuity; every rendition lists its segments
    // with the durations of the passthrough's.
    let timeline = |r: &str| {
        let text = get_text(&c, &amphi.url(&format!("/live/lecture/{r}/index.m3u8")))
            .expect("media playlist");
        assert!(
            !text.contains("#EXT-X-DISCONTINUITY\n"),
            "{r} has a discontinuity:\n{text}"
        );
        let listing = amphi_hls::playlist::read_media(&text).expect("playlist reads");
        listing
            .segments
            .iter()
            .filter_map(|s| Some((s.msn, (s.duration?, s.program_date_time?))))
            .collect::<std::collections::BTreeMap<u64, (Duration, SystemTime)>>()
    };
    let reference = timeline(&all[0]);
    for r in &all[1..] {
        let t = timeline(r);
        let same = t
            .iter()
            .filter(|(m, (d, _))| {
                reference
                    .get(m)
                    .is_some_and(|x| x.0.abs_diff(*d) <= Duration::from_millis(50))
            })
            .count();
        let both = t.keys().filter(|m| reference.contains_key(m)).count();
        // How far apart segment n starts in this rendition and the passthrough.
        let apart = t
            .iter()
            .filter_map(|(m, (_, at))| {
                let other = reference.get(m)?.1;
                Some(at.duration_since(other).unwrap_or_else(|e| e.duration()))
            })
            .max()
            .unwrap_or_default();
        let longer = t
            .iter()
            .filter_map(|(m, (d, _))| Some(reference.get(m)?.0.abs_diff(*d)))
            .max()
            .unwrap_or_default();
        eprintln!(
            "{r}: {same} of {both} segments listed by both last as long as {}'s (within 50 ms; at most {longer:?} apart), their starts at most {apart:?} apart",
            all[0]
        );
        // Shed and restored or not: segment n of every rendition starts when the
        // passthrough's does (within an audio frame) and lasts as long (same cuts, same
        // media sequence numbers; a segment's last part can end a few milliseconds
        // apart, where its audio or video ends).
        assert!(
            both >= 3 && same == both && apart <= Duration::from_millis(25),
            "{r}: {t:?} against {reference:?}"
        );
    }
    eprintln!("overload test took {:.1} s", t0.elapsed().as_secs_f64());
}
