//! Logging in and out, and the [`Authed`] extractor every API handler takes: a valid
//! session (else 401), and on state-changing methods the CSRF token and `Origin`
//! (else 403). Each refusal is logged with its reason, the user (when known) and the
//! client's network (the address with its last part hidden).

use super::reply;
use super::state::ConsoleState;
use amphi_console::accounts::authenticate;
use amphi_console::csrf::{self, CSRF_HEADER};
use amphi_console::session::SessionError;
use amphi_console::{Action, Principal};
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;
use tracing::{info, warn};

/// The client's network for logs: `192.0.2.x`, `2001:db8:1::…`.
pub fn redacted_addr(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.x")
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}::…", s[0], s[1], s[2])
        }
    }
}

fn client_ip(parts: &Parts) -> IpAddr {
    parts
        .extensions
        .get::<amphi_origin::ClientAddr>()
        .map(|c| c.0)
        .unwrap_or(IpAddr::from([0, 0, 0, 0]))
}

/// This server's origin as the browser reached it (`Host` cannot be set by a page of
/// another site, so a cross-site request shows a different `Origin`).
fn own_origins(state: &ConsoleState, headers: &HeaderMap) -> Vec<String> {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|host| vec![format!("{}://{host}", state.scheme())])
        .unwrap_or_default()
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// A request from a logged-in user, CSRF-checked when it changes state.
pub struct Authed {
    pub principal: Principal,
    pub session: String,
}

impl Authed {
    /// 403 (and a log line) unless the user's roles allow `action`.
    pub fn require(&self, action: Action<'_>) -> Result<(), Response> {
        if self.principal.may(action) {
            return Ok(());
        }
        warn!(
            user = %self.principal.user,
            action = ?action,
            "console request refused: the user's roles do not allow it"
        );
        Err(reply::error(
            StatusCode::FORBIDDEN,
            "your roles do not allow this",
        ))
    }
}

impl FromRequestParts<Arc<ConsoleState>> for Authed {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<ConsoleState>,
    ) -> Result<Self, Response> {
        let path = parts.uri.path().to_owned();
        let addr = redacted_addr(client_ip(parts));
        let cookies: Vec<&str> = parts
            .headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        let id = cookies.iter().find_map(|c| state.cookie.find(c));
        let looked_up = match id {
            None => Err(SessionError::Missing),
            Some(id) => state
                .sessions()
                .touch(Instant::now(), id)
                .map(|s| (id.to_owned(), s.clone())),
        };
        let (id, session) = match looked_up {
            Ok(found) => found,
            Err(e) => {
                warn!(%path, client = %addr, reason = %e, "console request refused: not logged in");
                let mut res = reply::error(StatusCode::UNAUTHORIZED, format!("{e}: log in again"));
                if e != SessionError::Missing {
                    if let Ok(v) = state.cookie.clear_cookie().parse() {
                        res.headers_mut().insert(header::SET_COOKIE, v);
                    }
                }
                return Err(res);
            }
        };
        if csrf::changes_state(parts.method.as_str()) {
            let checked = csrf::check(
                &session.csrf_token,
                header_str(&parts.headers, CSRF_HEADER),
                header_str(&parts.headers, "origin"),
                &own_origins(state, &parts.headers),
            );
            if let Err(e) = checked {
                warn!(%path, user = %session.principal.user, client = %addr, reason = %e, "console request refused: CSRF check failed");
                return Err(reply::error(StatusCode::FORBIDDEN, e));
            }
        }
        Ok(Authed {
            principal: session.principal,
            session: id,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Login {
    user: String,
    password: String,
}

/// What the page needs after login (and from `GET /api/admin/session`).
#[derive(Serialize)]
pub struct SessionInfo {
    user: String,
    roles: Vec<String>,
    admin: bool,
    csrf_token: String,
}

impl SessionInfo {
    fn new(p: &Principal, csrf_token: String) -> SessionInfo {
        SessionInfo {
            user: p.user.clone(),
            roles: p.roles.iter().map(ToString::to_string).collect(),
            admin: p.is_admin(),
            csrf_token,
        }
    }
}

/// `POST /api/admin/login`: checks `Origin`, the rate limits, then the password.
pub async fn login(
    State(state): State<Arc<ConsoleState>>,
    parts: Parts,
    Json(login): Json<Login>,
) -> Response {
    let ip = client_ip(&parts);
    let addr = redacted_addr(ip);
    let user = login.user.trim().to_owned();
    let shown_user: String = user.chars().take(64).collect();
    if let Err(e) = csrf::check_origin(
        header_str(&parts.headers, "origin"),
        &own_origins(&state, &parts.headers),
    ) {
        warn!(user = %shown_user, client = %addr, reason = %e, "console login refused: CSRF check failed");
        return reply::error(StatusCode::FORBIDDEN, e);
    }
    if let Err(limited) = state.limiter().check(Instant::now(), ip, &user) {
        warn!(user = %shown_user, client = %addr, reason = %limited, "console login refused: rate limited");
        let mut res = reply::error(StatusCode::TOO_MANY_REQUESTS, limited);
        if let Ok(v) = limited.retry_after.as_secs().max(1).to_string().parse() {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return res;
    }
    let accounts = match state.accounts.load() {
        Ok(a) => a,
        Err(e) => {
            warn!(error = %e, "console login: cannot read the accounts");
            return reply::error(StatusCode::INTERNAL_SERVER_ERROR, "accounts unavailable");
        }
    };
    // argon2 takes tens of milliseconds of CPU: off the async workers.
    let (name, password) = (user.clone(), login.password);
    let principal = tokio::task::spawn_blocking(move || authenticate(&accounts, &name, &password))
        .await
        .ok()
        .flatten();
    let Some(principal) = principal else {
        state.limiter().failed(Instant::now(), ip, &user);
        warn!(user = %shown_user, client = %addr, "console login refused: wrong user name or password");
        return reply::error(StatusCode::UNAUTHORIZED, "wrong user name or password");
    };
    state.limiter().succeeded(&user);
    let (id, info, max_age) = {
        let mut sessions = state.sessions();
        let lifetime = sessions.config().lifetime;
        let (id, s) = sessions.create(Instant::now(), principal.clone(), &mut rand::thread_rng());
        (
            id,
            SessionInfo::new(&principal, s.csrf_token.clone()),
            lifetime,
        )
    };
    info!(user = %principal.user, client = %addr, "console login");
    let mut res = reply::ok(&info);
    if let Ok(v) = state.cookie.set_cookie(&id, max_age).parse() {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

/// `POST /api/admin/logout`.
pub async fn logout(State(state): State<Arc<ConsoleState>>, authed: Authed) -> Response {
    state.sessions().remove(&authed.session);
    info!(user = %authed.principal.user, "console logout");
    let mut res = StatusCode::NO_CONTENT.into_response();
    if let Ok(v) = state.cookie.clear_cookie().parse() {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    res
}

/// `GET /api/admin/session`: who is logged in, and the CSRF token to send.
pub async fn session(State(state): State<Arc<ConsoleState>>, authed: Authed) -> Response {
    let token = state
        .sessions()
        .touch(Instant::now(), &authed.session)
        .map(|s| s.csrf_token.clone());
    match token {
        Ok(t) => reply::ok(&SessionInfo::new(&authed.principal, t)),
        Err(e) => reply::error(StatusCode::UNAUTHORIZED, e),
    }
}
