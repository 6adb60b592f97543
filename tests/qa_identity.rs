//! Q&A identity against the real binary, over HTTP: viewer ids are minted and signed by
//! the server; made-up, forged and rotated ids get nowhere past the rate limits (per id
//! and per client address, `X-Forwarded-For` believed only from a trusted proxy); votes
//! count once per signed id; a private event's Q&A needs its viewer token; a named
//! viewer's token gives the asker's name.

mod common;

use common::*;
use serde_json::{json, Value};

const EVENT: &str = "lecture";
const PRIVATE: &str = "seminar";
const SECRET: &str = "qa-identity-viewer-secret";

struct Resp {
    status: u16,
    json: Value,
}

fn send(req: reqwest::blocking::RequestBuilder) -> Resp {
    let res = req.send().expect("request");
    let status = res.status().as_u16();
    let text = res.text().expect("body");
    Resp {
        status,
        json: serde_json::from_str(&text).unwrap_or(Value::Null),
    }
}

fn post(
    c: &reqwest::blocking::Client,
    amphi: &Amphi,
    path: &str,
    headers: &[(&str, &str)],
    body: Value,
) -> Resp {
    let mut req = c
        .post(amphi.url(path))
        .header("Content-Type", "application/json")
        .body(body.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    send(req)
}

fn mint(c: &reqwest::blocking::Client, amphi: &Amphi, event: &str, body: Value) -> Resp {
    post(c, amphi, &format!("/api/qa/{event}/viewer"), &[], body)
}

fn ask(c: &reqwest::blocking::Client, amphi: &Amphi, event: &str, viewer: &str, text: &str) -> u16 {
    let auth = format!("Bearer {viewer}");
    post(
        c,
        amphi,
        &format!("/api/qa/{event}/questions"),
        &[("Authorization", &auth)],
        json!({ "text": text }),
    )
    .status
}

#[test]
fn rotating_and_fresh_viewer_ids_stay_within_the_limits() {
    let amphi = Amphi::start(&[&format!("{EVENT}:{KEY}")]);
    let c = client();
    let questions = format!("/api/qa/{EVENT}/questions");
    let voter = mint(&c, &amphi, EVENT, json!({}));
    assert_eq!(voter.status, 200);

    // A new X-Amphi-Viewer value per post (and a new X-Forwarded-For, from a client
    // that is no trusted proxy): nothing is accepted.
    let mut accepted = 0;
    for i in 0..300 {
        let viewer = format!("rotating-viewer-{i:04}");
        let xff = format!("192.0.2.{}", i % 250);
        let r = post(
            &c,
            &amphi,
            &questions,
            &[("X-Amphi-Viewer", &viewer), ("X-Forwarded-For", &xff)],
            json!({ "text": format!("spam {i}") }),
        );
        assert_eq!(r.status, 401, "post {i}");
        accepted += usize::from(r.status == 201);
    }
    eprintln!("rotating X-Amphi-Viewer: {accepted} of 300 posts accepted");

    // A freshly minted id per post: minting and posting stop at the address's limits.
    let (mut minted, mut mint_refused, mut posted, mut post_refused) = (0, 0, 0, 0);
    for i in 0..120 {
        let xff = format!("198.51.100.{i}");
        let r = post(
            &c,
            &amphi,
            &format!("/api/qa/{EVENT}/viewer"),
            &[("X-Forwarded-For", &xff)],
            json!({}),
        );
        match r.status {
            200 => minted += 1,
            429 => {
                mint_refused += 1;
                continue;
            }
            s => panic!("mint answered {s}"),
        }
        let viewer = r.json["viewer"].as_str().expect("viewer");
        match ask(&c, &amphi, EVENT, viewer, &format!("fresh id {i}")) {
            201 => posted += 1,
            429 => post_refused += 1,
            s => panic!("post answered {s}"),
        }
    }
    eprintln!(
        "fresh id per post: {minted} ids minted ({mint_refused} refused), {posted} posts accepted ({post_refused} refused)"
    );
    let limits = amphi_qa::Limits::default();
    assert_eq!(
        minted,
        limits.address_mints_per_minute - 1,
        "the voter's id came first"
    );
    assert_eq!(posted, limits.address_questions_per_minute);

    // One vote per signed id; a forged id is refused.
    let asker = voter.json["viewer"].as_str().expect("viewer").to_owned();
    let list: Value =
        serde_json::from_str(&get_text(&c, &amphi.url(&questions)).expect("the list"))
            .expect("json");
    let id = list["questions"][0]["id"].as_i64().expect("a question");
    let auth = format!("Bearer {asker}");
    let vote_path = format!("/api/qa/{EVENT}/questions/{id}/vote");
    let first = post(
        &c,
        &amphi,
        &vote_path,
        &[("Authorization", &auth)],
        json!(null),
    );
    let second = post(
        &c,
        &amphi,
        &vote_path,
        &[("Authorization", &auth)],
        json!(null),
    );
    assert_eq!(first.status, 200);
    assert_eq!(
        first.json["votes"], second.json["votes"],
        "a second vote does not count"
    );
    let mut forged = asker.clone();
    let last = forged.pop().expect("a character");
    forged.push(if last == 'A' { 'B' } else { 'A' });
    assert_eq!(ask(&c, &amphi, EVENT, &forged, "forged"), 401);
    let r = post(
        &c,
        &amphi,
        &vote_path,
        &[("Authorization", &format!("Bearer {forged}"))],
        json!(null),
    );
    assert_eq!(r.status, 401);
    assert_eq!(r.json["error"], "invalid_viewer");
}

#[test]
fn a_trusted_proxy_gives_each_client_its_own_limits() {
    let amphi = Amphi::start_with(
        &[&format!("{EVENT}:{KEY}")],
        &["--trusted-proxy", "127.0.0.1/32"],
    );
    let c = client();
    let limits = amphi_qa::Limits::default();
    // Behind the proxy (Varnish), clients are told apart by X-Forwarded-For.
    let fill = |client_ip: &str| -> (u32, u32) {
        let mut ok = 0;
        let mut refused = 0;
        for _ in 0..limits.address_mints_per_minute + 5 {
            let r = post(
                &c,
                &amphi,
                &format!("/api/qa/{EVENT}/viewer"),
                &[("X-Forwarded-For", client_ip)],
                json!({}),
            );
            match r.status {
                200 => ok += 1,
                429 => refused += 1,
                s => panic!("mint answered {s}"),
            }
        }
        (ok, refused)
    };
    assert_eq!(fill("203.0.113.1"), (limits.address_mints_per_minute, 5));
    assert_eq!(
        fill("203.0.113.2"),
        (limits.address_mints_per_minute, 5),
        "another client behind the proxy has its own allowance"
    );
}

#[test]
fn private_event_qa_needs_the_viewer_token() {
    std::env::set_var("AMPHI_VIEWER_SECRET", SECRET);
    let data = tempdir::TempDir::new("qa-private");
    let amphi_bin = env!("CARGO_BIN_EXE_amphi");
    let event_cmd = |args: &[&str]| -> String {
        let out = std::process::Command::new(amphi_bin)
            .arg("event")
            .arg("--data-dir")
            .arg(data.path())
            .args(args)
            .output()
            .expect("amphi event");
        assert!(
            out.status.success(),
            "amphi event {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    event_cmd(&["create", "named", "--private", "--named-viewers"]);
    let named_token = event_cmd(&["token", "named", "--name", "Ada Lovelace"])
        .lines()
        .find_map(|l| l.strip_prefix("token:").map(|t| t.trim().to_owned()))
        .expect("a token line");
    let amphi = Amphi::start_in(data.path(), &[&format!("{PRIVATE}:{KEY}:private")]);
    let c = client();
    let token = amphi_origin::token::sign(SECRET.as_bytes(), PRIVATE, now_plus(600));
    let list = amphi.url(&format!("/api/qa/{PRIVATE}/questions"));
    let stream = amphi.url(&format!("/api/qa/{PRIVATE}/stream"));

    // Without the token: list, stream, mint (hence post and vote) are refused.
    assert_eq!(send(c.get(&list)).status, 401);
    assert_eq!(
        c.get(&stream).send().expect("stream").status().as_u16(),
        401
    );
    assert_eq!(mint(&c, &amphi, PRIVATE, json!({})).status, 401);
    let expired = amphi_origin::token::sign(SECRET.as_bytes(), PRIVATE, now_plus(-1));
    assert_eq!(
        mint(&c, &amphi, PRIVATE, json!({ "token": expired })).status,
        401
    );
    assert_eq!(
        ask(
            &c,
            &amphi,
            PRIVATE,
            "AAAAAAAAAAAAAAAAAAAAAA.1..x",
            "let me in"
        ),
        401
    );
    let vote = format!("/api/qa/{PRIVATE}/questions/1/vote");
    assert_eq!(post(&c, &amphi, &vote, &[], json!(null)).status, 401);

    // With it: everything.
    let r = mint(&c, &amphi, PRIVATE, json!({ "token": token }));
    assert_eq!(r.status, 200);
    let viewer = r.json["viewer"].as_str().expect("viewer").to_owned();
    assert_eq!(ask(&c, &amphi, PRIVATE, &viewer, "Is this recorded?"), 201);
    let auth = format!("Bearer {viewer}");
    let listed = send(c.get(&list).header("Authorization", &auth));
    assert_eq!(listed.status, 200);
    let id = listed.json["questions"][0]["id"].as_i64().expect("id");
    let vote = format!("/api/qa/{PRIVATE}/questions/{id}/vote");
    assert_eq!(
        post(&c, &amphi, &vote, &[("Authorization", &auth)], json!(null)).status,
        200
    );
    let res = c
        .get(format!("{stream}?access={token}"))
        .send()
        .expect("stream");
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(
        res.headers()["content-type"].to_str().expect("ascii"),
        "text/event-stream"
    );
    drop(res);

    // A named viewer's token gives the name the question is asked under.
    let r = mint(&c, &amphi, "named", json!({ "token": named_token }));
    assert_eq!(r.status, 200);
    assert_eq!(r.json["name"], "Ada Lovelace");
    let ada = format!("Bearer {}", r.json["viewer"].as_str().expect("viewer"));
    let q = post(
        &c,
        &amphi,
        "/api/qa/named/questions",
        &[("Authorization", &ada)],
        json!({ "text": "Who wrote the first program?", "name": "Someone Else" }),
    );
    assert_eq!(q.status, 201);
    assert_eq!(q.json["name"], "Ada Lovelace");
    // The named token is also a viewer token for the media (its cohort part).
    let cohort: Vec<&str> = named_token.split('.').take(2).collect();
    let cohort = cohort.join(".");
    let r = mint(&c, &amphi, "named", json!({ "token": cohort }));
    assert_eq!(r.status, 200);
    assert!(r.json["name"].is_null());
}
