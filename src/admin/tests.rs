//! The console router in process: the OpenAPI document lists exactly the routes the
//! console and health routers serve (both are built from their route tables), and the
//! refusals carry the right status. (The real binary with real accounts is tested end
//! to end in `tests/admin_api.rs` and `tests/health_api.rs`.)

use super::state::ConsoleConfig;
use crate::events::{Directory, EventsFileStore};
use amphi_console::accounts::AccountsFile;
use amphi_console::Role;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use std::sync::Arc;
use tower::ServiceExt;

/// The console's routes and the health routes, as `amphi serve` wires them.
fn router(dir: &std::path::Path) -> axum::Router {
    let directory = Arc::new(Directory::new(
        EventsFileStore::new(dir).load().expect("events"),
    ));
    let args = super::ConsoleArgs {
        console_idle_timeout: 60,
        console_session_lifetime: 3600,
    };
    let state = super::state(ConsoleConfig {
        args: &args,
        data_dir: dir,
        http: "127.0.0.1:8080".parse().expect("addr"),
        rtmp: None,
        directory: directory.clone(),
        hub: None,
        store: Arc::new(amphi_hls::store::MemoryStore::new()),
    });
    let health = Arc::new(crate::health::http::HealthApi {
        board: crate::health::HealthBoard::default(),
        directory,
        data_dir: dir.to_owned(),
        console: Some(state.clone()),
        qa: None,
    });
    super::router_with(state, dir).merge(crate::health::http::routes(health))
}

/// Every `(method, path)` the routers serve, from their route tables.
fn served() -> Vec<(&'static str, &'static str)> {
    let admin = super::api::table().into_iter().map(|(m, p, _)| (m, p));
    let health = crate::health::http::table()
        .into_iter()
        .map(|(m, p, _)| (m, p));
    admin.chain(health).collect()
}

fn concrete(path: &str) -> String {
    path.replace("{id}", "cs101")
        .replace("{event}", "cs101")
        .replace("{rendition}", "720p")
}

#[test]
fn openapi_documents_every_route_and_no_other() {
    let doc: serde_json::Value =
        serde_json::from_str(super::page::openapi_text()).expect("openapi.json is JSON");
    assert_eq!(doc["openapi"], "3.0.3");
    let paths = doc["paths"].as_object().expect("paths");
    let routes = served();
    assert!(routes.len() >= 17, "{routes:?}");
    for (method, path) in &routes {
        assert!(
            paths.get(*path).and_then(|p| p.get(*method)).is_some(),
            "{method} {path} is served but not in openapi.json"
        );
    }
    for (path, item) in paths {
        for method in item.as_object().expect("path item").keys() {
            if method == "parameters" {
                continue;
            }
            assert!(
                routes.contains(&(method.as_str(), path.as_str())),
                "openapi.json documents {method} {path}, which the router does not serve"
            );
        }
    }
}

#[tokio::test]
async fn every_documented_route_is_served_and_needs_a_session() {
    let dir = std::env::temp_dir().join(format!("amphi-admin-routes-{}", std::process::id()));
    EventsFileStore::new(&dir)
        .create("cs101", None, None)
        .expect("event");
    let app = router(&dir);
    for (method, path) in served() {
        let req = Request::builder()
            .method(method.to_uppercase().as_str())
            .uri(concrete(path))
            .header(header::HOST, "127.0.0.1:8080")
            .header(header::ORIGIN, "http://127.0.0.1:8080")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{}"))
            .expect("request");
        let res = app.clone().oneshot(req).await.expect("infallible");
        let status = res.status();
        if path == "/api/admin/login" {
            // `{}` lacks the user and password.
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{method} {path}");
        } else {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
        }
    }
    let res = app
        .clone()
        .oneshot(Request::get("/admin").body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    assert_eq!(res.status(), StatusCode::OK);
    let csp = res.headers()[header::CONTENT_SECURITY_POLICY]
        .to_str()
        .expect("ascii");
    assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn login_then_csrf_then_roles() {
    let dir = std::env::temp_dir().join(format!("amphi-admin-flow-{}", std::process::id()));
    let accounts = AccountsFile::new(&dir);
    let lecturer: Role = "lecturer:cs101".parse().expect("role");
    accounts
        .add("lee", "lecturer password", vec![lecturer], false)
        .expect("add");
    EventsFileStore::new(&dir)
        .create("cs101", None, None)
        .expect("event");
    EventsFileStore::new(&dir)
        .create("cs102", None, None)
        .expect("event");
    let app = router(&dir);
    let send = |method: &str, uri: &str, cookie: Option<&str>, csrf: Option<&str>, body: &str| {
        let mut req = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::HOST, "127.0.0.1:8080")
            .header(header::ORIGIN, "http://127.0.0.1:8080")
            .header(header::CONTENT_TYPE, "application/json");
        if let Some(c) = cookie {
            req = req.header(header::COOKIE, c);
        }
        if let Some(t) = csrf {
            req = req.header("x-csrf-token", t);
        }
        let req = req.body(Body::from(body.to_owned())).expect("request");
        app.clone().oneshot(req)
    };
    let res = send(
        "POST",
        "/api/admin/login",
        None,
        None,
        r#"{"user":"lee","password":"lecturer password"}"#,
    )
    .await
    .expect("infallible");
    assert_eq!(res.status(), StatusCode::OK);
    let set_cookie = res.headers()[header::SET_COOKIE]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(set_cookie.starts_with("amphi_session="), "{set_cookie}");
    assert!(set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Strict"));
    let cookie = set_cookie.split(';').next().expect("pair").to_owned();
    let body = axum::body::to_bytes(res.into_body(), 1 << 16)
        .await
        .expect("body");
    let session: serde_json::Value = serde_json::from_slice(&body).expect("json");
    let csrf = session["csrf_token"].as_str().expect("token").to_owned();

    let patch = r#"{"title":"Optics"}"#;
    let res = send(
        "PATCH",
        "/api/admin/events/cs101",
        Some(&cookie),
        None,
        patch,
    )
    .await
    .expect("infallible");
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "no CSRF token");
    let res = send(
        "PATCH",
        "/api/admin/events/cs101",
        Some(&cookie),
        Some(&csrf),
        patch,
    )
    .await
    .expect("infallible");
    assert_eq!(res.status(), StatusCode::OK, "own event");
    let res = send(
        "PATCH",
        "/api/admin/events/cs102",
        Some(&cookie),
        Some(&csrf),
        patch,
    )
    .await
    .expect("infallible");
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "another's event");
    let res = send("GET", "/api/admin/events", Some(&cookie), None, "")
        .await
        .expect("infallible");
    let body = axum::body::to_bytes(res.into_body(), 1 << 16)
        .await
        .expect("body");
    let list: serde_json::Value = serde_json::from_slice(&body).expect("json");
    let ids: Vec<&str> = list
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|e| e["id"].as_str())
        .collect();
    assert_eq!(ids, ["cs101"], "a lecturer sees only their events");
    let _ = std::fs::remove_dir_all(&dir);
}
