//! A burst of 1,000 posts from one viewer is mostly refused with 429 and a
//! Retry-After, while another viewer is still answered promptly; fresh viewer
//! ids from one address do not get past the per-address limits; a ban keeps the
//! banned viewer's address from minting fresh ids.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use common::{backends, Backend, Client, TestClock};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn burst_from_one_viewer() {
    for b in backends() {
        let c = Arc::new(Client::new(b.open().await));
        let ev = "ev-burst";
        let flooder = Arc::new(c.mint(ev).await.signed);
        let student = c.mint(ev).await.signed;
        let mut tasks = Vec::new();
        for i in 0..1000 {
            let c = Arc::clone(&c);
            let flooder = Arc::clone(&flooder);
            tasks.push(tokio::spawn(async move {
                c.ask(ev, &flooder, &format!("spam {i}")).await
            }));
        }
        // Meanwhile, another viewer asks.
        tokio::time::sleep(Duration::from_millis(20)).await;
        let t0 = Instant::now();
        let r = c.ask(ev, &student, "a real question").await;
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
    let clock = TestClock::at(1_800_000_000_000);
    let st = b.open_with(&clock).await;
    let c = Client::new(st);
    let ev = "ev-slow";
    let v = c.mint(ev).await.signed;
    assert_eq!(c.ask(ev, &v, "1").await.status, StatusCode::CREATED);
    clock.advance(10_000);
    assert_eq!(c.ask(ev, &v, "2").await.status, StatusCode::CREATED);
    let r = c.ask(ev, &v, "3").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers["retry-after"], "50");
    clock.advance(50_000);
    assert_eq!(c.ask(ev, &v, "3").await.status, StatusCode::CREATED);
}

/// One client minting a fresh id per post: the address limits hold.
async fn fresh_ids_per_post(b: &Backend) {
    let st = b.open().await;
    let limits = amphi_qa::Limits::default();
    let flood = Client::from_address(st.clone(), "192.0.2.10");
    let other = Client::from_address(st, "198.51.100.20");
    let ev = "ev-rotate";
    // Minting is limited per address.
    let mut ids = Vec::new();
    let mut refused = 0;
    for _ in 0..limits.address_mints_per_minute + 20 {
        let r = flood.mint_with(ev, "").await;
        match r.status {
            StatusCode::OK => ids.push(r.json()["viewer"].as_str().expect("viewer").to_owned()),
            StatusCode::TOO_MANY_REQUESTS => {
                assert!(r.headers.contains_key("retry-after"));
                refused += 1;
            }
            s => panic!("{}: mint answered {s}: {}", b.name(), r.text),
        }
    }
    assert_eq!(
        ids.len() as u32,
        limits.address_mints_per_minute,
        "{}",
        b.name()
    );
    assert_eq!(refused, 20);
    // One question per fresh id: no more than the address allows.
    let mut created = 0;
    for (i, id) in ids.iter().enumerate() {
        match flood.ask(ev, id, &format!("spam {i}")).await.status {
            StatusCode::CREATED => created += 1,
            StatusCode::TOO_MANY_REQUESTS => {}
            s => panic!("{}: unexpected {s}", b.name()),
        }
    }
    assert_eq!(created, limits.address_questions_per_minute, "{}", b.name());
    // Votes: once per id, and no more than the address allows.
    let v = other.mint(ev).await;
    let q = other.ask(ev, &v.signed, "a real question").await;
    assert_eq!(
        q.status,
        StatusCode::CREATED,
        "another address is not limited"
    );
    let qid = q.json()["id"].as_i64().expect("id");
    for id in &ids {
        flood.vote(ev, qid, id).await;
        flood.vote(ev, qid, id).await;
    }
    let list = other
        .get(&format!("/api/qa/{ev}/questions"), None)
        .await
        .json();
    let votes = list["questions"]
        .as_array()
        .expect("questions")
        .iter()
        .find(|q| q["id"] == qid)
        .expect("the question")["votes"]
        .as_u64()
        .expect("votes");
    assert_eq!(
        votes,
        ids.len() as u64,
        "{}: one vote per signed id",
        b.name()
    );
    eprintln!(
        "{}: {} fresh ids, {created} questions and {votes} votes accepted from one address",
        b.name(),
        ids.len()
    );
}

/// A ban holds for the id and keeps its address from minting fresh ids for a while.
async fn ban_blocks_minting(b: &Backend) {
    let clock = TestClock::at(1_800_000_000_000);
    let st = b.open_with(&clock).await;
    let troll = Client::from_address(st.clone(), "203.0.113.66");
    let elsewhere = Client::from_address(st.clone(), "203.0.113.67");
    let ev = "ev-ban-address";
    let v = troll.mint(ev).await;
    assert_eq!(
        troll.ask(ev, &v.signed, "spam").await.status,
        StatusCode::CREATED
    );
    let r = troll
        .post_as_moderator(
            &format!("/api/qa/{ev}/bans"),
            &format!(r#"{{"viewer":"{}"}}"#, v.id),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(
        troll.ask(ev, &v.signed, "again").await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(troll.mint_with(ev, "").await.status, StatusCode::FORBIDDEN);
    assert_eq!(elsewhere.mint_with(ev, "").await.status, StatusCode::OK);
    clock.advance(amphi_qa::Limits::default().address_ban_ms + 1);
    assert_eq!(troll.mint_with(ev, "").await.status, StatusCode::OK);
    assert_eq!(
        troll.ask(ev, &v.signed, "still").await.status,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn address_limits_on_every_backend() {
    for b in backends() {
        fresh_ids_per_post(&b).await;
        ban_blocks_minting(&b).await;
        eprintln!("{}: ok", b.name());
    }
}
