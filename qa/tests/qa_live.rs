//! Live updates over SSE: approvals reach viewers within a second, viewers see
//! only what they may, `Last-Event-ID` resumes without gaps, and with
//! PostgreSQL a change made through one origin reaches the panels of another.

mod common;

use std::time::{Duration, Instant};

use common::{backends, Backend, Client, TOKEN};

const SEC: Duration = Duration::from_secs(1);

async fn approval_reaches_viewer(b: &Backend) {
    let c = Client::new(b.open().await);
    let ev = "ev-premod-live";
    let mut viewer = c.stream(&format!("/api/qa/{ev}/stream")).await;
    let mut moderator = c
        .stream(&format!("/api/qa/{ev}/stream?view=moderator&token={TOKEN}"))
        .await;
    let snap = viewer.next(SEC).await.expect("snapshot");
    assert_eq!(snap.data["type"], "snapshot");
    moderator.next(SEC).await.expect("snapshot");
    let (v1, v2) = (c.mint(ev).await, c.mint(ev).await);

    let id = c.ask(ev, &v1.signed, "<i>live?</i>").await.json()["id"]
        .as_i64()
        .expect("id");
    let m = moderator
        .until("question_created", SEC)
        .await
        .expect("moderator sees pending");
    assert_eq!(m.data["question"]["status"], "pending");
    assert_eq!(m.data["question"]["viewer"], v1.id.as_str());

    let t0 = Instant::now();
    assert_eq!(c.moderate(ev, id, "approve").await.status, 200);
    let m = viewer.next(SEC).await.expect("approval within 1 s");
    assert!(t0.elapsed() < SEC);
    assert_eq!(
        m.data["type"], "question_updated",
        "pending one never reached the viewer"
    );
    assert_eq!(m.data["question"]["status"], "approved");
    assert_eq!(m.data["question"]["text"], "<i>live?</i>");
    assert!(m.data["question"].get("viewer").is_none());
    let approved_seq = m.id.expect("id");

    c.vote(ev, id, &v2.signed).await;
    let m = viewer.next(SEC).await.expect("vote");
    assert_eq!(m.data["type"], "votes_changed");
    assert_eq!(m.data["votes"], 1);
    c.moderate(ev, id, "hide").await;
    let m = viewer.next(SEC).await.expect("removal");
    assert_eq!(m.data["type"], "question_removed");
    assert_eq!(m.data["id"], id);

    // Resume from the approval: replays exactly what followed.
    let mut resumed = c
        .stream(&format!("/api/qa/{ev}/stream?last_event_id={approved_seq}"))
        .await;
    let m = resumed.next(SEC).await.expect("replay");
    assert_eq!(m.data["type"], "votes_changed");
    assert_eq!(
        resumed.next(SEC).await.expect("replay").data["type"],
        "question_removed"
    );

    // Moderator stream authentication.
    let r = c
        .get(
            &format!("/api/qa/{ev}/stream?view=moderator&token=wrong"),
            None,
        )
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(c.get("/api/qa/nope/stream", None).await.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_on_every_backend() {
    for b in backends() {
        approval_reaches_viewer(&b).await;
        eprintln!("{}: ok", b.name());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_origins_share_postgres() {
    let Some(b) = Backend::postgres() else { return };
    let a = Client::new(b.open().await);
    let z = Client::new(b.open().await);
    let ev = "ev-two-origins";
    let mut panel_on_z = z.stream(&format!("/api/qa/{ev}/stream")).await;
    panel_on_z.next(SEC).await.expect("snapshot");

    // Ids minted by one origin are good on the other: the key is in the database.
    let (v1, v2, v3, v9) = (
        a.mint(ev).await,
        z.mint(ev).await,
        a.mint(ev).await,
        z.mint(ev).await,
    );
    let t0 = Instant::now();
    let id = a.ask(ev, &v1.signed, "from origin A").await.json()["id"]
        .as_i64()
        .expect("id");
    let m = panel_on_z
        .next(SEC)
        .await
        .expect("change from the other origin");
    assert_eq!(m.data["type"], "question_created");
    assert_eq!(m.data["question"]["id"], id);
    eprintln!("origin A -> origin B panel: {:?}", t0.elapsed());

    // Votes through both origins count once per viewer and arrive in order.
    a.vote(ev, id, &v2.signed).await;
    z.vote(ev, id, &v2.signed).await;
    z.vote(ev, id, &v3.signed).await;
    let m1 = panel_on_z.next(SEC).await.expect("vote 1");
    let m2 = panel_on_z.next(SEC).await.expect("vote 2");
    assert_eq!(
        (m1.data["votes"].clone(), m2.data["votes"].clone()),
        (1.into(), 2.into())
    );
    assert!(m1.id < m2.id);

    // The rate limit holds across origins.
    let mut statuses = Vec::new();
    for i in 0..8 {
        let c = if i % 2 == 0 { &a } else { &z };
        statuses.push(
            c.ask(ev, &v9.signed, &format!("q{i}"))
                .await
                .status
                .as_u16(),
        );
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        5,
        "{statuses:?}"
    );
}
