//! Scale-out roles end to end: an `amphi serve --role packager --store s3` process and a
//! separate `--role origin --store s3 --notify-url …` process sharing a real
//! S3-compatible server (moto on loopback, `scripts/s3-test-server.sh`), with ffmpeg
//! publishing over RTMP. The origin is restarted (stateless), and the S3 server is made
//! unreachable for 10 s (a loopback proxy in front of it closes; moto keeps objects in
//! memory, so stopping moto itself would lose them): the packager retries, the live edge
//! recovers, and what was stored before is still served.

mod common;

use common::infra::S3Server;
use common::tcp_proxy::Proxy;
use common::*;
use std::time::{Duration, Instant};

const BUCKET: &str = "amphi-e2e";

fn start_origin(s3: &S3Server, endpoint: &str, packager: &Amphi) -> Amphi {
    let notify = format!("{}/internal/notify", packager.http);
    let mut args = vec!["--role".to_owned(), "origin".to_owned()];
    args.extend(s3.args(endpoint));
    args.extend(["--notify-url".to_owned(), notify]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Amphi::start_with(&[&format!("e2e:{KEY}")], &args)
}

fn first_rendition(c: &reqwest::blocking::Client, origin: &Amphi) -> String {
    let master = wait_for(
        "the master playlist at the origin",
        Duration::from_secs(40),
        || {
            get_text(c, &origin.url("/live/e2e/master.m3u8"))
                .filter(|m| m.contains("#EXT-X-STREAM-INF"))
        },
    );
    let uri = segment_uris(&master).into_iter().next().expect("a variant");
    uri.split('/').next().expect("rendition dir").to_owned()
}

fn playlist_url(origin: &Amphi, rendition: &str) -> String {
    origin.url(&format!("/live/e2e/{rendition}/index.m3u8"))
}

#[test]
fn packager_and_origin_processes_share_an_s3_store() {
    let s3 = S3Server::start(BUCKET);
    let proxy = Proxy::start(s3.port);
    let endpoint = proxy.endpoint();

    let mut args = vec!["--role".to_owned(), "packager".to_owned()];
    args.extend(s3.args(&endpoint));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let packager = Amphi::start_with(&[&format!("e2e:{KEY}")], &args);
    let c = client();
    // The packager serves no viewers.
    let r = c
        .get(packager.url("/live/e2e/master.m3u8"))
        .send()
        .expect("request");
    assert_eq!(r.status(), 404);
    assert!(get_text(&c, &packager.url("/healthz")).is_some());

    let origin = start_origin(&s3, &endpoint, &packager);
    let _publisher = Publisher::start(&packager.rtmp, KEY, 640, 360, 120);

    let rendition = first_rendition(&c, &origin);
    let url = playlist_url(&origin, &rendition);
    let playlist = wait_for(
        "a media playlist with a preload hint",
        Duration::from_secs(20),
        || get_text(&c, &url).filter(|p| preload_hint(p).is_some()),
    );
    // Blocking reload: ask for the hinted part; the origin answers when the packager
    // (another process) has put it, woken through /internal/notify.
    let mut answers = Vec::new();
    let (mut msn, mut part) = preload_hint(&playlist).expect("hint");
    for _ in 0..6 {
        let t = Instant::now();
        let blocked = get_text(&c, &format!("{url}?_HLS_msn={msn}&_HLS_part={part}"))
            .expect("blocking reload answered");
        answers.push(t.elapsed());
        let uri = format!("part{msn}.{part}.m4s");
        if !blocked.contains(&uri) {
            // A keyframe closed the segment before this part: the hint moves on to
            // the next segment's first part.
            assert!(
                blocked.contains(&format!("seg{msn}.m4s")),
                "{uri} neither listed nor made unnecessary:\n{blocked}"
            );
            (msn, part) = preload_hint(&blocked).expect("next hint");
            continue;
        }
        let bytes = get_bytes(&c, &origin.url(&format!("/live/e2e/{rendition}/{uri}")))
            .expect("the part is served");
        assert!(!bytes.is_empty());
        (msn, part) = preload_hint(&blocked).expect("next hint");
    }
    println!("blocking reloads through a separate origin answered after {answers:?}");
    assert!(answers.iter().all(|d| *d < Duration::from_secs(2)));

    // The origin, which has no publisher of its own, knows the event is live; the
    // packager's /metrics carries the ingest bitrate and the encoder's figures.
    let events = get_text(&c, &origin.url("/api/events")).expect("/api/events");
    assert!(
        events.contains("\"live\":true"),
        "the origin shows the event live: {events}"
    );
    let metrics = wait_for(
        "the packager's ingest and encoder gauges",
        Duration::from_secs(15),
        || {
            get_text(&c, &packager.url("/metrics")).filter(|m| {
                m.contains("amphi_ingest_bitrate_bps{event=\"e2e\"}")
                    && m.contains("amphi_encoder_realtime_factor{event=\"e2e\"")
                    && m.contains("amphi_encoder_lag_seconds{event=\"e2e\"")
            })
        },
    );
    let gauge = |name: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next()?.parse().ok())
            .unwrap_or(f64::NAN)
    };
    let (bps, rtf, lag) = (
        gauge("amphi_ingest_bitrate_bps{"),
        gauge("amphi_encoder_realtime_factor{"),
        gauge("amphi_encoder_lag_seconds{"),
    );
    println!("packager gauges: ingest {bps:.0} b/s, real-time factor {rtf:.2}, lag {lag:.2} s");
    assert!(
        bps > 100_000.0,
        "a 640x360 publish is more than 100 kb/s: {bps}"
    );
    assert!((0.5..2.0).contains(&rtf), "real-time factor near 1: {rtf}");
    assert!((-5.0..10.0).contains(&lag), "lag of seconds at most: {lag}");

    // Stateless: a new origin process serves at once.
    drop(origin);
    let origin = start_origin(&s3, &endpoint, &packager);
    let t = Instant::now();
    let master = get_text(&c, &origin.url("/live/e2e/master.m3u8")).expect("master at once");
    assert!(master.contains("#EXT-X-STREAM-INF"));
    let playlist = get_text(&c, &playlist_url(&origin, &rendition)).expect("playlist at once");
    println!(
        "restarted origin served master and playlist {:?} after starting",
        t.elapsed()
    );
    let (msn, part) = preload_hint(&playlist).expect("hint");
    let blocked = get_text(
        &c,
        &format!(
            "{}?_HLS_msn={msn}&_HLS_part={part}",
            playlist_url(&origin, &rendition)
        ),
    )
    .expect("blocking reload on the new origin");
    assert!(blocked.contains(&format!("part{msn}.{part}.m4s")));

    // The S3 server becomes unreachable for 10 s.
    let before = get_text(&c, &playlist_url(&origin, &rendition)).expect("playlist");
    let stored_before: Vec<String> = segment_uris(&before)
        .into_iter()
        .filter(|u| u.starts_with("seg"))
        .collect();
    assert!(
        !stored_before.is_empty(),
        "complete segments before the outage"
    );
    let edge_before = preload_hint(&before).expect("hint");
    proxy.down();
    std::thread::sleep(Duration::from_secs(10));
    proxy.up();
    let t = Instant::now();
    let after = wait_for(
        "the live edge to move past the outage",
        Duration::from_secs(30),
        || {
            get_text(&c, &playlist_url(&origin, &rendition))
                .filter(|p| preload_hint(p).is_some_and(|h| h.0 > edge_before.0 + 5))
        },
    );
    println!(
        "live edge recovered {:?} after S3 came back: {:?} -> {:?}",
        t.elapsed(),
        edge_before,
        preload_hint(&after)
    );
    for seg in &stored_before {
        let bytes = get_bytes(&c, &origin.url(&format!("/live/e2e/{rendition}/{seg}")));
        assert!(
            bytes.is_some_and(|b| !b.is_empty()),
            "{seg}, stored before the outage, is still served"
        );
    }
    // Parts produced during the outage were retried, not lost: every part the
    // playlist lists after recovery is served.
    let listed: Vec<String> = after
        .lines()
        .filter(|l| l.starts_with("#EXT-X-PART:"))
        .filter_map(|l| attr(l, "URI").map(str::to_owned))
        .collect();
    for uri in &listed {
        assert!(
            get_bytes(&c, &origin.url(&format!("/live/e2e/{rendition}/{uri}"))).is_some(),
            "{uri} listed and served"
        );
    }
    let log = packager.log();
    let failures = log.matches("store write failed").count();
    let s3_failures = log.matches("S3 store request failed").count();
    println!(
        "packager log: {failures} 'store write failed', {s3_failures} 'S3 store request failed', recovered: {}",
        log.contains("store writes succeed again")
    );
    assert_eq!(failures, 1, "one warning per burst:\n{log}");
    assert_eq!(s3_failures, 1, "one S3 warning per burst:\n{log}");
    assert!(log.contains("store writes succeed again"));
}
