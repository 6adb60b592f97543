//! Hostile and mistaken publishers are refused with a logged reason, and never disturb
//! another event that is live at the same time.

mod common;

use common::rtmp_client::Client;
use common::*;
use std::io::Write;
use std::time::Duration;

const OTHER_KEY: &str = "other-event-key";

/// Returns the preload-hint position of the other event's first rendition.
fn other_edge(c: &reqwest::blocking::Client, amphi: &Amphi) -> Option<(u64, u32)> {
    let master = get_text(c, &amphi.url("/live/other/master.m3u8"))?;
    let uri = master
        .lines()
        .find(|l| !l.starts_with('#') && !l.is_empty())?;
    let text = get_text(c, &amphi.url(&format!("/live/other/{uri}")))?;
    preload_hint(&text)
}

fn assert_other_advances(c: &reqwest::blocking::Client, amphi: &Amphi, what: &str) {
    let before = other_edge(c, amphi).expect("other event is live");
    wait_for(
        &format!("the other event to keep advancing after {what}"),
        Duration::from_secs(5),
        || {
            let now = other_edge(c, amphi)?;
            (now > before).then_some(())
        },
    );
}

#[test]
fn bad_publishers_are_refused_and_others_unaffected() {
    let amphi = Amphi::start(&[&format!("lecture:{KEY}"), &format!("other:{OTHER_KEY}")]);
    let c = client();
    let host = amphi
        .rtmp
        .trim_start_matches("rtmp://")
        .trim_end_matches("/live")
        .to_owned();

    // A second event streams all along, at a small size.
    let _other = Publisher::start(&amphi.rtmp, OTHER_KEY, 640, 360, 120);
    wait_for(
        "the other event to go live",
        Duration::from_secs(30),
        || other_edge(&c, &amphi),
    );

    // 1. A wrong stream key is refused.
    let wrong = Publisher::start(&amphi.rtmp, "not-a-key", 320, 180, 20);
    let (ok, _) = wrong.wait(Duration::from_secs(15));
    assert_eq!(ok, Some(false), "ffmpeg with a wrong key must fail");
    assert!(
        amphi.logged("unknown stream key"),
        "a log line names the reason:\n{}",
        amphi.log()
    );
    assert!(
        !amphi.log_contains("not-a-key"),
        "stream keys never appear in logs"
    );
    assert_other_advances(&c, &amphi, "a wrong key");

    // 2. Garbage after a valid handshake: disconnected with a logged reason.
    let mut g = Client::connect(&host).expect("handshake");
    let garbage: Vec<u8> = (0..4096u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    let _ = g.sock.write_all(&garbage);
    assert!(
        g.closed_within(Duration::from_secs(10)),
        "garbage must get the connection closed"
    );
    assert_other_advances(&c, &amphi, "garbage");

    // 3. A publisher whose AVC sequence header is broken.
    let mut b = Client::connect(&host).expect("handshake");
    b.publish(&amphi.rtmp, KEY).expect("publish");
    let broken = [0x17u8, 0x00, 0, 0, 0, 0x01, 0x64, 0x00]; // truncated AVCDecoderConfigurationRecord
    let _ = b.send(6, 9, 1, 0, &broken);
    assert!(
        b.closed_within(Duration::from_secs(10)),
        "a broken AVC header must get the connection closed"
    );
    assert_other_advances(&c, &amphi, "a broken AVC header");

    // 4. A second publisher with the key takes the event over (the lecturer's encoder
    //    reconnecting): the first is closed, the two are never mixed.
    let first = Publisher::start(&amphi.rtmp, KEY, 640, 360, 60);
    wait_for(
        "the first publisher's ladder",
        Duration::from_secs(30),
        || {
            get_text(&c, &amphi.url("/live/lecture/master.m3u8"))
                .filter(|m| m.contains("RESOLUTION=640x360"))
        },
    );
    let _second = Publisher::start(&amphi.rtmp, KEY, 320, 180, 30);
    let (ok, _) = first.wait(Duration::from_secs(15));
    assert_eq!(
        ok,
        Some(false),
        "the first publisher must be closed when another takes the event over"
    );
    assert!(amphi.logged("publisher taken over"), "{}", amphi.log());
    // The master playlist becomes the second publisher's alone (once each of its
    // renditions has an init segment): 320x180, nothing of the first.
    let master = wait_for(
        "the second publisher's master playlist",
        Duration::from_secs(30),
        || {
            get_text(&c, &amphi.url("/live/lecture/master.m3u8"))
                .filter(|m| m.contains("RESOLUTION=320x180"))
        },
    );
    assert!(!master.contains("RESOLUTION=640x360"), "{master}");
    assert_other_advances(&c, &amphi, "a second publisher");
}
