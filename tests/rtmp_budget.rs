//! RTMP holds resources only for publishers: idle connections, connections that
//! trickle their handshake, and publishers that trickle a byte a second are closed
//! within their deadlines; connections beyond the cap of not-yet-publishing ones are
//! refused at accept — while a good event keeps advancing.

mod common;

use common::rtmp_client::Client;
use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const SPARE_KEY: &str = "spare-secret-key";
/// `--rtmp-max-unauthenticated` for this test.
const MAX_PENDING: usize = 6;

fn addr(amphi: &Amphi) -> String {
    amphi
        .rtmp
        .trim_start_matches("rtmp://")
        .trim_end_matches("/live")
        .to_owned()
}

/// Keeps `sock` open, sending `trickle` bytes one a second (none if empty), until the
/// server closes it; returns how long that took (from `since`).
fn hold(mut sock: TcpStream, trickle: Vec<u8>, since: Instant) -> JoinHandle<Duration> {
    std::thread::spawn(move || {
        sock.set_read_timeout(Some(Duration::from_millis(1000)))
            .expect("timeout");
        let mut next = trickle.into_iter();
        let mut buf = [0u8; 4096];
        while since.elapsed() < Duration::from_secs(40) {
            match sock.read(&mut buf) {
                Ok(0) => return since.elapsed(),
                Ok(_) => {}
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    if let Some(b) = next.next() {
                        if sock.write_all(&[b]).is_err() {
                            return since.elapsed();
                        }
                    }
                }
                Err(_) => return since.elapsed(),
            }
        }
        panic!("the server kept the connection open for 40 s");
    })
}

#[test]
fn idle_and_trickling_connections_are_closed_while_a_good_event_advances() {
    let amphi = Amphi::start_with(
        &[&format!("good:{KEY}"), &format!("spare:{SPARE_KEY}")],
        &["--rtmp-max-unauthenticated", &MAX_PENDING.to_string()],
    );
    let c = client();
    let _good = Publisher::start(&amphi.rtmp, KEY, 426, 240, 120);
    let url = amphi.url("/live/good/240p/index.m3u8");
    wait_for("the good event's parts", Duration::from_secs(40), || {
        get_text(&c, &url).filter(|t| t.contains("#EXT-X-PART:"))
    });
    let hint = || get_text(&c, &url).and_then(|t| preload_hint(&t));
    let before = hint().expect("preload hint");
    let rtmp = addr(&amphi);

    // A publisher with a valid key that then sends one byte a second.
    let mut spare = Client::connect(&rtmp).expect("connect");
    spare.publish(&amphi.rtmp, SPARE_KEY).expect("publish");
    let published = Instant::now();
    let trickling_publisher = hold(spare.sock, vec![0u8; 60], published);

    // Connections that never publish: silent, and trickling the handshake.
    let t0 = Instant::now();
    let mut pending: Vec<JoinHandle<Duration>> = (0..MAX_PENDING - 1)
        .map(|_| hold(TcpStream::connect(&rtmp).expect("connect"), Vec::new(), t0))
        .collect();
    let mut handshake = vec![3u8];
    handshake.extend(std::iter::repeat_n(7u8, 100));
    pending.push(hold(
        TcpStream::connect(&rtmp).expect("connect"),
        handshake,
        t0,
    ));
    // One more than the cap: refused at once.
    std::thread::sleep(Duration::from_millis(300));
    let refused_at = Instant::now();
    let refused = hold(
        TcpStream::connect(&rtmp).expect("connect"),
        Vec::new(),
        refused_at,
    );
    let refused = refused.join().expect("thread");
    eprintln!("connection beyond the cap closed after {refused:?}");
    assert!(refused < Duration::from_secs(1), "{refused:?}");

    for (i, h) in pending.into_iter().enumerate() {
        let closed = h.join().expect("thread");
        eprintln!("not-publishing connection {i} closed after {closed:?}");
        assert!(
            closed >= Duration::from_secs(4) && closed < Duration::from_millis(6500),
            "connection {i}: {closed:?} (deadline 5 s)"
        );
    }
    let closed = trickling_publisher.join().expect("thread");
    eprintln!("trickling publisher closed {closed:?} after its publish");
    assert!(
        closed >= Duration::from_secs(8) && closed < Duration::from_millis(12_500),
        "{closed:?} (rate window 10 s)"
    );

    // The good event advanced all along and still does.
    let after = wait_for("the good event advancing", Duration::from_secs(5), || {
        hint().filter(|h| h.0 >= before.0 + 5)
    });
    assert!(after > before);
    for reason in [
        "rtmp connection dropped: timed out: handshake, connect and publish not done within 5 s",
        "below the minimum rate",
        "rtmp connection refused: 6 connections not yet publishing already",
    ] {
        // The server logs a drop just after closing the socket: the line may trail.
        assert!(
            amphi.logged(reason),
            "no {reason:?} in the log:\n{}",
            amphi.log()
        );
    }
    assert!(!amphi.log().contains(SPARE_KEY), "a key reached the log");
}
