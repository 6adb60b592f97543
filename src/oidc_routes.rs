//! `/admin/oidc/login`, `/admin/oidc/callback` and `/admin/oidc/status`: the console's
//! OpenID Connect login (authorization code flow with PKCE). A successful login opens
//! the same server-side session, in the same cookie, as a password login.
//!
//! Each refusal answers 401 (403 for a user with no role) with a short page, and logs
//! one warning with its reason; codes, tokens and the client secret are never logged.

use crate::admin::{html_escape, redacted_addr, ConsoleState};
use crate::oidc::{error_code, OidcState};
use amphi_console::oidc::flow::Secrets;
use amphi_console::oidc::id_token::{self, Expected};
use amphi_console::oidc::{mapping, userinfo};
use amphi_console::session::{cookie_values, random_token, CookieMode};
use amphi_console::Principal;
use amphi_origin::page_policy::{secret_page, SCRIPTLESS_CSP};
use amphi_time::WallTime;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Instant, SystemTime};
use tracing::{info, warn};

/// Cookie binding a login's `state` to the browser that started it.
const STATE_COOKIE: &str = "amphi_oidc_state";
const CALLBACK_PATH: &str = "/admin/oidc/callback";

struct Shared {
    console: Arc<ConsoleState>,
    oidc: OidcState,
}

/// The OIDC routes, sharing the console's sessions.
pub fn router(console: Arc<ConsoleState>, data_dir: &Path) -> Router {
    let shared = Arc::new(Shared {
        console,
        oidc: OidcState::new(data_dir),
    });
    Router::new()
        .route("/admin/oidc/login", get(login))
        .route(CALLBACK_PATH, get(callback))
        .route("/admin/oidc/status", get(status))
        .with_state(shared)
}

fn client(addr: Option<Extension<amphi_origin::ClientAddr>>) -> String {
    redacted_addr(addr.map(|a| a.0 .0).unwrap_or(IpAddr::from([0, 0, 0, 0])))
}

/// A small page (no script), never cached.
fn page(status: StatusCode, title: &str, body_html: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
         <meta name=\"viewport\" content=\"width=device-width\"></head><body>\
         <h1>{t}</h1>{body_html}</body></html>\n",
        t = html_escape(title)
    );
    secret_page(status, SCRIPTLESS_CSP, html)
}

/// 401 with the reason, and its log line.
fn refuse(client: &str, why: impl std::fmt::Display) -> Response {
    warn!(%client, reason = %why, "console OIDC login refused");
    page(
        StatusCode::UNAUTHORIZED,
        "Login refused",
        &format!(
            "<p>{}</p><p><a href=\"/admin\">Back to the console login</a></p>",
            html_escape(&why.to_string())
        ),
    )
}

fn base_url(console: &ConsoleState, headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    format!("{}://{host}", console.scheme())
}

fn state_cookie(mode: CookieMode, value: &str, max_age: u64) -> String {
    let secure = match mode {
        CookieMode::Secure => "; Secure",
        CookieMode::LoopbackPlain => "",
    };
    // Lax: the provider sends the browser back with a top-level GET from its own site.
    format!("{STATE_COOKIE}={value}; Path=/admin/oidc; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}")
}

fn browser_state(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| cookie_values(v, STATE_COOKIE))
        .next()
        .map(str::to_owned)
}

/// `GET /admin/oidc/status`: whether the login page shows the button, and its text.
async fn status(State(shared): State<Arc<Shared>>) -> Response {
    let config = shared.oidc.file.load().ok().flatten();
    let body = serde_json::json!({
        "enabled": config.is_some(),
        "label": config
            .and_then(|c| c.button_label)
            .unwrap_or_else(|| "Log in with your institution".to_owned()),
    });
    ([(header::CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

/// `GET /admin/oidc/login`: sends the browser to the provider.
async fn login(
    State(shared): State<Arc<Shared>>,
    addr: Option<Extension<amphi_origin::ClientAddr>>,
    headers: HeaderMap,
) -> Response {
    let client = client(addr);
    let config = match shared.oidc.file.load() {
        Ok(Some(c)) => c,
        Ok(None) => {
            return page(
                StatusCode::NOT_FOUND,
                "Institution login is off",
                "<p>This server has no OpenID Connect provider set up (<code>amphi oidc set</code>).</p>",
            )
        }
        Err(e) => return refuse(&client, e),
    };
    let provider = match shared.oidc.provider(&config).await {
        Ok(p) => p,
        Err(e) => {
            warn!(%client, error = %format!("{e:#}"), "console OIDC login: provider unreachable");
            return page(
                StatusCode::BAD_GATEWAY,
                "Identity provider unreachable",
                "<p>The institution's login service did not answer. Try again in a moment.</p>",
            );
        }
    };
    let mut rng = rand::thread_rng();
    let secrets = Secrets {
        state: random_token(&mut rng),
        nonce: random_token(&mut rng),
        verifier: format!("{}{}", random_token(&mut rng), random_token(&mut rng)),
    };
    let state_value = secrets.state.clone();
    let redirect_uri = format!("{}{CALLBACK_PATH}", base_url(&shared.console, &headers));
    let started =
        shared
            .oidc
            .logins()
            .start(Instant::now(), &provider, &config, &redirect_uri, secrets);
    match started {
        Ok(url) => {
            info!(%client, issuer = %provider.issuer, "console OIDC login started");
            let mut res = StatusCode::SEE_OTHER.into_response();
            let h = res.headers_mut();
            if let Ok(v) = HeaderValue::from_str(&url) {
                h.insert(header::LOCATION, v);
            }
            if let Ok(v) =
                HeaderValue::from_str(&state_cookie(shared.console.cookie, &state_value, 600))
            {
                h.insert(header::SET_COOKIE, v);
            }
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            res
        }
        Err(e) => refuse(&client, e),
    }
}

#[derive(serde::Deserialize)]
struct CallbackParams {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    iss: Option<String>,
}

/// `GET /admin/oidc/callback`: the provider's answer; opens a console session.
async fn callback(
    State(shared): State<Arc<Shared>>,
    addr: Option<Extension<amphi_origin::ClientAddr>>,
    headers: HeaderMap,
    Query(params): Query<CallbackParams>,
) -> Response {
    let client = client(addr);
    let mut res = finish(&shared, &client, &headers, params).await;
    // The state cookie is single use whatever happened.
    if let Ok(v) = HeaderValue::from_str(&state_cookie(shared.console.cookie, "", 0)) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

async fn finish(
    shared: &Shared,
    client: &str,
    headers: &HeaderMap,
    params: CallbackParams,
) -> Response {
    let Some(state) = params.state.as_deref() else {
        return refuse(client, "the provider's answer has no state");
    };
    let cookie = browser_state(headers);
    let pending = match shared
        .oidc
        .logins()
        .finish(Instant::now(), state, cookie.as_deref())
    {
        Ok(p) => p,
        Err(e) => return refuse(client, e),
    };
    if let Some(error) = params.error.as_deref() {
        return refuse(
            client,
            format!("the provider refused the login: {}", error_code(error)),
        );
    }
    let Some(code) = params.code.as_deref() else {
        return refuse(client, "the provider's answer has no code");
    };
    let config = match shared.oidc.file.load() {
        Ok(Some(c)) => c,
        Ok(None) => return refuse(client, "institution login was turned off"),
        Err(e) => return refuse(client, e),
    };
    let provider = match shared.oidc.provider(&config).await {
        Ok(p) => p,
        Err(e) => return refuse(client, format!("{e:#}")),
    };
    // RFC 9207: an answer naming another issuer is a mix-up.
    if let Some(iss) = params.iss.as_deref() {
        if iss.trim_end_matches('/') != provider.issuer.trim_end_matches('/') {
            return refuse(
                client,
                format!("the answer comes from issuer {iss:?}, not the configured one"),
            );
        }
    }
    let tokens = match shared.oidc.exchange(&provider, &pending, code).await {
        Ok(t) => t,
        Err(e) => return refuse(client, format!("{e:#}")),
    };
    let mut claims = match shared.oidc.verify(&provider, &tokens.id_token).await {
        Ok(c) => c,
        Err(e) => return refuse(client, e),
    };
    let expected = Expected {
        issuer: &config.issuer,
        client_id: &config.client_id,
        nonce: &pending.nonce,
    };
    if let Err(e) = id_token::check(&claims, &expected, WallTime::from(SystemTime::now())) {
        return refuse(client, e);
    }
    // The roles may be only in userinfo (the ID token of the code flow often holds `sub`
    // alone): asked for the same user, never overriding the token.
    if userinfo::lacks(&claims, &config.role_claim) {
        if let (Some(url), Some(access)) = (&provider.userinfo_endpoint, &tokens.access_token) {
            let body = match shared.oidc.userinfo(url, access).await {
                Ok(b) => b,
                Err(e) => return refuse(client, format!("{e:#}")),
            };
            match userinfo::merge(&mut claims, &body) {
                Ok(added) => {
                    info!(%client, claims = %added.join(" "), "console OIDC login: claims read from the userinfo endpoint")
                }
                Err(e) => return refuse(client, e),
            }
        }
    }
    let Some(user) = id_token::user_name(&claims, config.user_claim.as_deref()) else {
        return refuse(client, "the ID token names no user");
    };
    let roles = mapping::roles(&config, &claims);
    if roles.is_empty() {
        warn!(%client, %user, claim = %config.role_claim, "console OIDC login refused: the user has no role");
        return page(
            StatusCode::FORBIDDEN,
            "No access to the console",
            &format!(
                "<p>You are logged in at your institution as <b>{}</b>, but this account has no role in Amphi's console.</p>\
                 <p>Ask the video service to give you the admin, lecturer or moderator role \
                 (through your institution's groups or entitlements).</p>",
                html_escape(&user)
            ),
        );
    }
    let principal = Principal {
        user: user.clone(),
        roles,
    };
    let console = &shared.console;
    let (id, max_age) = {
        let mut sessions = console.sessions();
        let lifetime = sessions.config().lifetime;
        let (id, _) = sessions.create(Instant::now(), principal.clone(), &mut rand::thread_rng());
        (id, lifetime)
    };
    let roles: Vec<String> = principal.roles.iter().map(ToString::to_string).collect();
    info!(user = %principal.user, roles = %roles.join(" "), %client, via = "oidc", "console login");
    // A page that moves on to /admin rather than a redirect: a browser coming back from
    // the provider's site would not send the SameSite=Strict session cookie along a
    // redirect chain that started there.
    let mut res = page(
        StatusCode::OK,
        "Logged in",
        "<meta http-equiv=\"refresh\" content=\"0;url=/admin\"><p><a href=\"/admin\">Open the console</a></p>",
    );
    if let Ok(v) = HeaderValue::from_str(&console.cookie.set_cookie(&id, max_age)) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}
