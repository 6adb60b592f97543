//! OpenID Connect login to the console against a real provider: panva's certified
//! `oidc-provider` run by Node on loopback (tests/oidc/provider.mjs), with two clients
//! and three accounts. The code flow with PKCE opens a console session that works on
//! `/api/admin/*` with the roles mapped from the `groups` claim; an account with no role
//! gets a 403 page; a forged or replayed state, a missing or replayed nonce, a token for
//! another client, an expired token (the provider's clock two hours behind) and a token
//! signed by another key under the same key id are each refused with 401 and a log line.
//! No secret, code or token appears in the log. A provider that signs with ES256 and
//! keeps the groups out of the ID token (userinfo only) gives the same roles.

mod common;

use common::*;
use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const EVENT: &str = "cs101";

fn provider_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc")
}

/// The provider process, killed on drop.
struct Provider {
    child: Child,
    issuer: String,
}

impl Provider {
    fn start(port: u16, redirect_uri: &str, key_file: &Path, clock_skew: i64) -> Provider {
        Provider::start_with(port, redirect_uri, key_file, clock_skew, &[])
    }

    /// `env`: more settings of provider.mjs (`OIDC_ALG`, `OIDC_CONFORM`).
    fn start_with(
        port: u16,
        redirect_uri: &str,
        key_file: &Path,
        clock_skew: i64,
        env: &[(&str, &str)],
    ) -> Provider {
        let dir = provider_dir();
        assert!(
            dir.join("node_modules/oidc-provider").is_dir(),
            "run `npm ci` in tests/oidc (make test does)"
        );
        let mut child = Command::new("node")
            .arg("provider.mjs")
            .current_dir(&dir)
            .env("OIDC_PORT", port.to_string())
            .env("OIDC_REDIRECT_URI", redirect_uri)
            .env("OIDC_KEY_FILE", key_file)
            .env("OIDC_KID", "k1")
            .env("OIDC_CLOCK_SKEW", clock_skew.to_string())
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("node provider.mjs");
        let stderr = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[provider] {line}");
            }
        });
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(issuer) = line.strip_prefix("issuer ") {
                    let _ = tx.send(issuer.to_owned());
                }
            }
        });
        // Usually under a second; the bound is for a busy machine loading the module.
        let issuer = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(issuer) => issuer,
            Err(e) => panic!(
                "the provider printed no issuer within 60 s ({e}); its process: {:?}",
                child.try_wait()
            ),
        };
        Provider { child, issuer }
    }

    fn port(&self) -> u16 {
        self.issuer
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("issuer port")
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn amphi_oidc(data: &Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_amphi"))
        .arg("oidc")
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .output()
        .expect("amphi oidc");
    assert!(
        out.status.success(),
        "amphi oidc {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn set_client(data: &Path, issuer: &str, client: &str) {
    let secret = data.join(format!("{client}.secret"));
    std::fs::write(&secret, format!("{client}-secret\n")).expect("secret file");
    amphi_oidc(
        data,
        &[
            "set",
            "--issuer",
            issuer,
            "--client-id",
            client,
            "--client-secret-file",
            secret.to_str().expect("utf-8 path"),
            "--admin-group",
            "it-video",
        ],
    );
}

/// Replaces (or with `None` removes) a query parameter.
fn with_param(url: &str, name: &str, value: Option<&str>) -> String {
    let (base, query) = url.split_once('?').expect("a query");
    let mut parts: Vec<String> = query
        .split('&')
        .filter(|kv| !kv.starts_with(&format!("{name}=")))
        .map(str::to_owned)
        .collect();
    if let Some(v) = value {
        parts.push(format!("{name}={v}"));
    }
    format!("{base}?{}", parts.join("&"))
}

/// A browser without redirects or JavaScript: cookies per host, redirects followed by
/// hand so each hop can be looked at.
struct Browser {
    http: reqwest::blocking::Client,
    cookies: HashMap<(String, String), String>,
}

fn host_of(url: &str) -> String {
    url.split("://")
        .nth(1)
        .and_then(|r| r.split('/').next())
        .unwrap_or("")
        .to_owned()
}

impl Browser {
    fn new() -> Browser {
        Browser {
            http: reqwest::blocking::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(15))
                .build()
                .expect("client"),
            cookies: HashMap::new(),
        }
    }

    fn cookie(&self, url: &str, name: &str) -> Option<String> {
        self.cookies.get(&(host_of(url), name.to_owned())).cloned()
    }

    fn cookie_header(&self, url: &str) -> String {
        let host = host_of(url);
        self.cookies
            .iter()
            .filter(|((h, _), _)| *h == host)
            .map(|((_, n), v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn send(
        &mut self,
        req: reqwest::blocking::RequestBuilder,
        url: &str,
    ) -> reqwest::blocking::Response {
        let res = req
            .header("cookie", self.cookie_header(url))
            .send()
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        let host = host_of(url);
        for v in res.headers().get_all("set-cookie") {
            let v = v.to_str().expect("cookie text");
            let pair = v.split(';').next().unwrap_or("");
            let Some((name, value)) = pair.split_once('=') else {
                continue;
            };
            let key = (host.clone(), name.trim().to_owned());
            if value.is_empty() || v.contains("Max-Age=0") || v.contains("expires=Thu, 01 Jan 1970")
            {
                self.cookies.remove(&key);
            } else {
                self.cookies.insert(key, value.to_owned());
            }
        }
        res
    }

    fn get(&mut self, url: &str) -> reqwest::blocking::Response {
        let req = self.http.get(url);
        self.send(req, url)
    }

    /// `GET /admin/oidc/login`: the provider's authorization URL amphi redirects to.
    fn start_login(&mut self, amphi: &Amphi) -> String {
        let res = self.get(&amphi.url("/admin/oidc/login"));
        assert_eq!(res.status().as_u16(), 303, "login starts with a redirect");
        res.headers()["location"]
            .to_str()
            .expect("location")
            .to_owned()
    }

    /// Follows the provider's hops as `user` until it sends the browser back to amphi;
    /// returns that callback URL.
    fn authorize(&mut self, auth_url: &str, user: &str, amphi: &Amphi) -> String {
        let mut url = auth_url.to_owned();
        for _ in 0..10 {
            if url.starts_with(&amphi.url("/admin/oidc/callback")) {
                return url;
            }
            if url.contains("/interaction/") {
                url = format!("{url}?user={user}");
            }
            let res = self.get(&url);
            let status = res.status().as_u16();
            let Some(next) = res.headers().get("location").and_then(|l| l.to_str().ok()) else {
                panic!(
                    "{url} answered {status} without a redirect: {}",
                    res.text().unwrap_or_default()
                );
            };
            url = if next.starts_with('/') {
                format!("http://{}{next}", host_of(&url))
            } else {
                next.to_owned()
            };
        }
        panic!("the provider did not send the browser back within 10 hops");
    }

    fn callback(&mut self, url: &str) -> (u16, String) {
        let res = self.get(url);
        (res.status().as_u16(), res.text().expect("callback body"))
    }

    /// A whole login as `user`: the callback's status and page.
    fn login(&mut self, amphi: &Amphi, user: &str) -> (u16, String, String) {
        let auth = self.start_login(amphi);
        let callback = self.authorize(&auth, user, amphi);
        let (status, body) = self.callback(&callback);
        (status, body, callback)
    }

    fn api(&mut self, amphi: &Amphi, path: &str) -> (u16, serde_json::Value) {
        let res = self.get(&amphi.url(path));
        let status = res.status().as_u16();
        (
            status,
            serde_json::from_str(&res.text().unwrap_or_default())
                .unwrap_or(serde_json::Value::Null),
        )
    }
}

fn refused(amphi: &Amphi, status: u16, page: &str, reason: &str) {
    assert_eq!(status, 401, "refused with 401: {page}");
    assert!(page.contains("Login refused"), "a refusal page: {page}");
    wait_for(
        &format!("log line: {reason}"),
        Duration::from_secs(5),
        || {
            amphi
                .log()
                .lines()
                .any(|l| l.contains("console OIDC login refused") && l.contains(reason))
                .then_some(())
        },
    );
    println!("refused (401): {reason}");
}

#[test]
fn oidc_code_flow_opens_a_console_session_and_bad_answers_are_refused() {
    let started = Instant::now();
    let data = tempdir::TempDir::new("oidc-login");
    let amphi = Amphi::start_in(data.path(), &[]);
    let redirect = amphi.url("/admin/oidc/callback");
    let key_file = data.path().join("provider-key.json");
    let mut provider = Provider::start(0, &redirect, &key_file, 0);
    let port = provider.port();
    let issuer = provider.issuer.clone();
    println!("provider up at {issuer} after {:?}", started.elapsed());

    let mut b = Browser::new();
    let (_, status) = b.api(&amphi, "/admin/oidc/status");
    assert_eq!(status["enabled"], false, "off until `amphi oidc set`");
    let res = b.get(&amphi.url("/admin/oidc/login"));
    assert_eq!(res.status().as_u16(), 404, "no login while off");
    set_client(data.path(), &issuer, "amphi");
    let (_, status) = b.api(&amphi, "/admin/oidc/status");
    assert_eq!(status["enabled"], true);
    assert_eq!(status["label"], "Log in with your institution");

    // The code flow: alice is in it-video (admin).
    let t = Instant::now();
    let auth = b.start_login(&amphi);
    assert!(auth.starts_with(&format!("{issuer}/auth?")), "{auth}");
    for p in ["state", "nonce", "code_challenge"] {
        assert!(
            query_param(&auth, p).is_some_and(|v| v.len() >= 40),
            "{p} in {auth}"
        );
    }
    assert_eq!(
        query_param(&auth, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert!(
        b.cookie(&amphi.http, "amphi_oidc_state").is_some(),
        "state bound to the browser"
    );
    let alice_callback = b.authorize(&auth, "alice", &amphi);
    let (code_status, page) = b.callback(&alice_callback);
    assert_eq!(code_status, 200, "{page}");
    println!("alice logged in by the code flow in {:?}", t.elapsed());
    assert!(
        b.cookie(&amphi.http, "amphi_session").is_some(),
        "session cookie set"
    );
    let (s, session) = b.api(&amphi, "/api/admin/session");
    assert_eq!(s, 200);
    assert_eq!(session["user"], "alice");
    assert_eq!(session["admin"], true);
    // State-changing requests need the session's CSRF token, as after a password login.
    let csrf = session["csrf_token"].as_str().expect("csrf").to_owned();
    let url = amphi.url("/api/admin/events");
    for id in [EVENT, "made-by-alice"] {
        let req = b
            .http
            .post(&url)
            .header("origin", &amphi.http)
            .header("x-csrf-token", &csrf)
            .header("content-type", "application/json")
            .body(serde_json::json!({"id": id, "title": "OIDC"}).to_string());
        let res = b.send(req, &url);
        assert_eq!(res.status().as_u16(), 201, "admin creates event {id}");
    }
    let (s, events) = b.api(&amphi, "/api/admin/events");
    assert_eq!(s, 200);
    assert!(events.to_string().contains("made-by-alice"), "{events}");
    wait_for(
        "the login is logged with its user",
        Duration::from_secs(5),
        || {
            amphi
                .log()
                .lines()
                .any(|l| l.contains("console login") && l.contains("oidc") && l.contains("alice"))
                .then_some(())
        },
    );

    // bob: lecturer of cs101 (an `amphi:lecturer:cs101` group), not admin.
    let mut bob = Browser::new();
    let (s, page, _) = bob.login(&amphi, "bob");
    assert_eq!(s, 200, "{page}");
    let (_, session) = bob.api(&amphi, "/api/admin/session");
    assert_eq!(session["roles"], serde_json::json!(["lecturer:cs101"]));
    assert_eq!(session["admin"], false);
    assert_eq!(
        bob.api(&amphi, &format!("/api/admin/events/{EVENT}")).0,
        200
    );
    assert_eq!(bob.api(&amphi, "/api/admin/events/made-by-alice").0, 403);

    // carol: a student, no role: a clear 403 page, no session.
    let mut carol = Browser::new();
    let (s, page, _) = carol.login(&amphi, "carol");
    assert_eq!(s, 403, "{page}");
    assert!(page.contains("no role") && page.contains("carol"), "{page}");
    assert!(carol.cookie(&amphi.http, "amphi_session").is_none());
    assert!(amphi.logged("the user has no role"));
    assert_eq!(carol.api(&amphi, "/api/admin/session").0, 401);

    // Replayed answer: the same callback (code and state) again, state cookie and all.
    let state = query_param(&alice_callback, "state").expect("state");
    let mut replay = Browser::new();
    replay.cookies.insert(
        (host_of(&amphi.http), "amphi_oidc_state".into()),
        state.clone(),
    );
    let (s, page) = replay.callback(&alice_callback);
    refused(&amphi, s, &page, "unknown or expired state");

    // Forged state, and a state started in another browser.
    let mut eve = Browser::new();
    let auth = eve.start_login(&amphi);
    let cb = eve.authorize(&auth, "alice", &amphi);
    let forged = with_param(&cb, "state", Some("forged-state"));
    let (s, page) = eve.callback(&forged);
    refused(
        &amphi,
        s,
        &page,
        "does not match this browser's login cookie",
    );
    let mut victim = Browser::new();
    let auth = eve.start_login(&amphi);
    let cb = eve.authorize(&auth, "alice", &amphi);
    let (s, page) = victim.callback(&cb);
    refused(
        &amphi,
        s,
        &page,
        "does not match this browser's login cookie",
    );

    // No nonce: the authorization request without it (the token then has none).
    let auth = b.start_login(&amphi);
    let cb = b.authorize(&with_param(&auth, "nonce", None), "alice", &amphi);
    let (s, page) = b.callback(&cb);
    refused(&amphi, s, &page, "ID token has no nonce");

    // Replayed nonce: a later login carrying the nonce of alice's first one.
    let first_nonce = {
        let auth = b.start_login(&amphi);
        let nonce = query_param(&auth, "nonce").expect("nonce");
        let cb = b.authorize(&auth, "alice", &amphi);
        assert_eq!(b.callback(&cb).0, 200);
        nonce
    };
    let auth = b.start_login(&amphi);
    let cb = b.authorize(
        &with_param(&auth, "nonce", Some(&first_nonce)),
        "alice",
        &amphi,
    );
    let (s, page) = b.callback(&cb);
    refused(&amphi, s, &page, "nonce does not match");

    // Wrong audience: a login started while the console was the client `other-app`
    // finishes after the operator set `amphi` again: its token is for other-app.
    set_client(data.path(), &issuer, "other-app");
    let auth = b.start_login(&amphi);
    assert_eq!(
        query_param(&auth, "client_id").as_deref(),
        Some("other-app")
    );
    let cb = b.authorize(&auth, "alice", &amphi);
    set_client(data.path(), &issuer, "amphi");
    let (s, page) = b.callback(&cb);
    refused(
        &amphi,
        s,
        &page,
        "does not include this console's client id",
    );

    // Expired: the provider restarted with the same key and its clock 2 h behind.
    drop(provider);
    provider = Provider::start(port, &redirect, &key_file, -7200);
    let (s, page, _) = b.login(&amphi, "alice");
    refused(&amphi, s, &page, "ID token expired");

    // Another key under the same key id: the cached key set does not verify it.
    drop(provider);
    std::fs::remove_file(&key_file).expect("old key removed");
    provider = Provider::start(port, &redirect, &key_file, 0);
    let (s, page, _) = b.login(&amphi, "alice");
    refused(&amphi, s, &page, "token signature does not verify");
    drop(provider);

    // Nothing secret in the log: the client secrets, the codes.
    let log = amphi.log();
    for secret in ["amphi-secret", "other-app-secret"] {
        assert!(!log.contains(secret), "{secret} logged");
    }
    let code = query_param(&alice_callback, "code").expect("code");
    assert!(!log.contains(&code), "a code was logged");
    assert!(!log.contains(&state), "a state was logged");
    println!("whole test {:?}", started.elapsed());
}

/// A provider signing ID tokens with ES256 (a P-256 key) and giving the groups only at
/// its userinfo endpoint (conformant ID token claims): the roles are read from userinfo
/// for the token's user, and a user with no role there still gets none.
#[test]
fn es256_id_tokens_and_roles_from_userinfo() {
    let started = Instant::now();
    let data = tempdir::TempDir::new("oidc-userinfo");
    let amphi = Amphi::start_in(data.path(), &[]);
    let redirect = amphi.url("/admin/oidc/callback");
    let key_file = data.path().join("provider-ec-key.json");
    let provider = Provider::start_with(
        0,
        &redirect,
        &key_file,
        0,
        &[("OIDC_ALG", "ES256"), ("OIDC_CONFORM", "1")],
    );
    set_client(data.path(), &provider.issuer, "amphi");
    let http = reqwest::blocking::Client::new();
    let jwks = http
        .get(format!("{}/jwks", provider.issuer))
        .send()
        .and_then(|r| r.text())
        .expect("the provider's key set");
    let jwks: serde_json::Value = serde_json::from_str(&jwks).expect("key set JSON");
    assert_eq!(jwks["keys"][0]["kty"], "EC", "{jwks}");
    assert_eq!(jwks["keys"][0]["alg"], "ES256", "{jwks}");

    let mut alice = Browser::new();
    let (s, page, callback) = alice.login(&amphi, "alice");
    assert_eq!(s, 200, "{page}");
    let (_, session) = alice.api(&amphi, "/api/admin/session");
    assert_eq!(session["user"], "alice", "the user name from userinfo too");
    assert_eq!(session["admin"], true, "{session}");
    // The ID token really had no groups: amphi read them from userinfo.
    wait_for("the userinfo log line", Duration::from_secs(5), || {
        amphi
            .log()
            .lines()
            .any(|l| l.contains("claims read from the userinfo endpoint") && l.contains("groups"))
            .then_some(())
    });
    let mut bob = Browser::new();
    let (s, page, _) = bob.login(&amphi, "bob");
    assert_eq!(s, 200, "{page}");
    let (_, session) = bob.api(&amphi, "/api/admin/session");
    assert_eq!(session["roles"], serde_json::json!(["lecturer:cs101"]));
    let mut carol = Browser::new();
    let (s, page, _) = carol.login(&amphi, "carol");
    assert_eq!(s, 403, "no role in userinfo either: {page}");

    let log = amphi.log();
    let code = query_param(&callback, "code").expect("code");
    assert!(!log.contains(&code), "a code was logged");
    assert!(
        !log.contains("amphi-secret"),
        "the client secret was logged"
    );
    println!(
        "ES256 + userinfo logins (3 users) in {:?}",
        started.elapsed()
    );
}
