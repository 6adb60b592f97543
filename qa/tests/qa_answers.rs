//! A moderator's answer text against SQLite and PostgreSQL: given when marking a
//! question answered, replaced by answering again, seen by viewers in the list and
//! live, bounded and checked; and a database made before answers existed gains the
//! column on open, its questions intact.

mod common;

use std::time::Duration;

use axum::http::StatusCode;
use common::{backends, Backend, Client};
use serde_json::{json, Value};

async fn answer(c: &Client, ev: &str, id: i64, body: Value) -> common::Resp {
    c.post_as_moderator(
        &format!("/api/qa/{ev}/questions/{id}/answer"),
        &body.to_string(),
    )
    .await
}

fn listed(c: &Value, id: i64) -> Value {
    c["questions"]
        .as_array()
        .expect("questions array")
        .iter()
        .find(|q| q["id"] == id)
        .cloned()
        .unwrap_or(Value::Null)
}

async fn answers(b: &Backend) {
    let c = Client::new(b.open().await);
    let ev = "ev-answers";
    let v = c.mint(ev).await;
    let id = c.ask(ev, &v.signed, "Why does entropy grow?").await.json()["id"]
        .as_i64()
        .expect("id");
    let mut live = c.stream(&format!("/api/qa/{ev}/stream")).await;
    live.until("snapshot", Duration::from_secs(5))
        .await
        .expect("snapshot");

    // Marked answered with a text: trimmed, markup kept as text (escaped on display).
    let text = "  Because there are more <b>disordered</b> states\nthan ordered ones.  ";
    let r = answer(&c, ev, id, json!({ "answer": text })).await;
    assert_eq!(r.status, StatusCode::OK, "{}: {}", b.name(), r.text);
    assert_eq!(r.json()["status"], "answered");
    assert_eq!(r.json()["answer"], text.trim());
    let msg = live
        .until("question_updated", Duration::from_secs(5))
        .await
        .expect("the viewers' panel hears of the answer");
    assert_eq!(msg.data["question"]["answer"], text.trim(), "{}", b.name());
    let list = c.get(&format!("/api/qa/{ev}/questions"), None).await.json();
    assert_eq!(listed(&list, id)["answer"], text.trim());

    // Answered again: the text is replaced, and viewers hear of it.
    let r = answer(&c, ev, id, json!({ "answer": "More microstates." })).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let msg = live
        .until("question_updated", Duration::from_secs(5))
        .await
        .expect("the new answer is pushed");
    assert_eq!(msg.data["question"]["answer"], "More microstates.");
    // Marking it answered again without a text keeps the answer.
    let r = answer(&c, ev, id, json!({})).await;
    assert_eq!(r.json()["answer"], "More microstates.");
    // A question answered without text has none.
    let id2 = c.ask(ev, &v.signed, "And time?").await.json()["id"]
        .as_i64()
        .expect("id");
    let r = c.moderate(ev, id2, "answer").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.json()["answer"].is_null(), "{}", r.text);

    // Refusals: too long, control characters, on another action, without the token.
    let long = "a".repeat(amphi_qa::model::MAX_ANSWER_CHARS + 1);
    for (body, field) in [
        (json!({ "answer": long }), "answer"),
        (json!({ "answer": "bell\u{7}" }), "answer"),
    ] {
        let r = answer(&c, ev, id2, body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
        assert!(r.text.contains(field), "{}", r.text);
    }
    let r = c
        .post_as_moderator(
            &format!("/api/qa/{ev}/questions/{id2}/approve"),
            &json!({ "answer": "sneaky" }).to_string(),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let r = c
        .post(
            &format!("/api/qa/{ev}/questions/{id2}/answer"),
            &[("authorization", "Bearer wrong-token-0000000000")],
            &json!({ "answer": "intruder" }).to_string(),
        )
        .await;
    assert!(
        matches!(r.status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN),
        "{}",
        r.status
    );
    let list = c.get(&format!("/api/qa/{ev}/questions"), None).await.json();
    assert!(listed(&list, id2)["answer"].is_null());
    assert_eq!(listed(&list, id2)["status"], "answered");

    // Durable: a new origin on the same database reads the answer back.
    let c2 = Client::new(b.open().await);
    let list = c2
        .get(&format!("/api/qa/{ev}/questions"), None)
        .await
        .json();
    assert_eq!(listed(&list, id)["answer"], "More microstates.");
}

#[tokio::test]
async fn answers_on_both_backends() {
    for b in backends() {
        answers(&b).await;
    }
}

/// Turns the database back into the schema before answers (version 3, no column).
async fn to_version_3(b: &Backend) {
    match b {
        Backend::Sqlite { path, .. } => {
            let conn = rusqlite::Connection::open(path).expect("open sqlite");
            conn.execute_batch(
                "ALTER TABLE qa_questions DROP COLUMN answer; PRAGMA user_version = 3;",
            )
            .expect("back to version 3");
        }
        Backend::Postgres { cluster } => {
            let (client, conn) = tokio_postgres::connect(&cluster.url, tokio_postgres::NoTls)
                .await
                .expect("connect postgres");
            let task = tokio::spawn(conn);
            client
                .batch_execute(
                    "ALTER TABLE qa_questions DROP COLUMN answer;
                     DELETE FROM qa_schema_version WHERE version > 3;",
                )
                .await
                .expect("back to version 3");
            drop(client);
            let _ = task.await;
        }
    }
}

#[tokio::test]
async fn a_database_from_before_answers_is_migrated() {
    for b in backends() {
        let ev = "ev-migrate";
        let id = {
            let c = Client::new(b.open().await);
            let v = c.mint(ev).await;
            let id = c.ask(ev, &v.signed, "asked before answers").await.json()["id"]
                .as_i64()
                .expect("id");
            assert_eq!(c.moderate(ev, id, "answer").await.status, StatusCode::OK);
            id
        };
        to_version_3(&b).await;
        let c = Client::new(b.open().await);
        let list = c.get(&format!("/api/qa/{ev}/questions"), None).await.json();
        let q = listed(&list, id);
        assert_eq!(q["status"], "answered", "{}: {list}", b.name());
        assert!(q["answer"].is_null());
        let r = answer(&c, ev, id, json!({ "answer": "Now with a text." })).await;
        assert_eq!(r.status, StatusCode::OK, "{}: {}", b.name(), r.text);
        assert_eq!(r.json()["answer"], "Now with a text.");
    }
}
