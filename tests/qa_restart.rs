//! The amphi process is killed mid-event (SIGKILL: no shutdown, no flush) and started
//! again on the same data directory: every question and vote that was acknowledged is
//! still there, viewer ids minted before the crash still hold, and a viewer's vote still
//! counts once.

mod common;

use common::*;
use std::collections::BTreeMap;

const EVENT: &str = "lecture";
const QUESTIONS: usize = 12;

/// A viewer id minted and signed by the server.
fn mint(c: &reqwest::blocking::Client, amphi: &Amphi) -> String {
    let res = c
        .post(amphi.url(&format!("/api/qa/{EVENT}/viewer")))
        .send()
        .expect("mint a viewer id");
    assert_eq!(res.status().as_u16(), 200, "mint a viewer id");
    let v: serde_json::Value = serde_json::from_str(&res.text().expect("body")).expect("json");
    v["viewer"].as_str().expect("viewer").to_owned()
}

fn post_question(c: &reqwest::blocking::Client, amphi: &Amphi, asker: &str, text: &str) -> i64 {
    let body = serde_json::json!({ "text": text }).to_string();
    let res = c
        .post(amphi.url(&format!("/api/qa/{EVENT}/questions")))
        .header("Authorization", format!("Bearer {asker}"))
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .expect("post question");
    assert_eq!(res.status().as_u16(), 201, "post question");
    let q: serde_json::Value = serde_json::from_str(&res.text().expect("body")).expect("json");
    q["id"].as_i64().expect("question id")
}

fn vote(c: &reqwest::blocking::Client, amphi: &Amphi, id: i64, voter: &str) -> u64 {
    let res = c
        .post(amphi.url(&format!("/api/qa/{EVENT}/questions/{id}/vote")))
        .header("Authorization", format!("Bearer {voter}"))
        .send()
        .expect("vote");
    assert!(res.status().is_success(), "vote: {}", res.status());
    let v: serde_json::Value = serde_json::from_str(&res.text().expect("body")).expect("json");
    v["votes"].as_u64().expect("vote count")
}

/// Question id → (text, votes), as viewers see the list.
fn questions(c: &reqwest::blocking::Client, amphi: &Amphi) -> BTreeMap<i64, (String, u64)> {
    let text = get_text(c, &amphi.url(&format!("/api/qa/{EVENT}/questions"))).expect("list");
    let v: serde_json::Value = serde_json::from_str(&text).expect("json");
    v["questions"]
        .as_array()
        .expect("questions array")
        .iter()
        .map(|q| {
            (
                q["id"].as_i64().expect("id"),
                (
                    q["text"].as_str().expect("text").to_owned(),
                    q["votes"].as_u64().expect("votes"),
                ),
            )
        })
        .collect()
}

#[test]
fn questions_and_votes_survive_a_killed_process() {
    let data = tempdir::TempDir::new("qa-restart");
    let events = [format!("{EVENT}:{KEY}")];
    let events: Vec<&str> = events.iter().map(String::as_str).collect();
    let c = client();

    let amphi = Amphi::start_in(data.path(), &events);
    let viewers: Vec<String> = (0..QUESTIONS).map(|_| mint(&c, &amphi)).collect();
    let mut expected = BTreeMap::new();
    for (n, asker) in viewers.iter().enumerate() {
        let text = format!("Question {n}: why does the {n}th harmonic matter?");
        let id = post_question(&c, &amphi, asker, &text);
        // Question n gets one vote from each of the n viewers before it.
        let mut votes = 0;
        for voter in &viewers[..n] {
            votes = vote(&c, &amphi, id, voter);
        }
        assert_eq!(votes, n as u64);
        expected.insert(id, (text, votes));
    }
    assert_eq!(questions(&c, &amphi), expected);
    // The last acknowledged write was a vote: kill at once, as a crash would.
    drop(amphi);

    let amphi = Amphi::start_in(data.path(), &events);
    assert_eq!(
        questions(&c, &amphi),
        expected,
        "after the restart every question and vote is back"
    );
    // Viewer ids survive the crash (their key is in the database), and votes are
    // remembered per viewer: voting again does not count twice.
    let (&last, (_, votes)) = expected.iter().next_back().expect("a question");
    assert_eq!(vote(&c, &amphi, last, &viewers[0]), *votes);
    // And the event goes on: new questions get new ids.
    let id = post_question(&c, &amphi, &mint(&c, &amphi), "After the restart?");
    assert!(!expected.contains_key(&id), "id {id} was reused");
    assert_eq!(questions(&c, &amphi).len(), QUESTIONS + 1);
}
