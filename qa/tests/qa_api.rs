//! The Q&A HTTP API against SQLite and PostgreSQL: lifecycle, votes, bans,
//! viewer ids, bad input, XSS text, exports and restart durability.

mod common;

use axum::http::StatusCode;
use common::{backends, ids, Backend, Client, TOKEN};

async fn lifecycle(b: &Backend) {
    let c = Client::new(b.open().await);
    let ev = "ev-premod-life";
    let (v1, v2, v3) = (c.mint(ev).await, c.mint(ev).await, c.mint(ev).await);
    let (s1, s2, s3) = (v1.signed.as_str(), v2.signed.as_str(), v3.signed.as_str());
    let r = c.ask(ev, s1, "  What is a monad?  ").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}: {}", b.name(), r.text);
    let q = r.json();
    assert_eq!(q["text"], "What is a monad?");
    assert_eq!(q["status"], "pending");
    assert!(q.get("viewer").is_none(), "viewer ids are never echoed");
    let id = q["id"].as_i64().expect("id");

    // Pending: invisible to viewers, visible to moderators, cannot be voted on.
    let list = c.get(&format!("/api/qa/{ev}/questions"), None).await.json();
    assert!(ids(&list).is_empty());
    let r = c
        .get(
            &format!("/api/qa/{ev}/questions?view=moderator"),
            Some(TOKEN),
        )
        .await;
    assert_eq!(ids(&r.json()), vec![id]);
    assert_eq!(c.vote(ev, id, s2).await.status, StatusCode::NOT_FOUND);
    assert_eq!(c.moderate(ev, id, "pin").await.status, StatusCode::CONFLICT);

    let r = c.moderate(ev, id, "approve").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.json()["status"], "approved");
    assert_eq!(
        r.json()["viewer"],
        v1.id.as_str(),
        "moderators see the asker"
    );

    // One vote per viewer id.
    assert_eq!(c.vote(ev, id, s2).await.json()["votes"], 1);
    assert_eq!(c.vote(ev, id, s2).await.json()["votes"], 1);
    assert_eq!(c.vote(ev, id, s3).await.json()["votes"], 2);

    // A second question, then ordering by votes.
    let id2 = c.ask(ev, s2, "second").await.json()["id"]
        .as_i64()
        .expect("id");
    c.moderate(ev, id2, "approve").await;
    let list = c.get(&format!("/api/qa/{ev}/questions"), None).await.json();
    assert_eq!(ids(&list), vec![id, id2]);

    // Pin: one per event.
    assert!(c.moderate(ev, id2, "pin").await.json()["pinned"]
        .as_bool()
        .expect("bool"));
    let list = c.get(&format!("/api/qa/{ev}/questions"), None).await.json();
    assert_eq!(ids(&list), vec![id2, id], "pinned first");
    c.moderate(ev, id, "pin").await;
    let list = c.get(&format!("/api/qa/{ev}/questions"), None).await.json();
    let pinned: Vec<bool> = list["questions"]
        .as_array()
        .expect("array")
        .iter()
        .map(|q| q["pinned"].as_bool().expect("bool"))
        .collect();
    assert_eq!(pinned, vec![true, false]);
    assert!(!c.moderate(ev, id, "unpin").await.json()["pinned"]
        .as_bool()
        .expect("bool"));

    // Answer, hide.
    let r = c.moderate(ev, id, "answer").await.json();
    assert_eq!(r["status"], "answered");
    let r = c.moderate(ev, id2, "hide").await.json();
    assert_eq!(r["status"], "hidden");
    let list = c.get(&format!("/api/qa/{ev}/questions"), None).await.json();
    assert_eq!(ids(&list), vec![id]);
    assert_eq!(
        c.moderate(ev, id2, "answer").await.status,
        StatusCode::CONFLICT
    );
    assert_eq!(
        c.moderate(ev, 999_999, "approve").await.status,
        StatusCode::NOT_FOUND
    );
    // A question of another event is not reachable through this one.
    assert_eq!(
        c.moderate("ev-other", id, "hide").await.status,
        StatusCode::NOT_FOUND
    );
}

async fn auth_and_bad_input(b: &Backend) {
    let c = Client::new(b.open().await);
    let ev = "ev-bad";
    let v1 = c.mint(ev).await;
    let s1 = v1.signed.as_str();
    let id = c.ask(ev, s1, "ok").await.json()["id"].as_i64().expect("id");
    let u = format!("/api/qa/{ev}/questions/{id}/hide");
    assert_eq!(c.post(&u, &[], "").await.status, StatusCode::UNAUTHORIZED);
    let r = c.post(&u, &[("authorization", "Bearer wrong")], "").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.json()["error"], "unauthorized");
    let r = c
        .get(&format!("/api/qa/{ev}/questions?view=moderator"), None)
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let r = c
        .get(&format!("/api/qa/{ev}/export.csv"), Some("nope"))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    let q = format!("/api/qa/{ev}/questions");
    let auth = format!("Bearer {s1}");
    let valid = ("authorization", auth.as_str());
    type Case<'a> = (Vec<(&'a str, &'a str)>, String, StatusCode);
    let cases: Vec<Case<'_>> = vec![
        (vec![], r#"{"text":"x"}"#.into(), StatusCode::UNAUTHORIZED),
        // The client's own say-so is no identity any more.
        (vec![("x-amphi-viewer", "viewer-0001")], r#"{"text":"x"}"#.into(), StatusCode::UNAUTHORIZED),
        (vec![("authorization", "Bearer viewer-0001")], r#"{"text":"x"}"#.into(), StatusCode::UNAUTHORIZED),
        (vec![valid], r#"{"text":"   "}"#.into(), StatusCode::BAD_REQUEST),
        (vec![valid], format!(r#"{{"text":"{}"}}"#, "a".repeat(501)), StatusCode::BAD_REQUEST),
        (vec![valid], r#"{"text":"a\u0000b"}"#.into(), StatusCode::BAD_REQUEST),
        (vec![valid], r#"{"text":"x","name":"0123456789012345678901234567890123456789012345678901234567890"}"#.into(), StatusCode::BAD_REQUEST),
        (vec![valid], r#"{"text":"x","program_time":-5}"#.into(), StatusCode::BAD_REQUEST),
        (vec![valid], r#"{"text":"x","extra":1}"#.into(), StatusCode::BAD_REQUEST),
        (vec![valid], r#"{"text":"#.into(), StatusCode::BAD_REQUEST),
        (vec![valid], "[]".into(), StatusCode::BAD_REQUEST),
        (vec![valid], format!(r#"{{"text":"{}"}}"#, "a".repeat(20_000)), StatusCode::PAYLOAD_TOO_LARGE),
    ];
    for (headers, body, want) in cases {
        let r = c.post(&q, &headers, &body).await;
        assert_eq!(r.status, want, "{}: {body:.80}", b.name());
        assert!(r.json()["error"].is_string(), "JSON error reason");
    }
    // An id of another event, or with its signature or expiry changed, is refused.
    let other = c.mint("ev-other").await;
    assert_eq!(
        c.ask(ev, &other.signed, "x").await.status,
        StatusCode::UNAUTHORIZED
    );
    let mut parts: Vec<String> = s1.split('.').map(str::to_owned).collect();
    parts[1] = (common::unix_now() + 999_999).to_string();
    let r = c.ask(ev, &parts.join("."), "x").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.json()["error"], "invalid_viewer");
    assert!(r.headers.contains_key("www-authenticate"));
    assert_eq!(
        c.vote(ev, id, &other.signed).await.status,
        StatusCode::UNAUTHORIZED
    );
    // An event whose viewers must be named refuses anonymous questions.
    let named = "/api/qa/ev-named/questions";
    let vn = c.mint("ev-named").await;
    let auth_named = format!("Bearer {}", vn.signed);
    let h = [("authorization", auth_named.as_str())];
    let r = c.post(named, &h, r#"{"text":"who am I?"}"#).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", b.name());
    assert_eq!(r.json()["error"], "invalid_input");
    let r = c.post(named, &h, r#"{"text":"hello","name":"Ada"}"#).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", b.name());
    // Unknown and malformed events, ids and actions.
    assert_eq!(c.ask("nope", s1, "x").await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        c.get("/api/qa/nope/questions", None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        c.get("/api/qa/ev%00x/questions", None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(c.vote(ev, -1, s1).await.status, StatusCode::NOT_FOUND);
    let r = c
        .post(&format!("/api/qa/{ev}/questions/abc/vote"), &[valid], "")
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = c
        .post_as_moderator(&format!("/api/qa/{ev}/questions/{id}/delete"), "")
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = c
        .post_as_moderator(&format!("/api/qa/{ev}/questions/{id}/approve"), "{bad")
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = c
        .post_as_moderator(
            &format!("/api/qa/{ev}/questions/{id}/approve"),
            r#"{"program_time":1700000000000}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

async fn xss_ban_export(b: &Backend) {
    let c = Client::new(b.open().await);
    let ev = "ev-xss";
    let (v1, v2) = (c.mint(ev).await, c.mint(ev).await);
    let (s1, s2) = (v1.signed.as_str(), v2.signed.as_str());
    let auth1 = format!("Bearer {s1}");
    let xss = "<script>alert('x')</script><img src=x onerror=alert(1)> & \"q\", =cmd()";
    let body = serde_json::json!({ "text": xss, "name": "<b>Eve</b>", "program_time": 1_764_000_000_000i64 }).to_string();
    let r = c
        .post(
            &format!("/api/qa/{ev}/questions"),
            &[("authorization", &auth1)],
            &body,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert!(r.headers["content-type"]
        .to_str()
        .expect("ascii")
        .starts_with("application/json"));
    let id = r.json()["id"].as_i64().expect("id");
    let list = c.get(&format!("/api/qa/{ev}/questions"), None).await.json();
    assert_eq!(
        list["questions"][0]["text"], xss,
        "stored and returned verbatim"
    );
    assert_eq!(list["questions"][0]["name"], "<b>Eve</b>");
    assert_eq!(list["questions"][0]["program_time"], 1_764_000_000_000i64);

    // Ban: no more posts or votes from that viewer; others unaffected.
    let r = c
        .post_as_moderator(
            &format!("/api/qa/{ev}/bans"),
            &format!(r#"{{"viewer":"{}"}}"#, v1.id),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = c
        .post_as_moderator(
            &format!("/api/qa/{ev}/bans"),
            &format!(r#"{{"viewer":"{}"}}"#, v1.id),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "bans are idempotent");
    assert_eq!(
        c.post(
            &format!("/api/qa/{ev}/bans"),
            &[],
            r#"{"viewer":"viewer-0001"}"#
        )
        .await
        .status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        c.post_as_moderator(&format!("/api/qa/{ev}/bans"), r#"{"viewer":"x"}"#)
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    let r = c.ask(ev, s1, "again").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json()["error"], "banned");
    assert_eq!(c.vote(ev, id, s1).await.status, StatusCode::FORBIDDEN);
    // A banned id cannot be renewed either.
    let r = c
        .mint_with(ev, &serde_json::json!({ "viewer": s1 }).to_string())
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(c.ask(ev, s2, "fine").await.status, StatusCode::CREATED);
    let elsewhere = c.mint("ev-elsewhere").await;
    assert_eq!(
        c.ask("ev-elsewhere", &elsewhere.signed, "other event")
            .await
            .status,
        StatusCode::CREATED
    );

    // Exports.
    let r = c
        .get(&format!("/api/qa/{ev}/export.csv"), Some(TOKEN))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.headers["content-type"]
        .to_str()
        .expect("ascii")
        .starts_with("text/csv"));
    let mut lines = r.text.split("\r\n");
    assert_eq!(lines.next(), Some(amphi_qa::export::CSV_HEADER));
    let first = lines.next().expect("row");
    assert!(first.starts_with(&format!("{id},")));
    assert!(first.contains(
        "\"<script>alert('x')</script><img src=x onerror=alert(1)> & \"\"q\"\", =cmd()\""
    ));
    let r = c
        .get(&format!("/api/qa/{ev}/export.json?token={TOKEN}"), None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let all = r.json();
    assert_eq!(all.as_array().expect("array").len(), 2);
    assert_eq!(all[0]["text"], xss);
    assert_eq!(all[0]["viewer"], v1.id.as_str());
}

async fn restart(b: &Backend) {
    let ev = "ev-restart";
    let (id, id2, v2) = {
        let st = b.open().await;
        let c = Client::new(st);
        let (v1, v2) = (c.mint(ev).await, c.mint(ev).await);
        let (s1, s2) = (v1.signed.as_str(), v2.signed.as_str());
        let id = c.ask(ev, s1, "survive?").await.json()["id"]
            .as_i64()
            .expect("id");
        let id2 = c.ask(ev, s2, "me too").await.json()["id"]
            .as_i64()
            .expect("id");
        c.vote(ev, id, s2).await;
        c.moderate(ev, id, "pin").await;
        c.moderate(ev, id2, "hide").await;
        (id, id2, v2)
    };
    // Everything dropped: reopen the same database.
    tokio::task::yield_now().await;
    let c = Client::new(b.open().await);
    let all = c
        .get(&format!("/api/qa/{ev}/export.json"), Some(TOKEN))
        .await
        .json();
    let all = all.as_array().expect("array");
    assert_eq!(all.len(), 2, "{}", b.name());
    assert_eq!(all[0]["id"], id);
    assert_eq!(all[0]["votes"], 1);
    assert_eq!(all[0]["pinned"], true);
    assert_eq!(all[1]["id"], id2);
    assert_eq!(all[1]["status"], "hidden");
    // Ids minted before the restart still hold (the key is in the database), and
    // votes are still one per viewer id.
    assert_eq!(c.vote(ev, id, &v2.signed).await.json()["votes"], 1);
    // Renewing keeps the id.
    let r = c
        .mint_with(ev, &serde_json::json!({ "viewer": v2.signed }).to_string())
        .await;
    assert_eq!(r.json()["id"], v2.id.as_str());
    assert_eq!(
        c.vote(ev, id, r.json()["viewer"].as_str().expect("viewer"))
            .await
            .json()["votes"],
        1
    );
    // The sequence continues.
    let list = c.get(&format!("/api/qa/{ev}/questions"), None).await.json();
    assert!(list["seq"].as_i64().expect("seq") >= 5);
}

/// An id signed hours ago has expired: refused, and renewing it gives a fresh id.
async fn expiry(b: &Backend) {
    let ev = "ev-expiry";
    let then = 1_800_000_000_000i64;
    let old = Client::new(b.open().await.with_clock(move || then));
    let v = old.mint(ev).await;
    let later = then + (amphi_qa::identity::VIEWER_ID_TTL_SECS as i64 + 1) * 1000;
    let c = Client::new(b.open().await.with_clock(move || later));
    let r = c.ask(ev, &v.signed, "too late").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", b.name());
    let r = c
        .mint_with(ev, &serde_json::json!({ "viewer": v.signed }).to_string())
        .await;
    assert_ne!(
        r.json()["id"],
        v.id.as_str(),
        "an expired id is not renewed"
    );
    let fresh = r.json()["viewer"].as_str().expect("viewer").to_owned();
    assert_eq!(
        c.ask(ev, &fresh, "in time").await.status,
        StatusCode::CREATED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_on_every_backend() {
    for b in backends() {
        lifecycle(&b).await;
        auth_and_bad_input(&b).await;
        xss_ban_export(&b).await;
        restart(&b).await;
        expiry(&b).await;
        eprintln!("{}: ok", b.name());
    }
}
