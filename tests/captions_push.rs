//! Live captions pushed by stateless origins, scaled out: `amphi serve --role packager
//! --store fs` (ffmpeg publishes to it over RTMP, the captions API takes cues there),
//! two `--role origin --store fs --notify-url …` processes reading the same directory,
//! and Varnish with the project's VCL in front of both. Viewers' captions streams,
//! `/live/{event}/captions/events`, through Varnish and straight to each origin, get
//! every cue posted to the packager, in program time, each once; the time from the POST
//! to each stream's copy is printed. Skipped, with a printed reason, only when Varnish
//! cannot be installed.

mod common;

use common::infra::{port_of, Varnish};
use common::tempdir::TempDir;
use common::{wait_for, Amphi, Publisher, KEY};
use std::io::{BufRead, BufReader};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const EVENT: &str = "lecture";
const MODERATOR: &str = "captions-moderator-token-0123456789";
/// Streams opened through Varnish (the director spreads them over both origins).
const VIA_CACHE: usize = 8;

/// One cue as a stream delivered it: which stream, the JSON, when.
type Delivery = (usize, serde_json::Value, Instant);

/// Opens a captions stream at `url` and forwards each `data:` event to `tx`.
fn open_stream(id: usize, url: String, tx: mpsc::Sender<Delivery>) {
    std::thread::spawn(move || {
        // No overall timeout: the stream is meant to stay open.
        let client = reqwest::blocking::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .expect("http client");
        let res = client.get(&url).send().expect("captions stream request");
        assert_eq!(res.status(), 200, "{url}");
        let ct = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert_eq!(ct, "text/event-stream", "{url}");
        for line in BufReader::new(res).lines() {
            let Ok(line) = line else { return };
            if let Some(data) = line.strip_prefix("data:") {
                let cue = serde_json::from_str(data.trim()).expect("a JSON cue");
                if tx.send((id, cue, Instant::now())).is_err() {
                    return;
                }
            }
        }
    });
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as i64
}

#[test]
fn origins_push_captions_to_streams_through_varnish() {
    let t0 = Instant::now();
    let media = TempDir::new("captions-media");
    let dir = media.path().to_str().expect("utf-8 temp dir").to_owned();
    let data = TempDir::new("captions-data");
    let events = serde_json::json!({ "events": [{
        "id": EVENT, "title": "Captions", "stream_key": KEY, "moderator_token": MODERATOR,
    }]});
    std::fs::write(data.path().join("events.json"), events.to_string()).expect("events.json");
    let packager = Amphi::start_in_with(
        data.path(),
        &[],
        &["--role", "packager", "--store", "fs", "--store-dir", &dir],
    );
    let notify = packager.url("/internal/notify");
    let event = format!("{EVENT}:{KEY}");
    let origins = Amphi::origins(&[&event], &dir, &notify, 2);
    let ports: Vec<u16> = origins.iter().map(|o| port_of(&o.http)).collect();
    let Some(varnish) = Varnish::start_or_skip(&ports) else {
        return;
    };
    let _publisher = Publisher::start(&packager.rtmp, KEY, 320, 180, 60);
    let http = common::client();
    wait_for(
        "the subtitles playlist through Varnish",
        Duration::from_secs(40),
        || {
            let r = http
                .get(format!("{}/live/{EVENT}/subs/index.m3u8", varnish.url))
                .send()
                .ok()?;
            r.status().is_success().then_some(())
        },
    );
    let live_at = t0.elapsed();

    // Streams: through the cache, and one straight to each origin.
    let (tx, rx) = mpsc::channel();
    let mut urls: Vec<String> = (0..VIA_CACHE)
        .map(|_| format!("{}/live/{EVENT}/captions/events", varnish.url))
        .collect();
    urls.extend(
        origins
            .iter()
            .map(|o| o.url(&format!("/live/{EVENT}/captions/events"))),
    );
    for (id, url) in urls.iter().enumerate() {
        open_stream(id, url.clone(), tx.clone());
    }
    drop(tx);
    // Give the streams a moment to connect (they get the recent cues anyway).
    std::thread::sleep(Duration::from_millis(300));

    // Cues at program time now (the live edge's program time is the wall clock of
    // capture), each 2 s, posted one second apart.
    let texts = [
        "Entropy, part one",
        "A fair coin: one bit",
        "Two coins: two bits",
    ];
    let mut posted = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        let start = now_ms();
        let body = serde_json::json!({ "cues": [{
            "id": format!("line-{i}"), "start": start, "end": start + 2000, "text": text,
        }]});
        let r = http
            .post(packager.url(&format!("/api/events/{EVENT}/captions")))
            .bearer_auth(MODERATOR)
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .expect("captions POST");
        assert_eq!(r.status(), 200, "captions POST: {:?}", r.text());
        posted.push((text.to_string(), start, Instant::now()));
        std::thread::sleep(Duration::from_secs(1));
    }

    // Every stream gets every cue once, at its program time.
    let mut got: Vec<Vec<(String, i64, Instant)>> = vec![Vec::new(); urls.len()];
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.iter().any(|g| g.len() < texts.len()) {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok((id, cue, at)) = rx.recv_timeout(left) else {
            let counts: Vec<usize> = got.iter().map(Vec::len).collect();
            panic!("cues per stream after 10 s: {counts:?} (streams 0..{VIA_CACHE} via Varnish, then one per origin)");
        };
        let text = cue["text"].as_str().expect("text").to_owned();
        let start = cue["start"].as_i64().expect("start");
        assert!(
            !got[id].iter().any(|(t, ..)| *t == text),
            "stream {id} got \"{text}\" twice"
        );
        got[id].push((text, start, at));
    }
    let mut delays = Vec::new();
    for (id, cues) in got.iter().enumerate() {
        for (text, start, at) in cues {
            let (_, sent_start, sent_at) = posted
                .iter()
                .find(|(t, ..)| t == text)
                .unwrap_or_else(|| panic!("stream {id} got a cue never posted: {text}"));
            // The API may move a late cue; these were posted at the live edge.
            assert!(
                (start - sent_start).abs() <= 1000,
                "stream {id}: \"{text}\" at {start}, posted at {sent_start}"
            );
            delays.push(at.saturating_duration_since(*sent_at).as_millis() as u64);
        }
    }
    delays.sort_unstable();
    let pick = |q: f64| delays[((delays.len() - 1) as f64 * q) as usize];
    eprintln!(
        "{} streams ({VIA_CACHE} through Varnish, {} straight to origins), {} cues each: POST to delivery min {} ms, median {} ms, max {} ms; live after {:.1} s, test {:.1} s",
        urls.len(),
        origins.len(),
        texts.len(),
        pick(0.0),
        pick(0.5),
        pick(1.0),
        live_at.as_secs_f64(),
        t0.elapsed().as_secs_f64()
    );
    // A cue is published after a correction grace of one to two parts (~0.7 s) and a
    // part; the push adds a store read. Well under the segment a playlist would take.
    assert!(
        pick(1.0) < 3000,
        "slowest delivery {} ms after the POST",
        pick(1.0)
    );
}
