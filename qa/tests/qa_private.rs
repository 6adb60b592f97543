//! A private event's Q&A against SQLite and PostgreSQL: without the event's viewer
//! token nothing is listed, posted, voted or streamed; with it (or the viewer id
//! minted for it) everything is; named viewer tokens give the asker's name.

mod common;

use axum::http::StatusCode;
use common::{backends, viewer_token, Backend, Client, TOKEN, VIEWER_SECRET};

async fn closed_without_token(b: &Backend) {
    let c = Client::new(b.open().await);
    let ev = "ev-private";
    let token = viewer_token(ev, 600);

    // Nothing without the token.
    let r = c.get(&format!("/api/qa/{ev}/questions"), None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", b.name());
    assert_eq!(r.json()["error"], "token_required");
    let r = c.mint_with(ev, "").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    for bad in [
        amphi_origin::token::sign(b"guessed", ev, common::now_plus(600)),
        amphi_origin::token::sign(VIEWER_SECRET, ev, common::now_plus(-1)),
        viewer_token("ev-private-other", 600),
    ] {
        let r = c
            .mint_with(ev, &serde_json::json!({ "token": bad }).to_string())
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{bad}");
        let r = c
            .get(&format!("/api/qa/{ev}/questions"), Some(bad.as_str()))
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{bad}");
    }
    let r = c.open_stream(&format!("/api/qa/{ev}/stream")).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // A public event's id is no key to a private one.
    let public = c.mint("ev-public").await;
    assert_eq!(
        c.ask(ev, &public.signed, "let me in").await.status,
        StatusCode::UNAUTHORIZED
    );

    // With the token: a viewer id, never outliving the token.
    let r = c
        .mint_with(ev, &serde_json::json!({ "token": token }).to_string())
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let expires = r.json()["expires_at"].as_u64().expect("expiry");
    assert!(expires <= common::unix_now() + 600);
    let signed = r.json()["viewer"].as_str().expect("viewer").to_owned();
    let r = c.ask(ev, &signed, "May I?").await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let id = r.json()["id"].as_i64().expect("id");
    assert_eq!(c.vote(ev, id, &signed).await.json()["votes"], 1);
    // Posting and voting need the id: the token alone names no viewer.
    assert_eq!(
        c.ask(ev, &token, "who am I?").await.status,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        c.vote(ev, id, "nobody").await.status,
        StatusCode::UNAUTHORIZED
    );
    // Reading takes the id or the token.
    for credential in [signed.as_str(), token.as_str()] {
        let r = c
            .get(&format!("/api/qa/{ev}/questions"), Some(credential))
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.json()["questions"][0]["text"], "May I?");
        let mut s = c
            .stream(&format!("/api/qa/{ev}/stream?access={credential}"))
            .await;
        let snap = s
            .next(std::time::Duration::from_secs(1))
            .await
            .expect("snapshot");
        assert_eq!(snap.data["questions"][0]["id"], id);
    }
    // Moderators need no viewer token.
    let r = c
        .get(
            &format!("/api/qa/{ev}/questions?view=moderator"),
            Some(TOKEN),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
}

async fn named_viewers(b: &Backend) {
    let c = Client::new(b.open().await);
    let ev = "ev-private-named";
    let exp = common::now_plus(600);
    let named = amphi_origin::token::sign_named(VIEWER_SECRET, ev, exp, "Ada Lovelace")
        .expect("a named token");
    let r = c
        .mint_with(ev, &serde_json::json!({ "token": named }).to_string())
        .await;
    assert_eq!(r.json()["name"], "Ada Lovelace", "{}", b.name());
    let ada = r.json()["viewer"].as_str().expect("viewer").to_owned();
    // The name comes from the token, whatever the viewer types.
    let auth = format!("Bearer {ada}");
    let r = c
        .post(
            &format!("/api/qa/{ev}/questions"),
            &[("authorization", &auth)],
            r#"{"text":"Is it Turing complete?","name":"Mallory"}"#,
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.json()["name"], "Ada Lovelace");
    let r = c.ask(ev, &ada, "no name typed").await;
    assert_eq!(r.json()["name"], "Ada Lovelace");
    // The name travels signed: an id claiming another name is refused.
    let mut parts: Vec<&str> = ada.split('.').collect();
    let eve = base64_url("Eve");
    parts[2] = &eve;
    assert_eq!(
        c.ask(ev, &parts.join("."), "x").await.status,
        StatusCode::UNAUTHORIZED
    );
    // A cohort token names nobody: the viewer types a name, as on public events.
    let cohort = viewer_token(ev, 600);
    let r = c
        .mint_with(ev, &serde_json::json!({ "token": cohort }).to_string())
        .await;
    assert!(r.json()["name"].is_null());
    let anon = r.json()["viewer"].as_str().expect("viewer").to_owned();
    assert_eq!(
        c.ask(ev, &anon, "anonymous").await.status,
        StatusCode::BAD_REQUEST
    );
    let auth = format!("Bearer {anon}");
    let r = c
        .post(
            &format!("/api/qa/{ev}/questions"),
            &[("authorization", &auth)],
            r#"{"text":"typed","name":"Grace"}"#,
        )
        .await;
    assert_eq!(r.json()["name"], "Grace");
}

fn base64_url(s: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = s.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_events_on_every_backend() {
    for b in backends() {
        closed_without_token(&b).await;
        named_viewers(&b).await;
        eprintln!("{}: ok", b.name());
    }
}
