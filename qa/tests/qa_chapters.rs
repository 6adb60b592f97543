//! Chapters and markers in program time against SQLite and PostgreSQL: a moderator's
//! chapters, answered questions as markers, the public list and its cache headers,
//! the listener the packager is fed by, refusals and durability across a restart.

mod common;

use std::sync::{Arc, Mutex};

use amphi_qa::{Chapter, ChapterListener};
use axum::http::{header, StatusCode};
use common::{backends, viewer_token, Backend, Client, TOKEN};
use serde_json::{json, Value};

/// 2025-11-24T16:00:00Z in ms.
const T: i64 = 1_764_000_000_000;

#[derive(Default)]
struct Heard(Mutex<Vec<(String, Vec<String>)>>);

impl ChapterListener for Heard {
    fn chapters_changed(&self, event: &str, chapters: &[Chapter]) {
        let ids = chapters.iter().map(|c| c.id.clone()).collect();
        self.0
            .lock()
            .expect("listener lock")
            .push((event.to_owned(), ids));
    }
}

impl Heard {
    fn last(&self) -> Option<(String, Vec<String>)> {
        self.0.lock().expect("listener lock").last().cloned()
    }
}

async fn add(c: &Client, ev: &str, token: &str, body: Value) -> common::Resp {
    let auth = format!("Bearer {token}");
    c.post(
        &format!("/api/events/{ev}/chapters"),
        &[("authorization", &auth)],
        &body.to_string(),
    )
    .await
}

fn listed(c: &Value) -> Vec<(String, String, i64, String)> {
    c["chapters"]
        .as_array()
        .expect("chapters array")
        .iter()
        .map(|m| {
            (
                m["id"].as_str().expect("id").to_owned(),
                m["kind"].as_str().expect("kind").to_owned(),
                m["program_time"].as_i64().expect("program_time"),
                m["text"].as_str().expect("text").to_owned(),
            )
        })
        .collect()
}

async fn chapters_and_markers(b: &Backend) {
    let heard = Arc::new(Heard::default());
    let st = b.open().await.with_chapter_listener(heard.clone());
    let c = Client::new(st);
    let ev = "ev-chapters";

    let r = add(
        &c,
        ev,
        TOKEN,
        json!({"text": " Part 2 — Entropy ", "program_time": T + 60_000}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}: {}", b.name(), r.text);
    assert_eq!(r.json()["id"], "chapter-1");
    assert_eq!(r.json()["text"], "Part 2 — Entropy");
    assert_eq!(
        heard.last(),
        Some((ev.to_owned(), vec!["chapter-1".to_owned()]))
    );
    let r = add(
        &c,
        ev,
        TOKEN,
        json!({"text": "Part 1 — Heat", "program_time": T}),
    )
    .await;
    assert_eq!(r.json()["id"], "chapter-2");

    // A viewer asks at T + 30 s of program time; the moderator answers at T + 90 s.
    let v = c.mint(ev).await;
    let auth = format!("Bearer {}", v.signed);
    let q = c
        .post(
            &format!("/api/qa/{ev}/questions"),
            &[("authorization", &auth)],
            &json!({"text": "Why does\nentropy grow?", "program_time": T + 30_000}).to_string(),
        )
        .await;
    assert_eq!(q.status, StatusCode::CREATED, "{}", q.text);
    assert_eq!(q.json()["program_time"], T + 30_000);
    let id = q.json()["id"].as_i64().expect("id");
    let r = c
        .post_as_moderator(
            &format!("/api/qa/{ev}/questions/{id}/answer"),
            &json!({"program_time": T + 90_000}).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    // A question answered without any program time makes no marker.
    let q2 = c.ask(ev, &v.signed, "no time").await.json()["id"]
        .as_i64()
        .expect("id");
    assert_eq!(c.moderate(ev, q2, "answer").await.status, StatusCode::OK);

    let r = c.get(&format!("/api/events/{ev}/chapters"), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        r.headers
            .get(header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok()),
        Some("public, max-age=2")
    );
    let want = vec![
        (
            "chapter-2".to_owned(),
            "chapter".to_owned(),
            T,
            "Part 1 — Heat".to_owned(),
        ),
        (
            "chapter-1".to_owned(),
            "chapter".to_owned(),
            T + 60_000,
            "Part 2 — Entropy".to_owned(),
        ),
        (
            "question-".to_owned() + &id.to_string(),
            "question".to_owned(),
            T + 90_000,
            "Why does entropy grow?".to_owned(),
        ),
    ];
    assert_eq!(listed(&r.json()), want, "{}", b.name());
    let (_, ids) = heard.last().expect("heard");
    assert_eq!(ids.len(), 3);

    // Refusals: no or wrong token, bad input, unknown event.
    let body = json!({"text": "x", "program_time": T});
    assert_eq!(
        add(&c, ev, "wrong", body.clone()).await.status,
        StatusCode::UNAUTHORIZED
    );
    let none = c
        .post(
            &format!("/api/events/{ev}/chapters"),
            &[],
            &body.to_string(),
        )
        .await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    for bad in [
        json!({"text": "", "program_time": T}),
        json!({"text": "a\nb", "program_time": T}),
        json!({"text": "x".repeat(121), "program_time": T}),
        json!({"text": "x", "program_time": 12}),
        json!({"text": "x"}),
        json!({"text": "x", "program_time": T, "extra": 1}),
    ] {
        let r = add(&c, ev, TOKEN, bad.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.text);
    }
    assert_eq!(
        add(&c, "nope", TOKEN, body).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        c.get("/api/events/nope/chapters", None).await.status,
        StatusCode::NOT_FOUND
    );
    let r = c.get(&format!("/api/events/{ev}/chapters"), None).await;
    assert_eq!(listed(&r.json()).len(), 3, "refused requests added nothing");
}

async fn durable(b: &Backend) {
    let ev = "ev-chapters-durable";
    {
        let c = Client::new(b.open().await);
        for (i, text) in ["One", "Two"].into_iter().enumerate() {
            let r = add(
                &c,
                ev,
                TOKEN,
                json!({"text": text, "program_time": T + i as i64}),
            )
            .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        }
    }
    tokio::task::yield_now().await;
    let st = b.open().await;
    let kept: Vec<String> = st
        .chapters(ev)
        .await
        .expect("chapters")
        .into_iter()
        .map(|c| c.text)
        .collect();
    assert_eq!(kept, ["One", "Two"], "{}", b.name());
    // Numbering continues: ids are never reused.
    let c = Client::new(st);
    let r = add(
        &c,
        ev,
        TOKEN,
        json!({"text": "Three", "program_time": T + 5}),
    )
    .await;
    assert_eq!(r.json()["id"], "chapter-3");
}

async fn private_event(b: &Backend) {
    let c = Client::new(b.open().await);
    let ev = "ev-private-chapters";
    let r = add(&c, ev, TOKEN, json!({"text": "Intro", "program_time": T})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let url = format!("/api/events/{ev}/chapters");
    assert_eq!(c.get(&url, None).await.status, StatusCode::UNAUTHORIZED);
    let r = c.get(&url, Some(&viewer_token(ev, 600))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(listed(&r.json()).len(), 1);
    assert_eq!(
        r.headers
            .get(header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok()),
        Some("private, no-store")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chapters_on_every_backend() {
    for b in backends() {
        chapters_and_markers(&b).await;
        durable(&b).await;
        private_event(&b).await;
    }
}
