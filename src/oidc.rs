//! OpenID Connect login to the console: `amphi oidc set|show|clear`, and the calls to
//! the provider (discovery, key set, code exchange, userinfo) with timeouts and size caps. The
//! checks live in `amphi_console::oidc` (and the RS256/ES256 verification and key-set cache
//! shared with LTI in `amphi_console::lti`); the routes are in `crate::oidc_routes`.
//!
//! Nothing secret is logged or printed: not the client secret, codes, nor tokens.

use amphi_console::lti::jwks::{Jwks, JwksCache, MAX_JWKS_BYTES};
use amphi_console::lti::jwt;
use amphi_console::oidc::config::{OidcConfig, OidcConfigFile};
use amphi_console::oidc::discovery::{ClientAuth, Provider, MAX_DISCOVERY_BYTES};
use amphi_console::oidc::flow::{Logins, Pending};
use amphi_console::oidc::userinfo::MAX_USERINFO_BYTES;
use amphi_time::sync::lock;
use anyhow::{bail, Context, Result};
use clap::Subcommand;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tracing::{debug, info};

/// Connect and whole-request timeout of every call to the provider.
pub const PROVIDER_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest token endpoint answer accepted, in bytes.
pub const MAX_TOKEN_RESPONSE_BYTES: usize = 64 * 1024;
/// Discovery documents are fetched again after this long.
pub const DISCOVERY_MAX_AGE: Duration = Duration::from_secs(3600);

#[derive(Subcommand)]
pub enum OidcAction {
    /// Turn on "Log in with your institution" on /admin, with the values the provider
    /// (or the federation's OIDC proxy) gave for this client.
    Set(Box<SetArgs>),
    /// Show the settings (not the secret).
    Show,
    /// Turn OIDC login off.
    Clear,
}

/// `amphi oidc set` options.
#[derive(clap::Args)]
pub struct SetArgs {
    /// The provider's issuer, e.g. https://idp.example.edu (discovery at
    /// ISSUER/.well-known/openid-configuration).
    #[arg(long)]
    issuer: String,
    #[arg(long)]
    client_id: String,
    /// File holding the client secret (read at each login, never copied).
    #[arg(long, value_name = "PATH")]
    client_secret_file: PathBuf,
    /// Scopes asked for (must include openid).
    #[arg(long, default_value = amphi_console::oidc::config::DEFAULT_SCOPES)]
    scopes: String,
    /// Claim whose values give roles, e.g. groups or eduPersonEntitlement.
    #[arg(long, default_value = amphi_console::oidc::config::DEFAULT_ROLE_CLAIM)]
    role_claim: String,
    /// Claim giving the user name (default: preferred_username, email, then sub).
    #[arg(long)]
    user_claim: Option<String>,
    /// A role-claim value that makes a user admin (repeatable).
    #[arg(long = "admin-group", value_name = "VALUE")]
    admin_groups: Vec<String>,
    /// A role-claim value that makes a user moderator of every event (repeatable).
    #[arg(long = "moderator-group", value_name = "VALUE")]
    moderator_groups: Vec<String>,
    /// VALUE=EVENT[,EVENT…]: a role-claim value that makes a user lecturer of those
    /// events (repeatable).
    #[arg(long = "lecturer-group", value_name = "VALUE=EVENTS", value_parser = parse_lecturer_group)]
    lecturer_groups: Vec<(String, Vec<String>)>,
    /// Values PREFIX+ROLE name a role directly (amphi:admin, amphi:lecturer:cs101);
    /// an empty prefix turns that off.
    #[arg(long, default_value = amphi_console::oidc::config::DEFAULT_ROLE_PREFIX)]
    role_prefix: String,
    /// Text of the login page's button.
    #[arg(long)]
    button_label: Option<String>,
}

fn parse_lecturer_group(s: &str) -> Result<(String, Vec<String>), String> {
    let (group, events) = s
        .split_once('=')
        .ok_or_else(|| format!("{s:?}: expected VALUE=EVENT[,EVENT…]"))?;
    let events: Vec<String> = events
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .map(str::to_owned)
        .collect();
    if group.is_empty() || events.is_empty() {
        return Err(format!("{s:?}: expected VALUE=EVENT[,EVENT…]"));
    }
    Ok((group.to_owned(), events))
}

pub fn oidc_command(data_dir: &Path, action: OidcAction) -> Result<()> {
    let file = OidcConfigFile::new(data_dir);
    match action {
        OidcAction::Set(args) => {
            let SetArgs {
                issuer,
                client_id,
                client_secret_file,
                scopes,
                role_claim,
                user_claim,
                admin_groups,
                moderator_groups,
                lecturer_groups,
                role_prefix,
                button_label,
            } = *args;
            let secret_file = std::fs::canonicalize(&client_secret_file)
                .with_context(|| format!("client secret file {}", client_secret_file.display()))?;
            let mut config = OidcConfig::new(&issuer, &client_id, secret_file);
            config.scopes = scopes;
            config.role_claim = role_claim;
            config.user_claim = user_claim;
            config.admin_groups = admin_groups;
            config.moderator_groups = moderator_groups;
            config.lecturer_groups = lecturer_groups.into_iter().collect();
            config.role_prefix = role_prefix;
            config.button_label = button_label;
            config.read_secret()?;
            file.save(&config)?;
            println!(
                "OIDC login on: issuer {}, client {}",
                config.issuer, config.client_id
            );
            println!("register at the provider: redirect URI https://YOUR-HOST/admin/oidc/callback, scopes \"{}\"", config.scopes);
        }
        OidcAction::Show => match file.load()? {
            None => println!("OIDC login is off"),
            Some(c) => {
                println!("issuer:        {}", c.issuer);
                println!("client id:     {}", c.client_id);
                println!("secret file:   {}", c.client_secret_file.display());
                println!("scopes:        {}", c.scopes);
                println!(
                    "role claim:    {} (prefix {:?})",
                    c.role_claim, c.role_prefix
                );
                println!("admin:         {}", c.admin_groups.join(", "));
                println!("moderator:     {}", c.moderator_groups.join(", "));
                for (g, events) in &c.lecturer_groups {
                    println!("lecturer:      {g} -> {}", events.join(","));
                }
            }
        },
        OidcAction::Clear => {
            if file.clear()? {
                println!("OIDC login off");
            } else {
                println!("OIDC login was not on");
            }
        }
    }
    Ok(())
}

/// What the routes share: settings file, logins under way, provider metadata and keys.
pub struct OidcState {
    pub file: OidcConfigFile,
    http: reqwest::Client,
    logins: Mutex<Logins>,
    jwks: Mutex<JwksCache>,
    discovery: Mutex<Option<(Provider, Instant)>>,
}

/// Reads a response body, refusing more than `cap` bytes.
async fn body_capped(mut res: reqwest::Response, cap: usize, what: &str) -> Result<Vec<u8>> {
    if res.content_length().is_some_and(|n| n > cap as u64) {
        bail!("{what} is larger than {cap} bytes");
    }
    let mut body = Vec::new();
    while let Some(chunk) = res
        .chunk()
        .await
        .with_context(|| format!("reading {what}"))?
    {
        if body.len() + chunk.len() > cap {
            bail!("{what} is larger than {cap} bytes");
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The provider's answer to a code exchange (only what is used).
#[derive(serde::Deserialize)]
struct TokenResponse {
    id_token: Option<String>,
    access_token: Option<String>,
}

/// The tokens a code exchange gives (never logged).
pub struct Tokens {
    pub id_token: String,
    /// For the userinfo endpoint.
    pub access_token: Option<String>,
}

#[derive(serde::Deserialize)]
struct TokenError {
    error: Option<String>,
}

/// An error code from the provider, safe to log and show (`invalid_grant`).
pub fn error_code(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(64)
        .collect()
}

impl OidcState {
    pub fn new(data_dir: &Path) -> OidcState {
        OidcState {
            file: OidcConfigFile::new(data_dir),
            http: reqwest::Client::builder()
                .timeout(PROVIDER_TIMEOUT)
                .connect_timeout(PROVIDER_TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap_or_default(),
            logins: Mutex::default(),
            jwks: Mutex::default(),
            discovery: Mutex::default(),
        }
    }

    pub fn logins(&self) -> MutexGuard<'_, Logins> {
        lock(&self.logins)
    }

    /// The provider's metadata, fetched at most once per [`DISCOVERY_MAX_AGE`] (and again
    /// when the issuer changes).
    pub async fn provider(&self, config: &OidcConfig) -> Result<Provider> {
        let now = Instant::now();
        if let Some((p, at)) = lock(&self.discovery).as_ref() {
            if p.issuer.trim_end_matches('/') == config.issuer.trim_end_matches('/')
                && now.saturating_duration_since(*at) < DISCOVERY_MAX_AGE
            {
                return Ok(p.clone());
            }
        }
        let url = config.discovery_url();
        let res = self
            .http
            .get(&url)
            .send()
            .await
            .with_context(|| format!("fetching {url}"))?;
        if !res.status().is_success() {
            bail!("{url} answered {}", res.status());
        }
        let body = body_capped(res, MAX_DISCOVERY_BYTES, &url).await?;
        let provider = Provider::parse(&body, &config.issuer).with_context(|| url.clone())?;
        debug!(issuer = %provider.issuer, "OIDC provider metadata fetched");
        *lock(&self.discovery) = Some((provider.clone(), now));
        Ok(provider)
    }

    /// Exchanges `code` for an ID token, as the client the login was started for.
    pub async fn exchange(
        &self,
        provider: &Provider,
        pending: &Pending,
        code: &str,
    ) -> Result<Tokens> {
        let secret = OidcConfig {
            client_secret_file: pending.secret_file.clone(),
            ..OidcConfig::new(&provider.issuer, &pending.client_id, PathBuf::new())
        }
        .read_secret()?;
        let enc = amphi_console::lti::login::encode;
        let mut form = format!(
            "grant_type=authorization_code&code={}&redirect_uri={}&code_verifier={}",
            enc(code),
            enc(&pending.redirect_uri),
            enc(&pending.verifier)
        );
        let mut req = self.http.post(&provider.token_endpoint);
        match provider.client_auth {
            // RFC 6749 §2.3.1: both parts form-encoded before Basic.
            ClientAuth::Basic => {
                req = req.basic_auth(enc(&pending.client_id), Some(enc(&secret)));
            }
            ClientAuth::Post => {
                form.push_str(&format!(
                    "&client_id={}&client_secret={}",
                    enc(&pending.client_id),
                    enc(&secret)
                ));
            }
        }
        let res = req
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(form)
            .send()
            .await
            .context("calling the token endpoint")?;
        let status = res.status();
        let body = body_capped(res, MAX_TOKEN_RESPONSE_BYTES, "token endpoint answer").await?;
        if !status.is_success() {
            let code = serde_json::from_slice::<TokenError>(&body)
                .ok()
                .and_then(|e| e.error)
                .map(|e| error_code(&e))
                .unwrap_or_default();
            bail!("token endpoint refused the code: {status} {code}");
        }
        let answer: TokenResponse =
            serde_json::from_slice(&body).context("token endpoint answer is not JSON")?;
        let id_token = answer
            .id_token
            .context("token endpoint answer has no id_token")?;
        Ok(Tokens {
            id_token,
            access_token: answer.access_token,
        })
    }

    /// The userinfo answer for `access_token` (a JSON object, at most
    /// [`MAX_USERINFO_BYTES`]); checked and merged by `amphi_console::oidc::userinfo`.
    pub async fn userinfo(&self, url: &str, access_token: &str) -> Result<Vec<u8>> {
        let res = self
            .http
            .get(url)
            .bearer_auth(access_token)
            .header("accept", "application/json")
            .send()
            .await
            .context("calling the userinfo endpoint")?;
        if !res.status().is_success() {
            bail!("the userinfo endpoint answered {}", res.status());
        }
        body_capped(res, MAX_USERINFO_BYTES, "userinfo answer").await
    }

    /// Checks `token`'s signature (RS256 or ES256) against the provider's key set (fetched when missing,
    /// stale, or when the token names a key id not in it, at most once per interval);
    /// returns its claims.
    pub async fn verify(
        &self,
        provider: &Provider,
        token: &str,
    ) -> Result<serde_json::Map<String, serde_json::Value>, jwt::JwtError> {
        let parsed = jwt::parse_with(token, jwt::OIDC_ALGORITHMS)?;
        let kid = parsed.kid.as_deref();
        refresh_key_set(
            &self.http,
            &self.jwks,
            &provider.issuer,
            &provider.jwks_uri,
            kid,
            "OIDC provider",
        )
        .await;
        let key = lock(&self.jwks)
            .key(&provider.issuer, kid)
            .cloned()
            .ok_or_else(|| jwt::JwtError::UnknownKid(kid.unwrap_or("").to_owned()))?;
        parsed.verify(&key)
    }
}

/// Brings `issuer`'s key set into `cache` when the cache asks for it (missing, stale, or
/// `kid` not in it, at most once per interval), fetched from `url` with `http` and at
/// most [`MAX_JWKS_BYTES`]; a failed fetch is logged and leaves the cache as it was.
/// The one key-set fetch of OIDC logins and LTI launches; `who` names the issuer's kind
/// in the log ("OIDC provider", "LTI platform").
pub(crate) async fn refresh_key_set(
    http: &reqwest::Client,
    cache: &Mutex<JwksCache>,
    issuer: &str,
    url: &str,
    kid: Option<&str>,
    who: &str,
) {
    if !lock(cache).should_fetch(issuer, kid, Instant::now()) {
        return;
    }
    match fetch_jwks(http, url).await {
        Ok(jwks) => {
            info!(%issuer, keys = jwks.len(), "{who} key set fetched");
            lock(cache).store(issuer, jwks, Instant::now());
        }
        Err(e) => tracing::warn!(%issuer, error = %format!("{e:#}"), "{who} key set not fetched"),
    }
}

async fn fetch_jwks(http: &reqwest::Client, url: &str) -> Result<Jwks> {
    let res = http.get(url).send().await?;
    if !res.status().is_success() {
        bail!("{url} answered {}", res.status());
    }
    let body = body_capped(res, MAX_JWKS_BYTES, url).await?;
    Ok(Jwks::parse(&body)?)
}
