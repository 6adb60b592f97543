//! The console's refusals end to end: the real binary, accounts made with
//! `amphi user add` (password on stdin), and each refusal answered with its status and
//! logged with its reason: wrong password (401), login from another site's page (403),
//! missing CSRF token (403), wrong Origin (403), a lecturer editing another lecturer's
//! event (403), an idle session (401), no session (401). Allowed requests go through,
//! and no media or playlist response carries a cookie.

mod common;

use common::*;
use reqwest::blocking::{Client, Response};
use reqwest::header::{CONTENT_TYPE, COOKIE, ORIGIN, SET_COOKIE};
use std::time::Duration;

/// Console sessions of the server under test end after this many idle seconds.
const IDLE_SECS: u64 = 3;

struct Console<'a> {
    amphi: &'a Amphi,
    c: Client,
}

struct Session {
    cookie: String,
    csrf: String,
}

impl Console<'_> {
    fn origin(&self) -> &str {
        &self.amphi.http
    }

    fn login(&self, user: &str, password: &str, origin: &str) -> Response {
        self.c
            .post(self.amphi.url("/api/admin/login"))
            .header(ORIGIN, origin)
            .header(CONTENT_TYPE, "application/json")
            .body(serde_json::json!({ "user": user, "password": password }).to_string())
            .send()
            .expect("login request")
    }

    fn session(&self, user: &str, password: &str) -> Session {
        let res = self.login(user, password, self.origin());
        assert_eq!(res.status(), 200, "login of {user}");
        let cookie = res.headers()[SET_COOKIE]
            .to_str()
            .expect("ascii cookie")
            .to_owned();
        // Bound to loopback and reached over plain HTTP: the non-__Host- name.
        assert!(cookie.starts_with("amphi_session="), "{cookie}");
        for attr in ["HttpOnly", "SameSite=Strict", "Path=/"] {
            assert!(cookie.contains(attr), "{attr} in {cookie}");
        }
        let body: serde_json::Value =
            serde_json::from_slice(&res.bytes().expect("body")).expect("session json");
        Session {
            cookie: cookie.split(';').next().expect("name=value").to_owned(),
            csrf: body["csrf_token"].as_str().expect("csrf token").to_owned(),
        }
    }

    fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        session: Option<&Session>,
        csrf: Option<&str>,
        origin: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> u16 {
        let mut req = self.c.request(method, self.amphi.url(path));
        if let Some(s) = session {
            req = req.header(COOKIE, &s.cookie);
        }
        if let Some(t) = csrf {
            req = req.header("x-csrf-token", t);
        }
        if let Some(o) = origin {
            req = req.header(ORIGIN, o);
        }
        if let Some(b) = body {
            req = req
                .header(CONTENT_TYPE, "application/json")
                .body(b.to_string());
        }
        req.send().expect("request").status().as_u16()
    }
}

fn wait_for_log(amphi: &Amphi, needle: &str) {
    wait_for(
        &format!("the log line {needle:?}"),
        Duration::from_secs(5),
        || amphi.log_contains(needle).then_some(()),
    );
}

#[test]
fn console_refusals_are_401_or_403_and_logged() {
    let data = tempdir::TempDir::new("admin-api");
    amphi_cli(
        data.path(),
        &["user", "add", "ada", "--role", "admin"],
        "ada's long password\n",
    );
    amphi_cli(
        data.path(),
        &["user", "add", "lee", "--role", "lecturer:cs101"],
        "lee's long password\n",
    );
    amphi_cli(
        data.path(),
        &["event", "create", "cs101", "--title", "Optics"],
        "",
    );
    let users = std::fs::read_to_string(data.path().join("users.json")).expect("users.json");
    assert!(users.contains("$argon2id$") && !users.contains("long password"));

    let idle = IDLE_SECS.to_string();
    let amphi = Amphi::start_in_with(data.path(), &[], &["--console-idle-timeout", &idle]);
    let console = Console {
        amphi: &amphi,
        c: client(),
    };
    let origin = console.origin().to_owned();
    use reqwest::Method;

    // Wrong password: 401, logged without the password.
    let res = console.login("ada", "not the password", &origin);
    assert_eq!(res.status(), 401);
    assert!(res.headers().get(SET_COOKIE).is_none());
    wait_for_log(&amphi, "console login refused: wrong user name or password");
    assert!(!amphi.log_contains("not the password"));
    // A login posted by another site's page: 403.
    assert_eq!(
        console
            .login("ada", "ada's long password", "https://evil.example")
            .status(),
        403
    );
    wait_for_log(&amphi, "console login refused: CSRF check failed");

    let ada = console.session("ada", "ada's long password");
    // No session at all: 401.
    assert_eq!(
        console.send(Method::GET, "/api/admin/events", None, None, None, None),
        401
    );
    wait_for_log(&amphi, "no session cookie");
    // An admin creates an event with the CSRF token and this server's Origin.
    let new_event = serde_json::json!({ "id": "cs102", "title": "Acoustics" });
    assert_eq!(
        console.send(
            Method::POST,
            "/api/admin/events",
            Some(&ada),
            Some(&ada.csrf),
            Some(&origin),
            Some(new_event.clone())
        ),
        201
    );
    // Missing CSRF token: 403.
    let edit = serde_json::json!({ "title": "Acoustics II" });
    assert_eq!(
        console.send(
            Method::PATCH,
            "/api/admin/events/cs102",
            Some(&ada),
            None,
            Some(&origin),
            Some(edit.clone())
        ),
        403
    );
    wait_for_log(&amphi, "missing x-csrf-token header");
    // Right token, wrong Origin: 403.
    assert_eq!(
        console.send(
            Method::PATCH,
            "/api/admin/events/cs102",
            Some(&ada),
            Some(&ada.csrf),
            Some("https://evil.example"),
            Some(edit.clone())
        ),
        403
    );
    wait_for_log(&amphi, "is not this server");

    // A lecturer edits their own event, not another's.
    let lee = console.session("lee", "lee's long password");
    assert_eq!(
        console.send(
            Method::PATCH,
            "/api/admin/events/cs101",
            Some(&lee),
            Some(&lee.csrf),
            Some(&origin),
            Some(edit.clone())
        ),
        200
    );
    assert_eq!(
        console.send(
            Method::PATCH,
            "/api/admin/events/cs102",
            Some(&lee),
            Some(&lee.csrf),
            Some(&origin),
            Some(edit.clone())
        ),
        403
    );
    wait_for_log(
        &amphi,
        "console request refused: the user's roles do not allow it",
    );
    assert_eq!(
        console.send(
            Method::GET,
            "/api/admin/events/cs102/key",
            Some(&lee),
            None,
            None,
            None
        ),
        403
    );
    // A lecturer's CSRF token is not an admin's.
    assert_eq!(
        console.send(
            Method::PATCH,
            "/api/admin/events/cs102",
            Some(&ada),
            Some(&lee.csrf),
            Some(&origin),
            Some(edit.clone())
        ),
        403
    );
    wait_for_log(&amphi, "does not match the session's token");

    // The event list, the player's event API and a page: no cookie set on them.
    for path in ["/api/events", "/watch/cs102", "/live/cs102/master.m3u8"] {
        let res = console
            .c
            .get(amphi.url(path))
            .header(COOKIE, &ada.cookie)
            .send()
            .expect("request");
        assert!(res.headers().get(SET_COOKIE).is_none(), "{path}");
    }

    // Idle past the timeout: 401, and the session is gone.
    std::thread::sleep(Duration::from_secs(IDLE_SECS + 1));
    assert_eq!(
        console.send(
            Method::GET,
            "/api/admin/events",
            Some(&ada),
            None,
            None,
            None
        ),
        401
    );
    wait_for_log(&amphi, "session expired (idle for too long)");
    assert_eq!(
        console.send(
            Method::GET,
            "/api/admin/events",
            Some(&ada),
            None,
            None,
            None
        ),
        401
    );
}
