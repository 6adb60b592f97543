//! A burst of 1,000 posts from one viewer is mostly refused with 429 and a
//! Retry-After, while another viewer is still answered promptly.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::{backends, Client};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_from_one_viewer() {
    for b in backends() {
        let c = Arc::new(Client::new(b.open().await));
        let ev = "ev-burst";
        let mut tasks = Vec::new();
        for i in 0..1000 {
            let c = Arc::clone(&c);
            tasks.push(tokio::spawn(async move {
                c.ask(ev, "flooder-01", &format!("spam {i}")).await
            }));
        }
        // Meanwhile, another viewer asks.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let t0 = Instant::now();
        let r = c.ask(ev, "student-01", "a real question").await;
        let took = t0.elapsed();
        assert_eq!(r.status, StatusCode::CREATED, "{}: {}", b.name(), r.text);
        assert!(
            took < Duration::from_secs(2),
            "{}: other viewer waited {took:?}",
            b.name()
        );

        let (mut created, mut limited) = (0, 0);
        for t in tasks {
            let r = t.await.expect("task");
            match r.status {
                StatusCode::CREATED => created += 1,
                StatusCode::TOO_MANY_REQUESTS => {
                    limited += 1;
                    let secs: u64 = r.headers["retry-after"]
                        .to_str()
                        .expect("ascii")
                        .parse()
                        .expect("seconds");
                    assert!((1..=60).contains(&secs));
                    assert_eq!(r.json()["error"], "rate_limited");
                }
                s => panic!("{}: unexpected {s}: {}", b.name(), r.text),
            }
        }
        assert_eq!(created, 5, "{}: exactly the per-minute allowance", b.name());
        assert_eq!(limited, 995);
        eprintln!(
            "{}: other viewer answered in {took:?} during the burst",
            b.name()
        );
    }
}

#[tokio::test]
async fn window_slides_with_the_clock() {
    let b = common::Backend::sqlite();
    let now = Arc::new(std::sync::atomic::AtomicI64::new(1_800_000_000_000));
    let clock = Arc::clone(&now);
    let st = b
        .open()
        .await
        .with_clock(move || clock.load(std::sync::atomic::Ordering::SeqCst));
    let c = Client::new(st);
    let ev = "ev-slow";
    assert_eq!(
        c.ask(ev, "viewer-01", "1").await.status,
        StatusCode::CREATED
    );
    now.fetch_add(10_000, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        c.ask(ev, "viewer-01", "2").await.status,
        StatusCode::CREATED
    );
    let r = c.ask(ev, "viewer-01", "3").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers["retry-after"], "50");
    now.fetch_add(50_000, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        c.ask(ev, "viewer-01", "3").await.status,
        StatusCode::CREATED
    );
}
