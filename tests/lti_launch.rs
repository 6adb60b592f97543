//! LTI 1.3 launches against the real binary, from a platform emulated here with a real
//! RSA key pair (made by `openssl genpkey`), its key set served over HTTP on loopback,
//! and ID tokens signed by `openssl dgst`: OIDC login initiation, then a learner launch
//! opens the player with a named viewer token the origin and the Q&A accept, an
//! instructor launch opens moderation, and forged, misaddressed, replayed, expired and
//! foreign tokens are refused with 401/403 and a log line.

mod common;

use common::*;
use serde_json::{json, Value};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const EVENT: &str = "cs101";
const CLIENT_ID: &str = "amphi-tool";
const DEPLOYMENT: &str = "dep-1";
const CLAIM: &str = "https://purl.imsglobal.org/spec/lti/claim/";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

fn b64url(bytes: &[u8]) -> String {
    const A: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

fn openssl(args: &[&str], input: Option<&[u8]>) -> Vec<u8> {
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("openssl");
    if let Some(input) = input {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input)
            .expect("write to openssl");
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().expect("openssl output");
    assert!(out.status.success(), "openssl {args:?} failed");
    out.stdout
}

/// A platform's signing key: a PEM file and its public JWK.
struct PlatformKey {
    pem: String,
    kid: String,
}

impl PlatformKey {
    fn generate(dir: &Path, kid: &str) -> PlatformKey {
        let pem = dir.join(format!("{kid}.pem"));
        let pem = pem.to_str().expect("utf-8 path").to_owned();
        openssl(
            &[
                "genpkey",
                "-quiet",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                &pem,
            ],
            None,
        );
        PlatformKey {
            pem,
            kid: kid.into(),
        }
    }

    fn jwk(&self) -> Value {
        let out = String::from_utf8(openssl(
            &["rsa", "-in", &self.pem, "-noout", "-modulus"],
            None,
        ))
        .expect("utf-8");
        let hex = out.trim().strip_prefix("Modulus=").expect("modulus line");
        let n: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
            .collect();
        json!({"kty": "RSA", "alg": "RS256", "use": "sig", "kid": self.kid,
               "n": b64url(&n), "e": b64url(&[1, 0, 1])})
    }

    fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": "RS256", "typ": "JWT", "kid": self.kid});
        let input = format!(
            "{}.{}",
            b64url(header.to_string().as_bytes()),
            b64url(claims.to_string().as_bytes())
        );
        let sig = openssl(
            &["dgst", "-sha256", "-sign", &self.pem],
            Some(input.as_bytes()),
        );
        format!("{input}.{}", b64url(&sig))
    }
}

/// Serves `body` as the key set to every request, on loopback; returns the base URL.
fn serve_jwks(body: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
                body.len(),
                body
            );
        }
    });
    format!("http://{addr}")
}

fn no_redirects() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(15))
        .build()
        .expect("client")
}

struct Platform {
    issuer: String,
    key: PlatformKey,
}

impl Platform {
    fn claims(&self, nonce: &str, roles: &[&str], edit: impl FnOnce(&mut Value)) -> Value {
        let t = now();
        let mut c = json!({
            "iss": self.issuer, "aud": CLIENT_ID, "sub": "learner-42",
            "iat": t, "exp": t + 300, "nonce": nonce,
            "name": "Ada Lovelace",
            format!("{CLAIM}deployment_id"): DEPLOYMENT,
            format!("{CLAIM}version"): "1.3.0",
            format!("{CLAIM}message_type"): "LtiResourceLinkRequest",
            format!("{CLAIM}target_link_uri"): "",
            format!("{CLAIM}resource_link"): {"id": "rl-1"},
            format!("{CLAIM}roles"): roles,
            format!("{CLAIM}custom"): {"event": EVENT},
        });
        edit(&mut c);
        c
    }
}

/// Starts a login at the tool; returns (state, nonce) from its redirect to the platform.
fn login(c: &reqwest::blocking::Client, amphi: &Amphi, issuer: &str) -> (String, String) {
    let res = c
        .post(amphi.url("/lti/login"))
        .form(&[
            ("iss", issuer),
            ("login_hint", "learner-42"),
            ("target_link_uri", &amphi.url("/lti/launch")),
            ("lti_message_hint", "rl-1"),
        ])
        .send()
        .expect("login");
    assert_eq!(res.status().as_u16(), 302, "login initiation redirects");
    let location = res.headers()["location"]
        .to_str()
        .expect("location")
        .to_owned();
    assert!(
        location.starts_with(&format!("{issuer}/auth?")),
        "to the platform's auth URL: {location}"
    );
    assert_eq!(
        query_param(&location, "client_id").as_deref(),
        Some(CLIENT_ID)
    );
    assert_eq!(
        query_param(&location, "redirect_uri"),
        Some(amphi.url("/lti/launch"))
    );
    assert_eq!(
        query_param(&location, "login_hint").as_deref(),
        Some("learner-42")
    );
    (
        query_param(&location, "state").expect("state"),
        query_param(&location, "nonce").expect("nonce"),
    )
}

fn launch(
    c: &reqwest::blocking::Client,
    amphi: &Amphi,
    id_token: &str,
    state: &str,
) -> (u16, String) {
    let res = c
        .post(amphi.url("/lti/launch"))
        .form(&[("id_token", id_token), ("state", state)])
        .send()
        .expect("launch");
    let status = res.status().as_u16();
    let location = res
        .headers()
        .get("location")
        .and_then(|l| l.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, location)
}

#[test]
fn lti_launches_open_the_player_or_moderation_and_bad_tokens_are_refused() {
    let data = tempdir::TempDir::new("lti");
    let keys = tempdir::TempDir::new("lti-keys");
    let key = PlatformKey::generate(keys.path(), "platform-key-1");
    let other = PlatformKey::generate(keys.path(), "platform-key-1-forged");
    let issuer = serve_jwks(json!({"keys": [key.jwk()]}).to_string());
    let platform = Platform {
        issuer: issuer.clone(),
        key,
    };

    let amphi_cmd = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_amphi"))
            .args(&args[..1])
            .arg("--data-dir")
            .arg(data.path())
            .args(&args[1..])
            .output()
            .expect("amphi");
        assert!(
            out.status.success(),
            "amphi {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    amphi_cmd(&["event", "create", EVENT, "--private", "--named-viewers"]);
    amphi_cmd(&[
        "lti",
        "add-platform",
        "--issuer",
        &issuer,
        "--client-id",
        CLIENT_ID,
        "--auth-url",
        &format!("{issuer}/auth"),
        "--jwks-url",
        &format!("{issuer}/jwks"),
        "--deployment-id",
        DEPLOYMENT,
    ]);
    assert!(amphi_cmd(&["lti", "list"]).contains(CLIENT_ID));

    let amphi = Amphi::start_in(data.path(), &[]);
    let c = no_redirects();
    let learner = ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"];
    let instructor = ["http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"];

    // Learner: the player, with a named viewer token minted by the server.
    let (state, nonce) = login(&c, &amphi, &issuer);
    let token = platform
        .key
        .sign(&platform.claims(&nonce, &learner, |_| {}));
    let (status, location) = launch(&c, &amphi, &token, &state);
    assert_eq!(status, 303, "learner launch redirects");
    assert!(
        location.starts_with(&format!("/watch/{EVENT}?token=")),
        "to the player: {location}"
    );
    let viewer_token = query_param(&location, "token").expect("viewer token");
    // The Q&A takes the name from the token, whatever the asker types.
    let minted: Value = c
        .post(amphi.url(&format!("/api/qa/{EVENT}/viewer")))
        .header("Content-Type", "application/json")
        .body(json!({ "token": viewer_token }).to_string())
        .send()
        .expect("mint")
        .text()
        .map(|t| serde_json::from_str(&t).expect("json"))
        .expect("body");
    assert_eq!(minted["name"], "Ada Lovelace");
    let viewer = minted["viewer"].as_str().expect("viewer id").to_owned();
    let q: Value = c
        .post(amphi.url(&format!("/api/qa/{EVENT}/questions")))
        .header("Authorization", format!("Bearer {viewer}"))
        .header("Content-Type", "application/json")
        .body(json!({ "text": "Is the engine programmable?", "name": "Someone Else" }).to_string())
        .send()
        .expect("ask")
        .text()
        .map(|t| serde_json::from_str(&t).expect("json"))
        .expect("body");
    assert_eq!(q["name"], "Ada Lovelace");
    // The origin accepts its cohort part on media URLs (and refuses a made-up one).
    let cohort: Vec<&str> = viewer_token.split('.').take(2).collect();
    let media = |t: &str| {
        c.get(amphi.url(&format!("/live/{EVENT}/t/{t}/master.m3u8")))
            .send()
            .expect("playlist")
            .status()
            .as_u16()
    };
    let refused = media("made-up.token");
    assert!(matches!(refused, 401 | 403), "a made-up token: {refused}");
    let accepted = media(&cohort.join("."));
    assert!(
        accepted != 401 && accepted != 403,
        "the launch token opens the media: {accepted}"
    );

    // Instructor: the moderation page with the event's moderator access.
    let (state, nonce) = login(&c, &amphi, &issuer);
    let token = platform
        .key
        .sign(&platform.claims(&nonce, &instructor, |_| {}));
    let (status, location) = launch(&c, &amphi, &token, &state);
    assert_eq!(status, 303);
    assert!(
        location.starts_with(&format!("/moderate/{EVENT}#token=")),
        "to moderation: {location}"
    );
    let mod_token = percent_decode(location.split_once("#token=").expect("fragment").1);
    let res = c
        .get(amphi.url(&format!(
            "/api/qa/{EVENT}/questions?view=moderator&token={mod_token}"
        )))
        .send()
        .expect("moderator list");
    assert_eq!(
        res.status().as_u16(),
        200,
        "the moderator token is the event's"
    );

    // Refusals, each with its status and a log line.
    let (state, nonce) = login(&c, &amphi, &issuer);
    let forged = other.sign(&platform.claims(&nonce, &learner, |_| {}));
    // Same kid, other key: a bad signature.
    let forged = {
        let parts: Vec<&str> = forged.split('.').collect();
        let good = platform
            .key
            .sign(&platform.claims(&nonce, &learner, |_| {}));
        let good: Vec<&str> = good.split('.').collect();
        format!("{}.{}.{}", good[0], good[1], parts[2])
    };
    assert_eq!(launch(&c, &amphi, &forged, &state).0, 401, "bad signature");
    wait_for(
        "bad signature logged",
        std::time::Duration::from_secs(5),
        || {
            amphi
                .log_contains("signature does not verify")
                .then_some(())
        },
    );

    let (state, nonce) = login(&c, &amphi, &issuer);
    let wrong_aud = platform.key.sign(&platform.claims(&nonce, &learner, |c| {
        c["aud"] = json!("someone-else");
    }));
    assert_eq!(
        launch(&c, &amphi, &wrong_aud, &state).0,
        403,
        "wrong audience"
    );
    // The refused token did not use the login: the right one still launches once…
    let good = platform
        .key
        .sign(&platform.claims(&nonce, &learner, |_| {}));
    assert_eq!(launch(&c, &amphi, &good, &state).0, 303);
    // …and only once.
    assert_eq!(launch(&c, &amphi, &good, &state).0, 403, "replayed nonce");
    wait_for("replay logged", std::time::Duration::from_secs(5), || {
        amphi.log_contains("replayed launch").then_some(())
    });

    let (state, nonce) = login(&c, &amphi, &issuer);
    let expired = platform.key.sign(&platform.claims(&nonce, &learner, |c| {
        c["iat"] = json!(now() - 900);
        c["exp"] = json!(now() - 600);
    }));
    assert_eq!(launch(&c, &amphi, &expired, &state).0, 401, "expired");

    let unknown = Platform {
        issuer: "https://lms.unknown.example".into(),
        key: PlatformKey::generate(keys.path(), "unknown"),
    };
    let foreign = unknown.key.sign(&unknown.claims("n", &learner, |_| {}));
    assert_eq!(
        launch(&c, &amphi, &foreign, &state).0,
        401,
        "unknown issuer"
    );
    let res = c
        .get(amphi.url("/lti/login"))
        .query(&[
            ("iss", "https://lms.unknown.example"),
            ("login_hint", "x"),
            ("target_link_uri", &amphi.url("/lti/launch")),
        ])
        .send()
        .expect("login");
    assert_eq!(res.status().as_u16(), 401, "login from an unknown issuer");

    // The server's log is read from its stderr as it comes: the last refusal's line
    // may arrive a moment after its answer.
    let log = wait_for(
        "a log line per refused launch",
        Duration::from_secs(5),
        || {
            let log = amphi.log();
            (log.matches("LTI launch refused").count() >= 5).then_some(log)
        },
    );
    for needle in [
        "token audience does not name this tool",
        "expired at",
        "unknown issuer",
    ] {
        assert!(log.contains(needle), "log line for {needle:?}");
    }
    assert_eq!(
        log.matches("LTI launch refused").count(),
        5,
        "one log line per refused launch"
    );

    // Deep linking: the instructor picks the event, the tool answers with a signed
    // LtiDeepLinkingResponse that the page posts to the platform's return URL.
    let (state, nonce) = login(&c, &amphi, &issuer);
    let dl = platform
        .key
        .sign(&platform.claims(&nonce, &instructor, |c| {
            c[format!("{CLAIM}message_type")] = json!("LtiDeepLinkingRequest");
            c["https://purl.imsglobal.org/spec/lti-dl/claim/deep_linking_settings"] =
                json!({"deep_link_return_url": format!("{issuer}/dl-return"), "data": "ctx-7"});
        }));
    let res = c
        .post(amphi.url("/lti/launch"))
        .form(&[("id_token", dl.as_str()), ("state", state.as_str())])
        .send()
        .expect("deep linking launch");
    assert_eq!(res.status().as_u16(), 200);
    let picker = res.text().expect("picker page");
    let handle = picker
        .split("name=\"handle\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a selection handle in the picker")
        .to_owned();
    assert!(
        picker.contains(&format!("value=\"{EVENT}\"")),
        "the event is offered"
    );
    let page = c
        .post(amphi.url("/lti/deep-link"))
        .form(&[("handle", handle.as_str()), ("event", EVENT)])
        .send()
        .expect("pick")
        .text()
        .expect("auto-post page");
    assert!(page.contains(&format!("action=\"{issuer}/dl-return\"")));
    let response_jwt = page
        .split("name=\"JWT\" value=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("a JWT in the auto-post form")
        .to_owned();
    // The tool's key set (for deep-linking responses) is served.
    let jwks: Value = c
        .get(amphi.url("/lti/jwks.json"))
        .send()
        .expect("jwks")
        .text()
        .map(|t| serde_json::from_str(&t).expect("json"))
        .expect("body");
    assert_eq!(jwks["keys"][0]["kty"], "RSA");
    // The response verifies against the served key set and links the event.
    let keys = amphi_console::lti::jwks::Jwks::parse(jwks.to_string().as_bytes()).expect("jwks");
    let parsed = amphi_console::lti::jwt::parse(&response_jwt).expect("jwt");
    let claims = parsed
        .verify(
            keys.key(parsed.kid.as_deref())
                .expect("the signing key is served"),
        )
        .expect("signature");
    assert_eq!(claims["aud"], json!(issuer));
    assert_eq!(claims["iss"], CLIENT_ID);
    assert_eq!(
        claims[&format!("{CLAIM}message_type")],
        "LtiDeepLinkingResponse"
    );
    assert_eq!(
        claims["https://purl.imsglobal.org/spec/lti-dl/claim/data"],
        "ctx-7"
    );
    let item = &claims["https://purl.imsglobal.org/spec/lti-dl/claim/content_items"][0];
    assert_eq!(item["custom"]["event"], EVENT);
    assert_eq!(item["url"], json!(amphi.url("/lti/launch")));
    assert!(data.path().join("lti_tool_key.pem").exists());
}
