//! LTI 1.3 routes (`/lti/login`, `/lti/launch`, `/lti/deep-link`, `/lti/jwks.json`) and
//! `amphi lti add-platform|list|remove`. The checks live in `amphi_console::lti`; here
//! are the HTTP glue, the key-set fetches and what a launch opens.

use crate::admin::html_escape;
use crate::events::Directory;
use amphi_console::lti::jwks::JwksCache;
use amphi_console::lti::keys::ToolKey;
use amphi_console::lti::launch::{self, ClaimError, LtiRole, Message};
use amphi_console::lti::login::{encode, LoginError, LoginParams, Logins, ToolUrls};
use amphi_console::lti::platform::{Platform, PlatformStore};
use amphi_console::lti::{jwt, launch::Launch};
use amphi_console::session::cookie_values;
use amphi_time::sync::lock;
use amphi_time::WallTime;
use anyhow::Result;
use axum::extract::{Form, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use clap::Subcommand;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};
use tracing::{info, warn};

/// How long a viewer token minted at launch stays valid.
pub const LAUNCH_TOKEN_TTL: Duration = Duration::from_secs(12 * 3600);
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
const STATE_COOKIE: &str = "amphi_lti_state";
const DEEP_LINK_TTL: Duration = Duration::from_secs(1800);

#[derive(Subcommand)]
pub enum LtiAction {
    /// Register a platform (Moodle, Open edX, …) with the values it shows for the tool.
    AddPlatform {
        /// The platform's issuer (`iss`), e.g. https://moodle.example.edu
        #[arg(long)]
        issuer: String,
        /// The client id the platform gave this tool.
        #[arg(long)]
        client_id: String,
        /// The platform's authentication request URL (OIDC authorization endpoint).
        #[arg(long)]
        auth_url: String,
        /// The platform's public keyset URL.
        #[arg(long)]
        jwks_url: String,
        /// Deployment id (repeatable).
        #[arg(long = "deployment-id", required = true)]
        deployment_ids: Vec<String>,
    },
    /// List registered platforms.
    List,
    /// Remove a platform (every client id of the issuer unless --client-id is given).
    Remove {
        #[arg(long)]
        issuer: String,
        #[arg(long)]
        client_id: Option<String>,
    },
}

pub fn lti_command(data_dir: &Path, action: LtiAction) -> Result<()> {
    let store = PlatformStore::new(data_dir);
    match action {
        LtiAction::AddPlatform {
            issuer,
            client_id,
            auth_url,
            jwks_url,
            deployment_ids,
        } => {
            store.add(Platform {
                issuer: issuer.clone(),
                client_id,
                auth_url,
                jwks_url,
                deployment_ids,
            })?;
            println!("platform {issuer} registered");
            println!("tool URLs: login /lti/login, launch /lti/launch, keys /lti/jwks.json");
        }
        LtiAction::List => {
            for p in store.load()? {
                println!(
                    "{}\tclient {}\tdeployments {}\tauth {}\tjwks {}",
                    p.issuer,
                    p.client_id,
                    p.deployment_ids.join(","),
                    p.auth_url,
                    p.jwks_url
                );
            }
        }
        LtiAction::Remove { issuer, client_id } => {
            store.remove(&issuer, client_id.as_deref())?;
            println!("platform {issuer} removed");
        }
    }
    Ok(())
}

struct DeepLink {
    platform: Platform,
    deployment_id: String,
    return_url: String,
    data: Option<String>,
    expires: Instant,
}

pub struct LtiState {
    data_dir: PathBuf,
    platforms: PlatformStore,
    directory: Arc<Directory>,
    logins: Mutex<Logins>,
    jwks: Mutex<JwksCache>,
    deep_links: Mutex<HashMap<String, DeepLink>>,
    tool_key: Mutex<Option<ToolKey>>,
    http: reqwest::Client,
}

pub fn router(data_dir: &Path, directory: Arc<Directory>) -> Router {
    let state = Arc::new(LtiState {
        data_dir: data_dir.to_owned(),
        platforms: PlatformStore::new(data_dir),
        directory,
        logins: Mutex::default(),
        jwks: Mutex::default(),
        deep_links: Mutex::default(),
        tool_key: Mutex::default(),
        http: reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            .build()
            .unwrap_or_default(),
    });
    Router::new()
        .route("/lti/login", get(login).post(login))
        .route("/lti/launch", post(launch_route))
        .route("/lti/deep-link", post(deep_link))
        .route("/lti/jwks.json", get(tool_jwks))
        .with_state(state)
}

fn wall_now() -> WallTime {
    WallTime::from(SystemTime::now())
}

/// A state, nonce or selection handle: the console's random values, as OIDC logins use.
fn random_token() -> String {
    amphi_console::session::random_token(&mut rand::thread_rng())
}

/// This tool's base URL as the platform reaches it (Host, and the proxy's scheme).
fn tool_base(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let scheme = headers
        .get("x-forwarded-proto")
        .and_then(|h| h.to_str().ok())
        .filter(|s| *s == "https" || *s == "http")
        .unwrap_or("http");
    format!("{scheme}://{host}")
}

fn refuse(status: StatusCode, what: &str, why: impl std::fmt::Display) -> Response {
    warn!(%why, status = status.as_u16(), "LTI {what} refused");
    (status, format!("LTI {what} refused: {why}\n")).into_response()
}

async fn login(
    State(state): State<Arc<LtiState>>,
    headers: HeaderMap,
    Form(params): Form<LoginParams>,
) -> Response {
    let platforms = match state.platforms.load() {
        Ok(p) => p,
        Err(e) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, "login", e),
    };
    let base = tool_base(&headers);
    let nonce = random_token();
    let state_value = random_token();
    let started = lock(&state.logins).initiate(
        &platforms,
        &params,
        &ToolUrls {
            launch: &format!("{base}/lti/launch"),
            base: &base,
        },
        Instant::now(),
        state_value.clone(),
        nonce,
    );
    match started {
        Ok(url) => {
            info!(
                issuer = params.iss.as_deref().unwrap_or(""),
                "LTI login started"
            );
            let cookie = format!(
                "{STATE_COOKIE}={state_value}; Path=/lti/launch; Max-Age=600; HttpOnly; Secure; SameSite=None"
            );
            (
                StatusCode::FOUND,
                [(header::LOCATION, url), (header::SET_COOKIE, cookie)],
            )
                .into_response()
        }
        Err(e @ LoginError::UnknownIssuer(_)) => refuse(StatusCode::UNAUTHORIZED, "login", e),
        Err(e @ LoginError::Busy) => refuse(StatusCode::SERVICE_UNAVAILABLE, "login", e),
        Err(e) => refuse(StatusCode::BAD_REQUEST, "login", e),
    }
}

#[derive(serde::Deserialize)]
struct LaunchForm {
    id_token: Option<String>,
    state: Option<String>,
}

/// A state cookie, when the browser sent one, must be the launch's state.
fn cookie_matches(headers: &HeaderMap, state: &str) -> bool {
    let mut sent = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| cookie_values(v, STATE_COOKIE))
        .peekable();
    sent.peek().is_none() || sent.any(|v| v == state)
}

async fn launch_route(
    State(state): State<Arc<LtiState>>,
    headers: HeaderMap,
    Form(form): Form<LaunchForm>,
) -> Response {
    let (Some(token), Some(state_value)) = (form.id_token, form.state) else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "launch",
            "id_token and state are required",
        );
    };
    let parsed = match jwt::parse(&token) {
        Ok(p) => p,
        Err(e) => return refuse(StatusCode::UNAUTHORIZED, "launch", e),
    };
    let Some(unverified) = parsed.unverified_claims() else {
        return refuse(StatusCode::UNAUTHORIZED, "launch", jwt::JwtError::Payload);
    };
    let iss = unverified
        .get("iss")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_owned();
    let platforms = match state.platforms.load() {
        Ok(p) => p,
        Err(e) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, "launch", e),
    };
    let of_issuer: Vec<&Platform> = platforms.iter().filter(|p| p.issuer == iss).collect();
    if of_issuer.is_empty() {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "launch",
            format!("unknown issuer {iss:?}"),
        );
    }
    let Some(platform) = of_issuer
        .into_iter()
        .find(|p| launch::audience_ok(&unverified, &p.client_id))
    else {
        return refuse(StatusCode::FORBIDDEN, "launch", ClaimError::Audience);
    };
    let kid = parsed.kid.clone();
    crate::oidc::refresh_key_set(
        &state.http,
        &state.jwks,
        &platform.issuer,
        &platform.jwks_url,
        kid.as_deref(),
        "LTI platform",
    )
    .await;
    let key = lock(&state.jwks)
        .key(&platform.issuer, kid.as_deref())
        .cloned();
    let Some(key) = key else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "launch",
            jwt::JwtError::UnknownKid(kid.unwrap_or_default()),
        );
    };
    let claims = match parsed.verify(&key) {
        Ok(c) => c,
        Err(e) => return refuse(StatusCode::UNAUTHORIZED, "launch", e),
    };
    let now = wall_now();
    let launch = match launch::check(&claims, platform, now) {
        Ok(l) => l,
        Err(e @ ClaimError::Times(_)) => return refuse(StatusCode::UNAUTHORIZED, "launch", e),
        Err(e) => return refuse(StatusCode::FORBIDDEN, "launch", e),
    };
    if !cookie_matches(&headers, &state_value) {
        return refuse(StatusCode::FORBIDDEN, "launch", "state cookie differs");
    }
    let exp_in = launch.exp.saturating_duration_since(now);
    if let Err(e) = lock(&state.logins).finish(
        &state_value,
        &platform.issuer,
        &platform.client_id,
        &launch.nonce,
        exp_in,
        Instant::now(),
    ) {
        return refuse(StatusCode::FORBIDDEN, "launch", e);
    }
    opened(&state, platform, launch, now)
}

fn opened(state: &LtiState, platform: &Platform, launch: Launch, now: WallTime) -> Response {
    match launch.message {
        Message::ResourceLink { event } => {
            let Some(event) = event else {
                return refuse(
                    StatusCode::BAD_REQUEST,
                    "launch",
                    "no event: set the custom parameter event=<id> or use deep linking",
                );
            };
            let Some(record) = state.directory.list().into_iter().find(|e| e.id == event) else {
                return refuse(
                    StatusCode::NOT_FOUND,
                    "launch",
                    format!("no event {event:?}"),
                );
            };
            let path = match launch.role {
                LtiRole::Instructor => format!(
                    "/moderate/{}#token={}",
                    record.id,
                    encode(&record.moderator_token)
                ),
                LtiRole::Learner => {
                    let expires = now + LAUNCH_TOKEN_TTL;
                    let secret = record.viewer_secret.as_bytes();
                    let token = launch
                        .name
                        .as_deref()
                        .and_then(|n| {
                            amphi_origin::token::sign_named(secret, &record.id, expires, n)
                        })
                        .unwrap_or_else(|| amphi_origin::token::sign(secret, &record.id, expires));
                    format!("/watch/{}?token={}", record.id, encode(&token))
                }
            };
            info!(issuer = %launch.issuer, event = %record.id, role = ?launch.role, "LTI launch");
            (StatusCode::SEE_OTHER, [(header::LOCATION, path)]).into_response()
        }
        Message::DeepLinking { return_url, data } => {
            if launch.role != LtiRole::Instructor {
                return refuse(
                    StatusCode::FORBIDDEN,
                    "deep linking",
                    "only instructors pick events",
                );
            }
            let handle = random_token();
            let mut links = lock(&state.deep_links);
            let t = Instant::now();
            links.retain(|_, d| d.expires > t);
            links.insert(
                handle.clone(),
                DeepLink {
                    platform: platform.clone(),
                    deployment_id: launch.deployment_id,
                    return_url,
                    data,
                    expires: t + DEEP_LINK_TTL,
                },
            );
            drop(links);
            info!(issuer = %launch.issuer, "LTI deep linking started");
            Html(picker_page(&state.directory, &handle)).into_response()
        }
    }
}

fn picker_page(directory: &Directory, handle: &str) -> String {
    let mut items = String::new();
    for e in directory.list() {
        let title = if e.title.is_empty() {
            e.id.to_string()
        } else {
            e.title.clone()
        };
        items.push_str(&format!(
            "<li><form method=\"post\" action=\"/lti/deep-link\"><input type=\"hidden\" name=\"handle\" value=\"{h}\"><input type=\"hidden\" name=\"event\" value=\"{id}\"><button type=\"submit\">{t}</button> <code>{id}</code></form></li>",
            h = html_escape(handle),
            id = html_escape(&e.id),
            t = html_escape(&title),
        ));
    }
    format!("<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>Pick a lecture</title><h1>Pick the lecture to add to the course</h1><ul>{items}</ul></html>")
}

#[derive(serde::Deserialize)]
struct DeepLinkForm {
    handle: String,
    event: String,
}

async fn deep_link(
    State(state): State<Arc<LtiState>>,
    headers: HeaderMap,
    Form(form): Form<DeepLinkForm>,
) -> Response {
    let Some(link) = lock(&state.deep_links).remove(&form.handle) else {
        return refuse(
            StatusCode::FORBIDDEN,
            "deep linking",
            "unknown or used selection",
        );
    };
    if link.expires <= Instant::now() {
        return refuse(StatusCode::FORBIDDEN, "deep linking", "selection expired");
    }
    let Some(record) = state
        .directory
        .list()
        .into_iter()
        .find(|e| e.id == form.event)
    else {
        return refuse(
            StatusCode::NOT_FOUND,
            "deep linking",
            format!("no event {:?}", form.event),
        );
    };
    let key = match tool_key(&state).await {
        Ok(k) => k,
        Err(e) => return refuse(StatusCode::INTERNAL_SERVER_ERROR, "deep linking", e),
    };
    let title = if record.title.is_empty() {
        record.id.to_string()
    } else {
        record.title.clone()
    };
    let claims = launch::deep_linking_response(
        &link.platform,
        &link.deployment_id,
        link.data.as_deref(),
        &launch::ContentItem {
            event: &record.id,
            title: &title,
            url: &format!("{}/lti/launch", tool_base(&headers)),
        },
        wall_now(),
        &random_token(),
    );
    let jwt = jwt::sign(&key.key, &key.kid, &claims);
    info!(issuer = %link.platform.issuer, event = %record.id, "LTI deep linking response");
    Html(format!(
        "<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>Returning to the course</title>\
         <form id=\"dl\" method=\"post\" action=\"{url}\"><input type=\"hidden\" name=\"JWT\" value=\"{jwt}\">\
         <button type=\"submit\">Return to the course</button></form>\
         <script>document.getElementById('dl').submit()</script></html>",
        url = html_escape(&link.return_url),
        jwt = html_escape(&jwt),
    ))
    .into_response()
}

async fn tool_key(state: &Arc<LtiState>) -> Result<ToolKey> {
    if let Some(k) = lock(&state.tool_key).clone() {
        return Ok(k);
    }
    let dir = state.data_dir.clone();
    let key = tokio::task::spawn_blocking(move || ToolKey::load_or_generate(&dir)).await??;
    *lock(&state.tool_key) = Some(key.clone());
    Ok(key)
}

async fn tool_jwks(State(state): State<Arc<LtiState>>) -> Response {
    match tool_key(&state).await {
        Ok(k) => Json(k.jwks()).into_response(),
        Err(e) => refuse(StatusCode::INTERNAL_SERVER_ERROR, "key set", e),
    }
}
