//! Test harness: backends (SQLite temp file, throwaway PostgreSQL cluster),
//! an in-memory HTTP client over the router and an SSE reader.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use amphi_qa::{router, EventQaSettings, QaEvents, QaState, TokenClaims};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

pub const TOKEN: &str = "moderator-secret-token-1234";
/// Key of the viewer tokens of private test events.
pub const VIEWER_SECRET: &[u8] = b"viewer-secret-of-private-events";

/// Events known to the tests: every name starting with `ev` exists; names
/// containing `premod` are premoderated; names containing `slow` allow 2/min;
/// `named` ones need names; `private` ones need a viewer token signed with
/// [`VIEWER_SECRET`] (checked by the origin's token module, as the binary does).
pub struct TestEvents;

impl QaEvents for TestEvents {
    fn moderator_token(&self, event: &str) -> Option<String> {
        event.starts_with("ev").then(|| TOKEN.to_owned())
    }
    fn settings(&self, event: &str) -> Option<EventQaSettings> {
        event.starts_with("ev").then(|| EventQaSettings {
            premoderated: event.contains("premod"),
            questions_per_minute: if event.contains("slow") { 2 } else { 5 },
            require_name: event.contains("named"),
            private: event.contains("private"),
            ..Default::default()
        })
    }
    fn check_viewer_token(
        &self,
        event: &str,
        token: &str,
        now: amphi_time::WallTime,
    ) -> Option<TokenClaims> {
        amphi_origin::token::verify_claims(VIEWER_SECRET, event, token, now)
            .ok()
            .map(|c| TokenClaims {
                expires: c.expires,
                name: c.name,
            })
    }
}

/// Seconds since 1970.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

/// Now, moved by `secs` seconds.
pub fn now_plus(secs: i64) -> amphi_time::WallTime {
    amphi_time::WallTime::from(std::time::SystemTime::now())
        + amphi_time::TimeDelta::from_millis(secs * 1000)
}

/// A cohort viewer token of a private test event, valid for `secs`.
pub fn viewer_token(event: &str, secs: u64) -> String {
    amphi_origin::token::sign(VIEWER_SECRET, event, now_plus(secs as i64))
}

/// A signed viewer id as the mint route returns it.
#[derive(Debug, Clone)]
pub struct Viewer {
    /// The bearer value.
    pub signed: String,
    /// The stable id moderators see and ban.
    pub id: String,
}

/// Where a test's database lives.
pub enum Backend {
    Sqlite {
        _dir: tempfile::TempDir,
        path: PathBuf,
    },
    Postgres {
        cluster: PgCluster,
    },
}

impl Backend {
    pub fn sqlite() -> Backend {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("qa.sqlite3");
        Backend::Sqlite { _dir: dir, path }
    }

    /// A fresh PostgreSQL cluster, or `None` when `AMPHI_SKIP_PG=1`.
    /// Fails loudly when PostgreSQL cannot be started.
    pub fn postgres() -> Option<Backend> {
        if std::env::var("AMPHI_SKIP_PG").as_deref() == Ok("1") {
            eprintln!("AMPHI_SKIP_PG=1: skipping the PostgreSQL run");
            return None;
        }
        Some(Backend::Postgres {
            cluster: PgCluster::start(),
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite { .. } => "sqlite",
            Backend::Postgres { .. } => "postgres",
        }
    }

    /// A new `QaState` on this database whose clock is `clock`.
    pub async fn open_with(&self, clock: &TestClock) -> QaState {
        let ms = Arc::clone(&clock.0);
        self.open()
            .await
            .with_clock(move || ms.load(std::sync::atomic::Ordering::SeqCst))
    }

    /// A new `QaState` ("origin") on this database.
    pub async fn open(&self) -> QaState {
        let events: Arc<dyn QaEvents> = Arc::new(TestEvents);
        match self {
            Backend::Sqlite { path, .. } => {
                QaState::sqlite(path, events).await.expect("open sqlite")
            }
            Backend::Postgres { cluster } => QaState::postgres(&cluster.url, events)
                .await
                .expect("connect postgres"),
        }
    }
}

/// A clock a test moves by hand, in milliseconds since 1970.
pub struct TestClock(Arc<std::sync::atomic::AtomicI64>);

impl TestClock {
    pub fn at(ms: i64) -> TestClock {
        TestClock(Arc::new(std::sync::atomic::AtomicI64::new(ms)))
    }

    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Both backends (PostgreSQL unless `AMPHI_SKIP_PG=1`).
pub fn backends() -> Vec<Backend> {
    let mut v = vec![Backend::sqlite()];
    v.extend(Backend::postgres());
    v
}

/// A PostgreSQL cluster started with `scripts/pg-test-cluster.sh`, stopped on drop.
pub struct PgCluster {
    dir: tempfile::TempDir,
    port: u16,
    pub url: String,
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/pg-test-cluster.sh")
}

impl PgCluster {
    pub fn start() -> PgCluster {
        let dir = tempfile::Builder::new()
            .prefix("amphi-qa-pg")
            .tempdir()
            .expect("temp dir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let out = Command::new("bash")
            .arg(script())
            .args(["start", &dir.path().to_string_lossy(), &port.to_string()])
            .output()
            .expect("run scripts/pg-test-cluster.sh");
        assert!(
            out.status.success(),
            "could not start PostgreSQL 15 with scripts/pg-test-cluster.sh \
             (install postgresql, or set AMPHI_SKIP_PG=1 to skip): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let url = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        PgCluster { dir, port, url }
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(script())
            .args([
                "stop",
                &self.dir.path().to_string_lossy(),
                &self.port.to_string(),
            ])
            .output();
    }
}

/// A response: status, headers and the body parsed as JSON when it is JSON.
pub struct Resp {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub text: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text))
    }
}

pub struct Client {
    pub app: Router,
    /// The client address every request comes from, when set.
    pub peer: Option<std::net::SocketAddr>,
}

impl Client {
    pub fn new(state: QaState) -> Client {
        Client {
            app: router(state),
            peer: None,
        }
    }

    /// A client whose requests come from `ip` (as a server with ConnectInfo sees them).
    pub fn from_address(state: QaState, ip: &str) -> Client {
        Client {
            app: router(state),
            peer: Some(std::net::SocketAddr::new(
                ip.parse().expect("an IP address"),
                40000,
            )),
        }
    }

    pub async fn send(&self, mut req: Request<Body>) -> Resp {
        if let Some(peer) = self.peer {
            req.extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
        }
        let resp = self.app.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        Resp {
            status,
            headers,
            text: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    pub async fn get(&self, uri: &str, token: Option<&str>) -> Resp {
        let mut b = Request::get(uri);
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        self.send(b.body(Body::empty()).expect("request")).await
    }

    pub async fn post(&self, uri: &str, headers: &[(&str, &str)], body: &str) -> Resp {
        let mut b = Request::post(uri).header("content-type", "application/json");
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        self.send(b.body(Body::from(body.to_owned())).expect("request"))
            .await
    }

    /// Asks the mint route; `body` is its JSON (`""` for none).
    pub async fn mint_with(&self, event: &str, body: &str) -> Resp {
        self.post(&format!("/api/qa/{event}/viewer"), &[], body)
            .await
    }

    /// A fresh signed viewer id for `event`.
    pub async fn mint(&self, event: &str) -> Viewer {
        let r = self.mint_with(event, "").await;
        assert_eq!(r.status, StatusCode::OK, "mint: {}", r.text);
        let j = r.json();
        Viewer {
            signed: j["viewer"].as_str().expect("viewer").to_owned(),
            id: j["id"].as_str().expect("id").to_owned(),
        }
    }

    /// Posts a question as `viewer` (a signed viewer id, sent as bearer).
    pub async fn ask(&self, event: &str, viewer: &str, text: &str) -> Resp {
        let body = serde_json::json!({ "text": text }).to_string();
        let auth = format!("Bearer {viewer}");
        self.post(
            &format!("/api/qa/{event}/questions"),
            &[("authorization", &auth)],
            &body,
        )
        .await
    }

    /// A moderator's POST (the events' moderator token as the bearer value).
    pub async fn post_as_moderator(&self, uri: &str, body: &str) -> Resp {
        let auth = format!("Bearer {TOKEN}");
        self.post(uri, &[("authorization", &auth)], body).await
    }

    pub async fn moderate(&self, event: &str, id: i64, action: &str) -> Resp {
        self.post_as_moderator(&format!("/api/qa/{event}/questions/{id}/{action}"), "")
            .await
    }

    pub async fn vote(&self, event: &str, id: i64, viewer: &str) -> Resp {
        let auth = format!("Bearer {viewer}");
        self.post(
            &format!("/api/qa/{event}/questions/{id}/vote"),
            &[("authorization", &auth)],
            "",
        )
        .await
    }

    /// Opens an SSE stream.
    pub async fn stream(&self, uri: &str) -> Sse {
        let resp = self.open_stream(uri).await;
        assert_eq!(resp.status(), StatusCode::OK, "stream {uri}");
        assert_eq!(
            resp.headers()["content-type"].to_str().expect("ascii"),
            "text/event-stream"
        );
        Sse {
            body: resp.into_body(),
            buf: String::new(),
        }
    }

    /// Opens an SSE stream, whatever the answer.
    pub async fn open_stream(&self, uri: &str) -> axum::response::Response {
        self.app
            .clone()
            .oneshot(Request::get(uri).body(Body::empty()).expect("request"))
            .await
            .expect("infallible")
    }
}

/// Reads SSE messages from a response body.
pub struct Sse {
    body: Body,
    buf: String,
}

/// One SSE message: `id` and parsed `data`.
#[derive(Debug)]
pub struct Msg {
    pub id: Option<i64>,
    pub data: Value,
}

impl Sse {
    /// Next message with data, or `None` after `within`.
    pub async fn next(&mut self, within: Duration) -> Option<Msg> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut id = None;
                let mut data = None;
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        id = v.parse().ok();
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data = Some(serde_json::from_str(v).expect("data is JSON"));
                    }
                }
                if let Some(data) = data {
                    return Some(Msg { id, data });
                }
            }
            let frame = tokio::time::timeout_at(deadline, self.body.frame())
                .await
                .ok()??;
            let frame = frame.expect("body frame");
            if let Some(d) = frame.data_ref() {
                self.buf.push_str(std::str::from_utf8(d).expect("utf8"));
            }
        }
    }

    /// Skips messages until one of `kind` arrives.
    pub async fn until(&mut self, kind: &str, within: Duration) -> Option<Msg> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let m = self.next(left).await?;
            if m.data["type"] == kind {
                return Some(m);
            }
        }
    }
}

pub fn ids(list: &Value) -> Vec<i64> {
    list["questions"]
        .as_array()
        .expect("questions")
        .iter()
        .map(|q| q["id"].as_i64().expect("id"))
        .collect()
}

pub fn headers_of(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
