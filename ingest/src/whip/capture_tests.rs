//! WHIP signalling against offers real clients wrote: headless Chromium (fake camera
//! and microphone, H.264 preferred) and aiortc, recorded as described in
//! `testdata/README.md`. The offer checks must accept them, and the session must
//! answer with the H.264 (packetization mode 1) and Opus payload types they offered.

use super::session::WhipSession;
use super::signal::{inspect_offer, WhipError};
use std::net::SocketAddr;
use std::time::Instant;

const CHROMIUM: &str = include_str!("testdata/chromium.sdp");
const AIORTC: &str = include_str!("testdata/aiortc.sdp");

/// Payload types of `codec` (an `a=rtpmap` name) in `sdp`, with their fmtp line.
fn payload_types(sdp: &str, codec: &str) -> Vec<(String, String)> {
    sdp.lines()
        .filter_map(|l| l.strip_prefix("a=rtpmap:"))
        .filter_map(|m| m.split_once(' '))
        .filter(|(_, c)| c.split('/').next() == Some(codec))
        .map(|(pt, _)| {
            let fmtp = sdp
                .lines()
                .find_map(|l| l.strip_prefix(&format!("a=fmtp:{pt} ")))
                .unwrap_or("")
                .to_owned();
            (pt.to_owned(), fmtp)
        })
        .collect()
}

fn check_offer(name: &str, offer: &str) {
    let (checked, summary) = inspect_offer(offer.as_bytes()).expect("a real offer passes");
    assert_eq!(checked, offer);
    assert!(
        summary.video_codecs.iter().any(|c| c == "H264"),
        "{name}: {:?}",
        summary.video_codecs
    );
    // Neither client asks for stereo (`stereo=1`) by default.
    assert_eq!(summary.opus_channels, Some(1), "{name}");

    let local: SocketAddr = "127.0.0.1:8189".parse().expect("address");
    let accepted = WhipSession::accept(&checked, summary.opus_channels, local, Instant::now())
        .expect("the session accepts a real offer");
    let answer = accepted.answer;
    let offered_h264: Vec<String> = payload_types(offer, "H264")
        .into_iter()
        .map(|(pt, _)| pt)
        .collect();
    let answered_h264 = payload_types(&answer, "H264");
    for (pt, _) in &answered_h264 {
        assert!(
            offered_h264.contains(pt),
            "{name}: answered H.264 {pt} not offered"
        );
    }
    // The first answered H.264 format is the one the publisher sends: FU-A capable.
    let first = answered_h264.first().expect("H.264 answered");
    assert!(
        first.1.contains("packetization-mode=1"),
        "{name}: first H.264 answered is {first:?}\n{answer}"
    );
    let offered_opus = payload_types(offer, "opus");
    let answered_opus = payload_types(&answer, "opus");
    assert_eq!(answered_opus.len(), 1, "{name}: one Opus\n{answer}");
    assert_eq!(
        answered_opus[0].0, offered_opus[0].0,
        "{name}: Opus payload type"
    );
    assert_eq!(
        answer.lines().filter(|l| l.starts_with("m=")).count(),
        offer.lines().filter(|l| l.starts_with("m=")).count(),
        "{name}: one answer section per offered section"
    );
    assert_eq!(
        answer.matches("a=recvonly").count(),
        2,
        "{name}: receive only"
    );
    assert!(
        answer.contains("127.0.0.1 8189 typ host"),
        "{name}: our candidate"
    );
}

#[test]
fn chromium_offer() {
    check_offer("chromium", CHROMIUM);
}

#[test]
fn aiortc_offer() {
    check_offer("aiortc", AIORTC);
}

/// The same offers without H.264 are refused with the codecs they did offer.
#[test]
fn offers_without_h264_are_refused_by_name() {
    for (name, offer) in [("chromium", CHROMIUM), ("aiortc", AIORTC)] {
        let without: String = offer
            .split_inclusive('\n')
            .map(|l| l.replace("H264/90000", "H263/90000"))
            .collect();
        match inspect_offer(without.as_bytes()) {
            Err(WhipError::NoH264(offered)) => {
                assert!(offered.contains("H263"), "{name}: {offered}")
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}
