//! Nothing produced is lost in a store outage: amphi publishes to S3 (moto behind a
//! loopback proxy that goes down for 15 s) with a 1 MiB in-memory retry queue, so
//! the writes it cannot store spill to the local spool; when S3 comes back they drain
//! in order, and the recording lists every segment, all stored and decodable end to
//! end (as many frames as were published). A process killed with `-9` during an outage
//! leaves every write it could not store in the spool, and the next start writes
//! them before resuming: viewers get, through the origin, the whole lecture up to the
//! kill, with the bytes first served for every name.

mod common;

use common::infra::S3Server;
use common::tcp_proxy::Proxy;
use common::*;
use std::time::{Duration, Instant};

const PUBLISH_SECONDS: u32 = 40;

fn spool_files(dir: &std::path::Path) -> usize {
    walk(dir)
}

fn walk(dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|e| {
            if e.path().is_dir() {
                walk(&e.path())
            } else {
                1
            }
        })
        .sum()
}

#[test]
fn an_s3_outage_spills_to_disk_and_loses_nothing() {
    let s3 = S3Server::start("amphi-spill");
    let proxy = Proxy::start(s3.port);
    let spool = tempdir::TempDir::new("spool");
    let spool_dir = spool.path().to_str().expect("utf-8").to_owned();
    let mut args = s3.args(&proxy.endpoint());
    args.extend(
        [
            "--retry-memory-mib",
            "1",
            "--spool-dir",
            &spool_dir,
            "--end-after",
            "3",
        ]
        .map(str::to_owned),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let amphi = Amphi::start_with(&[&format!("lecture:{KEY}")], &args);
    let c = client();
    let publisher = Publisher::start(&amphi.rtmp, KEY, 640, 360, PUBLISH_SECONDS);
    let rendition = first_rendition(
        &c,
        &amphi.url("/live/lecture/master.m3u8"),
        Duration::from_secs(30),
    );
    let url = amphi.url(&format!("/live/lecture/{rendition}/index.m3u8"));
    wait_for("two segments stored", Duration::from_secs(30), || {
        get_text(&c, &url).filter(|p| segment_uris(p).len() >= 2)
    });

    proxy.down();
    let down = Instant::now();
    std::thread::sleep(Duration::from_secs(15));
    assert!(
        amphi.logged("spilling writes to the local spool"),
        "{}",
        amphi.log()
    );
    let spooled = spool_files(spool.path());
    println!("after 15 s of outage: {spooled} writes in the spool");
    assert!(spooled > 0, "the spool holds the writes S3 refused");
    proxy.up();
    let drained = wait_for("the spool to drain", Duration::from_secs(60), || {
        amphi
            .log_contains("spooled writes are all back in the store")
            .then(|| down.elapsed())
    });
    println!("outage of 15 s; spool drained {drained:?} after it began");

    let (ok, _) = publisher.wait(Duration::from_secs(60));
    assert_eq!(ok, Some(true), "the publisher streamed through the outage");
    let vod = wait_for("the recording", Duration::from_secs(60), || {
        get_text(&c, &url).filter(|t| t.contains("#EXT-X-ENDLIST"))
    });
    let segments = segment_uris(&vod);
    let msns: Vec<u64> = segments
        .iter()
        .filter_map(|u| u.strip_prefix("seg")?.strip_suffix(".m4s")?.parse().ok())
        .collect();
    assert_eq!(media_sequence(&vod), Some(0), "{vod}");
    assert!(
        msns.iter().enumerate().all(|(i, m)| *m == i as u64),
        "every segment from the first: {msns:?}"
    );
    // Every segment is stored; together with the init segment they decode into as
    // many frames as were published.
    let base = url.trim_end_matches("index.m3u8");
    let mut whole = get_bytes(&c, &format!("{base}init.mp4")).expect("init segment");
    for uri in &segments {
        let bytes = get_bytes(&c, &format!("{base}{uri}"))
            .unwrap_or_else(|| panic!("{uri} is listed but was lost"));
        whole.extend_from_slice(&bytes);
    }
    assert_eq!(spool_files(spool.path()), 0, "the spool is empty again");
    let out = tempdir::TempDir::new("spill-out");
    let file = out.path().join("recording.mp4");
    std::fs::write(&file, &whole).expect("write");
    let (video, audio) = decode_counts(&file).expect("the recording decodes");
    let expected = PUBLISH_SECONDS as u64 * 30;
    println!("recording after the outage: {} segments, {video} video frames of {expected}, {audio} audio frames", segments.len());
    assert!(
        video + 30 >= expected,
        "no video lost: {video} frames of {expected}"
    );
    assert!(audio > 0);
    assert!(!amphi.log_contains("were lost"), "{}", amphi.log());
}

/// The writes in the spool files under `dir` (one folder per event), oldest first:
/// `(key, Some(bytes))` for a put, `(key, None)` for a delete.
fn spooled_writes(dir: &std::path::Path) -> Vec<(String, Option<Vec<u8>>)> {
    let mut files: Vec<(u64, std::path::PathBuf)> = Vec::new();
    let Ok(events) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    for event in events.filter_map(Result::ok) {
        let Ok(entries) = std::fs::read_dir(event.path()) else {
            continue;
        };
        for f in entries.filter_map(Result::ok) {
            let id = f
                .file_name()
                .to_str()
                .and_then(|n| n.strip_suffix(".op"))
                .and_then(|n| n.parse::<u64>().ok());
            if let Some(id) = id {
                files.push((id, f.path()));
            }
        }
    }
    files.sort();
    let mut out = Vec::new();
    for (_, path) in files {
        let Ok(data) = std::fs::read(&path) else {
            continue;
        };
        let Some(nl) = data.iter().position(|&b| b == b'\n') else {
            continue;
        };
        let header = String::from_utf8_lossy(&data[..nl]).into_owned();
        let mut words = header.split(' ');
        match (words.next(), words.next()) {
            (Some("P"), Some(key)) => out.push((key.to_owned(), Some(data[nl + 1..].to_vec()))),
            (Some("D"), Some(key)) => out.push((key.to_owned(), None)),
            _ => {}
        }
    }
    out
}

fn is_media(key: &str) -> bool {
    key.ends_with(".m4s") || key.ends_with(".mp4")
}

/// The segment number of a part or segment key (`.../part12.3.m4s`, `.../seg12.m4s`).
fn msn_of(key: &str) -> Option<(String, u64)> {
    let (dir, file) = key.rsplit_once('/')?;
    let n = file
        .strip_prefix("part")
        .and_then(|f| f.split('.').next())
        .or_else(|| file.strip_prefix("seg")?.strip_suffix(".m4s"))?;
    Some((dir.to_owned(), n.parse().ok()?))
}

#[test]
fn a_process_killed_during_an_outage_replays_its_spool_at_start() {
    let started = Instant::now();
    let s3 = S3Server::start("amphi-crash-spill");
    let proxy = Proxy::start(s3.port);
    let data = tempdir::TempDir::new("crash-spill");
    let spool_dir = data.path().join("spool");
    let spool_dir = spool_dir.to_str().expect("utf-8").to_owned();
    let spool_path = std::path::Path::new(&spool_dir);
    let mut args = s3.args(&proxy.endpoint());
    args.extend(
        [
            "--retry-memory-mib",
            "1",
            "--spool-dir",
            &spool_dir,
            "--end-after",
            "3",
        ]
        .map(str::to_owned),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let events = [format!("lecture:{KEY}")];
    let events: Vec<&str> = events.iter().map(String::as_str).collect();
    let amphi = Amphi::start_in_with(data.path(), &events, &args);
    let c = client();
    let publisher = Publisher::start(&amphi.rtmp, KEY, 640, 360, 30);
    let published = Instant::now();
    let rendition = first_rendition(
        &c,
        &amphi.url("/live/lecture/master.m3u8"),
        Duration::from_secs(30),
    );
    let url = amphi.url(&format!("/live/lecture/{rendition}/index.m3u8"));
    let before = wait_for("two segments stored", Duration::from_secs(30), || {
        get_text(&c, &url).filter(|p| segment_uris(p).len() >= 2)
    });
    // What viewers were served before the outage: these names keep their bytes.
    let base = url.trim_end_matches("index.m3u8");
    let served: Vec<(String, Vec<u8>)> = segment_uris(&before)
        .into_iter()
        .chain(["init.mp4".to_owned()])
        .filter_map(|u| Some((u.clone(), get_bytes(&c, &format!("{base}{u}"))?)))
        .collect();
    assert!(served.len() >= 3, "segments and init served: {served:?}");

    proxy.down();
    // A few seconds of outage: more than the 1 MiB memory queue holds.
    std::thread::sleep(Duration::from_secs(4));
    // The process dies with the store still down.
    let status = std::process::Command::new("kill")
        .args(["-9", &amphi.pid().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let live_for = published.elapsed();
    publisher.kill();
    drop(amphi);
    let spooled = spooled_writes(spool_path);
    let media_puts: Vec<&(String, Option<Vec<u8>>)> = spooled
        .iter()
        .filter(|(k, b)| b.is_some() && is_media(k))
        .collect();
    println!(
        "killed {:.1} s after publishing began, {} writes in the spool ({} media puts)",
        live_for.as_secs_f64(),
        spooled.len(),
        media_puts.len()
    );
    assert!(media_puts.len() >= 10, "the outage's writes are on disk");

    proxy.up();
    let restarted = Instant::now();
    let amphi = Amphi::start_in_with(data.path(), &events, &args);
    wait_for("the spool replayed", Duration::from_secs(30), || {
        amphi
            .log_contains("replayed the writes an earlier run left in the spool")
            .then_some(())
    });
    assert_eq!(spool_files(spool_path), 0, "spool emptied");
    // Viewers (the new process listens elsewhere): the live playlist continues after
    // the restart, then the recording.
    let url = amphi.url(&format!("/live/lecture/{rendition}/index.m3u8"));
    let base = url.trim_end_matches("index.m3u8");
    let vod = wait_for("the recording", Duration::from_secs(60), || {
        get_text(&c, &url).filter(|t| t.contains("#EXT-X-ENDLIST"))
    });
    let resumed = restarted.elapsed();
    let segments = segment_uris(&vod);
    let msns: Vec<u64> = segments
        .iter()
        .filter_map(|u| u.strip_prefix("seg")?.strip_suffix(".m4s")?.parse().ok())
        .collect();
    assert_eq!(media_sequence(&vod), Some(0), "{vod}");
    assert!(
        msns.iter().enumerate().all(|(i, m)| *m == i as u64),
        "every segment from the first: {msns:?}"
    );
    // Every name served before the outage keeps its bytes.
    for (uri, bytes) in &served {
        let now = get_bytes(&c, &format!("{base}{uri}"))
            .unwrap_or_else(|| panic!("{uri} was served before the crash, not after"));
        assert!(now == *bytes, "{uri} changed bytes across the crash");
    }
    // Nothing the dead run produced is lost: every spooled segment and init segment is
    // served with its bytes, and every spooled part's bytes are in its segment (parts
    // of segments out of the window are deleted, as in any live).
    let mut checked = 0;
    let mut segment_cache: std::collections::HashMap<String, Vec<u8>> = Default::default();
    for (key, bytes) in &media_puts {
        let bytes = bytes.as_deref().expect("a put");
        let file = key.rsplit('/').next().unwrap_or_default();
        if file.starts_with("seg") || file.starts_with("init") {
            let got = get_bytes(&c, &amphi.url(&format!("/{key}")))
                .unwrap_or_else(|| panic!("{key} was spooled but is not served"));
            assert!(
                got == bytes,
                "{key} is served with the bytes it was made with"
            );
        } else if let Some((dir, msn)) = msn_of(key) {
            let seg_key = format!("{dir}/seg{msn}.m4s");
            let seg = segment_cache.entry(seg_key.clone()).or_insert_with(|| {
                get_bytes(&c, &amphi.url(&format!("/{seg_key}")))
                    .unwrap_or_else(|| panic!("{seg_key} (with spooled {key}) is not served"))
            });
            assert!(
                seg.windows(bytes.len()).any(|w| w == bytes),
                "{key}'s bytes are in {seg_key}"
            );
        } else {
            continue;
        }
        checked += 1;
    }
    // The recording decodes end to end and reaches about the kill.
    let mut whole = Vec::new();
    let mut init_uri = String::new();
    for line in vod.lines() {
        if let Some(u) = line
            .strip_prefix("#EXT-X-MAP:URI=\"")
            .and_then(|l| l.split('"').next())
        {
            if u != init_uri {
                init_uri = u.to_owned();
                whole.extend(get_bytes(&c, &format!("{base}{u}")).expect("init segment"));
            }
        } else if !line.starts_with('#') && !line.is_empty() {
            whole.extend(
                get_bytes(&c, &format!("{base}{line}"))
                    .unwrap_or_else(|| panic!("{line} is listed but not served")),
            );
        }
    }
    let recorded: f64 = vod
        .lines()
        .filter_map(|l| {
            l.strip_prefix("#EXTINF:")?
                .trim_end_matches(',')
                .parse::<f64>()
                .ok()
        })
        .sum();
    let out = tempdir::TempDir::new("crash-spill-out");
    let file = out.path().join("recording.mp4");
    std::fs::write(&file, &whole).expect("write");
    let (video, audio) = decode_counts(&file).expect("the recording decodes");
    println!(
        "after the restart: {} writes replayed, {checked} spooled media objects found \
         served, recording {recorded:.2} s in {} segments ({video} video, {audio} audio \
         frames) for {:.2} s published before the kill; ended {:.1} s after the restart; \
         test {:.1} s",
        spooled.len(),
        segments.len(),
        live_for.as_secs_f64(),
        resumed.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(checked, media_puts.len());
    assert!(
        video as f64 >= recorded * 30.0 * 0.95 && audio > 0,
        "{video} video frames for {recorded} s"
    );
    // Frames still inside the ladder when it died were never produced; everything
    // produced is here (the ladder and the publisher's start take well under 5 s).
    assert!(
        recorded + 5.0 >= live_for.as_secs_f64(),
        "recording {recorded} s for {:.1} s published before the kill",
        live_for.as_secs_f64()
    );
}
